/* cpu_quant_fast.c - fast quantizers, equal to quant_ref.c bit for bit (counters included).
 *
 * The loops are branch-free so that the compiler vectorizes them; each kernel is built
 * three times, for x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA, F16C) and the portable
 * baseline, and the best level the CPU supports is picked at run time (tests and
 * benchmarks may force a lower one, lpt_isa_set in src/base/isa.h). fp16 with round-to-nearest-even
 * uses the F16C conversion instruction directly at levels v3 and v4.
 * Exactness: every value is scaled by a power of two in double precision (exact for
 * float32 inputs and |FL| <= 256) and rounded with the same rules as lpt_round_ref. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/bits.h"
#include "kernels/cpu/cpu_quant.h"
#include "kernels/cpu/cpu_quant_simd.h"
#include "src/base/isa.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define LPT_X86 1
#include <immintrin.h>
#else
#define LPT_X86 0
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))



/* lpt_round_ref without branches; u is the sr uniform. rint rounds to nearest even in
 * the default floating-point environment, which lpt never changes. */
ALWAYS_INLINE double round_mode(double v, lpt_rounding mode, double u) {
    double f = floor(v);
    switch (mode) {
    case LPT_ROUND_RNE:
        return rint(v);
    case LPT_ROUND_RNA: {
        double d = v - f;
        double tie = v > 0 ? f + 1.0 : f;
        return d == 0.5 ? tie : rint(v);
    }
    case LPT_ROUND_RTZ:
        return trunc(v);
    case LPT_ROUND_RDN:
        return f;
    case LPT_ROUND_SR:
    default:
        return (v - f) >= 1.0 - u ? f + 1.0 : f;
    }
}

/* ---- counters ----
 * The dfp and bf16 kernels keep no counters in their vectorized loops: each element's
 * events (saturated, non-finite, underflow) are stored as 1.0 or 0.0 in arrays of one
 * block (doubles like the lanes of the arithmetic; 32-bit integers in the bf16 kernel)
 * and counted after the block. The first form of the dfp kernel kept double counters in
 * an `omp simd reduction`, which GCC 13.3 miscompiles at x86-64-v3 (-O3 -fopenmp
 * -fno-trapping-math): partial redundancy elimination turns the updates into
 * conditional loads of the per-lane reduction arrays, if-conversion makes them masked
 * loads (vmaskmovpd), and the vectorizer steps their address by one vector per
 * iteration as if the arrays were indexed by the element: the loads walk up the stack
 * (SIGSEGV after about a thousand iterations, wrong counts before). GCC 12 and GCC 14
 * emit no such loads. The block form has no reduction for a compiler to get wrong. */
#define QBLOCK 512

/* the events of one block: each array holds 1.0 or 0.0 per element, counted from the
 * bits (bit 61 is set in 1.0 and clear in 0.0), which vectorizes where a conversion of
 * doubles to integers does not (AVX2 has none to 64 bits) */
ALWAYS_INLINE void count_events(const double *sat, const double *nonfin, const double *und, size_t m,
                                lpt_qstats *st) {
    uint64_t a = 0, b = 0, c = 0; /* m <= QBLOCK */
    for (size_t i = 0; i < m; i++) {
        a += lpt_f64_bits(sat[i]) >> 61;
        b += lpt_f64_bits(nonfin[i]) >> 61;
        c += lpt_f64_bits(und[i]) >> 61;
    }
    st->out_of_range += a;
    st->nonfinite += b;
    st->underflow += c;
}

/* ---- dynamic fixed point ---- */

/* wc, wy: whether codes and values are wanted; constants after inlining, so that the
 * loop body has no branches (a conditional store stops the vectorizer) */
ALWAYS_INLINE void dfp_kernel(lpt_rounding mode, int wrap, int wc, int wy, int width, int fl,
                              uint64_t prefix, uint64_t i0, size_t n, const float *restrict x,
                              int32_t *restrict codes, float *restrict y, lpt_qstats *st) {
    /* powers of two from their bits: a libm call here (ldexp may write errno) would
     * keep the compiler from vectorizing the loop */
    const double qmax = lpt_pow2(width - 1) - 1.0, qmin = -lpt_pow2(width - 1);
    const double m = lpt_pow2(width), inv_m = lpt_pow2(-width);
    const double scale = lpt_pow2(fl), inv_scale = lpt_pow2(-fl);
    /* events as doubles: the same lane width as the arithmetic */
    double e_sat[QBLOCK], e_nonfin[QBLOCK], e_und[QBLOCK];
    for (size_t b = 0; b < n; b += QBLOCK) {
        const size_t nb = n - b < QBLOCK ? n - b : QBLOCK;
#pragma omp simd
        for (size_t i = 0; i < nb; i++) {
            const float xf = x[b + i];
            const int finite = (xf - xf) == 0.0f;
            const int isnan_ = xf != xf;
            double u = 0.0;
            if (mode == LPT_ROUND_SR) u = (double)lpt_sr_bits_at(prefix, i0 + b + i) * 0x1p-24;
            double r = round_mode((double)xf * scale, mode, u);
            const int over = finite & ((r > qmax) | (r < qmin));
            double rw;
            if (wrap) { /* r - trunc(r / m) * m is exact (Sterbenz), in (-m, m), sign of r */
                const double rem = r - trunc(r * inv_m) * m;
                rw = rem > qmax ? rem - m : (rem < qmin ? rem + m : rem);
            } else
                rw = r > qmax ? qmax : (r < qmin ? qmin : r);
            double inf_code = xf > 0 ? qmax : qmin;
            double c = finite ? rw : (isnan_ ? 0.0 : inf_code);
            e_sat[i] = over ? 1.0 : 0.0;
            e_nonfin[i] = finite ? 0.0 : 1.0;
            e_und[i] = (finite & (c == 0.0) & (xf != 0.0f)) ? 1.0 : 0.0;
            /* the integer from the bits of c + 1.5 * 2^52, whose low 32 mantissa bits hold c
             * (an integer of at most 32 bits: the sum is exact), not by a float-to-int
             * conversion: that instruction may trap, so the compiler never executes it on
             * a path the source does not take, and after it has threaded the loop body into
             * paths (finite or not) the conversion sits on one of them and the loop is not
             * vectorized */
            const int32_t ci = (int32_t)(uint32_t)lpt_f64_bits(c + 0x1.8p52);
            if (wc) codes[b + i] = ci;
            /* the value comes from the integer code, so a zero code is +0 (the compiler may
             * fold (double)(int32_t)c back into c, which keeps the sign of a -0.0 c) */
            if (wy) y[b + i] = ci == 0 ? 0.0f : (float)((double)ci * inv_scale);
        }
        count_events(e_sat, e_nonfin, e_und, nb, st);
    }
}

#define DFP_OUT(MODE, WRAP)                                                                  \
    if (codes && y)                                                                          \
        dfp_kernel(MODE, WRAP, 1, 1, width, fl, prefix, i0, n, x, codes, y, st);             \
    else if (codes)                                                                          \
        dfp_kernel(MODE, WRAP, 1, 0, width, fl, prefix, i0, n, x, codes, y, st);             \
    else if (y)                                                                              \
        dfp_kernel(MODE, WRAP, 0, 1, width, fl, prefix, i0, n, x, codes, y, st);             \
    else                                                                                     \
        dfp_kernel(MODE, WRAP, 0, 0, width, fl, prefix, i0, n, x, codes, y, st);
#define DFP_CASE(MODE)                                                                       \
    if (wrap) {                                                                              \
        DFP_OUT(MODE, 1)                                                                     \
    } else {                                                                                 \
        DFP_OUT(MODE, 0)                                                                     \
    }                                                                                        \
    return;


/* ---- floats: generic path for every float format and mode ---- */

typedef struct {
    int bits, ebits, mbits, bias, emin, has_inf, sat;
    double max;
    int32_t max_code, inf_code; /* positive */
} fspec;

/* value of a float-format code, as lpt_dequantize_one_ref gives it */
ALWAYS_INLINE float fdecode(const fspec *f, uint32_t c) {
    const uint32_t s = (c >> (f->bits - 1)) & 1u;
    const uint32_t emask = (1u << f->ebits) - 1, mmask = (1u << f->mbits) - 1;
    const uint32_t ef = (c >> f->mbits) & emask, mf = c & mmask;
    const int top = ef == emask;
    const int is_nan = f->has_inf ? (top & (mf != 0)) : (top & (mf == mmask));
    const int is_inf = f->has_inf & top & (mf == 0);
    /* finite: (ef ? 1.mf : 0.mf) * 2^(max(ef,1) - bias - mbits), built in double */
    const double sig = (double)(mf | (ef ? 1u << f->mbits : 0u));
    const int ex = (ef ? (int)ef : 1) - f->bias - f->mbits;
    const double a = sig * lpt_f64_from((uint64_t)(1023 + ex) << 52);
    const float fin = (float)(s ? -a : a);
    const float nanv = lpt_f32_from((s << 31) | 0x7fc00000u | (mf << (23 - f->mbits)));
    const float infv = lpt_f32_from((s << 31) | 0x7f800000u);
    return is_nan ? nanv : (is_inf ? infv : fin);
}

ALWAYS_INLINE int32_t fnan_code(const fspec *f, uint32_t xb) {
    const uint32_t s = xb >> 31, mant = xb & 0x7fffff;
    if (f->bits == 16)
        return f->ebits == 5 ? (int32_t)((s << 15) | 0x7e00u | (mant >> 13))
                             : (int32_t)((s << 15) | 0x7fc0u | (mant >> 16));
    return (int32_t)((s << 7) | (f->has_inf ? 0x7eu : 0x7fu));
}

/* The counters of this kernel stay an `omp simd reduction` (of integers): GCC 13.3 compiles
 * it correctly (no masked loads of the per-lane arrays in its object code, and
 * tests/test_quant_fast.c compares every counter with the reference at every level),
 * and the block form above leaves this loop unvectorized with GCC 12. */
ALWAYS_INLINE void float_kernel(const fspec *fmt, lpt_rounding mode, int wc, int wy, uint64_t prefix,
                                uint64_t i0, size_t n, const float *restrict x,
                                int32_t *restrict codes, float *restrict y, lpt_qstats *st) {
    /* clang vectorizes the loop only with a local copy of the format (while its fields sit
     * behind a pointer that the stores might alias, it does not); GCC vectorizes both,
     * but the copy makes its loop 4.5x slower (fp8-e4m3, x86-64-v4: 0.23 against 1.05
     * GB/s, lpt bench --quantize) */
#ifdef __clang__
    const fspec spec = *fmt, *const f = &spec;
#else
    const fspec *const f = fmt;
#endif
    uint64_t sat = 0, und = 0, nonfin = 0;
    const int toward_zero_pos = mode == LPT_ROUND_RTZ || mode == LPT_ROUND_RDN;
    const int toward_zero_neg = mode == LPT_ROUND_RTZ;
#pragma omp simd reduction(+ : sat, und, nonfin)
    for (size_t i = 0; i < n; i++) {
        const uint32_t xb = lpt_f32_bits(x[i]), ax = xb & 0x7fffffffu, s = xb >> 31;
        const int nan_ = ax > 0x7f800000u, inf_ = ax == 0x7f800000u, finite = ax < 0x7f800000u;
        int e = (int)(ax >> 23) - 127;
        e = e < f->emin ? f->emin : e;
        double u = 0.0;
        if (mode == LPT_ROUND_SR) u = (double)lpt_sr_bits_at(prefix, i0 + i) * 0x1p-24;
        const double v = (double)x[i] * lpt_f64_from((uint64_t)(1023 + f->mbits - e) << 52);
        const double r = round_mode(v, mode, u);
        const double a = fabs(r) * lpt_f64_from((uint64_t)(1023 + e - f->mbits) << 52);
        const int over = finite & (a > f->max);
        /* encode a finite, in-range magnitude */
        const uint64_t ab = lpt_f64_bits(a);
        const int ea = (int)(ab >> 52) - 1023;
        const double tiny = ea < f->emin ? a : 0.0; /* keep the conversion in range */
        const uint32_t sub = (uint32_t)(tiny * lpt_f64_from((uint64_t)(1023 + f->mbits - f->emin) << 52));
        const uint32_t nrm = ((uint32_t)(ea + f->bias) << f->mbits) |
                             (uint32_t)((ab >> (52 - f->mbits)) & ((1u << f->mbits) - 1));
        const uint32_t mag = ea < f->emin ? sub : nrm;
        const int to_max = f->sat | (s ? toward_zero_neg : toward_zero_pos);
        const uint32_t ovf_mag = to_max ? (uint32_t)f->max_code
                                        : (f->has_inf ? (uint32_t)f->inf_code : 0xffffffffu);
        const uint32_t inf_mag = f->sat ? (uint32_t)f->max_code
                                        : (f->has_inf ? (uint32_t)f->inf_code : 0xffffffffu);
        uint32_t m = over ? ovf_mag : mag;
        m = inf_ ? inf_mag : m;
        const uint32_t nanc = (uint32_t)fnan_code(f, xb);
        const uint32_t signed_code = (s << (f->bits - 1)) | m;
        const uint32_t c = (nan_ | (m == 0xffffffffu)) ? nanc : signed_code;
        sat += (uint64_t)over;
        nonfin += (uint64_t)!finite;
        und += (uint64_t)(finite & (ax != 0) & (a == 0.0));
        if (wc) codes[i] = (int32_t)c;
        if (wy) y[i] = fdecode(f, c);
    }
    st->out_of_range += sat;
    st->underflow += und;
    st->nonfinite += nonfin;
}

#define FLOAT_CASE(MODE)                                                                     \
    if (codes && y)                                                                          \
        float_kernel(f, MODE, 1, 1, prefix, i0, n, x, codes, y, st);                         \
    else if (codes)                                                                          \
        float_kernel(f, MODE, 1, 0, prefix, i0, n, x, codes, y, st);                         \
    else                                                                                     \
        float_kernel(f, MODE, 0, 1, prefix, i0, n, x, codes, y, st);                         \
    return;

/* ---- bf16, round to nearest even: integer rounding on the float32 bits ---- */

ALWAYS_INLINE void bf16_kernel(int sat_mode, int wc, int wy, size_t n, const float *restrict x,
                               int32_t *restrict codes, float *restrict y, lpt_qstats *st) {
    /* integer lanes here: the events as 32-bit 0 or 1 */
    uint32_t e_sat[QBLOCK], e_nonfin[QBLOCK], e_und[QBLOCK];
    for (size_t b0 = 0; b0 < n; b0 += QBLOCK) {
        const size_t nb = n - b0 < QBLOCK ? n - b0 : QBLOCK;
        const float *restrict xb = x + b0;
#pragma omp simd
        for (size_t i = 0; i < nb; i++) {
            const uint32_t b = lpt_f32_bits(xb[i]), ax = b & 0x7fffffffu, s = b & 0x80000000u;
            const int nan_ = ax > 0x7f800000u, finite = ax < 0x7f800000u;
            uint32_t r = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16; /* finite and Inf inputs */
            const int over = finite & ((r & 0x7fffu) == 0x7f80u);
            r = (sat_mode & ((r & 0x7fffu) == 0x7f80u)) ? ((s >> 16) | 0x7f7fu) : r;
            r = nan_ ? ((b >> 16) | 0x40u) : r;
            e_sat[i] = (uint32_t)over;
            e_nonfin[i] = (uint32_t)!finite;
            e_und[i] = (uint32_t)(finite & (ax != 0) & ((r & 0x7fffu) == 0));
            if (wc) codes[b0 + i] = (int32_t)r;
            if (wy) y[b0 + i] = lpt_f32_from(r << 16 | (nan_ ? 0x00400000u : 0u));
        }
        uint32_t a = 0, c = 0, u = 0; /* nb <= QBLOCK */
        for (size_t i = 0; i < nb; i++) a += e_sat[i], c += e_nonfin[i], u += e_und[i];
        st->out_of_range += a;
        st->nonfinite += c;
        st->underflow += u;
    }
}

/* ---- one build of every kernel per instruction-set level ---- */

#define DEFINE_LEVEL(SUF, ATTR)                                                              \
    ATTR static void dfp_quantize_##SUF(lpt_rounding mode, int wrap, int width, int fl,      \
                                        uint64_t prefix, uint64_t i0, size_t n,              \
                                        const float *x, int32_t *codes, float *y,            \
                                        lpt_qstats *st) {                                    \
        switch (mode) {                                                                      \
        case LPT_ROUND_RNE: DFP_CASE(LPT_ROUND_RNE)                                          \
        case LPT_ROUND_RNA: DFP_CASE(LPT_ROUND_RNA)                                          \
        case LPT_ROUND_RTZ: DFP_CASE(LPT_ROUND_RTZ)                                          \
        case LPT_ROUND_RDN: DFP_CASE(LPT_ROUND_RDN)                                          \
        default: DFP_CASE(LPT_ROUND_SR)                                                      \
        }                                                                                    \
    }                                                                                        \
    ATTR static void float_quantize_##SUF(const fspec *f, lpt_rounding mode, uint64_t prefix, \
                                          uint64_t i0, size_t n, const float *x,             \
                                          int32_t *codes, float *y, lpt_qstats *st) {        \
        switch (mode) {                                                                      \
        case LPT_ROUND_RNE: FLOAT_CASE(LPT_ROUND_RNE)                                        \
        case LPT_ROUND_RNA: FLOAT_CASE(LPT_ROUND_RNA)                                        \
        case LPT_ROUND_RTZ: FLOAT_CASE(LPT_ROUND_RTZ)                                        \
        case LPT_ROUND_RDN: FLOAT_CASE(LPT_ROUND_RDN)                                        \
        default: FLOAT_CASE(LPT_ROUND_SR)                                                    \
        }                                                                                    \
    }                                                                                        \
    ATTR static void float_dequantize_##SUF(const fspec *f, size_t n, const int32_t *codes,  \
                                            float *y) {                                      \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) y[i] = fdecode(f, (uint32_t)codes[i]); \
    }                                                                                        \
    ATTR static void bf16_rne_##SUF(int sat_mode, size_t n, const float *x, int32_t *codes,  \
                                    float *y, lpt_qstats *st) {                              \
        if (codes && y)                                                                      \
            bf16_kernel(sat_mode, 1, 1, n, x, codes, y, st);                                 \
        else if (codes)                                                                      \
            bf16_kernel(sat_mode, 1, 0, n, x, codes, y, st);                                 \
        else                                                                                 \
            bf16_kernel(sat_mode, 0, 1, n, x, codes, y, st);                                 \
    }                                                                                        \
    ATTR static void dfp_dequantize_##SUF(int fl, size_t n, const int32_t *codes, float *y) { \
        const double inv = ldexp(1.0, -fl);                                                  \
        _Pragma("omp simd") for (size_t i = 0; i < n; i++) y[i] = (float)((double)codes[i] * inv); \
    }

DEFINE_LEVEL(base, )
#if LPT_X86
DEFINE_LEVEL(v3, __attribute__((target("arch=x86-64-v3"))))
DEFINE_LEVEL(v4, __attribute__((target("arch=x86-64-v4"))))
#endif

typedef struct {
    const char *name;
    void (*dfp_q)(lpt_rounding, int, int, int, uint64_t, uint64_t, size_t, const float *,
                  int32_t *, float *, lpt_qstats *);
    void (*float_q)(const fspec *, lpt_rounding, uint64_t, uint64_t, size_t, const float *,
                    int32_t *, float *, lpt_qstats *);
    void (*float_dq)(const fspec *, size_t, const int32_t *, float *);
    void (*bf16_q)(int, size_t, const float *, int32_t *, float *, lpt_qstats *);
    void (*dfp_dq)(int, size_t, const int32_t *, float *);
    int f16c; /* the fp16 rne instruction path */
    int simd; /* explicit-intrinsics dfp kernel: 4 (AVX-512), 3 (AVX2), 0 none */
} isa_level;

static const isa_level g_levels[] = {
    {"base", dfp_quantize_base, float_quantize_base, float_dequantize_base, bf16_rne_base, dfp_dequantize_base, 0, 0},
#if LPT_X86
    {"x86-64-v3", dfp_quantize_v3, float_quantize_v3, float_dequantize_v3, bf16_rne_v3, dfp_dequantize_v3, 1, 3},
    {"x86-64-v4", dfp_quantize_v4, float_quantize_v4, float_dequantize_v4, bf16_rne_v4, dfp_dequantize_v4, 1, 4},
#endif
};

/* the kernels of the level in use (src/base/isa.h) */
static const isa_level *level(void) { return &g_levels[lpt_isa_level()]; }

/* ---- fp16, round to nearest even, through F16C ---- */

#if LPT_X86
__attribute__((target("avx2,f16c"))) static void fp16_rne_f16c(int sat_mode, size_t n,
                                                                const float *x, int32_t *codes,
                                                                float *y, lpt_qstats *st) {
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), exp_all = _mm256_set1_epi32(0x7f800000);
    const __m256i h_abs = _mm256_set1_epi32(0x7fff), h_inf = _mm256_set1_epi32(0x7c00);
    const __m256i h_max = _mm256_set1_epi32(0x7bff), zero = _mm256_setzero_si256();
    __m256i sat = zero, und = zero, nonfin = zero; /* per-lane counts (each lane < 2^31) */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i);
        __m256i xb = _mm256_castps_si256(xv);
        __m256i ax = _mm256_and_si256(xb, abs_mask);
        __m256i finite = _mm256_cmpgt_epi32(exp_all, ax); /* -1 where finite */
        __m128i h = _mm256_cvtps_ph(xv, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i hw = _mm256_cvtepu16_epi32(h);
        __m256i habs = _mm256_and_si256(hw, h_abs);
        __m256i is_inf = _mm256_cmpeq_epi32(habs, h_inf);
        __m256i over = _mm256_and_si256(finite, is_inf);
        if (sat_mode) { /* finite overflow and Inf inputs both go to +-max */
            __m256i to_max = is_inf;
            __m256i signs = _mm256_and_si256(hw, _mm256_set1_epi32(0x8000));
            hw = _mm256_blendv_epi8(hw, _mm256_or_si256(signs, h_max), to_max);
            habs = _mm256_and_si256(hw, h_abs);
        }
        __m256i hzero = _mm256_cmpeq_epi32(habs, zero);
        __m256i xnz = _mm256_xor_si256(_mm256_cmpeq_epi32(ax, zero), _mm256_set1_epi32(-1));
        sat = _mm256_sub_epi32(sat, over);
        nonfin = _mm256_sub_epi32(nonfin, _mm256_xor_si256(finite, _mm256_set1_epi32(-1)));
        und = _mm256_sub_epi32(und, _mm256_and_si256(_mm256_and_si256(finite, xnz), hzero));
        if (codes) _mm256_storeu_si256((__m256i *)(codes + i), hw);
        if (y) {
            __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(hw), _mm256_extracti128_si256(hw, 1));
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(packed));
        }
        if ((i & ((1u << 28) - 1)) == 0 && i) { /* keep lane counts far from overflow */
            uint32_t t[8];
            _mm256_storeu_si256((__m256i *)t, sat), st->out_of_range += (uint64_t)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
            _mm256_storeu_si256((__m256i *)t, und), st->underflow += (uint64_t)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
            _mm256_storeu_si256((__m256i *)t, nonfin), st->nonfinite += (uint64_t)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
            sat = und = nonfin = zero;
        }
    }
    uint32_t t[8];
    _mm256_storeu_si256((__m256i *)t, sat), st->out_of_range += (uint64_t)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    _mm256_storeu_si256((__m256i *)t, und), st->underflow += (uint64_t)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    _mm256_storeu_si256((__m256i *)t, nonfin), st->nonfinite += (uint64_t)t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    if (i < n) {
        lpt_qformat q = {.fmt = LPT_FMT_FP16, .width = 16, .round = LPT_ROUND_RNE,
                         .ovf = sat_mode ? LPT_OVF_SAT : LPT_OVF_IEEE};
        lpt_quantize_ref(&q, 0, NULL, n - i, x + i, codes ? codes + i : NULL, y ? y + i : NULL, st);
    }
}
#endif

static fspec fspec_of(const lpt_qformat *q) {
    const lpt_format_traits *t = lpt_format_traits_of(q->fmt);
    fspec f = {.bits = t->bits, .ebits = t->ebits, .mbits = t->mbits, .bias = t->bias,
               .emin = 1 - t->bias, .has_inf = t->has_inf, .sat = q->ovf == LPT_OVF_SAT,
               .max = t->max};
    /* codes of the largest finite value and of infinity (positive) */
    int emax_field = t->has_inf ? (1 << t->ebits) - 2 : (1 << t->ebits) - 1;
    int mmax = t->has_inf ? (1 << t->mbits) - 1 : (1 << t->mbits) - 2;
    f.max_code = (emax_field << t->mbits) | mmax;
    f.inf_code = ((1 << t->ebits) - 1) << t->mbits;
    return f;
}

const char *lpt_quantize_kernel_name(const lpt_qformat *q) {
    static _Thread_local char buf[96];
    const char *what = q->fmt == LPT_FMT_DFP
                           ? (level()->simd == 4 ? "dfp, AVX-512 double"
                              : level()->simd == 3 ? "dfp, AVX2 double"
                                                                               : "dfp, branch-free double")
                       : q->fmt == LPT_FMT_FP32 ? "fp32 copy"
                       : (q->fmt == LPT_FMT_FP16 && q->round == LPT_ROUND_RNE && level()->f16c) ? "fp16 rne, F16C"
                       : (q->fmt == LPT_FMT_BF16 && q->round == LPT_ROUND_RNE) ? "bf16 rne, integer rounding"
                       : "float, branch-free double";
    snprintf(buf, sizeof buf, "%s (%s)", what, level()->name);
    return buf;
}

void lpt_quantize(const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t n,
                  const float *x, int32_t *codes, float *y, lpt_qstats *st) {
    const isa_level *L = level();
    const uint64_t prefix = key ? lpt_sr_prefix(key) : 0, i0 = key ? key->index0 : 0;
    switch (q->fmt) {
    case LPT_FMT_DFP: {
        const int wrap = q->ovf == LPT_OVF_WRAP;
        size_t done = 0;
#if LPT_X86
        if (L->simd == 4)
            done = lpt_dfp_quantize_avx512(q->round, wrap, q->width, fl, prefix, i0, n, x, codes, y, st);
        else if (L->simd == 3)
            done = lpt_dfp_quantize_avx2(q->round, wrap, q->width, fl, prefix, i0, n, x, codes, y, st);
#endif
        if (done < n) /* the tail, and modes without an intrinsics kernel */
            L->dfp_q(q->round, wrap, q->width, fl, prefix, i0 + done, n - done, x + done,
                     codes ? codes + done : NULL, y ? y + done : NULL, st);
        return;
    }
    case LPT_FMT_FP32:
        lpt_quantize_ref(q, fl, key, n, x, codes, y, st);
        return;
    case LPT_FMT_BF16:
        if (q->round == LPT_ROUND_RNE) {
            L->bf16_q(q->ovf == LPT_OVF_SAT, n, x, codes, y, st);
            return;
        }
        break;
    case LPT_FMT_FP16:
#if LPT_X86
        if (q->round == LPT_ROUND_RNE && L->f16c) {
            fp16_rne_f16c(q->ovf == LPT_OVF_SAT, n, x, codes, y, st);
            return;
        }
#endif
        break;
    default:
        break;
    }
    fspec f = fspec_of(q);
    L->float_q(&f, q->round, prefix, i0, n, x, codes, y, st);
}

void lpt_dequantize(const lpt_qformat *q, int fl, size_t n, const int32_t *codes, float *y) {
    if (q->fmt == LPT_FMT_DFP) {
        level()->dfp_dq(fl, n, codes, y);
        return;
    }
    if (q->fmt == LPT_FMT_FP32) {
        memcpy(y, codes, n * 4);
        return;
    }
    fspec f = fspec_of(q);
    level()->float_dq(&f, n, codes, y);
}
