/* stats.c - MSB histograms and the fractional-length rule. */
#include "hwsim/stats.h"

#include "quant/quant.h"
#include "quant/scalar.h"

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
        (v > 0 ? h->pos : h->neg)[lpt_msb_of(fabs(v)) - LPT_MSB_MIN]++;
        if (fabs(v) > h->max_abs) h->max_abs = fabs(v);
    }
    h->count += n;
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

uint64_t lpt_stats_nonzero(const lpt_msb_hist *h) { return h->count - h->nonfinite - h->zeros; }

double lpt_stats_overflow_at(const lpt_msb_hist *h, int width, int fl) {
    const uint64_t nonzero = lpt_stats_nonzero(h);
    uint64_t over = 0;
    if (!nonzero) return 0.0;
    for (int b = 0; b < LPT_MSB_BINS; b++)
        if (b + LPT_MSB_MIN + fl >= width - 1) over += h->pos[b] + h->neg[b];
    return (double)over / (double)nonzero;
}

double lpt_stats_underflow_at(const lpt_msb_hist *h, int fl) {
    const uint64_t nonzero = lpt_stats_nonzero(h);
    uint64_t under = 0;
    if (!nonzero) return 0.0;
    /* |v| < 2^(m+1) <= 2^-(FL+1) (half a step) whenever m + FL <= -2 */
    for (int b = 0; b < LPT_MSB_BINS; b++)
        if (b + LPT_MSB_MIN + fl <= -2) under += h->pos[b] + h->neg[b];
    return (double)under / (double)nonzero;
}

int lpt_stats_choose_fl(const lpt_msb_hist *h, int width, double rate, int lo, int hi) {
    /* suffix sums over the bins: the overflow count at any FL in O(1) */
    uint64_t above[LPT_MSB_BINS + 1];
    above[LPT_MSB_BINS] = 0;
    for (int b = LPT_MSB_BINS - 1; b >= 0; b--) above[b] = above[b + 1] + h->pos[b] + h->neg[b];
    const uint64_t nonzero = lpt_stats_nonzero(h);
    if (!nonzero) return hi;
    for (int fl = hi; fl >= lo; fl--) {
        /* values with msb + fl >= width - 1 overflow, as in lpt_stats_overflow_at */
        const int b = width - 1 - fl - LPT_MSB_MIN;
        const uint64_t over = b <= 0 ? above[0] : b >= LPT_MSB_BINS ? 0 : above[b];
        if ((double)over / (double)nonzero <= rate) return fl;
    }
    return lo;
}
