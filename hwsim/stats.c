/* stats.c - MSB histograms and the fractional-length rule. */
#include "stats.h"

#include <math.h>
#include <string.h>

void lpt_msb_hist_clear(lpt_msb_hist *h) { memset(h, 0, sizeof *h); }

/* bin of one value: [positive MSB bins | negative MSB bins | zero | NaN/Inf]; the MSB
 * comes from the exponent bits (subnormals: from the leading zeros) */
enum { HBINS = 2 * LPT_MSB_BINS + 2, HZERO = 2 * LPT_MSB_BINS, HNONFIN = 2 * LPT_MSB_BINS + 1 };

static inline int hist_bin(uint32_t b) {
    const uint32_t ax = b & 0x7fffffffu, e = ax >> 23;
    const int msb = e ? (int)e - 127 : 31 - __builtin_clz(ax | 1u) - 149;
    const int bin = (int)(b >> 31) * LPT_MSB_BINS + msb - LPT_MSB_MIN;
    return e == 0xff ? HNONFIN : (ax == 0 ? HZERO : bin);
}

void lpt_msb_hist_add(lpt_msb_hist *h, size_t n, const float *x) {
    /* eight counter sets: neighbouring values mostly share a bin, and one set would make
     * every increment wait for the previous one */
    uint32_t cnt[8][HBINS];
    memset(cnt, 0, sizeof cnt);
    uint32_t max_bits = 0;
    size_t i = 0;
    while (i < n) {
        /* flush before a 32-bit counter could overflow */
        const size_t end = n - i > ((size_t)1 << 31) ? i + ((size_t)1 << 31) : n;
        for (; i + 8 <= end; i += 8) {
            uint32_t b[8];
            memcpy(b, x + i, sizeof b);
            for (int k = 0; k < 8; k++) {
                cnt[k][hist_bin(b[k])]++;
                const uint32_t ax = b[k] & 0x7fffffffu;
                max_bits = (ax < 0x7f800000u && ax > max_bits) ? ax : max_bits;
            }
        }
        for (; i < end; i++) {
            uint32_t b;
            memcpy(&b, x + i, 4);
            cnt[0][hist_bin(b)]++;
            const uint32_t ax = b & 0x7fffffffu;
            max_bits = (ax < 0x7f800000u && ax > max_bits) ? ax : max_bits;
        }
        for (int k = 0; k < 8; k++) {
            for (int j = 0; j < LPT_MSB_BINS; j++) {
                h->pos[j] += cnt[k][j];
                h->neg[j] += cnt[k][LPT_MSB_BINS + j];
            }
            h->zeros += cnt[k][HZERO];
            h->nonfinite += cnt[k][HNONFIN];
        }
        memset(cnt, 0, sizeof cnt);
    }
    h->count += n;
    float mx;
    memcpy(&mx, &max_bits, 4);
    if ((double)mx > h->max_abs) h->max_abs = mx;
}

void lpt_msb_hist_add_mt(lpt_msb_hist *h, size_t n, const float *x, int threads) {
    if (threads <= 1 || n < (1u << 16)) {
        lpt_msb_hist_add(h, n, x);
        return;
    }
    if (threads > 8) threads = 8;
    lpt_msb_hist part[8];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        const size_t lo = n * (size_t)t / (size_t)threads, hi = n * (size_t)(t + 1) / (size_t)threads;
        lpt_msb_hist_clear(&part[t]);
        lpt_msb_hist_add(&part[t], hi - lo, x + lo);
    }
    for (int t = 0; t < threads; t++) {
        for (int i = 0; i < LPT_MSB_BINS; i++) {
            h->pos[i] += part[t].pos[i];
            h->neg[i] += part[t].neg[i];
        }
        h->zeros += part[t].zeros;
        h->nonfinite += part[t].nonfinite;
        h->count += part[t].count;
        if (part[t].max_abs > h->max_abs) h->max_abs = part[t].max_abs;
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
