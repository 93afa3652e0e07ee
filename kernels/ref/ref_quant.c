/* ref_quant.c - the quantization point of the reference backend: the statistics unit's
 * analysis one value at a time, then the reference quantizer. */
#include <math.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "quant/bits.h"

void lpt_ref_quant_observe(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_rng_key *key,
                           size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h) {
    (void)be;
    if (h) lpt_msb_hist_add_ref(h, n, x);
    if (q && q->fmt != LPT_FMT_FP32) {
        const lpt_rng_key k0 = {0};
        lpt_quantize_ref(q, fl, key ? key : &k0, n, x, NULL, y, st);
    } else if (y != x) {
        memmove(y, x, n * sizeof *y);
    }
}

/* ---- integer codes of dynamic fixed point ---- */

void lpt_ref_to_codes(lpt_backend *be, size_t n, const float *x, int fl, int32_t *codes) {
    (void)be;
    const double s = lpt_pow2(fl);
    for (size_t i = 0; i < n; i++) codes[i] = (int32_t)((double)x[i] * s);
}

void lpt_ref_from_acc(lpt_backend *be, int m, int n, const int64_t *c, int ldc, int fl, float *y, int ldy) {
    (void)be;
    const double s = lpt_pow2(-fl);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) y[(size_t)i * ldy + j] = (float)((double)c[(size_t)i * ldc + j] * s);
}

void lpt_ref_bias_to_acc(lpt_backend *be, int n, const float *bias, const int *fla, const int *flb, int acc_bits,
                         float *out) {
    (void)be;
    const int fl = *fla + *flb;
    const double hi = ldexp(1.0, acc_bits - 1) - 1, lo = -ldexp(1.0, acc_bits - 1);
    for (int j = 0; j < n; j++) {
        double r = lpt_round_ref(ldexp((double)bias[j], fl), LPT_ROUND_RNE, 0.0);
        r = r > hi ? hi : (r < lo ? lo : r);
        out[j] = (float)ldexp(r, -fl);
    }
}

/* ---- quantized tensors stored as codes of their format's width ---- */

void lpt_ref_pack(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const float *x, void *codes) {
    (void)be;
    const int cb = lpt_qformat_code_bytes(f);
    lpt_qformat exact = *f; /* values on the grid: any rounding gives them back; no SR draws */
    exact.round = LPT_ROUND_RNE;
    int32_t c;
    lpt_qstats st = {0};
    for (size_t i = 0; i < n; i++) {
        lpt_quantize_ref(&exact, fl, NULL, 1, x + i, &c, NULL, &st);
        memcpy((unsigned char *)codes + i * (size_t)cb, &c, (size_t)cb); /* little-endian: the low bytes */
    }
}

void lpt_ref_unpack(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const void *codes, float *y) {
    (void)be;
    const int cb = lpt_qformat_code_bytes(f);
    const int sign_extend = f->fmt == LPT_FMT_DFP && cb < 4;
    for (size_t i = 0; i < n; i++) {
        int32_t c = 0;
        memcpy(&c, (const unsigned char *)codes + i * (size_t)cb, (size_t)cb);
        if (sign_extend) c = (int32_t)((uint32_t)c << (32 - 8 * cb)) >> (32 - 8 * cb);
        y[i] = lpt_dequantize_one_ref(f, fl, c);
    }
}
