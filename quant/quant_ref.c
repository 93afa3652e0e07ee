/* quant_ref.c - the reference quantizers: plain scalar code in exact double arithmetic.
 * This file is the specification that every fast path must equal bit for bit. */
#include <math.h>
#include <string.h>

#include "quant/bits.h"
#include "quant/quant.h"

double lpt_round_ref(double v, lpt_rounding r, double u) {
    /* v = x * 2^k of a float32 x is exact in double, and so are floor(v) and v - floor(v) */
    double f = floor(v), d = v - f;
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
    case LPT_ROUND_RDN:
        return f;
    case LPT_ROUND_SR:
        return d >= 1.0 - u ? f + 1.0 : f;
    default:
        return f;
    }
}


/* ---- dynamic fixed point ---- */

static int32_t dfp_one(const lpt_qformat *q, int fl, float x, double u, lpt_qstats *st) {
    const double qmax = ldexp(1.0, q->width - 1) - 1.0, qmin = -ldexp(1.0, q->width - 1);
    if (isnan(x)) {
        st->nonfinite++;
        return 0;
    }
    if (isinf(x)) {
        st->nonfinite++;
        return (int32_t)(x > 0 ? qmax : qmin);
    }
    double r = lpt_round_ref(ldexp((double)x, fl), q->round, u);
    if (r > qmax || r < qmin) {
        st->out_of_range++;
        if (q->ovf == LPT_OVF_WRAP) {
            double m = ldexp(1.0, q->width);
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

/* ---- floats ---- */

static int32_t float_nan_code(const lpt_format_traits *t, uint32_t xb) {
    uint32_t s = xb >> 31, m = xb & 0x7fffff;
    switch (t->bits) {
    case 16:
        if (t->ebits == 5) return (int32_t)((s << 15) | 0x7c00u | 0x200u | (m >> 13));
        return (int32_t)((s << 15) | 0x7f80u | 0x40u | (m >> 16));
    default:
        return (int32_t)((s << 7) | (t->has_inf ? 0x7eu : 0x7fu));
    }
}

static int32_t float_inf_code(const lpt_format_traits *t, int neg) {
    return (int32_t)(((uint32_t)neg << (t->bits - 1)) | (((1u << t->ebits) - 1) << t->mbits));
}

/* encode an exactly representable finite magnitude a with sign neg */
static int32_t float_encode(const lpt_format_traits *t, int neg, double a) {
    uint32_t s = (uint32_t)neg << (t->bits - 1);
    if (a == 0.0) return (int32_t)s;
    const int emin = 1 - t->bias;
    int e = ilogb(a);
    if (e < emin) /* subnormal: a = mant * 2^(emin - mbits) */
        return (int32_t)(s | (uint32_t)ldexp(a, t->mbits - emin));
    uint32_t mant = (uint32_t)(ldexp(a, t->mbits - e) - ldexp(1.0, t->mbits));
    return (int32_t)(s | ((uint32_t)(e + t->bias) << t->mbits) | mant);
}

static int32_t float_one(const lpt_qformat *q, float x, double u, lpt_qstats *st) {
    const lpt_format_traits *t = lpt_format_traits_of(q->fmt);
    const int neg = signbit(x) != 0;
    const int sat = q->ovf == LPT_OVF_SAT;
    if (isnan(x)) {
        st->nonfinite++;
        return float_nan_code(t, lpt_f32_bits(x));
    }
    if (isinf(x)) {
        st->nonfinite++;
        if (sat) return float_encode(t, neg, t->max);
        return t->has_inf ? float_inf_code(t, neg) : float_nan_code(t, lpt_f32_bits(x));
    }
    if (x == 0.0f) return float_encode(t, neg, 0.0);
    const int emin = 1 - t->bias;
    double xd = x;
    int e = ilogb(xd);
    if (e < emin) e = emin;
    /* spacing of the format around x: 2^(e - mbits) */
    double r = lpt_round_ref(ldexp(xd, t->mbits - e), q->round, u);
    double m = ldexp(r, e - t->mbits); /* signed result, exact */
    double a = fabs(m);
    if (a > t->max) {
        st->out_of_range++;
        int toward_zero = q->round == LPT_ROUND_RTZ || (q->round == LPT_ROUND_RDN && !neg);
        if (sat || toward_zero) return float_encode(t, neg, t->max);
        return t->has_inf ? float_inf_code(t, neg) : float_nan_code(t, lpt_f32_bits(x));
    }
    if (a == 0.0) st->underflow++;
    return float_encode(t, neg, a);
}

float lpt_dequantize_one_ref(const lpt_qformat *q, int fl, int32_t code) {
    const lpt_format_traits *t = lpt_format_traits_of(q->fmt);
    if (q->fmt == LPT_FMT_DFP) return (float)ldexp((double)code, -fl);
    if (q->fmt == LPT_FMT_FP32) return lpt_f32_from((uint32_t)code);
    uint32_t c = (uint32_t)code, s = (c >> (t->bits - 1)) & 1u;
    uint32_t ef = (c >> t->mbits) & ((1u << t->ebits) - 1), mf = c & ((1u << t->mbits) - 1);
    int is_nan = t->has_inf ? ef == (1u << t->ebits) - 1 && mf != 0
                            : ef == (1u << t->ebits) - 1 && mf == (1u << t->mbits) - 1;
    if (is_nan) /* quiet NaN, sign and payload kept (fp8 e4m3: canonical) */
        return lpt_f32_from((s << 31) | 0x7fc00000u | (mf << (23 - t->mbits)));
    if (t->has_inf && ef == (1u << t->ebits) - 1) return s ? -INFINITY : INFINITY;
    double a = ef == 0 ? ldexp((double)mf, 1 - t->bias - t->mbits)
                       : ldexp((double)(mf | (1u << t->mbits)), (int)ef - t->bias - t->mbits);
    return (float)(s ? -a : a);
}

void lpt_quantize_ref(const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t n,
                      const float *x, int32_t *codes, float *y, lpt_qstats *st) {
    const uint64_t prefix = key ? lpt_sr_prefix(key) : 0, i0 = key ? key->index0 : 0;
    for (size_t i = 0; i < n; i++) {
        double u = q->round == LPT_ROUND_SR ? ldexp((double)lpt_sr_bits_at(prefix, i0 + i), -24) : 0.0;
        int32_t c;
        if (q->fmt == LPT_FMT_DFP)
            c = dfp_one(q, fl, x[i], u, st);
        else if (q->fmt == LPT_FMT_FP32) {
            st->nonfinite += !isfinite(x[i]);
            c = (int32_t)lpt_f32_bits(x[i]);
        } else
            c = float_one(q, x[i], u, st);
        if (codes) codes[i] = c;
        if (y) y[i] = lpt_dequantize_one_ref(q, fl, c);
    }
}

void lpt_dequantize_ref(const lpt_qformat *q, int fl, size_t n, const int32_t *codes, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = lpt_dequantize_one_ref(q, fl, codes[i]);
}
