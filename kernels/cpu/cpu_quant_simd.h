/* cpu_quant_simd.h - explicit-intrinsics quantizers used by cpu_quant_fast.c. Each returns how
 * many leading elements it did (a multiple of its vector length, or 0 when it does not
 * handle the mode); the caller finishes the rest. */
#ifndef LPT_QUANT_SIMD_H
#define LPT_QUANT_SIMD_H

#include "quant/quant.h"

size_t lpt_dfp_quantize_avx512(lpt_rounding mode, int wrap, int width, int fl, uint64_t prefix,
                               uint64_t i0, size_t n, const float *x, int32_t *codes, float *y,
                               lpt_qstats *st);
size_t lpt_dfp_quantize_avx2(lpt_rounding mode, int wrap, int width, int fl, uint64_t prefix, uint64_t i0,
                             size_t n, const float *x, int32_t *codes, float *y, lpt_qstats *st);

#endif
