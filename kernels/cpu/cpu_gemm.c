/* cpu_gemm.c - matrix product through OpenBLAS, threaded by lpt itself.
 *
 * OpenBLAS runs single-threaded; this file splits one product over the backend's
 * OpenMP threads so that one thread pool serves every kernel (two pools on the same
 * cores spin against each other). The split depends only on the shape and the thread
 * count (be->threads), so results are a pure function of both, however many workers
 * (be->workers) take the parts:
 *   wide C (n large):  column blocks, each an independent sgemm;
 *   tall C (m large):  row blocks;
 *   long reductions:   split-K partial products into scratch, summed in part order.
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

/* the threaded float product: split into be->threads parts (the split fixes the
 * arithmetic), which be->workers threads take in turn */
static void gemm_split(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc) {
    const int T = be->threads, W = be->workers;
    if (T == 1 || (long)m * n * k < GEMM_PAR_MIN_MACS) {
        gemm1(0, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (n >= 64 * T || (n >= 16 * T && n >= m)) {
#pragma omp parallel for num_threads(W) schedule(dynamic, 1) if (W > 1)
        for (int t = 0; t < T; t++) {
            int lo, hi;
            block(n, T, t, 16, &lo, &hi);
            if (hi > lo)
                gemm1(0, ta, tb, m, hi - lo, k, alpha, a, lda, b + at_b(tb, ldb, 0, lo), ldb, beta, c + lo, ldc);
        }
        return;
    }
    if (m >= 8 * T) {
#pragma omp parallel for num_threads(W) schedule(dynamic, 1) if (W > 1)
        for (int t = 0; t < T; t++) {
            int lo, hi;
            block(m, T, t, 4, &lo, &hi);
            if (hi > lo)
                gemm1(0, ta, tb, hi - lo, n, k, alpha, a + at_a(ta, lda, lo, 0), lda, b, ldb, beta,
                      c + (size_t)lo * ldc, ldc);
        }
        return;
    }
    /* split-K: part t is the partial product over the t-th block of k, into scratch t;
     * the partials are then added in part order, element by element */
    const size_t mn = (size_t)m * n;
    float *part = lpt_xmalloc((size_t)T * mn * sizeof *part);
#pragma omp parallel num_threads(W) if (W > 1)
    {
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < T; t++) {
            int lo, hi;
            block(k, T, t, 16, &lo, &hi);
            if (hi > lo)
                gemm1(0, ta, tb, m, n, hi - lo, 1.0f, a + at_a(ta, lda, 0, lo), lda, b + at_b(tb, ldb, lo, 0), ldb,
                      0.0f, part + (size_t)t * mn, n);
            else
                memset(part + (size_t)t * mn, 0, mn * sizeof *part);
        }
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
    const int strips = (n + sw - 1) / sw, Tmax = be->workers;
    const int splitk = Tmax > 1 && strips < 2 * Tmax && nchunks >= 2 * Tmax;
    const int T = splitk ? Tmax : (Tmax < strips ? Tmax : strips);
    const size_t mn = (size_t)m * n;
    /* per thread: C strip (or, split over k, the whole C), A chunk, B tile */
    const size_t cn = splitk ? mn : (size_t)m * sw, per = cn + (size_t)m * kb0 + (size_t)kb0 * sw;
    double *scratch = lpt_cpu_scratch(be, (size_t)T * per * sizeof(double));
#pragma omp parallel num_threads(T)
    {
        if (!splitk) {
            const int t = omp_get_thread_num(); /* a thread's scratch */
            double *cd = scratch + (size_t)t * per, *ad = cd + cn, *bd = ad + (size_t)m * kb0;
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
        } else { /* T parts, each with its own scratch, whatever the number of threads */
#pragma omp for schedule(static)
            for (int t = 0; t < T; t++) {
                double *cd = scratch + (size_t)t * per, *ad = cd + cn, *bd = ad + (size_t)m * kb0;
                int first = 1;
                for (int ci = t; ci < nchunks; ci += T, first = 0) {
                    const int p0 = ci * XKB, kb = k - p0 < XKB ? k - p0 : XKB;
                    widen_block(ta, a, lda, 0, p0, m, kb, ad);
                    for (int j0 = 0; j0 < n; j0 += sw)
                        via_double_tile(tb, b, ldb, m, j0, n - j0 < sw ? n - j0 : sw, p0, kb, ad, bd,
                                        first ? 0.0f : 1.0f, cd + j0, n);
                }
                if (first) memset(cd, 0, mn * sizeof *cd);
            }
            sum_narrow(T, scratch, per, m, n, c, ldc);
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>

/* the in-register exact kernels (kernels/cpu/cpu_gemm_f2d.h), once per level */
#define NN_KC 1024
#define NT_KC 512
#define NT_AHEAD 256 /* floats of B fetched ahead in the nt kernel */
enum { F2D_ONLY, F2D_FIRST, F2D_MID, F2D_LAST }; /* which chunk of the reduction */

/* AVX-512: 8 doubles per vector, 32 registers (tiles of up to 24 accumulators) */
#define F2D(name) name##_v4
#define F2D_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))
#define F2D_VL 8
typedef __m512d f2d_vd_v4;
typedef __mmask8 f2d_mask_v4;
#define f2d_vd f2d_vd_v4
#define f2d_mask f2d_mask_v4
#define f2d_packed float
#define F2D_MASK(left) ((left) >= 8 ? (__mmask8)0xff : (left) <= 0 ? (__mmask8)0 : (__mmask8)((1u << (left)) - 1))
#define F2D_LOADF(m, p) _mm512_cvtps_pd(_mm256_maskz_loadu_ps((m), (p)))
#define F2D_LOADD(m, p) _mm512_maskz_loadu_pd((m), (p))
#define F2D_STORED(p, m, x) _mm512_mask_storeu_pd((p), (m), (x))
#define F2D_STOREF(p, m, x) _mm256_mask_storeu_ps((p), (m), _mm512_cvtpd_ps(x))
#define F2D_SET1 _mm512_set1_pd
#define F2D_ZERO _mm512_setzero_pd
#define F2D_FMA _mm512_fmadd_pd
#define F2D_ADD _mm512_add_pd
#define F2D_REDUCE _mm512_reduce_add_pd
#define F2D_NN_SHAPE(m, nv, mr) \
    ((nv) = (m) <= 6 ? 4 : (m) <= 12 ? 2 : (m) <= 24 ? 1 : 2, (mr) = (m) <= 24 ? (m) : 12)
#define F2D_NN_CASES(X) \
    X(4, 1) X(4, 2) X(4, 3) X(4, 4) X(4, 5) X(4, 6) X(2, 1) X(2, 2) X(2, 3) X(2, 4) X(2, 5) X(2, 6) X(2, 7) \
    X(2, 8) X(2, 9) X(2, 10) X(2, 11) X(2, 12) X(1, 13) X(1, 14) X(1, 15) X(1, 16) X(1, 17) X(1, 18) X(1, 19) \
    X(1, 20) X(1, 21) X(1, 22) X(1, 23) X(1, 24)
#define F2D_LOADF_FULL(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define F2D_LOADD_FULL(p) _mm512_loadu_pd(p)
#define F2D_STORED_FULL(p, x) _mm512_storeu_pd((p), (x))
#define F2D_NT_R 6
#define F2D_NT_Q 4
/* (rows, cols) of the nt tiles: rows 1..6, each with the columns F2D_NT_ROW lists */
#define F2D_NT_CASES(X) \
    F2D_NT_ROW(X, 1) F2D_NT_ROW(X, 2) F2D_NT_ROW(X, 3) F2D_NT_ROW(X, 4) F2D_NT_ROW(X, 5) F2D_NT_ROW(X, 6)
#define F2D_NT_ROW(X, R) X(R, 1) X(R, 2) X(R, 3) X(R, 4)
#include "kernels/cpu/cpu_gemm_f2d.h"
#undef F2D
#undef F2D_TARGET
#undef F2D_VL
#undef f2d_vd
#undef f2d_mask
#undef f2d_packed
#undef F2D_MASK
#undef F2D_LOADF
#undef F2D_LOADD
#undef F2D_STORED
#undef F2D_STOREF
#undef F2D_SET1
#undef F2D_ZERO
#undef F2D_FMA
#undef F2D_ADD
#undef F2D_REDUCE
#undef F2D_NN_SHAPE
#undef F2D_NN_CASES
#undef F2D_LOADF_FULL
#undef F2D_LOADD_FULL
#undef F2D_STORED_FULL
#undef F2D_NT_R
#undef F2D_NT_Q
#undef F2D_NT_ROW

/* AVX2: 4 doubles per vector, 16 registers (tiles of up to 12 accumulators); masks as
 * vectors, both the float (32-bit lanes) and the double (64-bit lanes) form */
#define F2D(name) name##_v3
#define F2D_TARGET __attribute__((target("avx2,fma")))
#define F2D_VL 4
typedef struct {
    __m128i f;
    __m256i d;
} f2d_mask_v3;
#define f2d_vd __m256d
#define f2d_mask f2d_mask_v3
#define f2d_packed double
F2D_TARGET static inline f2d_mask_v3 f2d_mask3(int left) {
    const __m128i f = _mm_cmpgt_epi32(_mm_set1_epi32(left), _mm_setr_epi32(0, 1, 2, 3));
    return (f2d_mask_v3){f, _mm256_cvtepi32_epi64(f)};
}
F2D_TARGET static inline double f2d_reduce3(__m256d x) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#define F2D_MASK(left) f2d_mask3(left)
#define F2D_LOADF(m, p) _mm256_cvtps_pd(_mm_maskload_ps((p), (m).f))
#define F2D_LOADD(m, p) _mm256_maskload_pd((p), (m).d)
#define F2D_STORED(p, m, x) _mm256_maskstore_pd((p), (m).d, (x))
#define F2D_STOREF(p, m, x) _mm_maskstore_ps((p), (m).f, _mm256_cvtpd_ps(x))
#define F2D_SET1 _mm256_set1_pd
#define F2D_ZERO _mm256_setzero_pd
#define F2D_FMA _mm256_fmadd_pd
#define F2D_ADD _mm256_add_pd
#define F2D_REDUCE f2d_reduce3
#define F2D_NN_SHAPE(m, nv, mr) \
    ((nv) = (m) <= 4 ? 3 : (m) <= 6 ? 2 : (m) <= 12 ? 1 : 2, (mr) = (m) <= 12 ? (m) : 6)
#define F2D_NN_CASES(X) \
    X(3, 1) X(3, 2) X(3, 3) X(3, 4) X(2, 5) X(2, 6) X(1, 7) X(1, 8) X(1, 9) X(1, 10) X(1, 11) X(1, 12) \
    X(2, 1) X(2, 2) X(2, 3) X(2, 4)
#define F2D_LOADF_FULL(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define F2D_LOADD_FULL(p) _mm256_loadu_pd(p)
#define F2D_STORED_FULL(p, x) _mm256_storeu_pd((p), (x))
#define F2D_NT_R 6
#define F2D_NT_Q 2
#define F2D_NT_ROW(X, R) X(R, 1) X(R, 2)
#include "kernels/cpu/cpu_gemm_f2d.h"

/* the in-register kernels, where they apply (AVX-512 or AVX2 at the quantizers' level,
 * not both operands transposed); 1 when they took the product */
static int f2d(lpt_backend *be, int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
               float *c, int ldc) {
    const int level = lpt_isa_level();
    if (level < LPT_ISA_V3 || (ta && tb)) return 0;
    if (level == LPT_ISA_V4) {
        if (!tb)
            f2d_nn_v4(be, ta, m, n, k, a, lda, b, ldb, c, ldc);
        else
            f2d_nt_v4(be, m, n, k, a, lda, b, ldb, c, ldc);
    } else {
        if (!tb)
            f2d_nn_v3(be, ta, m, n, k, a, lda, b, ldb, c, ldc);
        else
            f2d_nt_v3(be, m, n, k, a, lda, b, ldb, c, ldc);
    }
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
    const int T = nchunks >= 2 * be->workers ? be->workers : 1;
    const size_t mn = (size_t)m * n;
    double *acc = lpt_cpu_scratch(be, (size_t)T * mn * (sizeof(double) + sizeof(float)));
    float *parts = (float *)(void *)(acc + (size_t)T * mn);
#pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
    for (int t = 0; t < T; t++) { /* part t, with its own accumulator, whatever the number of threads */
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
