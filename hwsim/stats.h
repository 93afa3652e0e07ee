/* stats.h - the statistics unit's analysis and configuration rules, for one tensor
 * (docs/training.md, "Statistics unit").
 *
 * Analysis: for every value the position of its most significant bit, floor(log2|v|),
 * counted in one histogram for positive and one for negative values, plus zeros and
 * the largest magnitude. Configuration: for dfp<W>, a value with MSB position m
 * overflows at fractional length FL when m + FL >= W - 1 (|v| * 2^FL >= 2^(W-1)); the
 * rule picks the largest FL whose predicted overflow fraction, counted over the nonzero
 * finite values (zeros never overflow), is at most a target.
 * The prediction cannot see rounding carries: values within half a step of 2^(W-1)
 * round up into overflow although their MSB fits. The quantizer's saturation counter
 * sees them; a layer whose observed overflow exceeds the prediction is what the
 * recompute rule of the statistics unit is for. */
#ifndef LPT_STATS_H
#define LPT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "quant/quant.h"

/* MSB positions -160..129 cover every finite float32 (subnormals from -149) */
#define LPT_MSB_MIN (-160)
#define LPT_MSB_BINS 290

typedef struct {
    uint64_t pos[LPT_MSB_BINS], neg[LPT_MSB_BINS]; /* bin = msb - LPT_MSB_MIN */
    uint64_t zeros, nonfinite, count;
    double max_abs;
} lpt_msb_hist;

void lpt_msb_hist_clear(lpt_msb_hist *h);
/* Reference: add n values one at a time (NaN/Inf counted apart). */
void lpt_msb_hist_add_ref(lpt_msb_hist *h, size_t n, const float *x);
/* h += o */
void lpt_msb_hist_merge(lpt_msb_hist *h, const lpt_msb_hist *o);

/* What quantization points report: the quantizer's counters and the analysis of the
 * values, accumulated in backend memory (kernels/backend.h, quant_observe) and read by
 * the engine at its sync points. */
typedef struct {
    lpt_qstats counts;
    lpt_msb_hist hist;
    uint64_t acc_overflows; /* outputs of dfp products whose accumulator overflowed */
} lpt_qresult;

/* Nonzero finite values in h: the denominator of every rate below. */
uint64_t lpt_stats_nonzero(const lpt_msb_hist *h);
/* Predicted fraction of the nonzero finite values that overflow dfp<width> at fl. */
double lpt_stats_overflow_at(const lpt_msb_hist *h, int width, int fl);
/* Predicted fraction of the nonzero finite values below half a step (they round to 0). */
double lpt_stats_underflow_at(const lpt_msb_hist *h, int fl);
/* Largest FL in [lo, hi] whose predicted overflow fraction (of the nonzero finite
 * values) is <= rate; hi when the tensor holds no nonzero finite value (callers keep
 * their configuration then), lo when none qualifies. Counting over nonzero values keeps
 * the rule meaningful for sparse tensors: with fewer than 1/rate nonzero values the
 * budget is below one value, so the largest magnitude always fits. */
int lpt_stats_choose_fl(const lpt_msb_hist *h, int width, double rate, int lo, int hi);

#endif
