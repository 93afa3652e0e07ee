/* relu.c - rectified linear unit; the backward pass reads the output. */
#include <stdio.h>

#include "src/layer.h"
#include "src/layers/layers.h"

static int relu_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    (void)l;
    (void)b;
    *out = *in;
    return 0;
}

static void relu_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    c->be->relu_fwd(c->be, (size_t)c->n * lpt_shape_item_count(&l->in), lpt_tensor_f32(x),
                    lpt_tensor_f32(y));
    lpt_tensor_keep_grid(y, x);
}

static void relu_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x,
                          const lpt_tensor *y, const lpt_tensor *dy, lpt_tensor *dx) {
    (void)x;
    if (dx)
        c->be->relu_bwd(c->be, (size_t)c->n * lpt_shape_item_count(&l->in), lpt_tensor_f32(y),
                        lpt_tensor_f32(dy), lpt_tensor_f32(dx));
}

static int relu_params(lpt_layer *l, lpt_param *out) {
    (void)l;
    (void)out;
    return 0;
}

static void relu_describe(const lpt_layer *l, char *buf, size_t n) {
    (void)l;
    snprintf(buf, n, "relu");
}

static void relu_free(lpt_layer *l) { (void)l; }

static const lpt_layer_ops relu_ops = {
    .type = "relu",
    .bwd_reads = LPT_READS_Y,
    .in_place = 1,
    .relu = 1,
    .setup = relu_setup,
    .forward = relu_forward,
    .backward = relu_backward,
    .params = relu_params,
    .describe = relu_describe,
    .free = relu_free,
};

int lpt_relu_create(lpt_layer_args *a, lpt_layer *l) {
    (void)a;
    l->ops = &relu_ops;
    l->priv = NULL;
    return 0;
}
