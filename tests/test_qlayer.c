/* test_qlayer.c - the quantized conv2d and linear layers equal an independent,
 * straightforward computation bit for bit: quantize with the reference quantizer, take
 * integer products in plain loops (int64), add the bias in accumulator units,
 * requantize in double; forward Y, dW and dX. Also: training with stochastic rounding
 * is reproducible for a given seed and differs for another. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/layer.h"
#include "src/qlayer.h"
#include "src/base/rng.h"
#include "src/train.h"
#include "src/base/util.h"
#include "tests/testutil.h"

typedef struct {
    tu_layer t;
    lpt_qconfig q;
    lpt_stats_unit u;
    lpt_ctx c;
} qh;

static void build(qh *h, const char *type, const char *opts, int ndim, const int *dims) {
    memset(h, 0, sizeof *h);
    tu_layer_build(&h->t, "cpu", type, opts, ndim, dims);
    lpt_param p[4];
    int np = h->t.l.ops->params(&h->t.l, p);
    for (int i = 0; i < np; i++) {
        float *v = lpt_tensor_f32(p[i].value);
        for (size_t j = 0; j < lpt_tensor_count(p[i].value); j++) v[j] = 0.8f * lpt_rng_uniform(30 + i, 1, j) - 0.4f;
    }
    float *x = lpt_tensor_f32(&h->t.x), *dy = lpt_tensor_f32(&h->t.dy);
    for (size_t j = 0; j < lpt_tensor_count(&h->t.x); j++) x[j] = 4.0f * lpt_rng_uniform(40, 1, j) - 2.0f;
    for (size_t j = 0; j < lpt_tensor_count(&h->t.dy); j++) dy[j] = 0.02f * lpt_rng_uniform(41, 1, j) - 0.01f;
    lpt_stats_init(&h->u, 10, 0.0);
    lpt_qformat d8 = {.fmt = LPT_FMT_DFP, .width = 8, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_SAT};
    h->q = (lpt_qconfig){.prec = {d8, d8, d8}, .stats = &h->u};
    h->c = (lpt_ctx){.be = h->t.be, .quant = &h->q, .n = dims[0], .train = 1, .seed = 3, .step = 1};
    /* the entries: x, w, y, dy, dx, and their results in the backend */
    h->t.l.ops->register_q(&h->t.l, &h->q);
    assert_int_equal(lpt_q_attach(&h->q, h->t.be), 0);
    const int fl[5] = {5, 7, 3, 11, 9};
    for (int i = 0; i < 5; i++) h->u.e[i].fl = fl[i];
    lpt_q_push(&h->q, h->t.be); /* the configuration, to the points' state */
}

static void destroy(qh *h) {
    lpt_q_detach(&h->q, h->t.be);
    lpt_stats_free(&h->u);
    tu_layer_free(&h->t);
}

/* reference quantization to integer codes */
static int32_t *codes_of(const float *v, size_t n, int fl) {
    lpt_qformat d8 = {.fmt = LPT_FMT_DFP, .width = 8, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_SAT};
    int32_t *c = lpt_xmalloc(n * 4);
    lpt_qstats st = {0};
    lpt_quantize_ref(&d8, fl, NULL, n, v, c, NULL, &st);
    return c;
}

/* requantize an exact accumulator (units 2^-fla) to dfp8 at fl, as a float value */
static float requant(int64_t acc, int fla, int fl) {
    double r = lpt_round_ref(ldexp((double)acc, fl - fla), LPT_ROUND_RNE, 0.0);
    r = r > 127 ? 127 : (r < -128 ? -128 : r);
    return (float)ldexp(r, -fl);
}

static int64_t bias_units(float b, int fla) {
    return (int64_t)lpt_round_ref(ldexp((double)b, fla), LPT_ROUND_RNE, 0.0);
}

static void test_linear(void **s) {
    (void)s;
    qh h;
    const int n = 5, in = 10, out = 7;
    build(&h, "linear", "out=7", 2, (int[]){n, in});
    h.t.l.ops->forward(&h.t.l, &h.c, &h.t.x, &h.t.y);
    /* the output carries its format: dfp8 at FL_Y, stored as one byte per value */
    assert_int_equal(h.t.y.grid.fmt, LPT_FMT_DFP);
    assert_int_equal(h.t.y.grid.width, 8);
    assert_int_equal(*h.t.y.fl, h.u.e[2].fl); /* where it lives: host memory on the CPU */
    assert_int_equal(lpt_tensor_code_bytes(&h.t.y), lpt_tensor_count(&h.t.y));
    h.t.l.ops->backward(&h.t.l, &h.c, &h.t.x, &h.t.y, &h.t.dy, &h.t.dx);
    lpt_param p[2];
    h.t.l.ops->params(&h.t.l, p);
    int32_t *qx = codes_of(lpt_tensor_f32(&h.t.x), (size_t)n * in, 5), *qw = codes_of(lpt_tensor_f32(p[0].value), (size_t)out * in, 7);
    int32_t *qdy = codes_of(lpt_tensor_f32(&h.t.dy), (size_t)n * out, 11);
    const float *b = lpt_tensor_f32(p[1].value), *y = lpt_tensor_f32(&h.t.y), *dw = lpt_tensor_f32(p[0].grad),
                *dx = lpt_tensor_f32(&h.t.dx);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++) {
            int64_t acc = bias_units(b[j], 12);
            for (int k = 0; k < in; k++) acc += (int64_t)qx[i * in + k] * qw[j * in + k];
            float want = requant(acc, 12, 3);
            if (y[i * out + j] != want) fail_msg("linear y[%d][%d] = %a, want %a", i, j, (double)y[i * out + j], (double)want);
        }
    for (int j = 0; j < out; j++)
        for (int k = 0; k < in; k++) { /* dW = dyᵀ x, exact, to FP32 */
            int64_t acc = 0;
            for (int i = 0; i < n; i++) acc += (int64_t)qdy[i * out + j] * qx[i * in + k];
            assert_true(dw[j * in + k] == (float)ldexp((double)acc, -16));
        }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < in; k++) { /* dX = dy W, requantized */
            int64_t acc = 0;
            for (int j = 0; j < out; j++) acc += (int64_t)qdy[i * out + j] * qw[j * in + k];
            assert_true(dx[i * in + k] == requant(acc, 18, 9));
        }
    free(qx), free(qw), free(qdy);
    destroy(&h);
}

static void test_conv2d(void **s) {
    (void)s;
    qh h;
    const int n = 2, C = 3, H = 7, W = 7, OC = 4, K = 3, S = 2, P = 1, OH = 4, OW = 4;
    build(&h, "conv2d", "out=4 k=3 stride=2 pad=1", 4, (int[]){n, C, H, W});
    h.t.l.ops->forward(&h.t.l, &h.c, &h.t.x, &h.t.y);
    h.t.l.ops->backward(&h.t.l, &h.c, &h.t.x, &h.t.y, &h.t.dy, &h.t.dx);
    lpt_param p[2];
    h.t.l.ops->params(&h.t.l, p);
    int32_t *qx = codes_of(lpt_tensor_f32(&h.t.x), (size_t)n * C * H * W, 5);
    int32_t *qw = codes_of(lpt_tensor_f32(p[0].value), (size_t)OC * C * K * K, 7);
    int32_t *qdy = codes_of(lpt_tensor_f32(&h.t.dy), (size_t)n * OC * OH * OW, 11);
    const float *b = lpt_tensor_f32(p[1].value), *y = lpt_tensor_f32(&h.t.y), *dw = lpt_tensor_f32(p[0].grad),
                *dx = lpt_tensor_f32(&h.t.dx);
    int64_t *gw = lpt_xcalloc((size_t)OC * C * K * K, 8), *gx = lpt_xcalloc((size_t)n * C * H * W, 8);
    for (int bi = 0; bi < n; bi++)
        for (int o = 0; o < OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    int64_t acc = bias_units(b[o], 12);
                    const int64_t gd = qdy[((bi * OC + o) * OH + oy) * OW + ox];
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < K; i++)
                            for (int j = 0; j < K; j++) {
                                int yy = oy * S - P + i, xx = ox * S - P + j;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                const int xi = ((bi * C + c) * H + yy) * W + xx, wi = ((o * C + c) * K + i) * K + j;
                                acc += (int64_t)qx[xi] * qw[wi];
                                gw[wi] += gd * qx[xi];
                                gx[xi] += gd * qw[wi];
                            }
                    float got = y[((bi * OC + o) * OH + oy) * OW + ox];
                    if (got != requant(acc, 12, 3)) fail_msg("conv y mismatch at %d,%d,%d,%d", bi, o, oy, ox);
                }
    for (int i = 0; i < OC * C * K * K; i++) assert_true(dw[i] == (float)ldexp((double)gw[i], -16));
    for (int i = 0; i < n * C * H * W; i++) assert_true(dx[i] == requant(gx[i], 18, 9));
    free(qx), free(qw), free(qdy), free(gw), free(gx);
    destroy(&h);
}

/* long reductions: chunked sgemm (dfp8) and double GEMM (dfp12) are exact */
static void test_long_products_exact(void **s) {
    (void)s;
    for (int w = 8; w <= 12; w += 4) {
        lpt_stats_unit u;
        lpt_stats_init(&u, 1, 0.0);
        lpt_qformat d = {.fmt = LPT_FMT_DFP, .width = w, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_SAT};
        lpt_qconfig q = {.prec = {d, d, d}, .stats = &u};
        int ia = lpt_stats_register(&u, "t", "dy", LPT_ROLE_G, &d), ib = lpt_stats_register(&u, "t", "x", LPT_ROLE_A, &d);
        u.e[ia].fl = 12, u.e[ib].fl = 3;
        lpt_backend *be = lpt_backend_create("cpu", 2);
        assert_int_equal(lpt_q_attach(&q, be), 0); /* pushes the FLs set above */
        lpt_ctx c = {.be = be, .quant = &q, .n = 1};
        const int m = 6, n = 25, k = 20000; /* like conv1's dW: (OC, K) = t colᵀ over N*P */
        float *a = lpt_xmalloc((size_t)m * k * 4), *b = lpt_xmalloc((size_t)n * k * 4), *out = lpt_xmalloc((size_t)m * n * 4);
        const int64_t half = (int64_t)1 << (w - 1);
        for (size_t i = 0; i < (size_t)m * k; i++) a[i] = ldexpf((float)((int64_t)(lpt_rng_bits(1, 1, i) % (2 * half)) - half), -12);
        for (size_t i = 0; i < (size_t)n * k; i++) b[i] = ldexpf((float)((int64_t)(lpt_rng_bits(1, 2, i) % (2 * half)) - half), -3);
        lpt_q_gemm(&c, ia, ib, -1, 0, 1, m, n, k, a, k, b, k, out, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                int64_t acc = 0;
                for (int p = 0; p < k; p++)
                    acc += (int64_t)ldexpf(a[(size_t)i * k + p], 12) * (int64_t)ldexpf(b[(size_t)j * k + p], 3);
                if (out[i * n + j] != (float)ldexp((double)acc, -15))
                    fail_msg("dfp%d K=%d: [%d][%d] = %a, exact %a", w, k, i, j, (double)out[i * n + j], ldexp((double)acc, -15));
            }
        free(a), free(b), free(out);
        lpt_q_detach(&q, be);
        lpt_backend_destroy(be);
        lpt_stats_free(&u);
    }
}

static void run_sr(const char *dir, uint64_t seed, const char *metrics) {
    lpt_train_cfg c;
    lpt_train_cfg_defaults(&c);
    snprintf(c.data, sizeof c.data, "%s", dir);
    snprintf(c.model, sizeof c.model, "lenet5");
    snprintf(c.precision, sizeof c.precision, "int8-dyn");
    snprintf(c.rounding, sizeof c.rounding, "sr");
    snprintf(c.metrics_out, sizeof c.metrics_out, "%s", metrics);
    c.epochs = 1;
    c.batch = 50;
    c.seed = seed;
    c.stats_interval = 3;
    c.quiet = 1;
    c.progress = 0;
    assert_int_equal(lpt_train_run(&c), 0);
}

static char *strip_timing(const char *path) {
    size_t n;
    char *m = lpt_file_read_all(path, &n);
    char *cut = strstr(m, ", \"images_per_s\"");
    if (cut) *cut = 0;
    return m;
}

static void test_sr_training_reproducible(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), a[300], b[300];
    tu_write_synthetic_mnist(dir, 400, 100, 5);
    snprintf(a, sizeof a, "%s/a.jsonl", dir);
    snprintf(b, sizeof b, "%s/b.jsonl", dir);
    run_sr(dir, 7, a);
    run_sr(dir, 7, b);
    char *ma = strip_timing(a), *mb = strip_timing(b);
    assert_string_equal(ma, mb);
    run_sr(dir, 8, b);
    char *mc = strip_timing(b);
    assert_string_not_equal(ma, mc);
    free(ma), free(mb), free(mc);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_long_products_exact),
        cmocka_unit_test(test_sr_training_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
