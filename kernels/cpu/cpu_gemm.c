/* cpu_gemm.c - matrix product through OpenBLAS, threaded by lpt itself.
 *
 * OpenBLAS runs single-threaded; this file splits one product over the backend's
 * OpenMP threads so that one thread pool serves every kernel (two pools on the same
 * cores spin against each other). The split depends only on the shape and the thread
 * count, so results are a pure function of both:
 *   wide C (n large):  column blocks, each an independent sgemm;
 *   tall C (m large):  row blocks;
 *   long reductions:   split-K partial products into scratch, summed in thread order.
 * Exact dfp products (gemm_exact) reuse it, or take a tiled double-precision path. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util.h"
#include "cpu.h"

/* below this many multiply-adds one call on one thread is faster */
#define GEMM_PAR_MIN_MACS (1L << 19)

/* one single-threaded product, float (dbl = 0) or double (dbl = 1) elements */
static void gemm1(int dbl, int ta, int tb, int m, int n, int k, float alpha, const void *a, int lda,
                  const void *b, int ldb, float beta, void *c, int ldc) {
    const enum CBLAS_TRANSPOSE oa = ta ? CblasTrans : CblasNoTrans, ob = tb ? CblasTrans : CblasNoTrans;
    if (dbl)
        cblas_dgemm(CblasRowMajor, oa, ob, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        cblas_sgemm(CblasRowMajor, oa, ob, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* offset (in elements) of op(A)[i0][p0] and op(B)[p0][j0] in stored layout */
static size_t at_a(int ta, int lda, int i0, int p0) {
    return ta ? (size_t)p0 * lda + i0 : (size_t)i0 * lda + p0;
}
static size_t at_b(int tb, int ldb, int p0, int j0) {
    return tb ? (size_t)j0 * ldb + p0 : (size_t)p0 * ldb + j0;
}

static void block(int total, int parts, int t, int align, int *lo, int *hi) {
    int chunk = (total + parts - 1) / parts;
    chunk = (chunk + align - 1) / align * align;
    *lo = t * chunk < total ? t * chunk : total;
    *hi = (t + 1) * chunk < total ? (t + 1) * chunk : total;
}

/* the threaded float product */
static void gemm_split(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc) {
    const int T = be->threads;
    if (T == 1 || (long)m * n * k < GEMM_PAR_MIN_MACS) {
        gemm1(0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (n >= 64 * T || (n >= 16 * T && n >= m)) {
#pragma omp parallel num_threads(T)
        {
            int lo, hi;
            block(n, T, omp_get_thread_num(), 16, &lo, &hi);
            if (hi > lo)
                gemm1(0, ta, tb, m, hi - lo, k, alpha, a, lda, b + at_b(tb, ldb, 0, lo), ldb, beta, c + lo, ldc);
        }
        return;
    }
    if (m >= 8 * T) {
#pragma omp parallel num_threads(T)
        {
            int lo, hi;
            block(m, T, omp_get_thread_num(), 4, &lo, &hi);
            if (hi > lo)
                gemm1(0, ta, tb, hi - lo, n, k, alpha, a + at_a(ta, lda, lo, 0), lda, b, ldb, beta,
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
            gemm1(0, ta, tb, m, n, hi - lo, 1.0f, a + at_a(ta, lda, 0, lo), lda, b + at_b(tb, ldb, lo, 0), ldb, 0.0f,
                  part + (size_t)t * mn, n);
        else
            memset(part + (size_t)t * mn, 0, mn * sizeof *part);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float sum = 0.0f, *cij = &c[(size_t)i * ldc + j];
                for (int u = 0; u < T; u++) sum += part[(size_t)u * mn + (size_t)i * n + j];
                *cij = alpha * sum + (beta == 0.0f ? 0.0f : beta * *cij);
            }
    }
    free(part);
}

void lpt_cpu_gemm(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc) {
    if (m <= 0 || n <= 0) return;
    gemm_split(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* op(X)[r0.., c0..] (rows x cols of the operator) widened into a compact row-major
 * block: d[r][c] = op(X)[r0 + r][c0 + c]; one dispatch per block, the rows inlined */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void widen_block(int tx, const float *x, int ldx, int r0, int c0, int rows, int cols, double *d) {
    for (int r = 0; r < rows; r++)
        if (!tx) {
            const float *xr = x + (size_t)(r0 + r) * ldx + c0;
            double *dr = d + (size_t)r * cols;
            for (int cc = 0; cc < cols; cc++) dr[cc] = xr[cc];
        } else {
            for (int cc = 0; cc < cols; cc++) d[(size_t)r * cols + cc] = x[(size_t)(c0 + cc) * ldx + r0 + r];
        }
}

/* c[i][j] = (float)d[i][j] for a rows x cols block (d compact) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void narrow_block(int rows, int cols, const double *d, float *c, int ldc) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[(size_t)i * ldc + j] = (float)d[(size_t)i * cols + j];
}

/* the double-precision way, in tiles that stay in L2: panels of NB output columns over
 * the threads, the reduction in chunks of KB, each tile's operands widened just before
 * its dgemm (beta 1 after the first chunk: every partial sum is exact, so the order does
 * not matter), the panel narrowed to float once complete */
#define XNB 64
#define XKB 512
static void gemm_via_double(lpt_backend *be, int ta, int tb, int m, int n, int k, const float *a, int lda,
                            const float *b, int ldb, float *c, int ldc) {
    const int panels = (n + XNB - 1) / XNB, T = be->threads < panels ? be->threads : panels;
    const size_t per = (size_t)m * XKB + (size_t)XKB * XNB + (size_t)m * XNB;
    double *scratch = lpt_backend_scratch(be, (size_t)T * per * sizeof(double));
#pragma omp parallel num_threads(T)
    {
        double *ad = scratch + (size_t)omp_get_thread_num() * per, *bd = ad + (size_t)m * XKB, *cd = bd + (size_t)XKB * XNB;
#pragma omp for schedule(static)
        for (int pi = 0; pi < panels; pi++) {
            const int j0 = pi * XNB, nb = n - j0 < XNB ? n - j0 : XNB;
            for (int p0 = 0; p0 < k; p0 += XKB) {
                const int kb = k - p0 < XKB ? k - p0 : XKB;
                widen_block(ta, a, lda, 0, p0, m, kb, ad);
                /* op(B) rows p0.., columns j0..; with tb the stored rows are the columns */
                if (!tb)
                    widen_block(0, b, ldb, p0, j0, kb, nb, bd);
                else
                    widen_block(0, b, ldb, j0, p0, nb, kb, bd); /* stored (nb, kb): used transposed */
                gemm1(1, 0, tb, m, nb, kb, 1.0f, ad, kb, bd, tb ? kb : nb, p0 ? 1.0f : 0.0f, cd, nb);
            }
            narrow_block(m, nb, cd, c + j0, ldc);
        }
    }
}

void lpt_cpu_gemm_exact(lpt_backend *be, int a_bits, int b_bits, int ta, int tb, int m, int n, int k,
                        const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = 0.0f;
        return;
    }
    int lk = 0;
    while ((1L << lk) < k) lk++;
    const int prod = (a_bits - 1) + (b_bits - 1);
    if (prod + lk <= 24) { /* every partial sum an integer number of units below 2^24 */
        gemm_split(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
        return;
    }
    const int chunk_bits = 24 - prod;
    if (chunk_bits < 6) { /* chunks too short to pay: double GEMM */
        gemm_via_double(be, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
    /* float GEMM over chunks of k (each exact), the chunk results summed in double; with
     * enough chunks the threads take chunks in turn, each into its own accumulator (every
     * sum is exact, so the order does not matter) */
    const int chunk = 1 << chunk_bits, nchunks = (k + chunk - 1) / chunk;
    const int T = nchunks >= 2 * be->threads ? be->threads : 1;
    const size_t mn = (size_t)m * n;
    double *acc = lpt_backend_scratch(be, (size_t)T * mn * (sizeof(double) + sizeof(float)));
    float *parts = (float *)(void *)(acc + (size_t)T * mn);
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        double *at = acc + (size_t)t * mn;
        float *pt = parts + (size_t)t * mn;
        memset(at, 0, mn * sizeof *at);
        for (int ci = t; ci < nchunks; ci += T) {
            const int p0 = ci * chunk, kc = k - p0 < chunk ? k - p0 : chunk;
            if (T > 1)
                gemm1(0, ta, tb, m, n, kc, 1.0f, a + at_a(ta, lda, 0, p0), lda, b + at_b(tb, ldb, p0, 0), ldb, 0.0f,
                      pt, n);
            else
                gemm_split(be, ta, tb, m, n, kc, 1.0f, a + at_a(ta, lda, 0, p0), lda, b + at_b(tb, ldb, p0, 0),
                           ldb, 0.0f, pt, n);
            for (size_t i = 0; i < mn; i++) at[i] += pt[i];
        }
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0.0;
            for (int t = 0; t < T; t++) sum += acc[(size_t)t * mn + (size_t)i * n + j];
            c[(size_t)i * ldc + j] = (float)sum;
        }
}
