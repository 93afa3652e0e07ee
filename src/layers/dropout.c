/* dropout.c - inverted dropout. The mask of a step is drawn from the counter-based
 * generator keyed by (seed, layer, step), so a resumed run draws the same masks. */
#include <stdio.h>
#include <stdlib.h>

#include "src/layer.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "src/layers/layers.h"

typedef struct {
    float p;
    lpt_tensor mask;
} dropout;

static int dropout_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    dropout *d = l->priv;
    *out = *in;
    d->mask = lpt_tensor_make(LPT_FMT_FP32, in->ndim, in->dim);
    lpt_layer_reserve(b, l, &d->mask, "mask", lpt_live_span(lpt_phase_fwd(b, l->index), lpt_phase_bwd(b, l->index)));
    return 0;
}

static void dropout_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    dropout *d = l->priv;
    size_t n = (size_t)c->n * lpt_shape_item_count(&l->in);
    if (!c->train || d->p == 0.0f) {
        c->be->copy(c->be, y->data, x->data, n * sizeof(float));
        return;
    }
    lpt_rng_key key = {.seed = c->seed,
                       .stream = ((uint64_t)LPT_STREAM_DROPOUT << 32) | (uint64_t)l->index,
                       .step = lpt_ctx_draw(c)};
    c->be->dropout_fwd(c->be, n, d->p, key, lpt_tensor_f32(x), lpt_tensor_f32(&d->mask),
                       lpt_tensor_f32(y));
}

static void dropout_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x,
                             const lpt_tensor *y, const lpt_tensor *dy, lpt_tensor *dx) {
    (void)x;
    (void)y;
    dropout *d = l->priv;
    if (!dx) return;
    size_t n = (size_t)c->n * lpt_shape_item_count(&l->in);
    if (d->p == 0.0f)
        c->be->copy(c->be, dx->data, dy->data, n * sizeof(float));
    else
        c->be->mul(c->be, n, lpt_tensor_f32(dy), lpt_tensor_f32(&d->mask), lpt_tensor_f32(dx));
}

static int dropout_params(lpt_layer *l, lpt_param *out) {
    (void)l;
    (void)out;
    return 0;
}

static void dropout_describe(const lpt_layer *l, char *buf, size_t n) {
    snprintf(buf, n, "dropout p=%g", (double)((const dropout *)l->priv)->p);
}

static void dropout_free(lpt_layer *l) { free(l->priv); }

static const lpt_layer_ops dropout_ops = {
    .type = "dropout",
    .bwd_reads = LPT_READS_NONE,
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .params = dropout_params,
    .describe = dropout_describe,
    .free = dropout_free,
};

int lpt_dropout_create(lpt_layer_args *a, lpt_layer *l) {
    dropout *d = lpt_xcalloc(1, sizeof *d);
    d->p = 0.5f;
    if (lpt_args_float(a, "p", 0.0, 0.99, &d->p)) {
        free(d);
        return -1;
    }
    l->ops = &dropout_ops;
    l->priv = d;
    return 0;
}
