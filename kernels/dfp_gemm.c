/* dfp_gemm.c - the dynamic fixed-point product through the table's own entries: the
 * exact float GEMM when the bound rules out accumulator overflow, else integer codes and
 * the reference-order integer GEMM (backend.h, dfp_gemm). For backends whose memory the
 * host can address (the FLs are read where they live). */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/backend.h"

void lpt_dfp_gemm_generic(lpt_backend *be, lpt_dfp_operand a, lpt_dfp_operand b, int acc_bits, int ta, int tb,
                          int m, int n, int k, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                          uint64_t *overflows) {
    if (lpt_dfp_exact_ok(a.width, b.width, k, acc_bits)) { /* no accumulator overflow: any exact order */
        be->gemm_exact(be, a.width, b.width, ta, tb, m, n, k, A, lda, B, ldb, C, ldc);
        return;
    }
    /* the accumulator could overflow: integer codes (exact: the values lie on their grids)
     * in the reference order, with saturation */
    const size_t an = ta ? (size_t)k * lda : (size_t)m * lda, bn = tb ? (size_t)n * ldb : (size_t)k * ldb;
    int32_t *ai = be->alloc(be, an * sizeof *ai), *bi = be->alloc(be, bn * sizeof *bi);
    int64_t *ci = be->alloc(be, (size_t)m * n * sizeof *ci);
    if (!ai || !bi || !ci) {
        fprintf(stderr, "lpt: out of backend memory for a %dx%dx%d integer product\n", m, n, k);
        exit(1);
    }
    be->to_codes(be, an, A, *a.fl, ai);
    be->to_codes(be, bn, B, *b.fl, bi);
    be->igemm(be, ta, tb, m, n, k, ai, lda, bi, ldb, NULL, a.width > b.width ? a.width : b.width, acc_bits, 0, ci, n,
              overflows);
    be->from_acc(be, m, n, ci, n, *a.fl + *b.fl, C, ldc);
    be->free(be, ai);
    be->free(be, bi);
    be->free(be, ci);
}

void lpt_gemm_lp_generic(lpt_backend *be, lpt_format fmt, int ta, int tb, int m, int n, int k, const float *a, int lda,
                         const float *b, int ldb, float *c, int ldc) {
    (void)fmt; /* products of 16-bit float values are exact in float32 */
    be->gemm(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
