/* linear.c - fully connected layer: y (N, OUT) = x (N, IN) Wᵀ + b, W is (OUT, IN). */
#include <stdio.h>
#include <stdlib.h>

#include "src/layer.h"
#include "src/qlayer.h"
#include "src/base/util.h"
#include "src/layers/layers.h"

typedef struct {
    int in, out, bias;
    lpt_tensor w, b, dw, db;
    lpt_tensor xq, wq, dyq, bq; /* quantized copies (low-precision training) */
    lpt_qstate qs;
} linear;

static int linear_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    linear *f = l->priv;
    if (in->ndim != 2) {
        char s[64];
        lpt_shape_format(in, 1, s, sizeof s);
        lpt_error_set("layer %s (linear): needs flat features, got %s (add 'flatten' before it)",
                      l->name, s);
        return -1;
    }
    f->in = in->dim[1];
    *out = lpt_shape_make(2, (int[]){b->batch, f->out});
    f->w = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){f->out, f->in});
    f->dw = f->w;
    lpt_arena_reserve(b->params, &f->w);
    lpt_arena_reserve(b->grads, &f->dw);
    if (f->bias) {
        f->b = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){f->out});
        f->db = f->b;
        lpt_arena_reserve(b->params, &f->b);
        lpt_arena_reserve(b->grads, &f->db);
        f->bq = f->b;
        lpt_arena_reserve(b->work, &f->bq);
    }
    f->xq = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){b->batch, f->in});
    f->wq = f->w;
    f->dyq = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){b->batch, f->out});
    lpt_arena_reserve(b->work, &f->xq);
    lpt_arena_reserve(b->work, &f->wq);
    lpt_arena_reserve(b->work, &f->dyq);
    return 0;
}

/* low-precision forward: X and W quantized, exact product, bias in the accumulator,
 * Y requantized (qlayer.h) */
static void linear_forward_q(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    linear *f = l->priv;
    lpt_qstate *q = &f->qs;
    lpt_q_prepare(q, c, l);
    float *xq = lpt_tensor_f32(&f->xq), *wq = lpt_tensor_f32(&f->wq), *yv = lpt_tensor_f32(y);
    lpt_q_apply(c, q->x, (size_t)c->n * f->in, lpt_tensor_f32(x), xq);
    lpt_q_apply(c, q->w, (size_t)f->out * f->in, lpt_tensor_f32(&f->w), wq);
    if (f->bias) lpt_q_bias(c, q->x, q->w, f->out, lpt_tensor_f32(&f->b), lpt_tensor_f32(&f->bq));
    const int relu = lpt_q_fused_relu(c, q->y, l);
    do { /* again when the statistics unit corrects FL_Y */
        lpt_q_gemm(c, q->x, q->w, 0, 1, c->n, f->out, f->in, xq, f->in, wq, f->in, yv, f->out);
        if (f->bias) c->be->bias_rows_fwd(c->be, c->n, f->out, lpt_tensor_f32(&f->bq), yv);
        if (relu) c->be->relu_fwd(c->be, (size_t)c->n * f->out, yv, yv);
    } while (lpt_q_output(c, q->y, (size_t)c->n * f->out, yv, yv));
}

static void linear_backward_q(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *dy, lpt_tensor *dx) {
    linear *f = l->priv;
    lpt_qstate *q = &f->qs;
    float *dyq = lpt_tensor_f32(&f->dyq);
    lpt_q_apply(c, q->dy, (size_t)c->n * f->out, lpt_tensor_f32(dy), dyq);
    // dW (OUT, IN) = dyᵀ x, then to FP32
    lpt_q_gemm(c, q->dy, q->x, 1, 0, f->out, f->in, c->n, dyq, f->out, lpt_tensor_f32(&f->xq), f->in,
               lpt_tensor_f32(&f->dw), f->in);
    if (f->bias) c->be->bias_rows_bwd(c->be, c->n, f->out, dyq, lpt_tensor_f32(&f->db));
    if (!dx) return;
    do /* again when the statistics unit corrects FL_dX */
        lpt_q_gemm(c, q->dy, q->w, 0, 0, c->n, f->in, f->out, dyq, f->out, lpt_tensor_f32(&f->wq), f->in,
                   lpt_tensor_f32(dx), f->in);
    while (lpt_q_output(c, q->dx, (size_t)c->n * f->in, lpt_tensor_f32(dx), lpt_tensor_f32(dx)));
}

static void linear_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    if (c->q) {
        linear_forward_q(l, c, x, y);
        return;
    }
    linear *f = l->priv;
    lpt_backend *be = c->be;
    be->gemm(be, 0, 1, c->n, f->out, f->in, 1.0f, lpt_tensor_f32(x), f->in,
             lpt_tensor_f32(&f->w), f->in, 0.0f, lpt_tensor_f32(y), f->out);
    if (f->bias) be->bias_rows_fwd(be, c->n, f->out, lpt_tensor_f32(&f->b), lpt_tensor_f32(y));
}

static void linear_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x,
                            const lpt_tensor *y, const lpt_tensor *dy, lpt_tensor *dx) {
    (void)y;
    if (c->q) {
        linear_backward_q(l, c, dy, dx);
        return;
    }
    linear *f = l->priv;
    lpt_backend *be = c->be;
    // dW (OUT, IN) = dyᵀ (OUT, N) x (N, IN)
    be->gemm(be, 1, 0, f->out, f->in, c->n, 1.0f, lpt_tensor_f32(dy), f->out,
             lpt_tensor_f32(x), f->in, 0.0f, lpt_tensor_f32(&f->dw), f->in);
    if (f->bias) be->bias_rows_bwd(be, c->n, f->out, lpt_tensor_f32(dy), lpt_tensor_f32(&f->db));
    // dx (N, IN) = dy (N, OUT) W (OUT, IN)
    if (dx)
        be->gemm(be, 0, 0, c->n, f->in, f->out, 1.0f, lpt_tensor_f32(dy), f->out,
                 lpt_tensor_f32(&f->w), f->in, 0.0f, lpt_tensor_f32(dx), f->in);
}

static int linear_params(lpt_layer *l, lpt_param *out) {
    linear *f = l->priv;
    if (out) {
        lpt_param_set(&out[0], l, "weight", &f->w, &f->dw, 1, f->in, 0.0f);
        if (f->bias) lpt_param_set(&out[1], l, "bias", &f->b, &f->db, 0, 0, 0.0f);
    }
    return f->bias ? 2 : 1;
}

static void linear_describe(const lpt_layer *l, char *buf, size_t n) {
    const linear *f = l->priv;
    snprintf(buf, n, "linear %d -> %d%s", f->in, f->out, f->bias ? "" : " no-bias");
}

static void linear_free(lpt_layer *l) { free(l->priv); }

static const lpt_layer_ops linear_ops = {
    .type = "linear",
    .setup = linear_setup,
    .forward = linear_forward,
    .backward = linear_backward,
    .params = linear_params,
    .describe = linear_describe,
    .free = linear_free,
};

int lpt_linear_create(lpt_layer_args *a, lpt_layer *l) {
    linear *f = lpt_xcalloc(1, sizeof *f);
    f->bias = 1;
    if (lpt_args_int(a, "out", 1, 1, 1 << 20, &f->out) || lpt_args_int(a, "bias", 0, 0, 1, &f->bias)) {
        free(f);
        return -1;
    }
    l->ops = &linear_ops;
    l->priv = f;
    return 0;
}
