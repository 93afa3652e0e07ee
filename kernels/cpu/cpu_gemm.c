/* cpu_gemm.c - matrix product through OpenBLAS, threaded by lpt itself.
 *
 * OpenBLAS runs single-threaded; this file splits one product over the backend's
 * OpenMP threads so that one thread pool serves every kernel (two pools on the same
 * cores spin against each other). The split depends only on the shape and the thread
 * count, so results are a pure function of both:
 *   wide C (n large):  column blocks, each an independent sgemm;
 *   tall C (m large):  row blocks;
 *   long reductions:   split-K partial products into scratch, summed in thread order. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "../../src/util.h"
#include "cpu.h"

/* below this many multiply-adds one call on one thread is faster */
#define GEMM_PAR_MIN_MACS (1L << 19)

static void sgemm1(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* pointer to op(A)[i0][p0] and op(B)[p0][j0] in stored layout */
static const float *at_a(int ta, const float *a, int lda, int i0, int p0) {
    return ta ? a + (size_t)p0 * lda + i0 : a + (size_t)i0 * lda + p0;
}
static const float *at_b(int tb, const float *b, int ldb, int p0, int j0) {
    return tb ? b + (size_t)j0 * ldb + p0 : b + (size_t)p0 * ldb + j0;
}

static void block(int total, int parts, int t, int align, int *lo, int *hi) {
    int chunk = (total + parts - 1) / parts;
    chunk = (chunk + align - 1) / align * align;
    *lo = t * chunk < total ? t * chunk : total;
    *hi = (t + 1) * chunk < total ? (t + 1) * chunk : total;
}

void lpt_cpu_gemm(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc) {
    if (m <= 0 || n <= 0) return;
    const int T = be->threads;
    if (T == 1 || (long)m * n * k < GEMM_PAR_MIN_MACS) {
        sgemm1(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (n >= 64 * T || (n >= 16 * T && n >= m)) {
#pragma omp parallel num_threads(T)
        {
            int lo, hi;
            block(n, T, omp_get_thread_num(), 16, &lo, &hi);
            if (hi > lo)
                sgemm1(ta, tb, m, hi - lo, k, alpha, a, lda, at_b(tb, b, ldb, 0, lo), ldb, beta,
                       c + lo, ldc);
        }
        return;
    }
    if (m >= 8 * T) {
#pragma omp parallel num_threads(T)
        {
            int lo, hi;
            block(m, T, omp_get_thread_num(), 4, &lo, &hi);
            if (hi > lo)
                sgemm1(ta, tb, hi - lo, n, k, alpha, at_a(ta, a, lda, lo, 0), lda, b, ldb, beta,
                       c + (size_t)lo * ldc, ldc);
        }
        return;
    }
    /* split-K: thread t computes its partial product into scratch t; the partials are
     * then added in thread order, element by element */
    const size_t mn = (size_t)m * n;
    float *part = lpt_xmalloc((size_t)T * mn * sizeof *part);
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num(), lo, hi;
        block(k, T, t, 16, &lo, &hi);
        if (hi > lo)
            sgemm1(ta, tb, m, n, hi - lo, 1.0f, at_a(ta, a, lda, 0, lo), lda,
                   at_b(tb, b, ldb, lo, 0), ldb, 0.0f, part + (size_t)t * mn, n);
        else
            for (size_t i = 0; i < mn; i++) part[(size_t)t * mn + i] = 0.0f;
#pragma omp barrier
#pragma omp for schedule(static)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float s = 0.0f;
                for (int u = 0; u < T; u++) s += part[(size_t)u * mn + (size_t)i * n + j];
                float *cij = &c[(size_t)i * ldc + j];
                *cij = alpha * s + (beta == 0.0f ? 0.0f : beta * *cij);
            }
    }
    free(part);
}
