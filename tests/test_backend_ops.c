/* test_backend_ops.c - every backend operation: the "cpu" backend against the "ref"
 * backend (the specification) on random shapes, odd sizes, strides and padding.
 *
 * Tolerances: operations that move or select data (im2col, layouts, ReLU, pooling,
 * dropout masks, finiteness counts) must match exactly. Reductions in a different
 * order (GEMM through OpenBLAS and split-K, batch-norm sums) are compared by
 * normalized error ||cpu - ref|| / ||ref|| <= 1e-5: for fp32 sums of K terms the
 * rounding error grows like sqrt(K) * 2^-24 ~ 6e-8 * sqrt(K), under 1e-5 for every
 * K used here (<= 5000) with a margin of 20x. The quantization point (quantizer plus
 * the statistics unit's histogram) must match bit for bit, counters included. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "src/base/util.h"
#include "quant/quant.h"
#include "tests/testutil.h"
#include "src/base/isa.h"

#define SUM_TOL 1e-5

static lpt_backend *ref_be, *cpu_be;

static int setup(void **state) {
    (void)state;
    ref_be = lpt_backend_create("ref", 1);
    cpu_be = lpt_backend_create("cpu", 2);
    return ref_be && cpu_be ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lpt_backend_destroy(ref_be);
    lpt_backend_destroy(cpu_be);
    return 0;
}

static void gemm_case(int ta, int tb, int m, int n, int k, float alpha, float beta, uint64_t seed) {
    int lda = ta ? m : k, ldb = tb ? k : n;
    float *a = tu_rand((size_t)m * k, seed, -1, 1), *b = tu_rand((size_t)k * n, seed + 1, -1, 1);
    float *c0 = tu_rand((size_t)m * n, seed + 2, -1, 1);
    float *c1 = lpt_xmalloc((size_t)m * n * sizeof *c1);
    memcpy(c1, c0, (size_t)m * n * sizeof *c1);
    ref_be->gemm(ref_be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, n);
    cpu_be->gemm(cpu_be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c1, n);
    double e = tu_norm_err(c1, c0, (size_t)m * n);
    if (e > SUM_TOL) fail_msg("gemm ta=%d tb=%d m=%d n=%d k=%d: error %g", ta, tb, m, n, k, e);
    free(a);
    free(b);
    free(c0);
    free(c1);
}

static void test_gemm(void **state) {
    (void)state;
    /* shapes hit every path of the cpu kernel: single call, column split, row split,
     * split-K; odd sizes; every transpose; alpha/beta */
    const int shapes[][3] = {{1, 1, 1},    {7, 13, 5},   {33, 65, 129}, {6, 3000, 25},
                             {300, 20, 100}, {6, 25, 5000}, {16, 150, 6400}, {150, 6400, 16},
                             {64, 120, 400}, {3, 5, 4097}};
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            gemm_case(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], s % 2 ? 0.5f : 1.0f,
                      s % 3 == 0 ? 0.25f : 0.0f, seed++ * 10);
}

static lpt_window win(int c, int h, int w, int k, int s, int p) {
    lpt_window g = {.c = c, .h = h, .w = w, .kh = k, .kw = k, .sh = s, .sw = s, .ph = p, .pw = p};
    assert_int_equal(lpt_window_finish(&g), 0);
    return g;
}

static const int k_windows[][6] = {
    /* c, h, w, k, stride, pad */
    {1, 28, 28, 5, 1, 2}, {6, 14, 14, 5, 1, 0}, {3, 7, 9, 3, 2, 1}, {2, 11, 5, 3, 3, 2},
    {4, 6, 6, 1, 1, 0},   {2, 9, 9, 4, 2, 1},   {5, 8, 8, 2, 2, 0}, {3, 13, 13, 3, 2, 1},
};

static void test_im2col_col2im(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_windows / sizeof k_windows[0]; i++) {
        const int *w = k_windows[i];
        lpt_window g = win(w[0], w[1], w[2], w[3], w[4], w[5]);
        int n = 3;
        size_t xs = (size_t)n * g.c * g.h * g.w, cs = (size_t)g.c * g.kh * g.kw * n * g.oh * g.ow;
        float *x = tu_rand(xs, i, -1, 1), *c0 = lpt_xmalloc(cs * 4), *c1 = lpt_xmalloc(cs * 4);
        ref_be->im2col(ref_be, &g, n, x, c0);
        cpu_be->im2col(cpu_be, &g, n, x, c1);
        assert_memory_equal(c0, c1, cs * 4);
        float *col = tu_rand(cs, i + 100, -1, 1), *d0 = lpt_xmalloc(xs * 4), *d1 = lpt_xmalloc(xs * 4);
        ref_be->col2im(ref_be, &g, n, col, d0);
        cpu_be->col2im(cpu_be, &g, n, col, d1);
        /* same summation order per element: exact */
        assert_memory_equal(d0, d1, xs * 4);
        free(x), free(c0), free(c1), free(col), free(d0), free(d1);
    }
}

static void test_im2col_values(void **state) {
    (void)state;
    /* the specification itself, checked by hand on a 1x3x3 image, 2x2 window, pad 1 */
    lpt_window g = win(1, 3, 3, 2, 2, 1);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float col[4 * 4];
    ref_be->im2col(ref_be, &g, 1, x, col);
    /* outputs at (0,0),(0,1),(1,0),(1,1); rows are window offsets (0,0),(0,1),(1,0),(1,1) */
    const float want[16] = {0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 8, 1, 3, 7, 9};
    assert_memory_equal(col, want, sizeof want);
}

static void test_conv_out_and_bias(void **state) {
    (void)state;
    const int cases[][3] = {{1, 1, 1}, {3, 6, 784}, {5, 16, 100}, {2, 7, 13}};
    for (size_t i = 0; i < 4; i++) {
        int n = cases[i][0], oc = cases[i][1], p = cases[i][2];
        size_t sz = (size_t)n * oc * p;
        float *t = tu_rand(sz, i, -1, 1), *b = tu_rand((size_t)oc, i + 1, -1, 1);
        float *y0 = lpt_xmalloc(sz * 4), *y1 = lpt_xmalloc(sz * 4);
        ref_be->conv_out_fwd(ref_be, n, oc, p, t, b, y0);
        cpu_be->conv_out_fwd(cpu_be, n, oc, p, t, b, y1);
        assert_memory_equal(y0, y1, sz * 4);
        float *t0 = lpt_xmalloc(sz * 4), *t1 = lpt_xmalloc(sz * 4);
        float *db0 = lpt_xmalloc((size_t)oc * 4), *db1 = lpt_xmalloc((size_t)oc * 4);
        ref_be->conv_out_bwd(ref_be, n, oc, p, y0, t0, db0);
        cpu_be->conv_out_bwd(cpu_be, n, oc, p, y0, t1, db1);
        assert_memory_equal(t0, t1, sz * 4);
        ref_be->conv_out_fwd(ref_be, n, oc, p, t, NULL, y1);
        ref_be->conv_out_bwd(ref_be, n, oc, p, y1, t1, NULL);
        assert_memory_equal(t1, t, sz * 4); /* the two layouts are inverse */
        assert_true(tu_norm_err(db1, db0, (size_t)oc) < SUM_TOL);
        /* rows */
        int m = n * oc, cols = p;
        float *r0 = tu_rand(sz, i + 2, -1, 1), *r1 = lpt_xmalloc(sz * 4), *bb = tu_rand((size_t)cols, i + 3, -1, 1);
        memcpy(r1, r0, sz * 4);
        ref_be->bias_rows_fwd(ref_be, m, cols, bb, r0);
        cpu_be->bias_rows_fwd(cpu_be, m, cols, bb, r1);
        assert_memory_equal(r0, r1, sz * 4);
        float *s0 = lpt_xmalloc((size_t)cols * 4), *s1 = lpt_xmalloc((size_t)cols * 4);
        ref_be->bias_rows_bwd(ref_be, m, cols, r0, s0);
        cpu_be->bias_rows_bwd(cpu_be, m, cols, r0, s1);
        assert_true(tu_norm_err(s1, s0, (size_t)cols) < SUM_TOL);
        free(t), free(b), free(y0), free(y1), free(t0), free(t1), free(db0), free(db1);
        free(r0), free(r1), free(bb), free(s0), free(s1);
    }
}

static void test_relu(void **state) {
    (void)state;
    const size_t n = 100003; /* odd, above the threading threshold */
    float *x = tu_rand(n, 5, -1, 1), *dy = tu_rand(n, 6, -1, 1);
    x[17] = NAN;
    x[18] = INFINITY;
    x[19] = -INFINITY;
    x[20] = 0.0f;
    float *y0 = lpt_xmalloc(n * 4), *y1 = lpt_xmalloc(n * 4), *d0 = lpt_xmalloc(n * 4), *d1 = lpt_xmalloc(n * 4);
    ref_be->relu_fwd(ref_be, n, x, y0);
    cpu_be->relu_fwd(cpu_be, n, x, y1);
    assert_memory_equal(y0, y1, n * 4);
    assert_true(isnan(y0[17])); /* NaN is never hidden by the activation */
    assert_true(y0[18] == INFINITY && y0[19] == 0.0f && y0[20] == 0.0f);
    ref_be->relu_bwd(ref_be, n, y0, dy, d0);
    cpu_be->relu_bwd(cpu_be, n, y0, dy, d1);
    assert_memory_equal(d0, d1, n * 4);
    free(x), free(dy), free(y0), free(y1), free(d0), free(d1);
}

static void pool_case(const lpt_window *g, int n, int with_nan, int ties, uint64_t seed) {
    size_t xs = (size_t)n * g->c * g->h * g->w, ys = (size_t)n * g->c * g->oh * g->ow;
    float *x = tu_rand(xs, seed, -2, 2);
    if (ties)
        for (size_t i = 0; i < xs; i++) x[i] = floorf(x[i]); /* many equal values */
    if (with_nan) x[xs / 2] = NAN;
    float *y0 = lpt_xmalloc(ys * 4), *y1 = lpt_xmalloc(ys * 4);
    int32_t *i0 = lpt_xmalloc(ys * 4), *i1 = lpt_xmalloc(ys * 4);
    ref_be->maxpool_fwd(ref_be, g, n, x, y0, i0);
    cpu_be->maxpool_fwd(cpu_be, g, n, x, y1, i1);
    assert_memory_equal(i0, i1, ys * 4);
    for (size_t i = 0; i < ys; i++) assert_true(y0[i] == y1[i] || (isnan(y0[i]) && isnan(y1[i])));
    if (with_nan) {
        size_t nans = 0;
        for (size_t i = 0; i < ys; i++) nans += isnan(y0[i]) != 0;
        assert_true(nans >= 1);
    }
    float *dy = tu_rand(ys, seed + 1, -1, 1), *d0 = lpt_xmalloc(xs * 4), *d1 = lpt_xmalloc(xs * 4);
    ref_be->maxpool_bwd(ref_be, g, n, dy, i0, d0);
    cpu_be->maxpool_bwd(cpu_be, g, n, dy, i0, d1);
    assert_memory_equal(d0, d1, xs * 4);
    ref_be->avgpool_fwd(ref_be, g, n, x, y0);
    cpu_be->avgpool_fwd(cpu_be, g, n, x, y1);
    if (!with_nan) assert_memory_equal(y0, y1, ys * 4);
    ref_be->avgpool_bwd(ref_be, g, n, dy, d0);
    cpu_be->avgpool_bwd(cpu_be, g, n, dy, d1);
    assert_memory_equal(d0, d1, xs * 4);
    free(x), free(y0), free(y1), free(i0), free(i1), free(dy), free(d0), free(d1);
}

static void test_pool(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_windows / sizeof k_windows[0]; i++) {
        const int *w = k_windows[i];
        if (2 * w[5] > w[3]) continue; /* pooling needs pad <= k/2 */
        lpt_window g = win(w[0], w[1], w[2], w[3], w[4], w[5]);
        for (int v = 0; v < 3; v++) pool_case(&g, 3, v == 1, v == 2, i * 10 + v);
    }
    lpt_window g = win(6, 28, 28, 2, 2, 0); /* the fast 2x2 path */
    for (int v = 0; v < 3; v++) pool_case(&g, 4, v == 1, v == 2, 500 + v);
}

static void bn_case(int n, int c, int s, uint64_t seed) {
    size_t sz = (size_t)n * c * s;
    float *x = tu_rand(sz, seed, -3, 5), *gam = tu_rand((size_t)c, seed + 1, 0.5f, 1.5f),
          *bet = tu_rand((size_t)c, seed + 2, -1, 1), *dy = tu_rand(sz, seed + 3, -1, 1);
    float *y[2], *mean[2], *is[2], *rm[2], *rv[2], *dx[2], *dg[2], *db[2];
    lpt_backend *bes[2] = {ref_be, cpu_be};
    for (int b = 0; b < 2; b++) {
        y[b] = lpt_xmalloc(sz * 4), dx[b] = lpt_xmalloc(sz * 4);
        mean[b] = lpt_xmalloc((size_t)c * 4), is[b] = lpt_xmalloc((size_t)c * 4);
        rm[b] = tu_rand((size_t)c, 7, 0, 1), rv[b] = tu_rand((size_t)c, 8, 1, 2);
        dg[b] = lpt_xmalloc((size_t)c * 4), db[b] = lpt_xmalloc((size_t)c * 4);
        bes[b]->bn_fwd_train(bes[b], n, c, s, x, gam, bet, 1e-5f, 0.1f, mean[b], is[b], rm[b], rv[b], y[b]);
        bes[b]->bn_bwd(bes[b], n, c, s, x, dy, gam, mean[b], is[b], dx[b], dg[b], db[b]);
    }
    assert_true(tu_norm_err(y[1], y[0], sz) < SUM_TOL);
    assert_true(tu_norm_err(mean[1], mean[0], (size_t)c) < SUM_TOL);
    assert_true(tu_norm_err(is[1], is[0], (size_t)c) < SUM_TOL);
    assert_true(tu_norm_err(rm[1], rm[0], (size_t)c) < SUM_TOL);
    assert_true(tu_norm_err(rv[1], rv[0], (size_t)c) < SUM_TOL);
    /* dx is a difference of sums that nearly cancel: compare against its own scale */
    if (!(tu_norm_err(dx[1], dx[0], sz) < 1e-4)) fail_msg("bn dx n=%d c=%d s=%d: %g", n, c, s, tu_norm_err(dx[1], dx[0], sz));
    assert_true(tu_norm_err(dg[1], dg[0], (size_t)c) < SUM_TOL);
    assert_true(tu_norm_err(db[1], db[0], (size_t)c) < SUM_TOL);
    for (int b = 0; b < 2; b++)
        bes[b]->bn_fwd_eval(bes[b], n, c, s, x, gam, bet, rm[0], rv[0], 1e-5f, y[b]);
    assert_true(tu_norm_err(y[1], y[0], sz) < SUM_TOL);
    for (int b = 0; b < 2; b++) free(y[b]), free(dx[b]), free(mean[b]), free(is[b]), free(rm[b]), free(rv[b]), free(dg[b]), free(db[b]);
    free(x), free(gam), free(bet), free(dy);
}

static void test_batchnorm(void **state) {
    (void)state;
    bn_case(4, 3, 49, 1);   /* 2-D */
    bn_case(64, 32, 196, 2); /* VGG-sized */
    bn_case(17, 10, 1, 3);  /* 1-D, odd batch */
    bn_case(3, 5, 1, 4); /* (with 2 items dx is exactly 0 and only rounding noise is left) */
}

static void test_dropout_mul(void **state) {
    (void)state;
    const size_t n = 70001;
    float *x = tu_rand(n, 9, -1, 1);
    float *m0 = lpt_xmalloc(n * 4), *m1 = lpt_xmalloc(n * 4), *y0 = lpt_xmalloc(n * 4), *y1 = lpt_xmalloc(n * 4);
    lpt_rng_key key = {.seed = 3, .stream = 77, .step = 12};
    ref_be->dropout_fwd(ref_be, n, 0.3f, key, x, m0, y0);
    cpu_be->dropout_fwd(cpu_be, n, 0.3f, key, x, m1, y1);
    assert_memory_equal(m0, m1, n * 4);
    assert_memory_equal(y0, y1, n * 4);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) kept += m0[i] != 0.0f;
    /* binomial(n, 0.7): mean 49000.7, sd 121; 6 sd bounds fail with p < 1e-8 */
    assert_true(kept > 49000 - 6 * 122 && kept < 49001 + 6 * 122);
    key.step = 13; /* another step draws another mask */
    cpu_be->dropout_fwd(cpu_be, n, 0.3f, key, x, m1, y1);
    assert_true(memcmp(m0, m1, n * 4) != 0);
    ref_be->mul(ref_be, n, x, m0, y0);
    cpu_be->mul(cpu_be, n, x, m0, y1);
    assert_memory_equal(y0, y1, n * 4);
    free(x), free(m0), free(m1), free(y0), free(y1);
}

/* a count into a result slot, read back */
static long count(lpt_backend *be, void (*fn)(lpt_backend *, size_t, const float *, double *), size_t n,
                  const float *x) {
    double acc = 0;
    fn(be, n, x, &acc);
    return (long)acc;
}

static void test_xent(void **state) {
    (void)state;
    const int n = 13, k = 10;
    float *z = tu_rand((size_t)n * k, 11, -20, 20);
    int32_t lab[13];
    for (int i = 0; i < n; i++) lab[i] = (i * 7) % k;
    float p0[130], p1[130], d0[130], d1[130];
    double r0[2], r1[2];
    ref_be->xent_fwd(ref_be, n, k, z, lab, p0, r0);
    cpu_be->xent_fwd(cpu_be, n, k, z, lab, p1, r1);
    const double l0 = r0[0], l1 = r1[0];
    const int c0 = (int)r0[1], c1 = (int)r1[1];
    assert_true(fabs(l0 - l1) <= 1e-6 * fabs(l0));
    assert_int_equal(c0, c1);
    /* the loss against a direct double-precision computation */
    double want = 0;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        double mx = -1e30, s = 0;
        int arg = 0;
        for (int j = 0; j < k; j++)
            if (z[i * k + j] > mx) mx = z[i * k + j], arg = j;
        for (int j = 0; j < k; j++) s += exp(z[i * k + j] - mx);
        want += -(z[i * k + lab[i]] - mx - log(s));
        ok += arg == lab[i];
    }
    assert_true(fabs(l0 - want) < 1e-9 * fabs(want) + 1e-9);
    assert_int_equal(c0, ok);
    ref_be->xent_bwd(ref_be, n, k, p0, lab, 0.5f, d0);
    cpu_be->xent_bwd(cpu_be, n, k, p1, lab, 0.5f, d1);
    assert_true(tu_norm_err(d1, d0, (size_t)n * k) < SUM_TOL);
    free(z);
}

static void test_sgd_fill_nonfinite(void **state) {
    (void)state;
    const size_t n = 50011;
    float *w0 = tu_rand(n, 12, -1, 1), *g = tu_rand(n, 13, -1, 1), *m0 = tu_rand(n, 14, -1, 1);
    float *w1 = lpt_xmalloc(n * 4), *m1 = lpt_xmalloc(n * 4);
    memcpy(w1, w0, n * 4);
    memcpy(m1, m0, n * 4);
    for (int s = 0; s < 3; s++) {
        ref_be->sgd_step(ref_be, n, 0.1f, 0.9f, 5e-4f, w0, g, m0);
        cpu_be->sgd_step(cpu_be, n, 0.1f, 0.9f, 5e-4f, w1, g, m1);
    }
    assert_true(tu_norm_err(w1, w0, n) < 1e-6);
    assert_true(tu_norm_err(m1, m0, n) < 1e-6);
    /* one step by hand: m = 0.9 m + g + wd w; w -= lr m */
    float w = 0.5f, m = 0.25f, gg = -1.0f;
    ref_be->sgd_step(ref_be, 1, 0.1f, 0.9f, 0.01f, &w, &gg, &m);
    assert_true(fabsf(m - (0.9f * 0.25f - 1.0f + 0.005f)) < 1e-6f);
    assert_true(fabsf(w - (0.5f - 0.1f * m)) < 1e-6f);
    cpu_be->fill(cpu_be, n, w1, 2.5f);
    for (size_t i = 0; i < n; i++) assert_true(w1[i] == 2.5f);
    assert_int_equal(count(ref_be, ref_be->count_nonfinite, n, w1), 0);
    w1[0] = NAN, w1[n / 2] = INFINITY, w1[n - 1] = -INFINITY, w1[7] = 3e38f;
    assert_int_equal(count(ref_be, ref_be->count_nonfinite, n, w1), 3);
    assert_int_equal(count(cpu_be, cpu_be->count_nonfinite, n, w1), 3);
    /* nonzero counts: -0 is zero, NaN and Inf are not */
    cpu_be->fill(cpu_be, n, w1, 0.0f);
    assert_int_equal(count(ref_be, ref_be->count_nonzero, n, w1), 0);
    assert_int_equal(count(cpu_be, cpu_be->count_nonzero, n, w1), 0);
    w1[0] = -0.0f, w1[1] = NAN, w1[n / 2] = -INFINITY, w1[n - 1] = 1e-45f, w1[9] = -2.0f;
    assert_int_equal(count(ref_be, ref_be->count_nonzero, n, w1), 4);
    assert_int_equal(count(cpu_be, cpu_be->count_nonzero, n, w1), 4);
    free(w0), free(g), free(m0), free(w1), free(m1);
}

/* gemm_exact on dfp grid values (codes times 2^-FL): every partial sum is exact, so each
 * way the cpu backend takes (float GEMM, float chunks summed in double, the AVX-512
 * kernels that widen in registers, the portable tiled double GEMM; one and two threads,
 * with their column, row and split-K splits) equals the reference bit for bit. The
 * shapes reach every register-tile class of the kernels (rows up to 6, 12, 24 and more,
 * with ragged ends), reductions in several chunks and with tails, and ragged columns. */
static void test_gemm_exact(void **state) {
    (void)state;
    const int shapes[][3] = {{16, 6400, 150}, {150, 6400, 16}, {16, 150, 6400}, {6, 9, 50000}, {7, 5, 3},
                             {64, 120, 400},  {200, 20, 300},  {1, 1, 1},       {3, 4, 0},    {13, 37, 2500},
                             {24, 100, 1100}, {9, 33, 77},     {30, 3, 4099}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const char *levels[] = {"x86-64-v4", "base"};
    lpt_backend *cpu1 = lpt_backend_create("cpu", 1), *bes[] = {cpu_be, cpu1};
    for (int lv = 0; lv < 2; lv++) {
        if (lpt_isa_set(levels[lv]) != 0) {
            print_message("gemm_exact: this CPU lacks %s, its kernels are not tested here\n", levels[lv]);
            continue;
        }
        for (int si = 0; si < nshapes; si++)
            for (int t = 0; t < 4; t++) {
                const int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2], ta = t & 1, tb = t >> 1;
                const int lda = ta ? m : k, ldb = tb ? k : n;
                const size_t an = (size_t)m * (k ? k : 1), bn = (size_t)(k ? k : 1) * n;
                const int widths[][2] = {{16, 16}, {8, 8}, {8, 6}, {4, 4}, {12, 8}};
                for (int wi = 0; wi < 5; wi++) {
                    const int wa = widths[wi][0], wb = widths[wi][1];
                    float *a = tu_rand(an, 60 + (uint64_t)si, -ldexpf(1, wa - 1), ldexpf(1, wa - 1));
                    float *b = tu_rand(bn, 70 + (uint64_t)si, -ldexpf(1, wb - 1), ldexpf(1, wb - 1));
                    for (size_t i = 0; i < an; i++) a[i] = ldexpf(floorf(a[i]), -13);
                    for (size_t i = 0; i < bn; i++) b[i] = ldexpf(floorf(b[i]), -20);
                    float *c0 = lpt_xmalloc((size_t)m * n * 4), *c1 = lpt_xmalloc((size_t)m * n * 4);
                    ref_be->gemm_exact(ref_be, wa, wb, ta, tb, m, n, k, a, lda, b, ldb, c0, n);
                    for (int bi = 0; bi < 2; bi++) {
                        memset(c1, 0xff, (size_t)m * n * 4);
                        bes[bi]->gemm_exact(bes[bi], wa, wb, ta, tb, m, n, k, a, lda, b, ldb, c1, n);
                        if (memcmp(c0, c1, (size_t)m * n * 4))
                            fail_msg("gemm_exact dfp%d x dfp%d m=%d n=%d k=%d ta=%d tb=%d (%s, %d threads) differs "
                                     "from the reference",
                                     wa, wb, m, n, k, ta, tb, levels[lv], bes[bi]->threads);
                    }
                    free(a), free(b), free(c0), free(c1);
                }
            }
    }
    lpt_isa_set("best");
    lpt_backend_destroy(cpu1);
}

/* quant_observe: values, quantizer counters and histograms equal, for sizes that use one
 * block, several, and the threaded split (with a ragged end), in place and not */
static void test_quant_observe(void **state) {
    (void)state;
    const char *specs[] = {"dfp8", "dfp8:sr", "dfp16:rtz:wrap", "dfp4", "fp16", "bf16:sr", "fp8-e4m3", "fp32", NULL};
    const size_t sizes[] = {1, 4095, 4097, 3 * 65536 + 77};
    lpt_backend *cpu1 = lpt_backend_create("cpu", 1);
    for (int f = 0; specs[f]; f++) {
        lpt_qformat q;
        assert_int_equal(lpt_qformat_parse(specs[f], &q), 0);
        for (int z = 0; z < 4; z++) {
            const size_t n = sizes[z];
            float *x = tu_rand(n, 40 + (uint64_t)z, -3, 3);
            for (size_t i = 0; i < n; i += 13) x[i] = 0.0f;     /* zeros, as after ReLU */
            for (size_t i = 5; i < n; i += 101) x[i] *= 1e-30f; /* tiny, some subnormal */
            for (size_t i = 9; i < n; i += 1009) x[i] = i % 2 ? NAN : -INFINITY;
            for (size_t i = 3; i < n; i += 211) x[i] *= 300.0f; /* overflow at FL 5 for dfp8 */
            const lpt_sr_key key = {.seed = 3, .tensor = 7, .step = 11, .index0 = 0};
            const int fl = 5;
            float *y0 = lpt_xmalloc(n * 4), *y1 = lpt_xmalloc(n * 4), *y2 = lpt_xmalloc(n * 4);
            lpt_qstats s0 = {0}, s1 = {0}, s2 = {0};
            lpt_msb_hist h0, h1, h2;
            lpt_msb_hist_clear(&h0), lpt_msb_hist_clear(&h1), lpt_msb_hist_clear(&h2);
            ref_be->quant_observe(ref_be, &q, fl, &key, n, x, y0, &s0, &h0);
            cpu_be->quant_observe(cpu_be, &q, fl, &key, n, x, y1, &s1, &h1);
            memcpy(y2, x, n * 4); /* in place, one thread */
            cpu1->quant_observe(cpu1, &q, fl, &key, n, y2, y2, &s2, &h2);
            if (memcmp(y0, y1, n * 4) || memcmp(y0, y2, n * 4))
                fail_msg("%s n=%zu: quantized values differ from the reference", specs[f], n);
            assert_memory_equal(&s0, &s1, sizeof s0);
            assert_memory_equal(&s0, &s2, sizeof s0);
            assert_memory_equal(&h0, &h1, sizeof h0);
            assert_memory_equal(&h0, &h2, sizeof h0);
            if (q.fmt == LPT_FMT_DFP && q.width == 8 && q.round == LPT_ROUND_RNE && n > 4096)
                assert_true(s0.saturated > 0 && s0.nonfinite > 0 && h0.zeros > 0);
            /* without a histogram: the same values */
            cpu_be->quant_observe(cpu_be, &q, fl, &key, n, x, y1, &s1, NULL);
            assert_memory_equal(y0, y1, n * 4);
            free(x), free(y0), free(y1), free(y2);
        }
    }
    lpt_backend_destroy(cpu1);
}

static void test_supports(void **state) {
    (void)state;
    for (int op = 0; op < LPT_OP_COUNT; op++) {
        int want = op != LPT_OP_IGEMM; /* integer GEMM is for dfp codes */
        assert_int_equal(ref_be->supports(ref_be, (lpt_op)op, LPT_FMT_FP32), want);
        assert_int_equal(cpu_be->supports(cpu_be, (lpt_op)op, LPT_FMT_FP32), want);
    }
    assert_true(cpu_be->supports(cpu_be, LPT_OP_IGEMM, LPT_FMT_DFP));
    assert_false(cpu_be->supports(cpu_be, LPT_OP_GEMM, LPT_FMT_DFP));
    assert_null(lpt_backend_create("tpu", 1));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),          cmocka_unit_test(test_im2col_values),
        cmocka_unit_test(test_im2col_col2im), cmocka_unit_test(test_conv_out_and_bias),
        cmocka_unit_test(test_relu),          cmocka_unit_test(test_pool),
        cmocka_unit_test(test_batchnorm),     cmocka_unit_test(test_dropout_mul),
        cmocka_unit_test(test_xent),          cmocka_unit_test(test_sgd_fill_nonfinite),
        cmocka_unit_test(test_gemm_exact),      cmocka_unit_test(test_quant_observe),
        cmocka_unit_test(test_supports),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
