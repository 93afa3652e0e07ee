/* cpu_igemm.c - integer GEMM through OpenBLAS dgemm where that is exact.
 *
 * With |codes| <= 2^(in_bits-1), every product is at most 2^(2 in_bits - 2) in
 * magnitude, so every partial sum (in any order) is at most
 * max|bias| + k * 2^(2 in_bits - 2). When that bound fits both the accumulator
 * (< 2^(acc_bits-1)) and double's exact integers (<= 2^53), no order can overflow or
 * round, and dgemm gives the reference result (the bound of docs/training.md: 2(W-1) + ceil(log2 K) + 1 <= A).
 * Otherwise the reference order runs. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "src/base/util.h"
#include "kernels/ref/ref.h"
#include "kernels/cpu/cpu.h"

/* whether the bound above holds */
static int igemm_exact(int k, const int64_t *bias, int n, int in_bits, int acc_bits) {
    double maxb = 0;
    if (bias)
        for (int j = 0; j < n; j++) maxb = fmax(maxb, fabs((double)bias[j]));
    const double bound = maxb + (double)k * ldexp(1.0, 2 * in_bits - 2);
    return bound < ldexp(1.0, acc_bits - 1) && bound <= ldexp(1.0, 53);
}

void lpt_cpu_igemm(lpt_backend *be, int ta, int tb, int m, int n, int k, const int32_t *a, int lda,
                   const int32_t *b, int ldb, const int64_t *bias, int in_bits, int acc_bits, int wrap, int64_t *c,
                   int ldc, uint64_t *overflows) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || !igemm_exact(k, bias, n, in_bits, acc_bits)) {
        lpt_ref_igemm(be, ta, tb, m, n, k, a, lda, b, ldb, bias, in_bits, acc_bits, wrap, c, ldc, overflows);
        return;
    }
    /* op(A) (m, k) and op(B) (k, n) as doubles, stored as given, in the backend's scratch */
    const size_t an = ta ? (size_t)k * lda : (size_t)m * lda, bn = tb ? (size_t)n * ldb : (size_t)k * ldb;
    double *ad = lpt_cpu_scratch(be, (an + bn + (size_t)m * n) * sizeof *ad), *bd = ad + an, *cd = bd + bn;
#pragma omp parallel num_threads(be->workers)
    {
#pragma omp for schedule(static) nowait
        for (size_t i = 0; i < an; i++) ad[i] = a[i];
#pragma omp for schedule(static)
        for (size_t i = 0; i < bn; i++) bd[i] = b[i];
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) cd[(size_t)i * n + j] = bias ? (double)bias[j] : 0.0;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, 1.0, ad, lda, bd, ldb, 1.0, cd, n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = (int64_t)cd[(size_t)i * n + j];
}
