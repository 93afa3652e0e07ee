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

#include "quant/quant.h"
#include "src/base/util.h"
#include "kernels/cpu/cpu.h"
#include "src/base/isa.h"

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
 * block: d[r][c] = op(X)[r0 + r][c0 + c]; one dispatch per block. Transposed, the
 * stored rows are read in order and the block written with a stride. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void widen_block(int tx, const float *x, int ldx, int r0, int c0, int rows, int cols, double *d) {
    if (!tx) {
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)(r0 + r) * ldx + c0;
            double *dr = d + (size_t)r * cols;
            for (int cc = 0; cc < cols; cc++) dr[cc] = xr[cc];
        }
    } else {
        for (int cc = 0; cc < cols; cc++) {
            const float *xc = x + (size_t)(c0 + cc) * ldx + r0;
            for (int r = 0; r < rows; r++) d[(size_t)r * cols + cc] = xc[r];
        }
    }
}

/* c[i][j] = (float)d[i][j] for a rows x cols block (d with row stride ldd) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void narrow_block(int rows, int cols, const double *d, int ldd, float *c, int ldc) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[(size_t)i * ldc + j] = (float)d[(size_t)i * ldd + j];
}

/* c = (float)(sum of T double partial products, parts[u * stride + i * n + j]); an
 * orphaned work-sharing loop: split over the threads inside a parallel region */
static void sum_narrow(int T, const double *parts, size_t stride, int m, int n, float *c, int ldc) {
#pragma omp for schedule(static)
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0.0;
            for (int u = 0; u < T; u++) sum += parts[(size_t)u * stride + (size_t)i * n + j];
            c[(size_t)i * ldc + j] = (float)sum;
        }
}

/* The double-precision way. Every partial sum is exact, so any order gives the same
 * result. The operands are widened in tiles that stay in L2: the reduction in chunks of
 * XKB, the output columns in strips as wide as XTILE doubles of B tile plus C strip
 * allow (wide strips make the rows read from op(B) long runs: short strided runs left
 * the widening waiting on memory), each strip multiplied in sub-tiles of XSUB columns
 * (OpenBLAS's small-matrix kernels: no packing, and the fastest rate measured here).
 * Threads take strips; when there are too few strips for them, they take reduction
 * chunks instead, each into its own accumulator, summed at the end. */
#define XTILE 65536
#define XKB 512
#define XSUB 64
/* C(:, j0..j0+nb) = (beta 0) or += (beta 1) A(:, p0..p0+kb) op(B)(p0.., j0..), with A's
 * chunk already widened into ad; op(B)'s tile widened into bd */
static void via_double_tile(int tb, const float *b, int ldb, int m, int j0, int nb, int p0, int kb, const double *ad,
                            double *bd, float beta, double *cd, int ldcd) {
    if (!tb)
        widen_block(0, b, ldb, p0, j0, kb, nb, bd);
    else /* stored (nb, kb): used transposed */
        widen_block(0, b, ldb, j0, p0, nb, kb, bd);
    for (int s0 = 0; s0 < nb; s0 += XSUB) {
        const int sn = nb - s0 < XSUB ? nb - s0 : XSUB;
        gemm1(1, 0, tb, m, sn, kb, 1.0f, ad, kb, tb ? bd + (size_t)s0 * kb : bd + s0, tb ? kb : nb, beta, cd + s0,
              ldcd);
    }
}

static void gemm_via_double(lpt_backend *be, int ta, int tb, int m, int n, int k, const float *a, int lda,
                            const float *b, int ldb, float *c, int ldc) {
    const int kb0 = k < XKB ? k : XKB, nchunks = (k + XKB - 1) / XKB;
    int sw = XTILE / (kb0 + m) / XSUB * XSUB;
    if (sw < XSUB) sw = XSUB;
    if (sw > n) sw = n;
    const int strips = (n + sw - 1) / sw, Tmax = be->threads;
    const int splitk = Tmax > 1 && strips < 2 * Tmax && nchunks >= 2 * Tmax;
    const int T = splitk ? Tmax : (Tmax < strips ? Tmax : strips);
    const size_t mn = (size_t)m * n;
    /* per thread: C strip (or, split over k, the whole C), A chunk, B tile */
    const size_t cn = splitk ? mn : (size_t)m * sw, per = cn + (size_t)m * kb0 + (size_t)kb0 * sw;
    double *scratch = lpt_cpu_scratch(be, (size_t)T * per * sizeof(double));
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        double *cd = scratch + (size_t)t * per, *ad = cd + cn, *bd = ad + (size_t)m * kb0;
        if (!splitk) {
#pragma omp for schedule(static)
            for (int si = 0; si < strips; si++) {
                const int j0 = si * sw, nb = n - j0 < sw ? n - j0 : sw;
                for (int p0 = 0; p0 < k; p0 += XKB) {
                    const int kb = k - p0 < XKB ? k - p0 : XKB;
                    widen_block(ta, a, lda, 0, p0, m, kb, ad);
                    via_double_tile(tb, b, ldb, m, j0, nb, p0, kb, ad, bd, p0 ? 1.0f : 0.0f, cd, sw);
                }
                narrow_block(m, nb, cd, sw, c + j0, ldc);
            }
        } else {
            int first = 1;
            for (int ci = t; ci < nchunks; ci += T, first = 0) {
                const int p0 = ci * XKB, kb = k - p0 < XKB ? k - p0 : XKB;
                widen_block(ta, a, lda, 0, p0, m, kb, ad);
                for (int j0 = 0; j0 < n; j0 += sw)
                    via_double_tile(tb, b, ldb, m, j0, n - j0 < sw ? n - j0 : sw, p0, kb, ad, bd, first ? 0.0f : 1.0f,
                                    cd + j0, n);
            }
            if (first) memset(cd, 0, mn * sizeof *cd);
#pragma omp barrier
            sum_narrow(T, scratch, per, m, n, c, ldc);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define V4 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))

/* Exact products with the conversion inside the kernel (AVX-512): float operands are
 * widened in registers and multiplied into double accumulators, so no widened copy of
 * op(B) is written and read back (that pass was the largest cost of dfp16 products:
 * perf, LeNet-5 int16-dyn). Every partial sum is exact, so the order is free.
 *
 * nn: C(m, n) = op(A) B. Per strip of output columns and reduction chunk, op(A) is
 * widened into doubles packed by row blocks (a tile's broadcasts one step apart; A is
 * the small operand in every layer), B is read as floats: register tiles of mr rows x
 * nv vectors of 8 columns (mr * nv <= 24 accumulators), per reduction step nv vectors of
 * B converted and one broadcast of A per row. Up to 24 rows one tile covers all rows and
 * reads B where it lies, fetching the next panel's row ahead (B's rows are far apart and
 * the hardware prefetcher does not follow); with more rows each panel is packed first,
 * reading B's rows as runs, and the row blocks read the packed panel from L1.
 * Measured (LeNet-5 int16-dyn, 1 thread): the exact products of a step 6.9 -> 4.2 ms. */
#define NN_KC 1024
enum { F2D_ONLY, F2D_FIRST, F2D_MID, F2D_LAST }; /* which chunk of the reduction */

V4 static inline __attribute__((always_inline)) void nn_tile(const int mr, const int nv, int kb, const double *ad,
                                                            const float *b, int ldb, int cols, int stage,
                                                            double *cd, int ldcd, float *c, int ldc) {
    __m512d acc[24][4];
    __mmask8 cm[4];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
        const int left = cols - 8 * v;
        cm[v] = left >= 8 ? 0xff : left <= 0 ? 0 : (__mmask8)((1u << left) - 1);
    }
#pragma GCC unroll 24
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_pd();
    for (int p = 0; p < kb; p++) {
        __m512d bv[4];
        if (ldb != 8 * nv) /* not a packed panel (row stride 8 nv): fetch the next panel's row */
#pragma GCC unroll 2
            for (int x = 0; x < nv; x += 2)
                _mm_prefetch((const char *)(b + (size_t)p * ldb + 8 * (nv + x)), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(cm[v], b + (size_t)p * ldb + 8 * v));
#pragma GCC unroll 24
        for (int r = 0; r < mr; r++) {
            const __m512d av = _mm512_set1_pd(ad[(size_t)p * mr + r]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_pd(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 24
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            __m512d x = acc[r][v];
            double *cdr = cd + (size_t)r * ldcd + 8 * v;
            if (stage == F2D_MID || stage == F2D_LAST) x = _mm512_add_pd(x, _mm512_maskz_loadu_pd(cm[v], cdr));
            if (stage == F2D_FIRST || stage == F2D_MID)
                _mm512_mask_storeu_pd(cdr, cm[v], x);
            else
                _mm256_mask_storeu_ps(c + (size_t)r * ldc + 8 * v, cm[v], _mm512_cvtpd_ps(x));
        }
}

/* the tile shape for m rows: vectors per tile, and rows per tile */
static void nn_shape(int m, int *nv, int *mr) {
    *nv = m <= 6 ? 4 : m <= 12 ? 2 : m <= 24 ? 1 : 2;
    *mr = m <= 24 ? m : 12;
}

/* all rows of one panel of 8 * nv columns (cols of them inside C); B's panel packed
 * (ldbp = 8 nv) or where it lies */
V4 static void nn_panel(int m, int kb, const double *ad, const float *bp, int ldbp, int cols, int stage, double *cd,
                        int ldcd, float *c, int ldc) {
    int nv, mr;
    nn_shape(m, &nv, &mr);
    for (int i = 0; i < m; i += mr) {
        const int r = m - i < mr ? m - i : mr;
        const double *a = ad + (size_t)i * kb; /* the block's rows, packed by step */
        double *cdi = cd + (size_t)i * ldcd;
        float *ci = c + (size_t)i * ldc;
        switch (nv * 32 + r) {
#define NN_CASE(V, R) \
    case V * 32 + R: nn_tile(R, V, kb, a, bp, ldbp, cols, stage, cdi, ldcd, ci, ldc); break;
            NN_CASE(4, 1) NN_CASE(4, 2) NN_CASE(4, 3) NN_CASE(4, 4) NN_CASE(4, 5) NN_CASE(4, 6)
            NN_CASE(2, 1) NN_CASE(2, 2) NN_CASE(2, 3) NN_CASE(2, 4) NN_CASE(2, 5) NN_CASE(2, 6)
            NN_CASE(2, 7) NN_CASE(2, 8) NN_CASE(2, 9) NN_CASE(2, 10) NN_CASE(2, 11) NN_CASE(2, 12)
            NN_CASE(1, 13) NN_CASE(1, 14) NN_CASE(1, 15) NN_CASE(1, 16) NN_CASE(1, 17) NN_CASE(1, 18)
            NN_CASE(1, 19) NN_CASE(1, 20) NN_CASE(1, 21) NN_CASE(1, 22) NN_CASE(1, 23) NN_CASE(1, 24)
#undef NN_CASE
        }
    }
}

/* B(p0.., j0..j1) packed panel after panel (kb rows of pw floats each, the last panel
 * padded with zeros), reading each row of B as one run: B's rows are far apart, and
 * runs keep the loads streaming (a panel read row by row left them waiting on memory) */
V4 static void nn_pack(int kb, int pw, const float *b, int ldb, int cols, float *bp) {
    const int panels = (cols + pw - 1) / pw;
    for (int p = 0; p < kb; p++) {
        const float *br = b + (size_t)p * ldb;
        for (int q = 0; q < panels; q++) {
            float *d = bp + ((size_t)q * kb + p) * pw;
            for (int x = 0; x < pw; x += 8) {
                const int left = cols - q * pw - x;
                const __mmask8 mk = left >= 8 ? 0xff : left <= 0 ? 0 : (__mmask8)((1u << left) - 1);
                _mm256_storeu_ps(d + x, _mm256_maskz_loadu_ps(mk, br + q * pw + x));
            }
        }
    }
}

/* op(A)(0..m, p0..p0+kb) widened and packed by row blocks of mr: within a block of r
 * rows, element (i, p) at p * r + i, so that a tile's broadcasts are one step apart */
V4 static void nn_pack_a(int ta, const float *a, int lda, int m, int mr, int p0, int kb, double *ad) {
    for (int i0 = 0; i0 < m; i0 += mr) {
        const int r = m - i0 < mr ? m - i0 : mr;
        double *d = ad + (size_t)i0 * kb;
        for (int p = 0; p < kb; p++)
            for (int i = 0; i < r; i++)
                d[(size_t)p * r + i] = ta ? a[(size_t)(p0 + p) * lda + i0 + i] : a[(size_t)(i0 + i) * lda + p0 + p];
    }
}

/* threads take strips of output columns; per strip and reduction chunk of NN_KC, A's
 * chunk is widened and packed, and, with several row blocks, B's (strips sized so that
 * the packed block stays in L2); partial sums in a double strip between chunks */
V4 static void f2d_nn(lpt_backend *be, int ta, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                      float *c, int ldc) {
    const int kc0 = k < NN_KC ? k : NN_KC, nchunks = (k + NN_KC - 1) / NN_KC;
    int nv, mr;
    nn_shape(m, &nv, &mr);
    const int pw = 8 * nv, pack = m > mr; /* panel width; B packed for several row blocks */
    int sw = 65536 / kc0; /* B block of at most 256 KiB */
    if (nchunks > 1 && sw > 32768 / m) sw = 32768 / m; /* C strip of at most 256 KiB */
    sw = sw / pw * pw;
    if (sw < pw) sw = pw;
    if (sw > n) sw = (n + pw - 1) / pw * pw;
    const int strips = (n + sw - 1) / sw, T = be->threads < strips ? be->threads : strips;
    const size_t bpn = pack ? (size_t)kc0 * sw / 2 : 0; /* doubles holding the packed floats */
    const size_t per = (size_t)m * kc0 + bpn + (nchunks > 1 ? (size_t)m * sw : 0);
    double *scratch = lpt_cpu_scratch(be, (size_t)T * per * sizeof(double));
#pragma omp parallel num_threads(T)
    {
        double *ad = scratch + (size_t)omp_get_thread_num() * per, *cd = ad + (size_t)m * kc0 + bpn;
        float *bp = (float *)(void *)(ad + (size_t)m * kc0);
#pragma omp for schedule(static)
        for (int si = 0; si < strips; si++) {
            const int j0 = si * sw, cols = n - j0 < sw ? n - j0 : sw;
            for (int ci = 0; ci < nchunks; ci++) {
                const int p0 = ci * NN_KC, kb = k - p0 < NN_KC ? k - p0 : NN_KC;
                const int stage = nchunks == 1 ? F2D_ONLY
                                  : ci == 0     ? F2D_FIRST
                                  : ci == nchunks - 1 ? F2D_LAST
                                                      : F2D_MID;
                nn_pack_a(ta, a, lda, m, mr, p0, kb, ad);
                const float *bj = b + (size_t)p0 * ldb + j0;
                if (pack) nn_pack(kb, pw, bj, ldb, cols, bp);
                for (int j = 0; j < cols; j += pw)
                    nn_panel(m, kb, ad, pack ? bp + (size_t)j * kb : bj + j, pack ? pw : ldb,
                             cols - j < pw ? cols - j : pw, stage, cd + j, sw, c + j0 + j, ldc);
            }
        }
    }
}

/* nt: C(m, n) = A Bᵀ with A (m, k) and B (n, k) stored by rows: dot products along k,
 * register tiles of 4 x 4 accumulators of 8 lanes, both operands converted on load,
 * reduced across lanes at the end of each chunk of NT_KC */
#define NT_KC 2048
V4 static inline __attribute__((always_inline)) void nt_tile(const int mr, const int nr, int kb, const float *a,
                                                            int lda, const float *b, int ldb, double *cd, int ldcd,
                                                            int add) {
    __m512d acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) acc[r][q] = _mm512_setzero_pd();
    int p = 0;
    for (; p < kb; p += 8) {
        const __mmask8 km = kb - p >= 8 ? 0xff : (__mmask8)((1u << (kb - p)) - 1);
        __m512d av[4], bv[4];
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) av[r] = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(km, a + (size_t)r * lda + p));
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) bv[q] = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(km, b + (size_t)q * ldb + p));
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
            for (int q = 0; q < nr; q++) acc[r][q] = _mm512_fmadd_pd(av[r], bv[q], acc[r][q]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) {
            const double v = _mm512_reduce_add_pd(acc[r][q]);
            cd[(size_t)r * ldcd + q] = add ? cd[(size_t)r * ldcd + q] + v : v;
        }
}

V4 static void nt_block(int mr, int nr, int kb, const float *a, int lda, const float *b, int ldb, double *cd,
                        int ldcd, int add) {
    switch (mr * 4 + nr) {
#define NT_CASE(R, Q) \
    case R * 4 + Q: nt_tile(R, Q, kb, a, lda, b, ldb, cd, ldcd, add); break;
        NT_CASE(1, 1) NT_CASE(1, 2) NT_CASE(1, 3) NT_CASE(1, 4) NT_CASE(2, 1) NT_CASE(2, 2) NT_CASE(2, 3)
        NT_CASE(2, 4) NT_CASE(3, 1) NT_CASE(3, 2) NT_CASE(3, 3) NT_CASE(3, 4) NT_CASE(4, 1) NT_CASE(4, 2)
        NT_CASE(4, 3) NT_CASE(4, 4)
#undef NT_CASE
    }
}

/* columns j0..j1 of C over reduction chunks c0, c0 + cstep, ...: for each chunk, blocks
 * of 4 rows of B outside (they stay in L1), blocks of 4 rows of A inside */
V4 static void nt_range(int m, int k, int j0, int j1, int c0, int cstep, const float *a, int lda, const float *b,
                        int ldb, double *cd, int ldcd) {
    for (int p0 = c0 * NT_KC; p0 < k; p0 += cstep * NT_KC) {
        const int kb = k - p0 < NT_KC ? k - p0 : NT_KC, add = p0 != c0 * NT_KC;
        for (int j = j0; j < j1; j += 4)
            for (int i = 0; i < m; i += 4)
                nt_block(m - i < 4 ? m - i : 4, j1 - j < 4 ? j1 - j : 4, kb, a + (size_t)i * lda + p0, lda,
                         b + (size_t)j * ldb + p0, ldb, cd + (size_t)i * ldcd + j, ldcd, add);
    }
}

/* threads split the reduction when the output is small and the reduction long (weight
 * gradients), else the columns; partial sums in double, narrowed at the end */
static void f2d_nt(lpt_backend *be, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                   int ldc) {
    const int nchunks = (k + NT_KC - 1) / NT_KC, Tmax = be->threads;
    const int splitk = Tmax > 1 && nchunks >= Tmax && (size_t)m * n < (size_t)64 * 1024;
    const int T = splitk ? Tmax : (Tmax < (n + 3) / 4 ? Tmax : (n + 3) / 4);
    const size_t mn = (size_t)m * n;
    double *cd = lpt_cpu_scratch(be, (splitk ? (size_t)T : 1) * mn * sizeof(double));
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        if (splitk) {
            double *ct = cd + (size_t)t * mn;
            if (t >= nchunks) memset(ct, 0, mn * sizeof *ct);
            nt_range(m, k, 0, n, t, T, a, lda, b, ldb, ct, n);
#pragma omp barrier
            sum_narrow(T, cd, mn, m, n, c, ldc);
        } else {
            int lo, hi;
            block(n, T, t, 4, &lo, &hi);
            if (hi > lo) {
                nt_range(m, k, lo, hi, 0, 1, a, lda, b, ldb, cd, n);
                narrow_block(m, hi - lo, cd + lo, n, c + lo, ldc);
            }
        }
    }
}

/* the in-register kernels, where they apply (AVX-512 at the quantizers' level, not
 * both operands transposed); 1 when they took the product */
static int f2d(lpt_backend *be, int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
               float *c, int ldc) {
    if (!lpt_isa_v4() || (ta && tb)) return 0;
    if (!tb)
        f2d_nn(be, ta, m, n, k, a, lda, b, ldb, c, ldc);
    else
        f2d_nt(be, m, n, k, a, lda, b, ldb, c, ldc);
    return 1;
}
#else
static int f2d(lpt_backend *be, int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
               float *c, int ldc) {
    (void)be, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
    return 0;
}
#endif

void lpt_cpu_gemm_exact(lpt_backend *be, int a_bits, int b_bits, int ta, int tb, int m, int n, int k,
                        const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = 0.0f;
        return;
    }
    const int lk = lpt_ceil_log2(k), prod = (a_bits - 1) + (b_bits - 1);
    /* a handful of output rows: OpenBLAS's float GEMM is slow there (conv1 of LeNet-5:
     * 6 rows), and the in-register kernels, exact in any case, faster */
    if (m <= 8 && f2d(be, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)) return;
    if (prod + lk <= 24) { /* every partial sum an integer number of units below 2^24 */
        gemm_split(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
        return;
    }
    const int chunk_bits = 24 - prod;
    if (chunk_bits < 6) { /* chunks too short to pay: double accumulation */
        if (!f2d(be, ta, tb, m, n, k, a, lda, b, ldb, c, ldc))
            gemm_via_double(be, ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
    /* float GEMM over chunks of k (each exact), the chunk results summed in double; with
     * enough chunks the threads take chunks in turn, each into its own accumulator (every
     * sum is exact, so the order does not matter) */
    const int chunk = 1 << chunk_bits, nchunks = (k + chunk - 1) / chunk;
    const int T = nchunks >= 2 * be->threads ? be->threads : 1;
    const size_t mn = (size_t)m * n;
    double *acc = lpt_cpu_scratch(be, (size_t)T * mn * (sizeof(double) + sizeof(float)));
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
    sum_narrow(T, acc, mn, m, n, c, ldc);
}
