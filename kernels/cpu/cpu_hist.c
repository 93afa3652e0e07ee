/* cpu_hist.c - the statistics unit's analysis (hwsim/stats.h) on the CPU: the MSB
 * histograms of a block of values, vectorized, equal to lpt_msb_hist_add_ref. */
#include <string.h>

#include "kernels/cpu/cpu_quant.h"
#include "src/base/isa.h"

/* Fast version. A normal float's MSB position is its biased exponent minus 127, so the
 * top nine bits (sign and exponent) index the counters directly. Zeros and the largest
 * finite magnitude come from a vectorized pass over the same block (at x86-64-v4 the
 * same pass packs the bin indices of the nonzero values, so zeros cost no increment).
 * Exponent 0 then holds subnormals (and, on the portable path, zeros): a piece that put
 * more there than its zeros is looked at again to bin its subnormals (rare) from their
 * leading zeros. Exponent 255 is NaN and Inf. Eight counter sets, value i going to set
 * i mod 8: neighbouring values mostly share a bin, and with one set every increment
 * would wait for the previous one to be stored (perf: 4 sets still left the loop bound
 * by that chain). Each increment costs about a cycle, so at x86-64-v4 dense tensors are
 * counted two values per increment: once the largest magnitude is known, a value within
 * LPT_PAIR_SPAN binades below it has a 5-bit code (sign, distance), and pairs of codes
 * count in a 33 x 33 table (one code for "no value") whose row and column sums give the
 * bins when the tensor ends or the largest magnitude moves up a binade; the rest (rare)
 * take the single counters. Tensors with more zeros than nonzeros keep the single
 * counters: packing the nonzeros is then the cheaper pass. */
void lpt_msb_acc_init(lpt_msb_acc *a) { memset(a, 0, sizeof *a); }

/* counters of exponents lo..hi into wide, leaving them zero; returns how many */
static uint64_t fold_range(lpt_msb_acc *a, int lo, int hi) {
    uint64_t moved = 0;
    for (int k = 0; k < LPT_MSB_SETS; k++) {
        uint32_t *c = a->c[k];
        for (int e = lo; e <= hi; e++) {
            moved += (uint64_t)c[e] + c[256 + e];
            a->wide[e] += c[e], a->wide[256 + e] += c[256 + e];
            c[e] = c[256 + e] = 0;
        }
    }
    return moved;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* sums of the pair counters by first code (columns) and by second code (rows), counters
 * cleared; 32-bit sums suffice: all the pair counters together hold fewer than 2^31 */
__attribute__((target("avx512f"))) static void pair_sums(lpt_msb_acc *a, uint32_t *first, uint32_t *second) {
    enum { C = LPT_PAIR_CODES };
    __m512i f0 = _mm512_setzero_si512(), f1 = f0;
    uint32_t f32 = 0;
    for (int h = 0; h < C; h++) {
        __m512i r0 = _mm512_setzero_si512(), r1 = r0;
        uint32_t r32 = 0;
        for (int k = 0; k < LPT_PAIR_SETS; k++) {
            const uint32_t *row = a->p[k] + h * C;
            r0 = _mm512_add_epi32(r0, _mm512_loadu_si512((const void *)row));
            r1 = _mm512_add_epi32(r1, _mm512_loadu_si512((const void *)(row + 16)));
            r32 += row[32];
        }
        f0 = _mm512_add_epi32(f0, r0), f1 = _mm512_add_epi32(f1, r1), f32 += r32;
        second[h] = (uint32_t)_mm512_reduce_add_epi32(_mm512_add_epi32(r0, r1)) + r32;
    }
    _mm512_storeu_si512((void *)first, f0);
    _mm512_storeu_si512((void *)(first + 16), f1);
    first[32] = f32;
    memset(a->p, 0, sizeof a->p);
}
#endif

/* pair counters into wide: each pair adds one value to the bin of each of its codes
 * (LPT_PAIR_NONE aside); only the AVX-512 path counts pairs */
static uint64_t fold_pairs(lpt_msb_acc *a) {
    const uint32_t top = a->pair_top;
    a->pair_top = 0;
    if (!a->pairs) return 0;
    a->pairs = 0;
    uint32_t first[LPT_PAIR_CODES] = {0}, second[LPT_PAIR_CODES] = {0};
    uint64_t moved = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    pair_sums(a, first, second);
#endif
    for (int c = 0; c < LPT_PAIR_NONE; c++) { /* code = sign * SPAN + distance below top */
        const int dist = c % LPT_PAIR_SPAN;
        if (dist >= (int)top) continue; /* below exponent 1: never in the window */
        const uint64_t v = (uint64_t)first[c] + second[c];
        a->wide[(c / LPT_PAIR_SPAN) * 256 + (int)top - dist] += v;
        moved += v;
    }
    return moved;
}

/* every counter into wide. Normal values lie at or below the largest magnitude's
 * exponent, mostly within a few dozen binades of it: that window first, and the rest
 * only when the window does not hold all of them. */
static void acc_fold(lpt_msb_acc *a) {
    for (int k = 0; k < LPT_MSB_SETS; k++) {
        uint32_t *c = a->c[k];
        a->nonfinite += (uint64_t)c[255] + c[511];
        c[0] = c[255] = c[256] = c[511] = 0; /* zeros and subnormals are counted apart */
    }
    const int hi = (int)(a->max_bits >> 23), lo = hi - 48 > 1 ? hi - 48 : 1;
    const uint64_t normal = a->count - a->zeros - a->subnormal - a->nonfinite - a->folded;
    uint64_t moved = fold_pairs(a); /* often all of them */
    if (moved < normal && hi >= 1) moved += fold_range(a, lo, hi);
    if (moved < normal && lo > 1) moved += fold_range(a, 1, lo - 1);
    a->folded += moved;
    a->pending = 0;
    a->exp0 = 0;
}

/* zeros and the largest finite magnitude of a block (finite magnitudes order like their
 * bits); signed 32-bit arithmetic so that it vectorizes, in clones for the wider
 * vector units */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void block_scan(const int32_t *bs, size_t m, int32_t *zeros_out, int32_t *mx_io) {
    int32_t zeros = 0, mx = *mx_io;
    for (size_t i = 0; i < m; i++) {
        const int32_t ax = bs[i] & 0x7fffffff, fin = ax < 0x7f800000 ? ax : 0;
        zeros += ax == 0;
        mx = fin > mx ? fin : mx;
    }
    *zeros_out = zeros, *mx_io = mx;
}

/* counter increments for n bin indices (sign and exponent bits) */
static inline void scatter(uint32_t (*c)[512 + 16], const uint32_t *idx, size_t n, int shift) {
    size_t i = 0;
    for (; i + LPT_MSB_SETS <= n; i += LPT_MSB_SETS)
        for (int k = 0; k < LPT_MSB_SETS; k++) c[k][idx[i + k] >> shift]++;
    for (; i < n; i++) c[0][idx[i] >> shift]++;
}

#if defined(__x86_64__) && defined(__GNUC__)
static inline void scatter_pairs(uint32_t (*c)[LPT_PAIR_CODES * LPT_PAIR_CODES], const uint32_t *idx,
                                 size_t n) {
    size_t i = 0;
    for (; i + LPT_PAIR_SETS <= n; i += LPT_PAIR_SETS)
        for (int k = 0; k < LPT_PAIR_SETS; k++) c[k][idx[i + k]]++;
    for (; i < n; i++) c[0][idx[i]]++;
}

#define PACK_MAX 4096 /* a multiple of 64 */

/* the end of a packing pass that has seen b[0..i): m, the vector maximum of the
 * magnitude bits, again over finite values only when NaN or Inf was among them; the
 * values from i on one at a time (nonzero ones to idx[k...]); zeros and the largest
 * finite magnitude out. Returns the new k. */
static size_t pack_tail(const uint32_t *b, size_t i, size_t n, uint32_t *idx, size_t k, int32_t m, int32_t zeros,
                        int32_t *zeros_out, int32_t *mx_io) {
    if (m >= 0x7f800000) {
        m = 0;
        for (size_t j = 0; j < i; j++) {
            const int32_t ax = (int32_t)(b[j] & 0x7fffffffu);
            if (ax < 0x7f800000 && ax > m) m = ax;
        }
    }
    for (; i < n; i++) {
        const int32_t ax = (int32_t)(b[i] & 0x7fffffffu);
        if (ax == 0) {
            zeros++;
            continue;
        }
        idx[k++] = b[i] >> 23;
        if (ax < 0x7f800000 && ax > m) m = ax;
    }
    *zeros_out = zeros;
    if (m > *mx_io) *mx_io = m;
    return k;
}
/* AVX-512: zeros and the largest finite magnitude of n values, and the bin indices of the
 * nonzero ones packed into idx (zeros, often most of a tensor after ReLU and max
 * pooling, then cost no counter increment); returns how many were packed */
__attribute__((target("avx512f,popcnt"))) static size_t pack_nonzero(const uint32_t *b, size_t n, uint32_t *idx,
                                                                       int32_t *zeros_out, int32_t *mx_io) {
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
    __m512i mx = _mm512_setzero_si512();
    size_t i = 0, k = 0;
    /* four vectors per round: their counts are added to k at once, so the stores do not
     * wait on a chain of popcounts */
    for (; i + 64 <= n; i += 64) {
        __m512i v[4], ax[4];
        __mmask16 nz[4];
        for (int u = 0; u < 4; u++) {
            v[u] = _mm512_loadu_si512((const void *)(b + i + 16 * u));
            ax[u] = _mm512_and_si512(v[u], abs_mask);
            nz[u] = _mm512_test_epi32_mask(ax[u], ax[u]);
            mx = _mm512_max_epi32(mx, ax[u]);
        }
        const size_t c0 = (size_t)__builtin_popcount(nz[0]), c1 = (size_t)__builtin_popcount(nz[1]);
        const size_t c2 = (size_t)__builtin_popcount(nz[2]), c3 = (size_t)__builtin_popcount(nz[3]);
        _mm512_storeu_si512((void *)(idx + k), _mm512_maskz_compress_epi32(nz[0], _mm512_srli_epi32(v[0], 23)));
        _mm512_storeu_si512((void *)(idx + k + c0), _mm512_maskz_compress_epi32(nz[1], _mm512_srli_epi32(v[1], 23)));
        _mm512_storeu_si512((void *)(idx + k + c0 + c1),
                            _mm512_maskz_compress_epi32(nz[2], _mm512_srli_epi32(v[2], 23)));
        _mm512_storeu_si512((void *)(idx + k + c0 + c1 + c2),
                            _mm512_maskz_compress_epi32(nz[3], _mm512_srli_epi32(v[3], 23)));
        k += c0 + c1 + c2 + c3;
    }
    return pack_tail(b, i, n, idx, k, _mm512_reduce_max_epi32(mx), (int32_t)(i - k), zeros_out, mx_io);
}

/* the codes of sixteen values, valid in the lanes of *in: nonzero values within the
 * window; *bad: the other nonzero ones (subnormals, NaN and Inf among them) */
__attribute__((target("avx512f"))) static inline __m512i pair_codes(__m512i v, __m512i ax, __m512i top, __m512i span,
                                                                     __mmask16 *in, __mmask16 *bad) {
    const __m512i dist = _mm512_sub_epi32(top, _mm512_srli_epi32(ax, 23));
    const __mmask16 nz = _mm512_test_epi32_mask(ax, ax);
    *in = _mm512_mask_cmplt_epu32_mask(nz, dist, span);
    *bad = _kandn_mask16(*in, nz);
    /* sign * SPAN + distance */
    return _mm512_ternarylogic_epi32(_mm512_srli_epi32(v, 31 - 4), _mm512_set1_epi32(LPT_PAIR_SPAN), dist, 0xea);
}

/* AVX-512, for n values whose window top (biased exponent of the largest magnitude so
 * far) is known. Of every 32 values, the codes of those within the window are moved to
 * the front of each half, and lane j of the first half pairs with lane j of the second
 * (LPT_PAIR_NONE where a half has run out): max(in0, in1) pair indices (first code +
 * LPT_PAIR_CODES * second code) go to pair. The bin indices of the other nonzero values
 * (rare), and of the tail, go to idx for the single counters. Zeros and the largest
 * finite magnitude as in pack_nonzero; returns how many went to idx, the pairs in
 * *npair. */
__attribute__((target("avx512f,popcnt"))) static size_t pack_pairs(const uint32_t *b, size_t n, uint32_t top,
                                                                     uint32_t *pair, size_t *npair, uint32_t *idx,
                                                                     int32_t *zeros_out, int32_t *mx_io) {
    const __m512i vtop = _mm512_set1_epi32((int)top), abs_mask = _mm512_set1_epi32(0x7fffffff);
    /* exponent 0 (zeros, subnormals) never lies in the window: distance top >= span */
    const __m512i span = _mm512_set1_epi32(top < LPT_PAIR_SPAN ? (int)top : LPT_PAIR_SPAN);
    const __m512i none = _mm512_set1_epi32(LPT_PAIR_NONE);
    __m512i mx = _mm512_setzero_si512();
    size_t i = 0, k = 0, np = 0, paired = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512i v0 = _mm512_loadu_si512((const void *)(b + i));
        const __m512i v1 = _mm512_loadu_si512((const void *)(b + i + 16));
        const __m512i ax0 = _mm512_and_si512(v0, abs_mask), ax1 = _mm512_and_si512(v1, abs_mask);
        mx = _mm512_max_epi32(mx, _mm512_max_epi32(ax0, ax1));
        __mmask16 in0, in1, bad0, bad1;
        const __m512i c0 = pair_codes(v0, ax0, vtop, span, &in0, &bad0);
        const __m512i c1 = pair_codes(v1, ax1, vtop, span, &in1, &bad1);
        if (__builtin_expect((bad0 | bad1) != 0, 0)) {
            _mm512_storeu_si512((void *)(idx + k), _mm512_maskz_compress_epi32(bad0, _mm512_srli_epi32(v0, 23)));
            k += (size_t)__builtin_popcount(bad0);
            _mm512_storeu_si512((void *)(idx + k), _mm512_maskz_compress_epi32(bad1, _mm512_srli_epi32(v1, 23)));
            k += (size_t)__builtin_popcount(bad1);
        }
        const size_t n0 = (size_t)__builtin_popcount(in0), n1 = (size_t)__builtin_popcount(in1);
        const __m512i f = _mm512_mask_compress_epi32(none, in0, c0), g = _mm512_mask_compress_epi32(none, in1, c1);
        /* f + 33 g; lanes from max(n0, n1) on pair two LPT_PAIR_NONE and are not counted */
        _mm512_storeu_si512((void *)(pair + np), _mm512_add_epi32(f, _mm512_add_epi32(g, _mm512_slli_epi32(g, 5))));
        np += n0 > n1 ? n0 : n1;
        paired += n0 + n1;
    }
    *npair = np;
    return pack_tail(b, i, n, idx, k, _mm512_reduce_max_epi32(mx), (int32_t)(i - paired - k), zeros_out, mx_io);
}
#endif


void lpt_msb_acc_add(lpt_msb_acc *a, size_t n, const float *x) {
    const uint32_t *b = (const uint32_t *)(const void *)x;
#if defined(__x86_64__) && defined(__GNUC__)
    const int wide_simd = lpt_isa_v4();
#else
    const int wide_simd = 0;
#endif
    while (n) {
        /* pieces of at most 2^20 values, folded before a 32-bit counter could overflow */
        if (a->pending >= ((size_t)1 << 30)) acc_fold(a);
        size_t m = ((size_t)1 << 30) - a->pending;
        if (m > ((size_t)1 << 20)) m = (size_t)1 << 20;
        if (m > n) m = n;
        int32_t zeros = 0, mx = (int32_t)a->max_bits;
        uint64_t counted_zeros = 0; /* zeros that went through the counters (exponent 0) */
#if defined(__x86_64__) && defined(__GNUC__)
        if (wide_simd) {
            uint32_t idx[PACK_MAX + 16], pair[PACK_MAX / 2 + 16];
            for (size_t j = 0; j < m; j += PACK_MAX) {
                int32_t z;
                const size_t len = m - j < PACK_MAX ? m - j : PACK_MAX;
                /* the window's top is the largest magnitude's exponent so far: it only
                 * grows within a tensor, and the pairs are folded when it moves */
                const uint32_t top = (uint32_t)mx >> 23;
                if (top != a->pair_top) a->folded += fold_pairs(a), a->pair_top = top;
                /* pairs when at least half the tensor so far is nonzero (zeros cost no
                 * increment either way, and with few nonzeros the packing pass is
                 * cheaper than pairing) */
                const uint64_t seen = a->count + j, nonzero = seen - a->zeros - (uint64_t)zeros;
                size_t k;
                if (top && 2 * nonzero >= seen) {
                    size_t np;
                    k = pack_pairs(b + j, len, top, pair, &np, idx, &z, &mx);
                    scatter_pairs(a->p, pair, np);
                    a->pairs += np;
                } else { /* also when no magnitude is known yet: this sets the top */
                    k = pack_nonzero(b + j, len, idx, &z, &mx);
                }
                scatter(a->c, idx, k, 0);
                zeros += z;
            }
        }
#endif
        if (!wide_simd) {
            scatter(a->c, b, m, 23);
            block_scan((const int32_t *)(const void *)b, m, &zeros, &mx);
            counted_zeros = (uint64_t)zeros;
        }
        /* exponent 0 is zeros and subnormals: when the piece put more there than the zeros
         * it sent, it holds subnormals (rare), binned from their leading zeros */
        uint64_t e0 = 0;
        for (int k = 0; k < LPT_MSB_SETS; k++) e0 += (uint64_t)a->c[k][0] + a->c[k][256];
        if (e0 - a->exp0 > counted_zeros)
            for (size_t i = 0; i < m; i++) {
                const uint32_t ax = b[i] & 0x7fffffffu;
                if (ax - 1u < 0x007fffffu) { /* msb = 31 - clz - 149, in [-149, -127] */
                    a->sub[b[i] >> 31][31 - __builtin_clz(ax)]++;
                    a->subnormal++;
                }
            }
        a->exp0 = e0;
        a->max_bits = (uint32_t)mx;
        a->zeros += (uint32_t)zeros;
        a->count += m;
        a->pending += m;
        b += m;
        n -= m;
    }
}

void lpt_msb_acc_end(lpt_msb_acc *a, lpt_msb_hist *h) {
    acc_fold(a);
    for (int e = (int)(a->max_bits >> 23); e >= 1 && a->folded; e--) { /* msb = e - 127 */
        const uint64_t p = a->wide[e], q = a->wide[256 + e];
        h->pos[e - 127 - LPT_MSB_MIN] += p;
        h->neg[e - 127 - LPT_MSB_MIN] += q;
        a->wide[e] = a->wide[256 + e] = 0;
        a->folded -= p + q;
    }
    for (int s = 0; s < 2 && a->subnormal; s++)
        for (int j = 0; j < 23; j++) {
            (s ? h->neg : h->pos)[j - 149 - LPT_MSB_MIN] += a->sub[s][j];
            a->sub[s][j] = 0;
        }
    h->zeros += a->zeros;
    h->nonfinite += a->nonfinite;
    h->count += a->count;
    float mx;
    memcpy(&mx, &a->max_bits, 4);
    if ((double)mx > h->max_abs) h->max_abs = mx;
    a->zeros = a->nonfinite = a->count = a->subnormal = 0;
    a->max_bits = 0;
}

lpt_msb_acc *lpt_msb_acc_thread(void) {
    static _Thread_local lpt_msb_acc acc; /* kept clean between uses */
    static _Thread_local int ready;
    if (!ready) lpt_msb_acc_init(&acc), ready = 1;
    return &acc;
}

void lpt_msb_hist_add(lpt_msb_hist *h, size_t n, const float *x) {
    lpt_msb_acc *acc = lpt_msb_acc_thread();
    lpt_msb_acc_add(acc, n, x);
    lpt_msb_acc_end(acc, h);
}

