/* ref_quant.c - the quantization point of the reference backend: the statistics unit's
 * analysis one value at a time, then the reference quantizer. */
#include <string.h>

#include "kernels/ref/ref.h"

void lpt_ref_quant_observe(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_sr_key *key,
                           size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h) {
    (void)be;
    if (h) lpt_msb_hist_add_ref(h, n, x);
    if (q && q->fmt != LPT_FMT_FP32) {
        const lpt_sr_key k0 = {0};
        lpt_quantize_ref(q, fl, key ? key : &k0, n, x, NULL, y, st);
    } else if (y != x) {
        memmove(y, x, n * sizeof *y);
    }
}
