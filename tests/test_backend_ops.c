/* test_backend_ops.c - every operation of every registered backend against the "ref"
 * backend (the specification) on random shapes, odd sizes, strides and padding. The
 * backends under test get their data through their own memory (alloc, to_device,
 * to_host), so a device backend is tested by registering it; one that cannot start here
 * (no device) is skipped with a message.
 *
 * Tolerances: operations that move or select data (im2col, layouts, ReLU, pooling,
 * dropout masks, finiteness counts) must match exactly. Reductions in a different
 * order (GEMM through OpenBLAS and split-K, batch-norm sums) are compared by
 * normalized error ||be - ref|| / ||ref|| <= 1e-5: for fp32 sums of K terms the
 * rounding error grows like sqrt(K) * 2^-24 ~ 6e-8 * sqrt(K), under 1e-5 for every
 * K used here (<= 5000) with a margin of 20x. The quantization point and the exact
 * products are in test_backend_dfp.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "quant/quant.h"
#include "src/base/isa.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "src/data.h"
#include "tests/testutil.h"

#define SUM_TOL 1e-5
static void gemm_case(int ta, int tb, int m, int n, int k, float alpha, float beta, uint64_t seed) {
    int lda = ta ? m : k, ldb = tb ? k : n;
    const size_t cs = (size_t)m * n * sizeof(float);
    float *a = tu_rand((size_t)m * k, seed, -1, 1), *b = tu_rand((size_t)k * n, seed + 1, -1, 1);
    float *c0 = tu_rand((size_t)m * n, seed + 2, -1, 1);
    float *c1 = lpt_xmalloc(cs);
    memcpy(c1, c0, cs);
    tu_ref->gemm(tu_ref, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, n);
    TU_EACH_BACKEND(be, d) {
        float *dc = tu_din(&d, c1, cs), *out = lpt_xmalloc(cs);
        be->gemm(be, ta, tb, m, n, k, alpha, tu_din(&d, a, (size_t)m * k * 4), lda, tu_din(&d, b, (size_t)k * n * 4), ldb,
                 beta, dc, n);
        tu_dget(&d, out, dc, cs);
        double e = tu_norm_err(out, c0, (size_t)m * n);
        tu_note(be->name, "gemm", e);
        if (e > SUM_TOL) fail_msg("%s gemm ta=%d tb=%d m=%d n=%d k=%d: error %g", be->name, ta, tb, m, n, k, e);
        free(out);
    }
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
        float *col = tu_rand(cs, i + 100, -1, 1), *d0 = lpt_xmalloc(xs * 4), *d1 = lpt_xmalloc(xs * 4);
        tu_ref->im2col(tu_ref, &g, n, x, c0);
        tu_ref->col2im(tu_ref, &g, n, col, d0);
        TU_EACH_BACKEND(be, d) {
            float *dc = tu_dnew(&d, cs * 4), *dd = tu_dnew(&d, xs * 4);
            be->im2col(be, &g, n, tu_din(&d, x, xs * 4), dc);
            tu_dget(&d, c1, dc, cs * 4);
            TU_SAME(be, "im2col", c0, c1, cs * 4);
            be->col2im(be, &g, n, tu_din(&d, col, cs * 4), dd);
            tu_dget(&d, d1, dd, xs * 4);
            TU_SAME(be, "col2im", d0, d1, xs * 4); /* same summation order per element: exact */
        }
        free(x), free(c0), free(c1), free(col), free(d0), free(d1);
    }
}

static void test_im2col_values(void **state) {
    (void)state;
    /* the specification itself, checked by hand on a 1x3x3 image, 2x2 window, pad 1 */
    lpt_window g = win(1, 3, 3, 2, 2, 1);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float col[4 * 4];
    tu_ref->im2col(tu_ref, &g, 1, x, col);
    /* outputs at (0,0),(0,1),(1,0),(1,1); rows are window offsets (0,0),(0,1),(1,0),(1,1) */
    const float want[16] = {0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 8, 1, 3, 7, 9};
    assert_memory_equal(col, want, sizeof want);
}

/* one backend against the reference outputs y0 (conv layout), t0/db0 (back), r0/s0 (rows) */
static void conv_out_case(lpt_backend *be, tu_dev *d, int n, int oc, int p, const float *t, const float *b,
                          const float *y0, const float *t0, const float *db0, const float *r_in, const float *bb,
                          const float *r0, const float *s0) {
    const size_t sz = (size_t)n * oc * p;
    float *y1 = lpt_xmalloc(sz * 4), *t1 = lpt_xmalloc(sz * 4), *db1 = lpt_xmalloc((size_t)oc * 4);
    float *dy = tu_dnew(d, sz * 4), *dt = tu_dnew(d, sz * 4), *ddb = tu_dnew(d, (size_t)oc * 4);
    be->conv_out_fwd(be, n, oc, p, tu_din(d, t, sz * 4), tu_din(d, b, (size_t)oc * 4), dy);
    tu_dget(d, y1, dy, sz * 4);
    TU_SAME(be, "conv_out_fwd", y0, y1, sz * 4);
    be->conv_out_bwd(be, n, oc, p, tu_din(d, y0, sz * 4), dt, ddb);
    tu_dget(d, t1, dt, sz * 4);
    tu_dget(d, db1, ddb, (size_t)oc * 4);
    TU_SAME(be, "conv_out_bwd", t0, t1, sz * 4);
    tu_note(be->name, "conv_out_bwd (bias sums)", tu_norm_err(db1, db0, (size_t)oc));
    assert_true(tu_norm_err(db1, db0, (size_t)oc) < SUM_TOL);
    const int m = n * oc, cols = p;
    float *dr = tu_din(d, r_in, sz * 4), *ds = tu_dnew(d, (size_t)cols * 4);
    be->bias_rows_fwd(be, m, cols, tu_din(d, bb, (size_t)cols * 4), dr);
    tu_dget(d, y1, dr, sz * 4);
    TU_SAME(be, "bias_rows_fwd", r0, y1, sz * 4);
    be->bias_rows_bwd(be, m, cols, dr, ds);
    float *s1 = lpt_xmalloc((size_t)cols * 4);
    tu_dget(d, s1, ds, (size_t)cols * 4);
    tu_note(be->name, "bias_rows_bwd", tu_norm_err(s1, s0, (size_t)cols));
    assert_true(tu_norm_err(s1, s0, (size_t)cols) < SUM_TOL);
    free(y1), free(t1), free(db1), free(s1);
}

static void test_conv_out_and_bias(void **state) {
    (void)state;
    const int cases[][3] = {{1, 1, 1}, {3, 6, 784}, {5, 16, 100}, {2, 7, 13}};
    for (size_t i = 0; i < 4; i++) {
        int n = cases[i][0], oc = cases[i][1], p = cases[i][2];
        size_t sz = (size_t)n * oc * p;
        float *t = tu_rand(sz, i, -1, 1), *b = tu_rand((size_t)oc, i + 1, -1, 1);
        float *y0 = lpt_xmalloc(sz * 4), *t0 = lpt_xmalloc(sz * 4), *db0 = lpt_xmalloc((size_t)oc * 4);
        tu_ref->conv_out_fwd(tu_ref, n, oc, p, t, b, y0);
        tu_ref->conv_out_bwd(tu_ref, n, oc, p, y0, t0, db0);
        float *y1 = lpt_xmalloc(sz * 4), *t1 = lpt_xmalloc(sz * 4);
        tu_ref->conv_out_fwd(tu_ref, n, oc, p, t, NULL, y1);
        tu_ref->conv_out_bwd(tu_ref, n, oc, p, y1, t1, NULL);
        assert_memory_equal(t1, t, sz * 4); /* the two layouts are inverse */
        int m = n * oc, cols = p;
        float *r_in = tu_rand(sz, i + 2, -1, 1), *r0 = lpt_xmalloc(sz * 4), *bb = tu_rand((size_t)cols, i + 3, -1, 1);
        float *s0 = lpt_xmalloc((size_t)cols * 4);
        memcpy(r0, r_in, sz * 4);
        tu_ref->bias_rows_fwd(tu_ref, m, cols, bb, r0);
        tu_ref->bias_rows_bwd(tu_ref, m, cols, r0, s0);
        TU_EACH_BACKEND(be, d) conv_out_case(be, &d, n, oc, p, t, b, y0, t0, db0, r_in, bb, r0, s0);
        free(t), free(b), free(y0), free(y1), free(t0), free(t1), free(db0);
        free(r_in), free(r0), free(bb), free(s0);
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
    tu_ref->relu_fwd(tu_ref, n, x, y0);
    assert_true(isnan(y0[17])); /* NaN is never hidden by the activation */
    assert_true(y0[18] == INFINITY && y0[19] == 0.0f && y0[20] == 0.0f);
    tu_ref->relu_bwd(tu_ref, n, y0, dy, d0);
    TU_EACH_BACKEND(be, d) {
        float *dev_y = tu_dnew(&d, n * 4), *dev_d = tu_dnew(&d, n * 4);
        be->relu_fwd(be, n, tu_din(&d, x, n * 4), dev_y);
        tu_dget(&d, y1, dev_y, n * 4);
        assert_memory_equal(y0, y1, n * 4);
        be->relu_bwd(be, n, dev_y, tu_din(&d, dy, n * 4), dev_d);
        tu_dget(&d, d1, dev_d, n * 4);
        assert_memory_equal(d0, d1, n * 4);
    }
    free(x), free(dy), free(y0), free(y1), free(d0), free(d1);
}

static void pool_case(const lpt_window *g, int n, int with_nan, int ties, uint64_t seed) {
    size_t xs = (size_t)n * g->c * g->h * g->w, ys = (size_t)n * g->c * g->oh * g->ow;
    float *x = tu_rand(xs, seed, -2, 2);
    if (ties)
        for (size_t i = 0; i < xs; i++) x[i] = floorf(x[i]); /* many equal values */
    if (with_nan) x[xs / 2] = NAN;
    float *y0 = lpt_xmalloc(ys * 4), *y1 = lpt_xmalloc(ys * 4), *a0 = lpt_xmalloc(ys * 4);
    int32_t *i0 = lpt_xmalloc(ys * 4), *i1 = lpt_xmalloc(ys * 4);
    float *dy = tu_rand(ys, seed + 1, -1, 1), *d0 = lpt_xmalloc(xs * 4), *d1 = lpt_xmalloc(xs * 4);
    float *ad0 = lpt_xmalloc(xs * 4);
    tu_ref->maxpool_fwd(tu_ref, g, n, x, y0, i0);
    if (with_nan) {
        size_t nans = 0;
        for (size_t i = 0; i < ys; i++) nans += isnan(y0[i]) != 0;
        assert_true(nans >= 1);
    }
    tu_ref->maxpool_bwd(tu_ref, g, n, dy, i0, d0);
    tu_ref->avgpool_fwd(tu_ref, g, n, x, a0);
    tu_ref->avgpool_bwd(tu_ref, g, n, dy, ad0);
    TU_EACH_BACKEND(be, d) {
        float *dx = tu_din(&d, x, xs * 4), *dyv = tu_din(&d, dy, ys * 4), *out = tu_dnew(&d, ys * 4), *dd = tu_dnew(&d, xs * 4);
        int32_t *di = tu_dnew(&d, ys * 4);
        be->maxpool_fwd(be, g, n, dx, out, di);
        tu_dget(&d, i1, di, ys * 4);
        tu_dget(&d, y1, out, ys * 4);
        TU_SAME(be, "maxpool_fwd (argmax)", i0, i1, ys * 4);
        for (size_t i = 0; i < ys; i++) assert_true(y0[i] == y1[i] || (isnan(y0[i]) && isnan(y1[i])));
        be->maxpool_bwd(be, g, n, dyv, tu_din(&d, i0, ys * 4), dd);
        tu_dget(&d, d1, dd, xs * 4);
        TU_SAME(be, "maxpool_bwd", d0, d1, xs * 4);
        be->avgpool_fwd(be, g, n, dx, out);
        tu_dget(&d, y1, out, ys * 4);
        if (!with_nan) TU_SAME(be, "avgpool_fwd", a0, y1, ys * 4);
        be->avgpool_bwd(be, g, n, dyv, dd);
        tu_dget(&d, d1, dd, xs * 4);
        TU_SAME(be, "avgpool_bwd", ad0, d1, xs * 4);
    }
    free(x), free(y0), free(y1), free(a0), free(i0), free(i1), free(dy), free(d0), free(d1), free(ad0);
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
    g = win(2, 7, 271, 2, 2, 0); /* its chunks of 64 output columns with a tail; odd sizes */
    for (int v = 0; v < 3; v++) pool_case(&g, 2, v == 1, v == 2, 600 + v);
}

/* batch-norm outputs of one backend: y, mean, invstd, running mean/var, dx, dgamma, dbeta, eval y */
typedef struct {
    float *v[9];
} bn_out;

static void bn_run(lpt_backend *be, tu_dev *d, int n, int c, int s, const float *x, const float *gam, const float *bet,
                   const float *dy, bn_out *o) {
    const size_t sz = (size_t)n * c * s, cb = (size_t)c * 4, sizes[9] = {sz * 4, cb, cb, cb, cb, sz * 4, cb, cb, sz * 4};
    float *rm = tu_rand((size_t)c, 7, 0, 1), *rv = tu_rand((size_t)c, 8, 1, 2), *dv[9];
    for (int i = 0; i < 9; i++) dv[i] = i == 3 ? tu_din(d, rm, cb) : i == 4 ? tu_din(d, rv, cb) : tu_dnew(d, sizes[i]);
    float *dxv = tu_din(d, x, sz * 4), *dg = tu_din(d, gam, cb), *db = tu_din(d, bet, cb);
    be->bn_fwd_train(be, n, c, s, dxv, dg, db, 1e-5f, 0.1f, dv[1], dv[2], dv[3], dv[4], dv[0]);
    be->bn_bwd(be, n, c, s, dxv, tu_din(d, dy, sz * 4), dg, dv[1], dv[2], dv[5], dv[6], dv[7]);
    be->bn_fwd_eval(be, n, c, s, dxv, dg, db, dv[3], dv[4], 1e-5f, dv[8]);
    for (int i = 0; i < 9; i++) {
        o->v[i] = lpt_xmalloc(sizes[i]);
        tu_dget(d, o->v[i], dv[i], sizes[i]);
    }
    free(rm), free(rv);
}

static void bn_case(int n, int c, int s, uint64_t seed) {
    size_t sz = (size_t)n * c * s;
    float *x = tu_rand(sz, seed, -3, 5), *gam = tu_rand((size_t)c, seed + 1, 0.5f, 1.5f),
          *bet = tu_rand((size_t)c, seed + 2, -1, 1), *dy = tu_rand(sz, seed + 3, -1, 1);
    static const char *const what[9] = {"y", "mean", "invstd", "running mean", "running var", "dx", "dgamma", "dbeta",
                                        "eval y"};
    tu_dev rd = {.be = tu_ref};
    bn_out want;
    bn_run(tu_ref, &rd, n, c, s, x, gam, bet, dy, &want);
    tu_dfree(&rd);
    TU_EACH_BACKEND(be, d) {
        bn_out got;
        bn_run(be, &d, n, c, s, x, gam, bet, dy, &got);
        for (int i = 0; i < 9; i++) {
            const size_t cnt = i == 0 || i == 5 || i == 8 ? sz : (size_t)c;
            /* dx is a difference of sums that nearly cancel: compared against its own scale */
            const double e = tu_norm_err(got.v[i], want.v[i], cnt), tol = i == 5 ? 1e-4 : SUM_TOL;
            char op[48];
            snprintf(op, sizeof op, "batchnorm %s", what[i]);
            tu_note(be->name, op, e);
            if (!(e < tol)) fail_msg("%s bn %s n=%d c=%d s=%d: error %g", be->name, what[i], n, c, s, e);
            free(got.v[i]);
        }
    }
    for (int i = 0; i < 9; i++) free(want.v[i]);
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
    tu_ref->dropout_fwd(tu_ref, n, 0.3f, key, x, m0, y0);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) kept += m0[i] != 0.0f;
    /* binomial(n, 0.7): mean 49000.7, sd 121; 6 sd bounds fail with p < 1e-8 */
    assert_true(kept > 49000 - 6 * 122 && kept < 49001 + 6 * 122);
    TU_EACH_BACKEND(be, d) {
        float *dx = tu_din(&d, x, n * 4), *dm = tu_dnew(&d, n * 4), *dy = tu_dnew(&d, n * 4);
        be->dropout_fwd(be, n, 0.3f, key, dx, dm, dy);
        tu_dget(&d, m1, dm, n * 4);
        tu_dget(&d, y1, dy, n * 4);
        TU_SAME(be, "dropout_fwd (mask)", m0, m1, n * 4);
        TU_SAME(be, "dropout_fwd", y0, y1, n * 4);
        lpt_rng_key other = key;
        other.step = 13; /* another step draws another mask */
        be->dropout_fwd(be, n, 0.3f, other, dx, dm, dy);
        tu_dget(&d, m1, dm, n * 4);
        assert_true(memcmp(m0, m1, n * 4) != 0);
        be->mul(be, n, dx, tu_din(&d, m0, n * 4), dy);
        tu_dget(&d, y1, dy, n * 4);
        tu_ref->mul(tu_ref, n, x, m0, y0);
        assert_memory_equal(y0, y1, n * 4);
    }
    free(x), free(m0), free(m1), free(y0), free(y1);
}

/* a count into a result slot of the backend, read back */
static long count(lpt_backend *be, tu_dev *d, void (*fn)(lpt_backend *, size_t, const float *, double *), size_t n,
                  const float *x) {
    const double zero = 0;
    double *acc = tu_din(d, &zero, sizeof zero), got;
    fn(be, n, tu_din(d, x, n * 4), acc);
    tu_dget(d, &got, acc, sizeof got);
    return (long)got;
}

static void test_xent(void **state) {
    (void)state;
    const int n = 13, k = 10;
    float *z = tu_rand((size_t)n * k, 11, -20, 20);
    int32_t lab[13];
    for (int i = 0; i < n; i++) lab[i] = (i * 7) % k;
    float p0[130], p1[130], d0[130], d1[130];
    double r0[2] = {0, 0}, r1[2];
    tu_ref->xent_fwd(tu_ref, n, k, z, lab, p0, r0);
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
    assert_true(fabs(r0[0] - want) < 1e-9 * fabs(want) + 1e-9);
    assert_int_equal((int)r0[1], ok);
    tu_ref->xent_bwd(tu_ref, n, k, p0, lab, 0.5f, NULL, d0);
    const double zero2[2] = {0, 0};
    const float s8 = 8.0f;
    TU_EACH_BACKEND(be, d) {
        float *dp = tu_dnew(&d, sizeof p1), *dd = tu_dnew(&d, sizeof d1);
        int32_t *dl = tu_din(&d, lab, sizeof lab);
        double *dr = tu_din(&d, zero2, sizeof r1);
        float *dz = tu_din(&d, z, sizeof p1);
        be->xent_fwd(be, n, k, dz, dl, dp, dr);
        tu_dget(&d, r1, dr, sizeof r1);
        tu_dget(&d, p1, dp, sizeof p1);
        tu_note(be->name, "xent_fwd (loss)", fabs(r0[0] - r1[0]) / fabs(r0[0]));
        tu_note(be->name, "xent_fwd (softmax)", tu_norm_err(p1, p0, sizeof p1 / 4));
        assert_true(fabs(r0[0] - r1[0]) <= 1e-6 * fabs(r0[0]));
        assert_int_equal((int)r0[1], (int)r1[1]);
        be->xent_bwd(be, n, k, dp, dl, 0.5f, NULL, dd);
        tu_dget(&d, d1, dd, sizeof d1);
        tu_note(be->name, "xent_bwd", tu_norm_err(d1, d0, (size_t)n * k));
        assert_true(tu_norm_err(d1, d0, (size_t)n * k) < SUM_TOL);
        /* a second batch adds to the sums; a scale in backend memory multiplies */
        be->xent_fwd(be, n, k, dz, dl, dp, dr);
        double r2[2];
        tu_dget(&d, r2, dr, sizeof r2);
        assert_true(fabs(r2[0] - 2 * r1[0]) <= 1e-12 * fabs(r1[0]) && r2[1] == 2 * r1[1]);
        be->xent_bwd(be, n, k, dp, dl, 0.5f / 8, tu_din(&d, &s8, sizeof s8), dd);
        float d2[130];
        tu_dget(&d, d2, dd, sizeof d2);
        assert_memory_equal(d2, d1, sizeof d1); /* (1/16) * 8 = 1/2 exactly */
    }
    free(z);
}

static void test_sgd_fill_nonfinite(void **state) {
    (void)state;
    const size_t n = 50011;
    float *w0 = tu_rand(n, 12, -1, 1), *g = tu_rand(n, 13, -1, 1), *m0 = tu_rand(n, 14, -1, 1);
    float *w1 = lpt_xmalloc(n * 4), *m1 = lpt_xmalloc(n * 4), *wi = lpt_xmalloc(n * 4), *mi = lpt_xmalloc(n * 4);
    memcpy(wi, w0, n * 4);
    memcpy(mi, m0, n * 4);
    for (int s = 0; s < 3; s++) tu_ref->sgd_step(tu_ref, n, 0.1f, 0.9f, 5e-4f, w0, g, m0, NULL, NULL);
    /* one step by hand: m = 0.9 m + g + wd w; w -= lr m */
    float w = 0.5f, m = 0.25f, gg = -1.0f;
    tu_ref->sgd_step(tu_ref, 1, 0.1f, 0.9f, 0.01f, &w, &gg, &m, NULL, NULL);
    assert_true(fabsf(m - (0.9f * 0.25f - 1.0f + 0.005f)) < 1e-6f);
    assert_true(fabsf(w - (0.5f - 0.1f * m)) < 1e-6f);
    tu_dev rd = {.be = tu_ref};
    float *h = lpt_xmalloc(n * 4);
    memset(h, 0, n * 4);
    h[0] = NAN, h[n / 2] = INFINITY, h[n - 1] = -INFINITY, h[7] = 3e38f;
    assert_int_equal(count(tu_ref, &rd, tu_ref->count_nonfinite, n, h), 3);
    TU_EACH_BACKEND(be, d) {
        float *dw = tu_din(&d, wi, n * 4), *dm = tu_din(&d, mi, n * 4), *dg = tu_din(&d, g, n * 4);
        for (int s = 0; s < 3; s++) be->sgd_step(be, n, 0.1f, 0.9f, 5e-4f, dw, dg, dm, NULL, NULL);
        tu_dget(&d, w1, dw, n * 4);
        tu_dget(&d, m1, dm, n * 4);
        tu_note(be->name, "sgd_step", fmax(tu_norm_err(w1, w0, n), tu_norm_err(m1, m0, n)));
        assert_true(tu_norm_err(w1, w0, n) < 1e-6);
        assert_true(tu_norm_err(m1, m0, n) < 1e-6);
        be->fill(be, n, dw, 2.5f);
        tu_dget(&d, w1, dw, n * 4);
        for (size_t i = 0; i < n; i++) assert_true(w1[i] == 2.5f);
        be->scale(be, n, dw, 0.5f);
        tu_dget(&d, w1, dw, n * 4);
        for (size_t i = 0; i < n; i++) assert_true(w1[i] == 1.25f);
        assert_int_equal(count(be, &d, be->count_nonfinite, n, w1), 0);
        assert_int_equal(count(be, &d, be->count_nonfinite, n, h), 3);
        /* nonzero counts: -0 is zero, NaN and Inf are not */
        memset(w1, 0, n * 4);
        assert_int_equal(count(be, &d, be->count_nonzero, n, w1), 0);
        w1[0] = -0.0f, w1[1] = NAN, w1[n / 2] = -INFINITY, w1[n - 1] = 1e-45f, w1[9] = -2.0f;
        assert_int_equal(count(be, &d, be->count_nonzero, n, w1), 4);
        assert_int_equal(count(tu_ref, &rd, tu_ref->count_nonzero, n, w1), 4);
    }
    tu_dfree(&rd);
    free(w0), free(g), free(m0), free(w1), free(m1), free(wi), free(mi), free(h);
}

/* The cpu backend's workers (fewer while other processes keep the cores busy) take the
 * parts that the thread count fixes: gemm, the one kernel whose float arithmetic
 * depends on its split (column, row and split-K parts), gives the same bits with 1, 2
 * or 3 workers of 3 threads. */
static void test_workers_same_results(void **state) {
    (void)state;
    lpt_backend *be = lpt_backend_create("cpu", 3);
    assert_non_null(be);
    const int shapes[][3] = {{16, 6400, 150}, {400, 20, 300}, {16, 20, 6400}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = t & 1, tb = t >> 1;
            float *a = tu_rand((size_t)m * k, 40 + s, -1, 1), *b = tu_rand((size_t)k * n, 41 + s, -1, 1);
            float *c[3];
            for (int w = 0; w < 3; w++) {
                be->workers = w + 1;
                c[w] = lpt_xmalloc((size_t)m * n * sizeof(float));
                be->gemm(be, ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c[w], n);
            }
            for (int w = 0; w < 2; w++) assert_memory_equal(c[w], c[2], (size_t)m * n * sizeof(float));
            free(a), free(b), free(c[0]), free(c[1]), free(c[2]);
        }
    lpt_backend_destroy(be);
}

/* gemm_lp: operands on the fp16 or bf16 grid, float32 accumulation; against the
 * reference's double sums of the same grid values (SUM_TOL, as gemm) */
static void test_gemm_lp(void **state) {
    (void)state;
    const int shapes[][3] = {{6, 3000, 25}, {64, 120, 400}, {16, 150, 6400}, {7, 13, 5}, {1, 1, 1}};
    const lpt_format fmts[2] = {LPT_FMT_FP16, LPT_FMT_BF16};
    for (int f = 0; f < 2; f++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++) {
                const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = t & 1, tb = t >> 1;
                const lpt_qformat q = {.fmt = fmts[f], .width = 16, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_IEEE};
                float *a = tu_rand((size_t)m * k, 30 + s, -2, 2), *b = tu_rand((size_t)k * n, 31 + s, -2, 2);
                lpt_qstats st = {0};
                lpt_quantize_ref(&q, 0, NULL, (size_t)m * k, a, NULL, a, &st); /* onto the grid */
                lpt_quantize_ref(&q, 0, NULL, (size_t)k * n, b, NULL, b, &st);
                const size_t cs = (size_t)m * n * 4;
                float *c0 = lpt_xmalloc(cs), *c1 = lpt_xmalloc(cs);
                tu_ref->gemm_lp(tu_ref, fmts[f], ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c0, n);
                TU_EACH_BACKEND(be, d) {
                    float *dc = tu_dnew(&d, cs);
                    be->gemm_lp(be, fmts[f], ta, tb, m, n, k, tu_din(&d, a, (size_t)m * k * 4), ta ? m : k,
                                tu_din(&d, b, (size_t)k * n * 4), tb ? k : n, dc, n);
                    tu_dget(&d, c1, dc, cs);
                    const double e = tu_norm_err(c1, c0, (size_t)m * n);
                    tu_note(be->name, fmts[f] == LPT_FMT_FP16 ? "gemm_lp fp16" : "gemm_lp bf16", e);
                    if (!(e <= SUM_TOL))
                        fail_msg("%s gemm_lp %s m=%d n=%d k=%d ta=%d tb=%d: error %g", be->name,
                                 lpt_format_traits_of(fmts[f])->name, m, n, k, ta, tb, e);
                }
                free(a), free(b), free(c0), free(c1);
            }
}

/* gather (the training's data path) and zero move data: equal bit for bit */
static void test_gather_zero(void **state) {
    (void)state;
    const int items = 37, n = 19;
    const size_t item = 3 * 7 * 5;
    uint8_t *img = lpt_xmalloc(items * item);
    int32_t lab[37], idx[19], y0[19], y1[19];
    for (size_t i = 0; i < items * item; i++) img[i] = (uint8_t)(lpt_rng_bits(3, 1, i) >> 56);
    for (int i = 0; i < items; i++) lab[i] = i % 10;
    for (int i = 0; i < n; i++) idx[i] = (i * 7 + 3) % items;
    float lut[256], *x0 = lpt_xmalloc(n * item * 4), *x1 = lpt_xmalloc(n * item * 4);
    lpt_dataset_lut(0.3f, 0.7f, lut);
    tu_ref->gather(tu_ref, n, item, idx, img, lab, lut, x0, y0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(y0[i], lab[idx[i]]);
        assert_true(x0[(size_t)i * item + 4] == lut[img[(size_t)idx[i] * item + 4]]);
    }
    TU_EACH_BACKEND(be, d) {
        float *dx = tu_dnew(&d, n * item * 4);
        int32_t *dy = tu_dnew(&d, sizeof y1);
        be->gather(be, n, item, tu_din(&d, idx, sizeof idx), tu_din(&d, img, items * item), tu_din(&d, lab, sizeof lab),
                   tu_din(&d, lut, sizeof lut), dx, dy);
        tu_dget(&d, x1, dx, n * item * 4);
        tu_dget(&d, y1, dy, sizeof y1);
        TU_SAME(be, "gather", x0, x1, n * item * 4);
        TU_SAME(be, "gather (labels)", y0, y1, sizeof y0);
        be->zero(be, dx, 40 * 4);
        tu_dget(&d, x1, dx, n * item * 4);
        for (int i = 0; i < 40; i++) assert_true(x1[i] == 0.0f && !signbit(x1[i]));
        assert_memory_equal(x0 + 40, x1 + 40, (n * item - 40) * 4);
    }
    free(img), free(x0), free(x1);
}

static void test_supports(void **state) {
    (void)state;
    for (int op = 0; op < LPT_OP_COUNT; op++) {
        int want = op != LPT_OP_IGEMM; /* integer GEMM is for dfp codes */
        assert_int_equal(tu_ref->supports(tu_ref, (lpt_op)op, LPT_FMT_FP32), want);
    }
    TU_EACH_BACKEND(be, d) {
        print_message("backend %s: every operation of the table checked against ref\n", be->name);
        /* every backend computes the float operations; the host backends the dfp products too */
        assert_true(be->supports(be, LPT_OP_GEMM, LPT_FMT_FP32));
        if (strcmp(be->name, "cpu") == 0) assert_true(be->supports(be, LPT_OP_IGEMM, LPT_FMT_DFP));
    }
    assert_null(lpt_backend_create("tpu", 1));
    /* a table with a hole is named by its first missing entry */
    assert_null(lpt_backend_missing_entry(tu_ref));
    lpt_backend holed = *tu_ref;
    holed.dfp_gemm = NULL;
    holed.pack = NULL;
    assert_string_equal(lpt_backend_missing_entry(&holed), "dfp_gemm");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),          cmocka_unit_test(test_im2col_values),
        cmocka_unit_test(test_im2col_col2im), cmocka_unit_test(test_conv_out_and_bias),
        cmocka_unit_test(test_relu),          cmocka_unit_test(test_pool),
        cmocka_unit_test(test_batchnorm),     cmocka_unit_test(test_dropout_mul),
        cmocka_unit_test(test_xent),          cmocka_unit_test(test_sgd_fill_nonfinite),
        cmocka_unit_test(test_gemm_lp),       cmocka_unit_test(test_gather_zero),
        cmocka_unit_test(test_supports),      cmocka_unit_test(test_workers_same_results),
    };
    return cmocka_run_group_tests(tests, tu_backends_setup, tu_backends_teardown);
}
