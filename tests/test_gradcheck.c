/* test_gradcheck.c - finite-difference gradient check of every layer type and of the
 * softmax cross-entropy loss, on every backend that starts here (a GPU's through its own
 * memory), through the layer interface.
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
    int n, np;
    lpt_param p[LPT_LAYER_MAX_PARAMS];
    float *hx, *hr, *hy, *hp[LPT_LAYER_MAX_PARAMS]; /* host copies: x, r (= dL/dy), y, parameters */
} harness;

static float *host_copy(harness *h, const lpt_tensor *t) {
    const size_t bytes = lpt_tensor_count(t) * 4;
    float *v = lpt_xmalloc(bytes);
    h->t.be->to_host(h->t.be, v, t->data, bytes);
    return v;
}

static void build(harness *h, const char *backend, const char *type, const char *opts, int ndim,
                  const int *dims) {
    tu_layer_build(&h->t, backend, type, opts, ndim, dims);
    lpt_backend *be = h->t.be;
    h->n = dims[0];
    h->c = (lpt_ctx){.be = be, .n = dims[0], .train = 1, .seed = 5, .step = 3};
    h->np = h->t.l.ops->params(&h->t.l, h->p);
    for (int i = 0; i < h->np; i++) {
        const lpt_param *p = &h->p[i];
        size_t cnt = lpt_tensor_count(p->value);
        float *v = h->hp[i] = lpt_xmalloc(cnt * 4);
        for (size_t j = 0; j < cnt; j++)
            v[j] = p->grad ? (p->init_value == 1.0f ? 0.5f : -0.5f) + lpt_rng_uniform(40 + i, 1, j)
                           : (p->init_value == 1.0f ? 1.0f : 0.0f);
    }
    const size_t ny = lpt_tensor_count(&h->t.dy);
    h->hr = lpt_xmalloc(ny * 4);
    h->hy = lpt_xmalloc(ny * 4);
    h->hx = lpt_xmalloc(lpt_tensor_count(&h->t.x) * 4);
    for (size_t j = 0; j < ny; j++) h->hr[j] = 2.0f * lpt_rng_uniform(50, 1, j) - 1.0f;
}

static void destroy(harness *h) {
    for (int i = 0; i < h->np; i++) free(h->hp[i]);
    free(h->hx), free(h->hr), free(h->hy);
    tu_layer_free(&h->t);
}

/* L for the host copies of x and the parameters, through the backend's memory */
static double loss(harness *h) {
    lpt_backend *be = h->t.be;
    be->to_device(be, h->t.x.data, h->hx, lpt_tensor_count(&h->t.x) * 4);
    for (int i = 0; i < h->np; i++) be->to_device(be, h->p[i].value->data, h->hp[i], lpt_tensor_count(h->p[i].value) * 4);
    h->t.l.ops->forward(&h->t.l, &h->c, &h->t.x, &h->t.y);
    const size_t ny = lpt_tensor_count(&h->t.y);
    be->to_host(be, h->hy, h->t.y.data, ny * 4);
    double s = 0;
    for (size_t j = 0; j < ny; j++) s += (double)h->hy[j] * h->hr[j];
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
    if (!(e < TOL))
        fail_msg("%s on %s: gradient of %s: normalized error %g (tolerance %g)", h->t.l.name, h->t.be->name, what, e, TOL);
}

/* kind: 0 uniform in [-1, 1]; 1 away from 0 (ReLU); 2 distinct values spaced > 2h
 * (pooling never switches its argmax) */
static void fill_x(harness *h, int kind) {
    float *x = h->hx;
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

/* the analytic gradients: backward from r after a forward pass */
static void backward(harness *h) {
    loss(h);
    h->t.be->to_device(h->t.be, h->t.dy.data, h->hr, lpt_tensor_count(&h->t.dy) * 4);
    h->t.l.ops->backward(&h->t.l, &h->c, &h->t.x, &h->t.y, &h->t.dy, &h->t.dx);
}

static void gradcheck(const char *backend, const char *type, const char *opts, int ndim,
                      const int *dims, int xkind) {
    harness h;
    build(&h, backend, type, opts, ndim, dims);
    fill_x(&h, xkind);
    backward(&h);
    float *ax = host_copy(&h, &h.t.dx);
    check_tensor(&h, h.hx, ax, lpt_tensor_count(&h.t.x), "input");
    for (int i = 0; i < h.np; i++) {
        if (!h.p[i].grad) continue;
        float *g = host_copy(&h, h.p[i].grad);
        check_tensor(&h, h.hp[i], g, lpt_tensor_count(h.p[i].value), h.p[i].name);
        free(g);
    }
    free(ax);
    destroy(&h);
}

/* the backends checked: ref, cpu, and cuda where a GPU is present (else skipped, said once) */
static const char *k_backends[3] = {"ref", "cpu", NULL};
static int k_nbackends = 2;

static int setup_backends(void **s) {
    (void)s;
    for (int i = 0; i < lpt_backend_count(); i++) {
        const char *name = lpt_backend_name(i);
        if (!strcmp(name, "ref") || !strcmp(name, "cpu")) continue;
        lpt_backend *be = lpt_backend_create(name, 2);
        if (!be) {
            print_message("backend %s cannot start here (%s): its gradients are not checked\n", name, lpt_error_get());
            continue;
        }
        lpt_backend_destroy(be);
        if (k_nbackends < 3) k_backends[k_nbackends++] = name;
    }
    return 0;
}

#define FOR_BACKENDS for (int b = 0; b < k_nbackends; b++)

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
        float *z = tu_rand((size_t)n * k, 3, -3, 3), g[35];
        int32_t lab[5] = {0, 6, 3, 3, 1};
        double res[2];
        tu_dev d = {.be = be};
        float *dz = tu_din(&d, z, sizeof g), *dp = tu_dnew(&d, sizeof g), *dg = tu_dnew(&d, sizeof g);
        int32_t *dlab = tu_din(&d, lab, sizeof lab);
        double *dres = tu_dnew(&d, sizeof res);
        be->xent_fwd(be, n, k, dz, dlab, dp, dres);
        be->xent_bwd(be, n, k, dp, dlab, 1.0f / n, NULL, dg);
        tu_dget(&d, g, dg, sizeof g);
        double dd = 0, rr = 0;
        for (int i = 0; i < n * k; i++) {
            float keep = z[i];
            double l[2];
            for (int side = 0; side < 2; side++) {
                z[i] = keep + (side ? -H : H);
                be->to_device(be, dz, z, sizeof g);
                be->zero(be, dres, sizeof res); /* xent_fwd adds to res */
                be->xent_fwd(be, n, k, dz, dlab, dp, dres);
                tu_dget(&d, res, dres, sizeof res);
                l[side] = res[0] / n;
            }
            z[i] = keep;
            double num = (l[0] - l[1]) / (2.0 * H);
            dd += (num - g[i]) * (num - g[i]);
            rr += (double)g[i] * g[i];
        }
        tu_dfree(&d);
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
    backward(&h);
    float *g = host_copy(&h, &h.t.dx);
    assert_true(fd_error(&h, h.hx, g, 8) < TOL);
    g[3] *= 1.5f; /* one wrong element */
    assert_true(fd_error(&h, h.hx, g, 8) > 10 * TOL);
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
    return cmocka_run_group_tests(tests, setup_backends, NULL);
}
