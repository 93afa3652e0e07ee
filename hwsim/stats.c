/* stats.c - MSB histograms and the fractional-length rule. */
#include "stats.h"

#include <math.h>
#include <string.h>

void lpt_msb_hist_clear(lpt_msb_hist *h) { memset(h, 0, sizeof *h); }

/* Reference: one value at a time, the MSB from frexp (|v| = f * 2^e, f in [0.5, 1)). */
void lpt_msb_hist_add_ref(lpt_msb_hist *h, size_t n, const float *x) {
    for (size_t i = 0; i < n; i++) {
        const double v = (double)x[i];
        if (isnan(v) || isinf(v)) {
            h->nonfinite++;
            continue;
        }
        if (v == 0.0) {
            h->zeros++;
            continue;
        }
        int e;
        frexp(fabs(v), &e);
        (v > 0 ? h->pos : h->neg)[e - 1 - LPT_MSB_MIN]++;
        if (fabs(v) > h->max_abs) h->max_abs = fabs(v);
    }
    h->count += n;
}

/* Fast version. A normal float's MSB position is its biased exponent minus 127, so the
 * top nine bits (sign and exponent) index the counters directly. Exponent 0 holds zeros
 * and subnormals: a vectorizable pass over the same block counts zeros, subnormals and
 * the largest finite magnitude, and only a block that has subnormals (rare) is looked
 * at again to bin them from their leading zeros. Exponent 255 is NaN and Inf. Eight
 * counter sets, value i going to set i mod 8: neighbouring values mostly share a bin,
 * and with one set every increment would wait for the previous one to be stored
 * (measured with perf: 4 sets still left the loop bound by that chain). */
void lpt_msb_acc_init(lpt_msb_acc *a) {
    memset(a, 0, sizeof *a);
    a->min_bits = 0x7fffffffu;
}

/* the counters into wide (exponents lo..hi and the special ones), leaving them zero */
static void acc_fold(lpt_msb_acc *a) {
    const int lo = (int)(a->min_bits >> 23) < 1 ? 1 : (int)(a->min_bits >> 23);
    const int hi = (int)(a->max_bits >> 23) > 254 ? 254 : (int)(a->max_bits >> 23);
    for (int k = 0; k < LPT_MSB_SETS; k++) {
        uint32_t *c = a->c[k];
        for (int e = lo; e <= hi; e++) {
            a->wide[e] += c[e], a->wide[256 + e] += c[256 + e];
            c[e] = c[256 + e] = 0;
        }
        a->nonfinite += (uint64_t)c[255] + c[511];
        c[0] = c[255] = c[256] = c[511] = 0; /* zeros and subnormals are counted apart */
    }
    a->pending = 0;
}

/* zeros, subnormals, the largest finite and the smallest nonzero magnitude of a block
 * (finite magnitudes order like their bits); signed 32-bit arithmetic so that it
 * vectorizes, in clones for the wider vector units */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void block_scan(const int32_t *bs, size_t m, int32_t *zeros_out, int32_t *sub_out, int32_t *mx_io,
                       int32_t *mn_io) {
    int32_t zeros = 0, sub = 0, mx = *mx_io, mn = *mn_io;
    for (size_t i = 0; i < m; i++) {
        const int32_t ax = bs[i] & 0x7fffffff, fin = ax < 0x7f800000 ? ax : 0, nz = ax > 0 ? ax : 0x7fffffff;
        zeros += ax == 0;
        sub += (ax > 0) & (ax < 0x00800000);
        mx = fin > mx ? fin : mx;
        mn = nz < mn ? nz : mn;
    }
    *zeros_out = zeros, *sub_out = sub, *mx_io = mx, *mn_io = mn;
}

void lpt_msb_acc_add(lpt_msb_acc *a, size_t n, const float *x) {
    const uint32_t *b = (const uint32_t *)(const void *)x;
    while (n) {
        /* pieces of at most 2^20 values, folded before a 32-bit counter could overflow */
        if (a->pending >= ((size_t)1 << 30)) acc_fold(a);
        size_t m = ((size_t)1 << 30) - a->pending, i = 0;
        if (m > ((size_t)1 << 20)) m = (size_t)1 << 20;
        if (m > n) m = n;
        uint32_t(*c)[512 + 16] = a->c;
        for (; i + LPT_MSB_SETS <= m; i += LPT_MSB_SETS)
            for (int k = 0; k < LPT_MSB_SETS; k++) c[k][b[i + k] >> 23]++;
        for (; i < m; i++) c[0][b[i] >> 23]++;
        int32_t zeros, sub, mx = (int32_t)a->max_bits, mn = (int32_t)a->min_bits;
        block_scan((const int32_t *)(const void *)b, m, &zeros, &sub, &mx, &mn);
        for (i = 0; sub && i < m; i++) {
            const uint32_t ax = b[i] & 0x7fffffffu;
            if (ax - 1u < 0x007fffffu) /* subnormal: msb = 31 - clz - 149, in [-149, -127] */
                a->sub[b[i] >> 31][31 - __builtin_clz(ax) - 149 + 149]++;
        }
        a->max_bits = (uint32_t)mx;
        a->min_bits = (uint32_t)mn;
        a->zeros += (uint32_t)zeros;
        a->count += m;
        a->pending += m;
        b += m;
        n -= m;
    }
}

void lpt_msb_acc_end(lpt_msb_acc *a, lpt_msb_hist *h) {
    acc_fold(a);
    const int lo = (int)(a->min_bits >> 23) < 1 ? 1 : (int)(a->min_bits >> 23);
    const int hi = (int)(a->max_bits >> 23) > 254 ? 254 : (int)(a->max_bits >> 23);
    for (int e = lo; e <= hi; e++) { /* msb = e - 127 */
        h->pos[e - 127 - LPT_MSB_MIN] += a->wide[e];
        h->neg[e - 127 - LPT_MSB_MIN] += a->wide[256 + e];
        a->wide[e] = a->wide[256 + e] = 0;
    }
    for (int s = 0; s < 2; s++)
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
    a->zeros = a->nonfinite = a->count = 0;
    a->max_bits = 0;
    a->min_bits = 0x7fffffffu;
}

void lpt_msb_hist_add(lpt_msb_hist *h, size_t n, const float *x) {
    static _Thread_local lpt_msb_acc acc; /* kept clean between calls */
    static _Thread_local int ready;
    if (!ready) lpt_msb_acc_init(&acc), ready = 1;
    lpt_msb_acc_add(&acc, n, x);
    lpt_msb_acc_end(&acc, h);
}

void lpt_msb_hist_merge(lpt_msb_hist *h, const lpt_msb_hist *o) {
    for (int i = 0; i < LPT_MSB_BINS; i++) {
        h->pos[i] += o->pos[i];
        h->neg[i] += o->neg[i];
    }
    h->zeros += o->zeros;
    h->nonfinite += o->nonfinite;
    h->count += o->count;
    if (o->max_abs > h->max_abs) h->max_abs = o->max_abs;
}

double lpt_stats_overflow_at(const lpt_msb_hist *h, int width, int fl) {
    uint64_t finite = h->count - h->nonfinite, over = 0;
    if (!finite) return 0.0;
    for (int b = 0; b < LPT_MSB_BINS; b++)
        if (b + LPT_MSB_MIN + fl >= width - 1) over += h->pos[b] + h->neg[b];
    return (double)over / (double)finite;
}

double lpt_stats_underflow_at(const lpt_msb_hist *h, int fl) {
    uint64_t nonzero = h->count - h->nonfinite - h->zeros, under = 0;
    if (!nonzero) return 0.0;
    /* |v| < 2^(m+1) <= 2^-(FL+1) (half a step) whenever m + FL <= -2 */
    for (int b = 0; b < LPT_MSB_BINS; b++)
        if (b + LPT_MSB_MIN + fl <= -2) under += h->pos[b] + h->neg[b];
    return (double)under / (double)nonzero;
}

int lpt_stats_choose_fl(const lpt_msb_hist *h, int width, double rate, int lo, int hi) {
    for (int fl = hi; fl >= lo; fl--)
        if (lpt_stats_overflow_at(h, width, fl) <= rate) return fl;
    return lo;
}
