/* scalar.h - one value at a time: the rounding, quantization and dequantization rules of
 * quant.h as static inline functions that gcc and nvcc both compile (LPT_HD). The CPU
 * reference (quant_ref.c) and the CUDA kernels call these very functions, so a test of
 * the reference on the CPU tests the code the GPU runs. Every function takes the
 * format's traits (lpt_format_traits_of) by pointer: the GPU has no access to the host's
 * table, so a kernel receives a copy. Arithmetic is exact in double (quant.h). */
#ifndef LPT_SCALAR_H
#define LPT_SCALAR_H

#include <math.h>
#include <stdint.h>

#include "quant/bits.h"
#include "quant/quant.h"
#include "src/base/hd.h"

/* Round an exact double v to an integer-valued double by mode (u: the sr uniform). */
static inline LPT_HD double lpt_round_one(double v, lpt_rounding r, double u) {
    /* v = x * 2^k of a float32 x is exact in double, and so are floor(v) and v - floor(v) */
    const double f = floor(v), d = v - f;
    switch (r) {
    case LPT_ROUND_RNE:
        if (d > 0.5) return f + 1.0;
        if (d < 0.5) return f;
        return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
    case LPT_ROUND_RNA:
        if (d > 0.5) return f + 1.0;
        if (d < 0.5) return f;
        return v > 0 ? f + 1.0 : f;
    case LPT_ROUND_RTZ:
        return trunc(v);
    case LPT_ROUND_SR:
        return d >= 1.0 - u ? f + 1.0 : f;
    default: /* LPT_ROUND_RDN */
        return f;
    }
}

/* the sr uniform of element `index` under a prefix (lpt_sr_prefix), 0 for other modes */
static inline LPT_HD double lpt_sr_u(const lpt_qformat *q, uint64_t prefix, uint64_t index) {
    return q->round == LPT_ROUND_SR ? ldexp((double)lpt_sr_bits_at(prefix, index), -24) : 0.0;
}

static inline LPT_HD int lpt_is_nan(float x) { return (lpt_f32_bits(x) & 0x7fffffffu) > 0x7f800000u; }
static inline LPT_HD int lpt_is_inf(float x) { return (lpt_f32_bits(x) & 0x7fffffffu) == 0x7f800000u; }

/* dfp<W> code of x at fractional length fl */
static inline LPT_HD int32_t lpt_dfp_code(const lpt_qformat *q, int fl, float x, double u, lpt_qstats *st) {
    const double qmax = ldexp(1.0, q->width - 1) - 1.0, qmin = -ldexp(1.0, q->width - 1);
    if (lpt_is_nan(x)) {
        st->nonfinite++;
        return 0;
    }
    if (lpt_is_inf(x)) {
        st->nonfinite++;
        return (int32_t)(x > 0 ? qmax : qmin);
    }
    double r = lpt_round_one(ldexp((double)x, fl), q->round, u);
    if (r > qmax || r < qmin) {
        st->out_of_range++;
        if (q->ovf == LPT_OVF_WRAP) {
            const double m = ldexp(1.0, q->width);
            r = fmod(r, m); /* exact: r is an integer below 2^(24+|fl|+1) */
            if (r < 0) r += m;
            if (r > qmax) r -= m;
        } else {
            r = r > qmax ? qmax : qmin;
        }
    }
    if (r == 0.0 && x != 0.0) st->underflow++;
    return (int32_t)r;
}

static inline LPT_HD int32_t lpt_float_nan_code(const lpt_format_traits *t, uint32_t xb) {
    const uint32_t s = xb >> 31, m = xb & 0x7fffff;
    if (t->bits == 16) {
        if (t->ebits == 5) return (int32_t)((s << 15) | 0x7c00u | 0x200u | (m >> 13));
        return (int32_t)((s << 15) | 0x7f80u | 0x40u | (m >> 16));
    }
    return (int32_t)((s << 7) | (t->has_inf ? 0x7eu : 0x7fu));
}

static inline LPT_HD int32_t lpt_float_inf_code(const lpt_format_traits *t, int neg) {
    return (int32_t)(((uint32_t)neg << (t->bits - 1)) | (((1u << t->ebits) - 1) << t->mbits));
}

/* encode an exactly representable finite magnitude a with sign neg */
static inline LPT_HD int32_t lpt_float_encode(const lpt_format_traits *t, int neg, double a) {
    const uint32_t s = (uint32_t)neg << (t->bits - 1);
    if (a == 0.0) return (int32_t)s;
    const int emin = 1 - t->bias;
    const int e = ilogb(a);
    if (e < emin) /* subnormal: a = mant * 2^(emin - mbits) */
        return (int32_t)(s | (uint32_t)ldexp(a, t->mbits - emin));
    const uint32_t mant = (uint32_t)(ldexp(a, t->mbits - e) - ldexp(1.0, t->mbits));
    return (int32_t)(s | ((uint32_t)(e + t->bias) << t->mbits) | mant);
}

/* code of x in the float format q (traits t) */
static inline LPT_HD int32_t lpt_float_code(const lpt_qformat *q, const lpt_format_traits *t, float x, double u,
                                            lpt_qstats *st) {
    const int neg = (lpt_f32_bits(x) >> 31) != 0;
    const int sat = q->ovf == LPT_OVF_SAT;
    if (lpt_is_nan(x)) {
        st->nonfinite++;
        return lpt_float_nan_code(t, lpt_f32_bits(x));
    }
    if (lpt_is_inf(x)) {
        st->nonfinite++;
        if (sat) return lpt_float_encode(t, neg, t->max);
        return t->has_inf ? lpt_float_inf_code(t, neg) : lpt_float_nan_code(t, lpt_f32_bits(x));
    }
    if (x == 0.0f) return lpt_float_encode(t, neg, 0.0);
    const int emin = 1 - t->bias;
    const double xd = x;
    int e = ilogb(xd);
    if (e < emin) e = emin;
    /* spacing of the format around x: 2^(e - mbits) */
    const double r = lpt_round_one(ldexp(xd, t->mbits - e), q->round, u);
    const double a = fabs(ldexp(r, e - t->mbits)); /* exact */
    if (a > t->max) {
        st->out_of_range++;
        const int toward_zero = q->round == LPT_ROUND_RTZ || (q->round == LPT_ROUND_RDN && !neg);
        if (sat || toward_zero) return lpt_float_encode(t, neg, t->max);
        return t->has_inf ? lpt_float_inf_code(t, neg) : lpt_float_nan_code(t, lpt_f32_bits(x));
    }
    if (a == 0.0) st->underflow++;
    return lpt_float_encode(t, neg, a);
}

/* value of one code of format q (traits t) */
static inline LPT_HD float lpt_code_value(const lpt_qformat *q, const lpt_format_traits *t, int fl, int32_t code) {
    if (q->fmt == LPT_FMT_DFP) return (float)ldexp((double)code, -fl);
    if (q->fmt == LPT_FMT_FP32) return lpt_f32_from((uint32_t)code);
    const uint32_t c = (uint32_t)code, s = (c >> (t->bits - 1)) & 1u;
    const uint32_t ef = (c >> t->mbits) & ((1u << t->ebits) - 1), mf = c & ((1u << t->mbits) - 1);
    const int is_nan = t->has_inf ? ef == (1u << t->ebits) - 1 && mf != 0
                                  : ef == (1u << t->ebits) - 1 && mf == (1u << t->mbits) - 1;
    if (is_nan) /* quiet NaN, sign and payload kept (fp8 e4m3: canonical) */
        return lpt_f32_from((s << 31) | 0x7fc00000u | (mf << (23 - t->mbits)));
    if (t->has_inf && ef == (1u << t->ebits) - 1) return lpt_f32_from((s << 31) | 0x7f800000u);
    const double a = ef == 0 ? ldexp((double)mf, 1 - t->bias - t->mbits)
                             : ldexp((double)(mf | (1u << t->mbits)), (int)ef - t->bias - t->mbits);
    return (float)(s ? -a : a);
}

/* code of x in any format (fp32: its bits, non-finite counted) */
static inline LPT_HD int32_t lpt_quantize_one(const lpt_qformat *q, const lpt_format_traits *t, int fl, float x,
                                              double u, lpt_qstats *st) {
    if (q->fmt == LPT_FMT_DFP) return lpt_dfp_code(q, fl, x, u, st);
    if (q->fmt == LPT_FMT_FP32) {
        st->nonfinite += lpt_is_nan(x) || lpt_is_inf(x);
        return (int32_t)lpt_f32_bits(x);
    }
    return lpt_float_code(q, t, x, u, st);
}

/* The statistics unit's MSB position of a nonzero finite magnitude: floor(log2 a). */
static inline LPT_HD int lpt_msb_of(double a) {
    int e;
    frexp(a, &e);
    return e - 1;
}

#endif
