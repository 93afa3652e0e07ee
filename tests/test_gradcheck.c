/* test_gradcheck.c - finite-difference gradient check of every layer type and of the
 * softmax cross-entropy loss, on both CPU backends, through the layer interface.
 *
 * L = sum(y * r) for a fixed random r, so dL/dy = r. Each checked element gets a
 * central difference (L(v + h) - L(v - h)) / 2h with h = 1e-2, L summed in double.
 * Inputs keep every kink (ReLU at 0, max-pool ties) farther than h away, so the only
 * errors are fp32 rounding of y (relative 2^-24 per value, about 1e-6 on L, divided
 * by 2h: ~5e-5) and the O(h^2) truncation of smooth layers (~1e-4 for batch norm).
 * The normalized error ||num - analytic|| / ||analytic|| must stay under 2e-3, ten
 * times those bounds; a wrong gradient gives errors of order 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/layer.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "tests/testutil.h"

#define H 1e-2f
#define TOL 2e-3
#define MAX_CHECK 48

typedef struct {
    tu_layer t;
    lpt_ctx c;
    int n;
} harness;

static void build(harness *h, const char *backend, const char *type, const char *opts, int ndim,
                  const int *dims) {
    tu_layer_build(&h->t, backend, type, opts, ndim, dims);
    h->n = dims[0];
    h->c = (lpt_ctx){.be = h->t.be, .n = dims[0], .train = 1, .seed = 5, .step = 3};
    lpt_param p[LPT_LAYER_MAX_PARAMS];
    int np = h->t.l.ops->params(&h->t.l, p);
    for (int i = 0; i < np; i++) {
        size_t cnt = lpt_tensor_count(p[i].value);
        float *v = lpt_tensor_f32(p[i].value);
        for (size_t j = 0; j < cnt; j++)
            v[j] = p[i].grad ? (p[i].init_value == 1.0f ? 0.5f : -0.5f) + lpt_rng_uniform(40 + i, 1, j)
                             : (p[i].init_value == 1.0f ? 1.0f : 0.0f);
    }
    float *r = lpt_tensor_f32(&h->t.dy);
    for (size_t j = 0; j < lpt_tensor_count(&h->t.dy); j++) r[j] = 2.0f * lpt_rng_uniform(50, 1, j) - 1.0f;
}

static void destroy(harness *h) { tu_layer_free(&h->t); }

static double loss(harness *h) {
    h->t.l.ops->forward(&h->t.l, &h->c, &h->t.x, &h->t.y);
    const float *y = lpt_tensor_f32(&h->t.y), *r = lpt_tensor_f32(&h->t.dy);
    double s = 0;
    for (size_t j = 0; j < lpt_tensor_count(&h->t.y); j++) s += (double)y[j] * r[j];
    return s;
}

/* normalized error of the analytic gradient g of tensor v against central differences */
static double fd_error(harness *h, float *v, const float *g, size_t n) {
    double dd = 0, rr = 0;
    size_t step = n > MAX_CHECK ? n / MAX_CHECK : 1;
    for (size_t i = 0; i < n; i += step) {
        float keep = v[i];
        v[i] = keep + H;
        double lp = loss(h);
        v[i] = keep - H;
        double lm = loss(h);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * H);
        dd += (num - g[i]) * (num - g[i]);
        rr += (double)g[i] * g[i];
    }
    return sqrt(dd) / (rr > 0 ? sqrt(rr) : 1.0);
}

static void check_tensor(harness *h, float *v, const float *g, size_t n, const char *what) {
    double e = fd_error(h, v, g, n);
    if (!(e < TOL)) fail_msg("%s: gradient of %s: normalized error %g (tolerance %g)", h->t.l.name, what, e, TOL);
}

/* kind: 0 uniform in [-1, 1]; 1 away from 0 (ReLU); 2 distinct values spaced > 2h
 * (pooling never switches its argmax) */
static void fill_x(harness *h, int kind) {
    float *x = lpt_tensor_f32(&h->t.x);
    size_t n = lpt_tensor_count(&h->t.x);
    int *perm = lpt_xmalloc(n * sizeof *perm);
    lpt_rng_permutation(8, 2, 0, perm, (int)n);
    for (size_t j = 0; j < n; j++) {
        float u = 2.0f * lpt_rng_uniform(60, 1, j) - 1.0f;
        if (kind == 1) u = u < 0 ? u - 0.05f : u + 0.05f;
        if (kind == 2) u = -1.0f + 0.05f * (float)perm[j];
        x[j] = u;
    }
    free(perm);
}

static void gradcheck(const char *backend, const char *type, const char *opts, int ndim,
                      const int *dims, int xkind) {
    harness h;
    build(&h, backend, type, opts, ndim, dims);
    fill_x(&h, xkind);
    loss(&h);
    h.t.l.ops->backward(&h.t.l, &h.c, &h.t.x, &h.t.y, &h.t.dy, &h.t.dx);
    size_t nx = lpt_tensor_count(&h.t.x);
    float *ax = lpt_xmalloc(nx * 4);
    memcpy(ax, h.t.dx.data, nx * 4);
    check_tensor(&h, lpt_tensor_f32(&h.t.x), ax, nx, "input");
    lpt_param p[LPT_LAYER_MAX_PARAMS];
    int np = h.t.l.ops->params(&h.t.l, p);
    for (int i = 0; i < np; i++) {
        if (!p[i].grad) continue;
        size_t n = lpt_tensor_count(p[i].value);
        float *g = lpt_xmalloc(n * 4);
        memcpy(g, p[i].grad->data, n * 4);
        check_tensor(&h, lpt_tensor_f32(p[i].value), g, n, p[i].name);
        free(g);
    }
    free(ax);
    destroy(&h);
}

static const char *const k_backends[] = {"ref", "cpu"};

#define FOR_BACKENDS for (int b = 0; b < 2; b++)

static void test_conv2d(void **s) {
    (void)s;
    FOR_BACKENDS {
        gradcheck(k_backends[b], "conv2d", "out=4 k=3 stride=2 pad=1", 4, (int[]){2, 3, 7, 7}, 0);
        gradcheck(k_backends[b], "conv2d", "out=3 k=5", 4, (int[]){2, 2, 9, 8}, 0);
        gradcheck(k_backends[b], "conv2d", "out=2 kh=2 kw=3 bias=0 pad=2", 4, (int[]){3, 1, 5, 6}, 0);
    }
}

static void test_linear(void **s) {
    (void)s;
    FOR_BACKENDS {
        gradcheck(k_backends[b], "linear", "out=7", 2, (int[]){5, 10}, 0);
        gradcheck(k_backends[b], "linear", "out=1 bias=0", 2, (int[]){3, 4}, 0);
    }
}

static void test_relu(void **s) {
    (void)s;
    FOR_BACKENDS {
        gradcheck(k_backends[b], "relu", "", 4, (int[]){2, 3, 4, 5}, 1);
        gradcheck(k_backends[b], "relu", "", 2, (int[]){4, 9}, 1);
    }
}

static void test_pool(void **s) {
    (void)s;
    FOR_BACKENDS {
        gradcheck(k_backends[b], "maxpool", "k=2", 4, (int[]){2, 3, 6, 6}, 2);
        gradcheck(k_backends[b], "maxpool", "k=3 stride=2 pad=1", 4, (int[]){2, 2, 7, 5}, 2);
        gradcheck(k_backends[b], "avgpool", "k=2", 4, (int[]){2, 3, 6, 6}, 0);
        gradcheck(k_backends[b], "avgpool", "k=3 stride=2 pad=1", 4, (int[]){2, 2, 7, 5}, 0);
    }
}

static void test_flatten(void **s) {
    (void)s;
    FOR_BACKENDS gradcheck(k_backends[b], "flatten", "", 4, (int[]){2, 3, 2, 2}, 0);
}

static void test_batchnorm(void **s) {
    (void)s;
    FOR_BACKENDS {
        gradcheck(k_backends[b], "batchnorm", "", 4, (int[]){4, 3, 3, 3}, 0);
        gradcheck(k_backends[b], "batchnorm", "", 2, (int[]){8, 5}, 0);
    }
}

static void test_dropout(void **s) {
    (void)s;
    FOR_BACKENDS gradcheck(k_backends[b], "dropout", "p=0.4", 2, (int[]){6, 10}, 0);
}

static void test_softmax_xent(void **s) {
    (void)s;
    FOR_BACKENDS {
        lpt_backend *be = lpt_backend_create(k_backends[b], 2);
        const int n = 5, k = 7;
        float *z = tu_rand((size_t)n * k, 3, -3, 3), p[35], g[35];
        int32_t lab[5] = {0, 6, 3, 3, 1};
        double res[2];
        be->xent_fwd(be, n, k, z, lab, p, res);
        be->xent_bwd(be, n, k, p, lab, 1.0f / n, g);
        double dd = 0, rr = 0;
        for (int i = 0; i < n * k; i++) {
            float keep = z[i];
            z[i] = keep + H;
            be->xent_fwd(be, n, k, z, lab, p, res);
            const double lp = res[0] / n;
            z[i] = keep - H;
            be->xent_fwd(be, n, k, z, lab, p, res);
            const double lm = res[0] / n;
            z[i] = keep;
            double num = (lp - lm) / (2.0 * H);
            dd += (num - g[i]) * (num - g[i]);
            rr += (double)g[i] * g[i];
        }
        assert_true(sqrt(dd) / sqrt(rr) < TOL);
        free(z);
        lpt_backend_destroy(be);
    }
}

/* the checker itself must catch a wrong gradient */
static void test_checker_fails_on_wrong_gradient(void **s) {
    (void)s;
    harness h;
    build(&h, "ref", "linear", "out=3", 2, (int[]){2, 4});
    fill_x(&h, 0);
    loss(&h);
    h.t.l.ops->backward(&h.t.l, &h.c, &h.t.x, &h.t.y, &h.t.dy, &h.t.dx);
    float *g = lpt_xmalloc(8 * 4);
    memcpy(g, h.t.dx.data, 8 * 4);
    assert_true(fd_error(&h, lpt_tensor_f32(&h.t.x), g, 8) < TOL);
    g[3] *= 1.5f; /* one wrong element */
    assert_true(fd_error(&h, lpt_tensor_f32(&h.t.x), g, 8) > 10 * TOL);
    free(g);
    destroy(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),      cmocka_unit_test(test_linear),
        cmocka_unit_test(test_relu),        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_flatten),     cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_dropout),     cmocka_unit_test(test_softmax_xent),
        cmocka_unit_test(test_checker_fails_on_wrong_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
