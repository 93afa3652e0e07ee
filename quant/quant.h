/* quant.h - quantize and dequantize: scalar _ref versions (the specification) and the
 * rules every fast version (kernels/cpu/cpu_quant.h, the CUDA backend) must equal bit for
 * bit, counters included.
 *
 * Codes are int32 for every format: the bit pattern for floats (fp16/bf16: 16 bits,
 * fp8: 8 bits, zero-extended), the two's-complement integer for dfp (sign-extended).
 * Dequantized values are float32.
 *
 * dfp<W> with fractional length FL: v = x * 2^FL exactly (double), rounded to an
 * integer r by the rounding mode; r outside [-2^(W-1), 2^(W-1)-1] is clamped (sat) or
 * wrapped modulo 2^W (wrap); value = code * 2^-FL. FL is limited to [-256, 256].
 * NaN inputs get code 0 and +-Inf the extreme codes; both are counted in `nonfinite`
 * so that callers can flag them: dfp has no encoding for them.
 *
 * Floats (fp16, bf16, fp8-e4m3, fp8-e5m2): x is rounded by the mode to the format's
 * precision with its exponent range and subnormals; a result above the largest finite
 * value is an overflow: `ieee` gives +-Inf (e4m3, which has no Inf: NaN) except where
 * the rounding direction points back toward zero (rtz always, rdn for positive values),
 * which gives +-max as IEEE 754 prescribes; `sat` gives +-max, and maps +-Inf inputs to
 * +-max too. NaN stays NaN: fp16 and bf16 keep the sign and the top payload bits with
 * the quiet bit set (as x86 F16C does), fp8 uses S.1111.111 (e4m3) and S.11111.10 (e5m2).
 *
 * Stochastic rounding (sr): r = floor(v) + (frac(v) >= 1 - u), where u = k * 2^-24 and k
 * is 24 bits of lpt_sr_bits(key, index). Rounding up happens with probability frac(v)
 * (exactly, when frac(v) is a multiple of 2^-24), so E[r] = v for either sign.
 *
 * Counters (added to, never reset): out_of_range = results out of range (saturated, wrapped,
 * or overflowed to Inf/NaN/max); underflow = nonzero finite inputs that became zero;
 * nonfinite = NaN or Inf inputs. */
#ifndef LPT_QUANT_H
#define LPT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/rng.h"
#include "quant/format.h"

typedef struct {
    uint64_t out_of_range, underflow, nonfinite;
} lpt_qstats;

/* d += s, counter by counter */
static inline LPT_HD void lpt_qstats_add(lpt_qstats *d, const lpt_qstats *s) {
    d->out_of_range += s->out_of_range;
    d->underflow += s->underflow;
    d->nonfinite += s->nonfinite;
}

/* Stochastic rounding draws from an lpt_rng_key (src/base/rng.h) whose stream is the
 * tensor's: element i of a call draws the bits of index key.index0 + i. */

/* The per-(seed, tensor stream, step) part of the hash, computed once per call. */
static inline LPT_HD uint64_t lpt_sr_prefix(const lpt_rng_key *k) {
    uint64_t h = lpt_mix64(k->seed ^ 0x5352u /* "SR" */);
    h = lpt_mix64(h ^ (k->stream * 0xd1b54a32d192ed03ULL));
    return lpt_mix64(h ^ (k->step * 0x94d049bb133111ebULL + 0x2545f4914f6cdd1dULL));
}
/* 24 random bits for element `index` under a prefix */
static inline LPT_HD uint32_t lpt_sr_bits_at(uint64_t prefix, uint64_t index) {
    return (uint32_t)(lpt_mix64(prefix ^ (index * 0x9e3779b97f4a7c15ULL)) >> 40);
}

#define LPT_FL_MIN (-256)
#define LPT_FL_MAX 256

/* Reference: quantize n values. codes and/or y may be NULL. fl is used by dfp only. */
void lpt_quantize_ref(const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t n,
                      const float *x, int32_t *codes, float *y, lpt_qstats *st);
/* Reference: value of one code. */
float lpt_dequantize_one_ref(const lpt_qformat *q, int fl, int32_t code);
void lpt_dequantize_ref(const lpt_qformat *q, int fl, size_t n, const int32_t *codes, float *y);

/* The exact-product bound (docs/training.md): partial sums of a product of a_bits-bit
 * and b_bits-bit codes over k terms stay below 2^lpt_dfp_sum_bits units, so an
 * accumulator of acc_bits bits cannot overflow when sum_bits + 1 <= acc_bits, and double
 * precision adds them exactly when sum_bits <= 52. */
static inline int lpt_ceil_log2(long k) {
    int lk = 0;
    while ((1L << lk) < k) lk++;
    return lk;
}
static inline int lpt_dfp_sum_bits(int a_bits, int b_bits, long k) {
    return (a_bits - 1) + (b_bits - 1) + lpt_ceil_log2(k);
}
static inline int lpt_dfp_exact_ok(int a_bits, int b_bits, long k, int acc_bits) {
    const int bits = lpt_dfp_sum_bits(a_bits, b_bits, k);
    return bits <= 52 && bits + 1 <= acc_bits;
}
/* The default accumulator for dfp<W>: 32 bits up to W = 8, 48 up to 16, else 64. */
static inline int lpt_dfp_acc_bits_default(int w) { return w <= 8 ? 32 : w <= 16 ? 48 : 64; }

/* Round an exact double v to an integer-valued double by mode (u: the sr uniform). */
double lpt_round_ref(double v, lpt_rounding r, double u);

#endif
