/* stats.c - MSB histograms and the fractional-length rule. */
#include "stats.h"

#include <math.h>
#include <string.h>

void lpt_msb_hist_clear(lpt_msb_hist *h) { memset(h, 0, sizeof *h); }

void lpt_msb_hist_add(lpt_msb_hist *h, size_t n, const float *x) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        h->count++;
        if (!isfinite(v)) {
            h->nonfinite++;
            continue;
        }
        if (v == 0.0f) {
            h->zeros++;
            continue;
        }
        double a = fabs((double)v);
        if (a > h->max_abs) h->max_abs = a;
        int m = ilogb(a);
        (v > 0 ? h->pos : h->neg)[m - LPT_MSB_MIN]++;
    }
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
