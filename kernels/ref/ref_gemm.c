/* ref_gemm.c - reference matrix product: plain loops, double accumulation per output. */
#include "kernels/ref/ref.h"

void lpt_ref_gemm(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc) {
    (void)be;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++) {
                float av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]; /* op(A)[i][p] */
                float bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]; /* op(B)[p][j] */
                acc += (double)av * (double)bv;
            }
            float *cij = &c[(size_t)i * ldc + j];
            /* beta == 0 overwrites, so stale NaN in C never leaks (BLAS convention) */
            *cij = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
    }
}

void lpt_ref_gemm_exact(lpt_backend *be, int a_bits, int b_bits, int ta, int tb, int m, int n, int k,
                        const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    (void)a_bits, (void)b_bits;
    lpt_ref_gemm(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc); /* double sums, one rounding */
}
