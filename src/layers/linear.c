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
    const float *x_used, *w_used; /* X and W as the forward pass used them (x, w for fp32) */
    lpt_qpoints qs;
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
        lpt_layer_reserve(b, l, &f->bq, "bq", lpt_live_span(lpt_phase_fwd(b, l->index), lpt_phase_fwd(b, l->index)));
    }
    /* lifetimes (the memory planner): X and W as used are kept for the backward pass, dyq
     * is scratch of either pass */
    const int fw = lpt_phase_fwd(b, l->index), bw = lpt_phase_bwd(b, l->index);
    f->xq = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){b->batch, f->in});
    f->wq = f->w;
    f->dyq = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){b->batch, f->out});
    lpt_layer_reserve(b, l, &f->xq, "xq", lpt_live_span(fw, bw));
    lpt_layer_reserve(b, l, &f->wq, "wq", lpt_live_span(fw, bw));
    lpt_layer_reserve(b, l, &f->dyq, "dyq", lpt_live_scratch(b, l->index));
    return 0;
}

/* One path for every precision (qlayer.h; fp32 is the identity): X and W at their
 * quantization points, the exact product, the bias in the accumulator, Y requantized
 * (with the ReLU that follows, fused). */
static void linear_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    linear *f = l->priv;
    lpt_backend *be = c->be;
    const lpt_qpoints *qp = &f->qs;
    float *yv = lpt_tensor_f32(y);
    f->x_used = lpt_q_input(c, qp->x, (size_t)c->n * f->in, x, &f->xq);
    f->w_used = lpt_q_input(c, qp->w, (size_t)f->out * f->in, &f->w, &f->wq);
    const float *bias = f->bias ? lpt_q_bias(c, qp->x, qp->w, f->out, lpt_tensor_f32(&f->b), lpt_tensor_f32(&f->bq))
                                : NULL;
    /* Y before its quantization point, in dyq (free until the backward pass) */
    const size_t ny = (size_t)c->n * f->out;
    float *pre = lpt_q_pre(c, yv, lpt_tensor_f32(&f->dyq));
    lpt_q_gemm(c, qp->x, qp->w, qp->y, 0, 1, c->n, f->out, f->in, f->x_used, f->in, f->w_used, f->in, pre, f->out);
    if (bias) be->bias_rows_fwd(be, c->n, f->out, bias, pre);
    if (lpt_q_fused_relu(c, qp->y, l)) be->relu_fwd(be, ny, pre, pre);
    lpt_q_output(c, qp->y, ny, pre, yv);
    lpt_q_mark(c, qp->y, y);
}

/* dY at its quantization point; dW = dYᵀ X (exact, then FP32); dX = dY W, requantized */
static void linear_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, const lpt_tensor *y,
                            const lpt_tensor *dy, lpt_tensor *dx) {
    (void)x;
    (void)y;
    linear *f = l->priv;
    const lpt_qpoints *qp = &f->qs;
    const float *dyq = lpt_q_input(c, qp->dy, (size_t)c->n * f->out, dy, &f->dyq);
    // dW (OUT, IN) = dyᵀ (OUT, N) x (N, IN)
    lpt_q_gemm(c, qp->dy, qp->x, -1, 1, 0, f->out, f->in, c->n, dyq, f->out, f->x_used, f->in, lpt_tensor_f32(&f->dw),
               f->in);
    if (f->bias) c->be->bias_rows_bwd(c->be, c->n, f->out, dyq, lpt_tensor_f32(&f->db));
    if (!dx) return;
    /* dx (N, IN) = dy (N, OUT) W (OUT, IN), before its quantization point in xq (X was
     * used by dW above) */
    float *pre = lpt_q_pre(c, lpt_tensor_f32(dx), lpt_tensor_f32(&f->xq));
    lpt_q_gemm(c, qp->dy, qp->w, qp->dx, 0, 0, c->n, f->in, f->out, dyq, f->out, f->w_used, f->in, pre, f->in);
    lpt_q_output(c, qp->dx, (size_t)c->n * f->in, pre, lpt_tensor_f32(dx));
    lpt_q_mark(c, qp->dx, dx);
}

static void linear_register_q(lpt_layer *l, lpt_qconfig *q) { lpt_q_register(&((linear *)l->priv)->qs, q, l); }

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
    .bwd_reads = LPT_READS_X_DW,
    .setup = linear_setup,
    .forward = linear_forward,
    .backward = linear_backward,
    .register_q = linear_register_q,
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
