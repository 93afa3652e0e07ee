/* stats.c - MSB histograms and the fractional-length rule. */
#include "stats.h"

#include <math.h>
#include <string.h>

void lpt_msb_hist_clear(lpt_msb_hist *h) { memset(h, 0, sizeof *h); }

void lpt_msb_hist_add(lpt_msb_hist *h, size_t n, const float *x) {
    /* one counter array: [positive bins | negative bins | zeros | NaN/Inf]; the MSB comes
     * from the float's exponent bits (subnormals: from the leading zeros) */
    enum { ZERO = 2 * LPT_MSB_BINS, NONFIN = 2 * LPT_MSB_BINS + 1 };
    uint64_t cnt[2 * LPT_MSB_BINS + 2] = {0};
    uint32_t max_bits = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        const uint32_t ax = b & 0x7fffffffu, e = ax >> 23;
        const int msb = e ? (int)e - 127 : 31 - __builtin_clz(ax | 1u) - 149;
        const int bin = (int)(b >> 31) * LPT_MSB_BINS + msb - LPT_MSB_MIN;
        cnt[e == 0xff ? NONFIN : (ax == 0 ? ZERO : bin)]++;
        if (e != 0xff && ax > max_bits) max_bits = ax;
    }
    for (int i = 0; i < LPT_MSB_BINS; i++) {
        h->pos[i] += cnt[i];
        h->neg[i] += cnt[LPT_MSB_BINS + i];
    }
    h->zeros += cnt[ZERO];
    h->nonfinite += cnt[NONFIN];
    h->count += n;
    float mx;
    memcpy(&mx, &max_bits, 4);
    if ((double)mx > h->max_abs) h->max_abs = mx;
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
