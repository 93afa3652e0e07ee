/* batchnorm.c - batch normalization, 2-D (N, C, H, W: statistics per channel over N, H,
 * W) or 1-D (N, F: per feature over N). Training uses batch statistics and updates the
 * running ones (momentum 0.1, unbiased variance, as PyTorch); evaluation uses the
 * running statistics. Under shards each pass's update, m * (batch mean) and m * (batch
 * variance), is left in `contrib` and applied afterwards in shard order,
 * r = (1 - m) r + contribution, the same on every process; a low-precision run's
 * calibration pass leaves them alone. */
#include <stdio.h>
#include <stdlib.h>

#include "src/layer.h"
#include "src/base/util.h"
#include "src/layers/layers.h"

typedef struct {
    float eps, momentum;
    int c, s; /* channels, positions per channel */
    lpt_tensor gamma, beta, dgamma, dbeta, rmean, rvar, mean, invstd;
    lpt_tensor scratch; /* first layer: dx is not wanted but the kernel writes one */
    lpt_tensor contrib; /* shards: a pass's update of the running mean and variance (2 C) */
} batchnorm;

static int bn_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    batchnorm *n = l->priv;
    if (in->ndim != 4 && in->ndim != 2) {
        lpt_error_set("layer %s (batchnorm): needs images or flat features", l->name);
        return -1;
    }
    n->c = in->dim[1];
    n->s = in->ndim == 4 ? in->dim[2] * in->dim[3] : 1;
    *out = *in;
    lpt_tensor v = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){n->c});
    n->gamma = n->beta = n->dgamma = n->dbeta = n->rmean = n->rvar = n->mean = n->invstd = v;
    lpt_arena_reserve(b->params, &n->gamma);
    lpt_arena_reserve(b->params, &n->beta);
    lpt_arena_reserve(b->params, &n->rmean);
    lpt_arena_reserve(b->params, &n->rvar);
    lpt_arena_reserve(b->grads, &n->dgamma);
    lpt_arena_reserve(b->grads, &n->dbeta);
    const int fw = lpt_phase_fwd(b, l->index), bw = lpt_phase_bwd(b, l->index);
    lpt_layer_reserve(b, l, &n->mean, "mean", lpt_live_span(fw, bw));
    lpt_layer_reserve(b, l, &n->invstd, "invstd", lpt_live_span(fw, bw));
    n->contrib = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){2 * n->c});
    lpt_layer_reserve(b, l, &n->contrib, "running", (lpt_live){0});
    if (l->index == 0) {
        n->scratch = lpt_tensor_make(LPT_FMT_FP32, in->ndim, in->dim);
        lpt_layer_reserve(b, l, &n->scratch, "dx", lpt_live_span(bw, bw));
    }
    return 0;
}

static void bn_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    batchnorm *n = l->priv;
    float *rm = lpt_tensor_f32(&n->rmean), *rv = lpt_tensor_f32(&n->rvar);
    if (c->train && c->running_deferred) { /* from zero: the kernel leaves m * (batch statistic), exactly */
        rm = lpt_tensor_f32(&n->contrib), rv = rm + n->c;
        c->be->fill(c->be, 2 * (size_t)n->c, rm, 0.0f);
    }
    if (c->train)
        c->be->bn_fwd_train(c->be, c->n, n->c, n->s, lpt_tensor_f32(x), lpt_tensor_f32(&n->gamma),
                            lpt_tensor_f32(&n->beta), n->eps, n->momentum, lpt_tensor_f32(&n->mean),
                            lpt_tensor_f32(&n->invstd), rm, rv, lpt_tensor_f32(y));
    else
        c->be->bn_fwd_eval(c->be, c->n, n->c, n->s, lpt_tensor_f32(x), lpt_tensor_f32(&n->gamma),
                           lpt_tensor_f32(&n->beta), lpt_tensor_f32(&n->rmean),
                           lpt_tensor_f32(&n->rvar), n->eps, lpt_tensor_f32(y));
}

static void bn_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, const lpt_tensor *y,
                        const lpt_tensor *dy, lpt_tensor *dx) {
    (void)y;
    batchnorm *n = l->priv;
    if (!dx) dx = &n->scratch; /* parameter gradients are still wanted */
    c->be->bn_bwd(c->be, c->n, n->c, n->s, lpt_tensor_f32(x), lpt_tensor_f32(dy),
                  lpt_tensor_f32(&n->gamma), lpt_tensor_f32(&n->mean), lpt_tensor_f32(&n->invstd),
                  lpt_tensor_f32(dx), lpt_tensor_f32(&n->dgamma), lpt_tensor_f32(&n->dbeta));
}

static size_t bn_running_contrib(lpt_layer *l, const void **buf) {
    batchnorm *n = l->priv;
    if (buf) *buf = n->contrib.data;
    return 2 * (size_t)n->c;
}

/* r = (1 - m) r + contribution for each pass in turn, computed in double (the product
 * exactly) and rounded to float each time */
static void bn_running_apply(lpt_layer *l, lpt_backend *be, const float *const *contrib, int passes) {
    batchnorm *n = l->priv;
    if (passes <= 0) return;
    float *r = lpt_xmalloc(2 * (size_t)n->c * sizeof *r);
    lpt_backend_read(be, r, n->rmean.data, (size_t)n->c * sizeof *r);
    lpt_backend_read(be, r + n->c, n->rvar.data, (size_t)n->c * sizeof *r);
    const double keep = (double)(1.0f - n->momentum);
    for (int k = 0; k < passes; k++)
        for (int i = 0; i < 2 * n->c; i++) r[i] = (float)(keep * (double)r[i] + (double)contrib[k][i]);
    be->to_device(be, n->rmean.data, r, (size_t)n->c * sizeof *r);
    be->to_device(be, n->rvar.data, r + n->c, (size_t)n->c * sizeof *r);
    free(r);
}

static int bn_params(lpt_layer *l, lpt_param *out) {
    batchnorm *n = l->priv;
    if (out) {
        lpt_param_set(&out[0], l, "weight", &n->gamma, &n->dgamma, 0, 0, 1.0f);
        lpt_param_set(&out[1], l, "bias", &n->beta, &n->dbeta, 0, 0, 0.0f);
        lpt_param_set(&out[2], l, "running_mean", &n->rmean, NULL, 0, 0, 0.0f);
        lpt_param_set(&out[3], l, "running_var", &n->rvar, NULL, 0, 0, 1.0f);
    }
    return 4;
}

static void bn_describe(const lpt_layer *l, char *buf, size_t n) {
    const batchnorm *b = l->priv;
    snprintf(buf, n, "batchnorm%s %d eps %g momentum %g", l->in.ndim == 4 ? "2d" : "1d", b->c,
             (double)b->eps, (double)b->momentum);
}

static void bn_free(lpt_layer *l) { free(l->priv); }

static const lpt_layer_ops batchnorm_ops = {
    .type = "batchnorm",
    .bwd_reads = LPT_READS_X,
    .setup = bn_setup,
    .forward = bn_forward,
    .backward = bn_backward,
    .params = bn_params,
    .describe = bn_describe,
    .free = bn_free,
    .running_contrib = bn_running_contrib,
    .running_apply = bn_running_apply,
};

int lpt_batchnorm_create(lpt_layer_args *a, lpt_layer *l) {
    batchnorm *n = lpt_xcalloc(1, sizeof *n);
    n->eps = 1e-5f;
    n->momentum = 0.1f;
    if (lpt_args_float(a, "eps", 1e-12, 1.0, &n->eps) ||
        lpt_args_float(a, "momentum", 0.0, 1.0, &n->momentum)) {
        free(n);
        return -1;
    }
    l->ops = &batchnorm_ops;
    l->priv = n;
    return 0;
}
