/* flatten.c - (N, C, H, W) -> (N, C*H*W); the data is copied unchanged. */
#include <stdio.h>

#include "src/layer.h"
#include "src/layers/layers.h"

static int flatten_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    (void)l;
    *out = lpt_shape_make(2, (int[]){b->batch, (int)lpt_shape_item_count(in)});
    return 0;
}

static void flatten_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    c->be->copy(c->be, y->data, x->data,
                (size_t)c->n * lpt_shape_item_count(&l->in) * sizeof(float));
    lpt_tensor_keep_grid(y, x);
}

static void flatten_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x,
                             const lpt_tensor *y, const lpt_tensor *dy, lpt_tensor *dx) {
    (void)x;
    (void)y;
    if (dx)
        c->be->copy(c->be, dx->data, dy->data,
                    (size_t)c->n * lpt_shape_item_count(&l->in) * sizeof(float));
}

static int flatten_params(lpt_layer *l, lpt_param *out) {
    (void)l;
    (void)out;
    return 0;
}

static void flatten_describe(const lpt_layer *l, char *buf, size_t n) {
    snprintf(buf, n, "flatten -> %d", l->out.dim[1]);
}

static void flatten_free(lpt_layer *l) { (void)l; }

static const lpt_layer_ops flatten_ops = {
    .type = "flatten",
    .bwd_reads = LPT_READS_NONE,
    .setup = flatten_setup,
    .forward = flatten_forward,
    .backward = flatten_backward,
    .params = flatten_params,
    .describe = flatten_describe,
    .free = flatten_free,
};

int lpt_flatten_create(lpt_layer_args *a, lpt_layer *l) {
    (void)a;
    l->ops = &flatten_ops;
    l->priv = NULL;
    return 0;
}
