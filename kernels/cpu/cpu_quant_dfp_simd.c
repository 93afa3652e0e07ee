/* cpu_quant_dfp_simd.c - dynamic fixed point quantization with explicit AVX-512 (x86-64-v4)
 * and AVX2 (x86-64-v3) intrinsics. Same arithmetic as lpt_round_ref and dfp_one in
 * quant_ref.c: x is widened to double, scaled by 2^FL (exact), rounded, clamped or
 * wrapped (exact remainder), and converted; the counters come from lane masks. The
 * portable loop in cpu_quant_fast.c handles what these do not (the tails).
 * tests/test_quant_fast.c checks every level against the reference bit for bit. */
#include "kernels/cpu/cpu_quant_simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <math.h>

#include "quant/bits.h"

#define V4 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))
#define V3 __attribute__((target("avx2,fma")))

/* 24 random bits per lane: lpt_sr_bits_at(prefix, index + lane) */
V4 static inline __m512i sr_bits8(uint64_t prefix, uint64_t index) {
    __m512i idx = _mm512_add_epi64(_mm512_set1_epi64((long long)index), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    __m512i z = _mm512_xor_si512(_mm512_set1_epi64((long long)prefix),
                                 _mm512_mullo_epi64(idx, _mm512_set1_epi64((long long)0x9e3779b97f4a7c15ULL)));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)0x94d049bb133111ebULL));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_srli_epi64(z, 40);
}

/* the same as doubles in [0, 1) */
V4 static inline __m512d sr_uniform8(uint64_t prefix, uint64_t index) {
    return _mm512_mul_pd(_mm512_cvtepu64_pd(sr_bits8(prefix, index)), _mm512_set1_pd(0x1p-24));
}

/* sixteen as floats (exact: b < 2^24) */
V4 static inline __m512 sr_uniform16f(uint64_t prefix, uint64_t index) {
    const __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(sr_bits8(prefix, index))),
                                         _mm512_cvtepi64_epi32(sr_bits8(prefix, index + 8)), 1);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(b), _mm512_set1_ps(0x1p-24f));
}

V4 static size_t dfp_avx512_double(lpt_rounding mode, int wrap, int width, int fl, uint64_t prefix,
                                   uint64_t i0, size_t n, const float *x, int32_t *codes, float *y,
                                   lpt_qstats *st) {
    const __m512d qmax = _mm512_set1_pd(lpt_pow2(width - 1) - 1.0), qmin = _mm512_set1_pd(-lpt_pow2(width - 1));
    const __m512d m = _mm512_set1_pd(lpt_pow2(width)), inv_m = _mm512_set1_pd(lpt_pow2(-width));
    const __m512d scale = _mm512_set1_pd(lpt_pow2(fl)), inv_scale = _mm512_set1_pd(lpt_pow2(-fl));
    const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0), half = _mm512_set1_pd(0.5);
    uint64_t sat = 0, und = 0, nonfin = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d xd = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        const __mmask8 nan = _mm512_cmp_pd_mask(xd, xd, _CMP_UNORD_Q);
        const __mmask8 fin = _mm512_cmp_pd_mask(_mm512_sub_pd(xd, xd), zero, _CMP_EQ_OQ);
        const __m512d v = _mm512_mul_pd(xd, scale);
        __m512d r;
        switch (mode) {
        case LPT_ROUND_RNE:
            r = _mm512_roundscale_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RTZ:
            r = _mm512_roundscale_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RDN:
            r = _mm512_roundscale_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RNA: {
            const __m512d f = _mm512_roundscale_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m512d rn = _mm512_roundscale_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __mmask8 tie = _mm512_cmp_pd_mask(_mm512_sub_pd(v, f), half, _CMP_EQ_OQ);
            const __mmask8 pos = _mm512_cmp_pd_mask(v, zero, _CMP_GT_OQ);
            const __m512d tv = _mm512_mask_add_pd(f, pos, f, one);
            r = _mm512_mask_blend_pd(tie, rn, tv);
            break;
        }
        default: { /* sr: floor(v) + (frac >= 1 - u) */
            const __m512d f = _mm512_roundscale_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m512d u = sr_uniform8(prefix, i0 + i);
            const __mmask8 up = _mm512_cmp_pd_mask(_mm512_sub_pd(v, f), _mm512_sub_pd(one, u), _CMP_GE_OQ);
            r = _mm512_mask_add_pd(f, up, f, one);
            break;
        }
        }
        const __mmask8 over = fin & (_mm512_cmp_pd_mask(r, qmax, _CMP_GT_OQ) | _mm512_cmp_pd_mask(r, qmin, _CMP_LT_OQ));
        __m512d rw;
        if (wrap) { /* r - trunc(r / m) * m: exact, in (-m, m) */
            __m512d rem = _mm512_sub_pd(r, _mm512_mul_pd(_mm512_roundscale_pd(_mm512_mul_pd(r, inv_m), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), m));
            rem = _mm512_mask_sub_pd(rem, _mm512_cmp_pd_mask(rem, qmax, _CMP_GT_OQ), rem, m);
            rw = _mm512_mask_add_pd(rem, _mm512_cmp_pd_mask(rem, qmin, _CMP_LT_OQ), rem, m);
        } else {
            rw = _mm512_min_pd(_mm512_max_pd(r, qmin), qmax);
        }
        const __m512d infc = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(xd, zero, _CMP_GT_OQ), qmin, qmax);
        const __m512d c = _mm512_mask_blend_pd(fin, _mm512_mask_blend_pd(nan, infc, zero), rw);
        const __mmask8 zc = _mm512_cmp_pd_mask(c, zero, _CMP_EQ_OQ), xnz = _mm512_cmp_pd_mask(xd, zero, _CMP_NEQ_OQ);
        sat += (uint64_t)__builtin_popcount(over);
        nonfin += (uint64_t)__builtin_popcount((uint8_t)~fin);
        und += (uint64_t)__builtin_popcount(fin & zc & xnz);
        const __m256i ci = _mm512_cvttpd_epi32(c);
        if (codes) _mm256_storeu_si256((__m256i *)(codes + i), ci);
        if (y) /* + 0: a zero code gives +0, as the reference */
            _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_add_pd(_mm512_cvtepi32_pd(ci), zero), inv_scale)));
    }
    st->out_of_range += sat;
    st->underflow += und;
    st->nonfinite += nonfin;
    return i;
}

/* Sixteen float lanes where that is exact (the conditions of the AVX2 float path below:
 * x 2^FL normal, codes of at most 24 bits, |FL| <= 100, saturation); other vectors
 * through the double kernel. */
V4 size_t lpt_dfp_quantize_avx512(lpt_rounding mode, int wrap, int width, int fl, uint64_t prefix,
                                  uint64_t i0, size_t n, const float *x, int32_t *codes, float *y,
                                  lpt_qstats *st) {
    if (wrap || width > 24 || fl < -100 || fl > 100)
        return dfp_avx512_double(mode, wrap, width, fl, prefix, i0, n, x, codes, y, st);
    const __m512 qmax = _mm512_set1_ps((float)(lpt_pow2(width - 1) - 1.0)), qmin = _mm512_set1_ps((float)-lpt_pow2(width - 1));
    const __m512 scale = _mm512_set1_ps((float)lpt_pow2(fl)), inv_scale = _mm512_set1_ps((float)lpt_pow2(-fl));
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 inf = _mm512_set1_ps(INFINITY), tiny = _mm512_set1_ps(0x1p-126f);
    uint64_t sat = 0, und = 0, nonfin = 0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 xf = _mm512_loadu_ps(x + i);
        const __mmask16 fin = _mm512_cmp_ps_mask(_mm512_abs_ps(xf), inf, _CMP_LT_OQ); /* finite, not NaN */
        const __m512 v = _mm512_mul_ps(xf, scale), av = _mm512_abs_ps(v);
        const __mmask16 xnz = _mm512_cmp_ps_mask(xf, zero, _CMP_NEQ_OQ);
        const __mmask16 inexact = fin & (_mm512_cmp_ps_mask(av, inf, _CMP_EQ_OQ) | (xnz & _mm512_cmp_ps_mask(av, tiny, _CMP_LT_OQ)));
        if (inexact) {
            dfp_avx512_double(mode, wrap, width, fl, prefix, i0 + i, 16, x + i, codes ? codes + i : NULL,
                              y ? y + i : NULL, st);
            continue;
        }
        __m512 r;
        switch (mode) {
        case LPT_ROUND_RNE:
            r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RTZ:
            r = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RDN:
            r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RNA: {
            const __m512 f = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m512 rn = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __mmask16 tie = _mm512_cmp_ps_mask(_mm512_sub_ps(v, f), half, _CMP_EQ_OQ);
            const __mmask16 pos = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
            r = _mm512_mask_blend_ps(tie, rn, _mm512_mask_add_ps(f, pos, f, one));
            break;
        }
        default: { /* sr */
            const __m512 f = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(v, f), _mm512_sub_ps(one, sr_uniform16f(prefix, i0 + i)),
                                                    _CMP_GE_OQ);
            r = _mm512_mask_add_ps(f, up, f, one);
            break;
        }
        }
        const __mmask16 over = fin & (_mm512_cmp_ps_mask(r, qmax, _CMP_GT_OQ) | _mm512_cmp_ps_mask(r, qmin, _CMP_LT_OQ));
        const __m512 rw = _mm512_min_ps(_mm512_max_ps(r, qmin), qmax);
        const __mmask16 nan = _mm512_cmp_ps_mask(xf, xf, _CMP_UNORD_Q);
        const __m512 infc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(xf, zero, _CMP_GT_OQ), qmin, qmax);
        const __m512 c = _mm512_mask_blend_ps(fin, _mm512_mask_blend_ps(nan, infc, zero), rw);
        const __mmask16 zc = _mm512_cmp_ps_mask(c, zero, _CMP_EQ_OQ);
        sat += (uint64_t)__builtin_popcount(over);
        nonfin += (uint64_t)__builtin_popcount((uint16_t)~fin);
        und += (uint64_t)__builtin_popcount(fin & zc & xnz);
        const __m512i ci = _mm512_cvttps_epi32(c);
        if (codes) _mm512_storeu_si512((void *)(codes + i), ci);
        if (y) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_cvtepi32_ps(ci), inv_scale));
    }
    st->out_of_range += sat;
    st->underflow += und;
    st->nonfinite += nonfin;
    return i + dfp_avx512_double(mode, wrap, width, fl, prefix, i0 + i, n - i, x + i, codes ? codes + i : NULL,
                                 y ? y + i : NULL, st);
}

/* the low 64 bits of a * b per lane (AVX2 multiplies 32 x 32 -> 64 bits only):
 * al bl + ((ah bl + al bh) << 32) mod 2^64 */
V3 static inline __m256i mullo64_avx2(__m256i a, __m256i b) {
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b),
                                           _mm256_mul_epu32(a, _mm256_srli_epi64(b, 32)));
    return _mm256_add_epi64(_mm256_mul_epu32(a, b), _mm256_slli_epi64(cross, 32));
}

/* 24 random bits per 64-bit lane: lpt_sr_bits_at(prefix, index), given idx_mul = index *
 * 0x9e3779b97f4a7c15 mod 2^64 per lane (kept by the caller, which adds the constant times
 * the lanes per step: the same products, one multiply fewer) */
V3 static inline __m256i sr_bits4(uint64_t prefix, __m256i idx_mul) {
    __m256i z = _mm256_xor_si256(_mm256_set1_epi64x((long long)prefix), idx_mul);
    z = mullo64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), _mm256_set1_epi64x((long long)0xbf58476d1ce4e5b9ULL));
    z = mullo64_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), _mm256_set1_epi64x((long long)0x94d049bb133111ebULL));
    return _mm256_srli_epi64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 31)), 40);
}

/* the same as doubles in [0, 1): b * 2^-24, b < 2^24 converted through the bits of 2^52 + b */
V3 static inline __m256d sr_uniform4(uint64_t prefix, __m256i idx_mul) {
    const __m256i two52 = _mm256_set1_epi64x(0x4330000000000000LL);
    const __m256d b = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(sr_bits4(prefix, idx_mul), two52)),
                                    _mm256_set1_pd(0x1p52));
    return _mm256_mul_pd(b, _mm256_set1_pd(0x1p-24));
}

V3 static size_t dfp_avx2_double(lpt_rounding mode, int wrap, int width, int fl, uint64_t prefix, uint64_t i0,
                                 size_t n, const float *x, int32_t *codes, float *y, lpt_qstats *st) {
    const __m256d qmax = _mm256_set1_pd(lpt_pow2(width - 1) - 1.0), qmin = _mm256_set1_pd(-lpt_pow2(width - 1));
    const __m256d m = _mm256_set1_pd(lpt_pow2(width)), inv_m = _mm256_set1_pd(lpt_pow2(-width));
    const __m256d scale = _mm256_set1_pd(lpt_pow2(fl)), inv_scale = _mm256_set1_pd(lpt_pow2(-fl));
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0), half = _mm256_set1_pd(0.5);
    uint64_t sat = 0, und = 0, nonfin = 0;
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    __m256i idx_mul = _mm256_set_epi64x((long long)((i0 + 3) * golden), (long long)((i0 + 2) * golden),
                                        (long long)((i0 + 1) * golden), (long long)(i0 * golden));
    const __m256i idx_step = _mm256_set1_epi64x((long long)(4 * golden));
    size_t i = 0;
    for (; i + 4 <= n; i += 4, idx_mul = _mm256_add_epi64(idx_mul, idx_step)) {
        const __m256d xd = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
        const __m256d nan = _mm256_cmp_pd(xd, xd, _CMP_UNORD_Q);
        const __m256d fin = _mm256_cmp_pd(_mm256_sub_pd(xd, xd), zero, _CMP_EQ_OQ);
        const __m256d v = _mm256_mul_pd(xd, scale);
        __m256d r;
        switch (mode) {
        case LPT_ROUND_RNE:
            r = _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RTZ:
            r = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RDN:
            r = _mm256_round_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_SR: { /* floor(v) + (frac >= 1 - u) */
            const __m256d f = _mm256_round_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m256d u = sr_uniform4(prefix, idx_mul);
            const __m256d up = _mm256_cmp_pd(_mm256_sub_pd(v, f), _mm256_sub_pd(one, u), _CMP_GE_OQ);
            r = _mm256_add_pd(f, _mm256_and_pd(up, one));
            break;
        }
        default: { /* rna */
            const __m256d f = _mm256_round_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m256d rn = _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m256d tie = _mm256_cmp_pd(_mm256_sub_pd(v, f), half, _CMP_EQ_OQ);
            const __m256d pos = _mm256_cmp_pd(v, zero, _CMP_GT_OQ);
            const __m256d tv = _mm256_add_pd(f, _mm256_and_pd(pos, one));
            r = _mm256_blendv_pd(rn, tv, tie);
            break;
        }
        }
        const __m256d over = _mm256_and_pd(fin, _mm256_or_pd(_mm256_cmp_pd(r, qmax, _CMP_GT_OQ), _mm256_cmp_pd(r, qmin, _CMP_LT_OQ)));
        __m256d rw;
        if (wrap) {
            __m256d rem = _mm256_sub_pd(r, _mm256_mul_pd(_mm256_round_pd(_mm256_mul_pd(r, inv_m), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), m));
            rem = _mm256_sub_pd(rem, _mm256_and_pd(_mm256_cmp_pd(rem, qmax, _CMP_GT_OQ), m));
            rw = _mm256_add_pd(rem, _mm256_and_pd(_mm256_cmp_pd(rem, qmin, _CMP_LT_OQ), m));
        } else {
            rw = _mm256_min_pd(_mm256_max_pd(r, qmin), qmax);
        }
        const __m256d infc = _mm256_blendv_pd(qmin, qmax, _mm256_cmp_pd(xd, zero, _CMP_GT_OQ));
        const __m256d c = _mm256_blendv_pd(_mm256_blendv_pd(infc, zero, nan), rw, fin);
        const __m256d zc = _mm256_cmp_pd(c, zero, _CMP_EQ_OQ), xnz = _mm256_cmp_pd(xd, zero, _CMP_NEQ_OQ);
        sat += (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_pd(over));
        nonfin += (uint64_t)__builtin_popcount(~(unsigned)_mm256_movemask_pd(fin) & 15u);
        und += (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_pd(_mm256_and_pd(_mm256_and_pd(fin, zc), xnz)));
        const __m128i ci = _mm256_cvttpd_epi32(c);
        if (codes) _mm_storeu_si128((__m128i *)(codes + i), ci);
        if (y) _mm_storeu_ps(y + i, _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_add_pd(_mm256_cvtepi32_pd(ci), zero), inv_scale)));
    }
    st->out_of_range += sat;
    st->underflow += und;
    st->nonfinite += nonfin;
    return i;
}

/* 8 uniforms in [0, 1) as floats, lanes 0-3 from lo and 4-7 from hi (exact: b < 2^24) */
V3 static inline __m256 sr_uniform8f(uint64_t prefix, __m256i lo, __m256i hi) {
    const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i a = _mm256_permutevar8x32_epi32(sr_bits4(prefix, lo), pick);
    const __m256i b = _mm256_permutevar8x32_epi32(sr_bits4(prefix, hi), pick);
    const __m256i ab = _mm256_inserti128_si256(a, _mm256_castsi256_si128(b), 1);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(ab), _mm256_set1_ps(0x1p-24f));
}

/* Eight lanes in float where that is exact: x 2^FL is a normal float (a product by a
 * power of two is then exact), codes of at most 24 bits, FL within +-100 (2^FL and
 * 2^-FL normal), clamping; y = code * 2^-FL rounds once in float as the reference's
 * double product rounds once to float. A vector with a lane outside (its scaled value
 * overflowing or subnormal) goes through the double kernel. */
V3 size_t lpt_dfp_quantize_avx2(lpt_rounding mode, int wrap, int width, int fl, uint64_t prefix, uint64_t i0,
                                size_t n, const float *x, int32_t *codes, float *y, lpt_qstats *st) {
    if (wrap || width > 24 || fl < -100 || fl > 100) return dfp_avx2_double(mode, wrap, width, fl, prefix, i0, n, x, codes, y, st);
    const __m256 qmax = _mm256_set1_ps((float)(lpt_pow2(width - 1) - 1.0)), qmin = _mm256_set1_ps((float)-lpt_pow2(width - 1));
    const __m256 scale = _mm256_set1_ps((float)lpt_pow2(fl)), inv_scale = _mm256_set1_ps((float)lpt_pow2(-fl));
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), inf = _mm256_set1_ps(INFINITY);
    const __m256 tiny = _mm256_set1_ps(0x1p-126f);
    const uint64_t golden = 0x9e3779b97f4a7c15ULL;
    __m256i lo = _mm256_set_epi64x((long long)((i0 + 3) * golden), (long long)((i0 + 2) * golden),
                                   (long long)((i0 + 1) * golden), (long long)(i0 * golden));
    __m256i hi = _mm256_add_epi64(lo, _mm256_set1_epi64x((long long)(4 * golden)));
    const __m256i step = _mm256_set1_epi64x((long long)(8 * golden));
    uint64_t sat = 0, und = 0, nonfin = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8, lo = _mm256_add_epi64(lo, step), hi = _mm256_add_epi64(hi, step)) {
        const __m256 xf = _mm256_loadu_ps(x + i);
        const __m256 fin = _mm256_cmp_ps(_mm256_and_ps(xf, absmask), inf, _CMP_LT_OQ); /* finite, not NaN */
        const __m256 v = _mm256_mul_ps(xf, scale), av = _mm256_and_ps(v, absmask);
        const __m256 xnz = _mm256_cmp_ps(xf, zero, _CMP_NEQ_OQ);
        const __m256 inexact = _mm256_and_ps(fin, _mm256_or_ps(_mm256_cmp_ps(av, inf, _CMP_EQ_OQ),
                                                               _mm256_and_ps(xnz, _mm256_cmp_ps(av, tiny, _CMP_LT_OQ))));
        if (_mm256_movemask_ps(inexact)) {
            dfp_avx2_double(mode, wrap, width, fl, prefix, i0 + i, 8, x + i, codes ? codes + i : NULL,
                            y ? y + i : NULL, st);
            continue;
        }
        __m256 r;
        switch (mode) {
        case LPT_ROUND_RNE:
            r = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RTZ:
            r = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_RDN:
            r = _mm256_round_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            break;
        case LPT_ROUND_SR: { /* floor(v) + (frac >= 1 - u): frac and 1 - u are exact in float */
            const __m256 f = _mm256_round_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m256 up = _mm256_cmp_ps(_mm256_sub_ps(v, f), _mm256_sub_ps(one, sr_uniform8f(prefix, lo, hi)), _CMP_GE_OQ);
            r = _mm256_add_ps(f, _mm256_and_ps(up, one));
            break;
        }
        default: { /* rna */
            const __m256 f = _mm256_round_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            const __m256 rn = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m256 tie = _mm256_cmp_ps(_mm256_sub_ps(v, f), half, _CMP_EQ_OQ);
            const __m256 tv = _mm256_add_ps(f, _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ), one));
            r = _mm256_blendv_ps(rn, tv, tie);
            break;
        }
        }
        const __m256 over = _mm256_and_ps(fin, _mm256_or_ps(_mm256_cmp_ps(r, qmax, _CMP_GT_OQ), _mm256_cmp_ps(r, qmin, _CMP_LT_OQ)));
        const __m256 rw = _mm256_min_ps(_mm256_max_ps(r, qmin), qmax);
        const __m256 nan = _mm256_cmp_ps(xf, xf, _CMP_UNORD_Q);
        const __m256 infc = _mm256_blendv_ps(qmin, qmax, _mm256_cmp_ps(xf, zero, _CMP_GT_OQ));
        const __m256 c = _mm256_blendv_ps(_mm256_blendv_ps(infc, zero, nan), rw, fin);
        const __m256 zc = _mm256_cmp_ps(c, zero, _CMP_EQ_OQ);
        sat += (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_ps(over));
        nonfin += (uint64_t)__builtin_popcount(~(unsigned)_mm256_movemask_ps(fin) & 255u);
        und += (uint64_t)__builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_and_ps(_mm256_and_ps(fin, zc), xnz)));
        const __m256i ci = _mm256_cvttps_epi32(c);
        if (codes) _mm256_storeu_si256((__m256i *)(codes + i), ci);
        if (y) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(ci), inv_scale));
    }
    st->out_of_range += sat;
    st->underflow += und;
    st->nonfinite += nonfin;
    return i + dfp_avx2_double(mode, wrap, width, fl, prefix, i0 + i, n - i, x + i, codes ? codes + i : NULL,
                               y ? y + i : NULL, st);
}
#endif
