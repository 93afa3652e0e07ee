/* cpu_quant.c - the quantization point, fused: the statistics unit's analysis and the
 * quantizer run block by block over the same L1-sized pieces of the tensor, so the
 * tensor passes through memory once. Large tensors are split over the backend's
 * threads; the counts are sums and stochastic rounding is keyed by element index, so
 * the result does not depend on the split. */
#include <omp.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/cpu_quant.h"

#define QBLOCK 4096 /* values per block: 16 KiB in, 16 KiB out */
#define QPAR_MIN ((size_t)1 << 16)
#define QMAX_THREADS 64

/* values lo..hi: analysis into the thread's accumulator, quantization, block by block */
static void quant_range(const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t lo, size_t hi,
                        const float *x, float *y, lpt_qstats *st, lpt_msb_acc *acc) {
    for (size_t i = lo; i < hi; i += QBLOCK) {
        const size_t nb = hi - i < QBLOCK ? hi - i : QBLOCK;
        if (acc) lpt_msb_acc_add(acc, nb, x + i);
        if (q) {
            lpt_rng_key k = *key;
            k.index0 += i;
            lpt_quantize(q, fl, &k, nb, x + i, NULL, y + i, st);
        } else if (y != x) {
            memcpy(y + i, x + i, nb * sizeof *y);
        }
    }
}

void lpt_cpu_quant_observe(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_rng_key *key,
                           size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h) {
    const lpt_rng_key k0 = {0};
    if (!key) key = &k0;
    if (q && q->fmt == LPT_FMT_FP32) q = NULL;
    const int T = be->workers < QMAX_THREADS ? be->workers : QMAX_THREADS;
    if (T <= 1 || n < QPAR_MIN) {
        lpt_msb_acc *acc = h ? lpt_msb_acc_thread() : NULL;
        quant_range(q, fl, key, 0, n, x, y, st, acc);
        if (acc) lpt_msb_acc_end(acc, h);
        return;
    }
    const size_t blocks = (n + QBLOCK - 1) / QBLOCK;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const size_t lo = blocks * (size_t)t / (size_t)nt * QBLOCK, hi0 = blocks * (size_t)(t + 1) / (size_t)nt * QBLOCK;
        const size_t hi = hi0 < n ? hi0 : n;
        lpt_qstats mine = {0};
        lpt_msb_acc *acc = h ? lpt_msb_acc_thread() : NULL;
        if (hi > lo) quant_range(q, fl, key, lo, hi, x, y, &mine, acc);
#pragma omp critical(lpt_quant_observe)
        { /* integer sums: the same whatever order the threads arrive in */
            lpt_qstats_add(st, &mine);
            if (acc) lpt_msb_acc_end(acc, h);
        }
    }
}
