/* quant_ref.c - the reference quantizers: plain scalar code in exact double arithmetic,
 * one value at a time through quant/scalar.h (the functions the CUDA kernels run too).
 * This file is the specification that every fast path must equal bit for bit. */
#include <math.h>
#include <string.h>

#include "quant/bits.h"
#include "quant/quant.h"
#include "quant/scalar.h"

double lpt_round_ref(double v, lpt_rounding r, double u) { return lpt_round_one(v, r, u); }

float lpt_dequantize_one_ref(const lpt_qformat *q, int fl, int32_t code) {
    return lpt_code_value(q, lpt_format_traits_of(q->fmt), fl, code);
}

void lpt_quantize_ref(const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t n,
                      const float *x, int32_t *codes, float *y, lpt_qstats *st) {
    const uint64_t prefix = key ? lpt_sr_prefix(key) : 0, i0 = key ? key->index0 : 0;
    const lpt_format_traits *t = lpt_format_traits_of(q->fmt);
    for (size_t i = 0; i < n; i++) {
        const int32_t c = lpt_quantize_one(q, t, fl, x[i], lpt_sr_u(q, prefix, i0 + i), st);
        if (codes) codes[i] = c;
        if (y) y[i] = lpt_code_value(q, t, fl, c);
    }
}

void lpt_dequantize_ref(const lpt_qformat *q, int fl, size_t n, const int32_t *codes, float *y) {
    const lpt_format_traits *t = lpt_format_traits_of(q->fmt);
    for (size_t i = 0; i < n; i++) y[i] = lpt_code_value(q, t, fl, codes[i]);
}
