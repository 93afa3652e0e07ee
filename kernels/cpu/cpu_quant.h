/* cpu_quant.h - the CPU's fast quantizers and histograms: vectorized where the CPU
 * allows (the level of src/base/isa.h, chosen at run time), equal bit for bit to the
 * specification in quant/quant.h and hwsim/stats.h, counters included. */
#ifndef LPT_CPU_QUANT_H
#define LPT_CPU_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "hwsim/stats.h"
#include "quant/quant.h"

/* lpt_quantize_ref and lpt_dequantize_ref, fast. */
void lpt_quantize(const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t n,
                  const float *x, int32_t *codes, float *y, lpt_qstats *st);
void lpt_dequantize(const lpt_qformat *q, int fl, size_t n, const int32_t *codes, float *y);
/* Name of the kernel lpt_quantize picks for q on this CPU (for benchmarks and notes). */
const char *lpt_quantize_kernel_name(const lpt_qformat *q);
/* lpt_msb_hist_add_ref, fast. */
void lpt_msb_hist_add(lpt_msb_hist *h, size_t n, const float *x);

/* The fast analysis as an accumulator, for kernels that fuse it with another pass over
 * the same blocks: init once (it is large: keep one per thread), then per tensor add
 * blocks and end, which adds everything to h and leaves the accumulator clean; the
 * counters are folded and cleared only over the exponents the tensor used. */
#define LPT_MSB_SETS 8
/* The AVX-512 path counts values two at a time: a value's code is its sign and its
 * distance below the exponent of the largest magnitude so far (within LPT_PAIR_SPAN
 * binades), LPT_PAIR_NONE stands for "no value" (one side of a pair ran out), and each
 * pair of codes has a counter. */
#define LPT_PAIR_SPAN 16
#define LPT_PAIR_NONE (2 * LPT_PAIR_SPAN)
#define LPT_PAIR_CODES (LPT_PAIR_NONE + 1)
#define LPT_PAIR_SETS 4
typedef struct {
    /* per (sign, biased exponent), several counter sets; each row padded by a cache line
     * so that the same bin of two sets never sits 4 KiB apart (false store-to-load
     * dependences) */
    uint32_t c[LPT_MSB_SETS][512 + 16];
    uint32_t p[LPT_PAIR_SETS][LPT_PAIR_CODES * LPT_PAIR_CODES]; /* pair counters */
    uint64_t wide[512];   /* counters folded so far */
    uint64_t sub[2][23];  /* subnormals by sign and MSB + 149 */
    uint64_t zeros, nonfinite, subnormal, count;
    uint64_t folded;      /* values in wide */
    uint64_t exp0;        /* exponent-0 counts at the end of the last piece */
    size_t pending;       /* values since the counters were last folded */
    uint32_t max_bits;    /* bits of the largest finite magnitude */
    uint32_t pair_top;    /* biased exponent the pair codes count down from (0: none) */
    uint64_t pairs;       /* pairs counted since the pair counters were last folded */
} lpt_msb_acc;
void lpt_msb_acc_init(lpt_msb_acc *a);
/* The calling thread's accumulator, initialized on first use; clean between tensors. */
lpt_msb_acc *lpt_msb_acc_thread(void);
void lpt_msb_acc_add(lpt_msb_acc *a, size_t n, const float *x);
void lpt_msb_acc_end(lpt_msb_acc *a, lpt_msb_hist *h);

#endif
