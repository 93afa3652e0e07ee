/* conv2d.c - 2-D convolution through im2col and one GEMM over the whole batch.
 *
 * forward:  col (K, N*P) = im2col(x); t (OC, N*P) = W (OC, K) col; y = t + b (N, OC, P)
 * backward: t = dy as (OC, N*P), db = sums; dW = t colᵀ; col = Wᵀ t; dx = col2im(col)
 * with K = C*KH*KW and P = OH*OW. The im2col buffer of the forward pass is kept for dW. */
#include <stdio.h>
#include <stdlib.h>

#include "src/layer.h"
#include "src/qlayer.h"
#include "src/base/util.h"
#include "src/layers/layers.h"

typedef struct {
    int out, kh, kw, stride, pad, bias;
    lpt_window g;
    lpt_tensor w, b, dw, db, col, t;
    lpt_tensor xq, wq, dyq, bq; /* quantized copies (low-precision training) */
    const float *w_used;        /* W as the forward pass used it: w (fp32) or wq */
    const float *x_used;        /* X as the forward pass used it: x (fp32) or xq */
    int recompute_col;          /* the memory planner: col is made again in the backward pass */
    lpt_qpoints qs;
} conv2d;

/* the planner's choice: the columns kept from the forward pass for dW (X as used is then
 * scratch), or made again from X as used, kept instead (1/(KH KW) of their size) */
static void conv_plan_keep(lpt_layer *l, const lpt_build *b, int keep) {
    conv2d *c = l->priv;
    const int f = lpt_phase_fwd(b, l->index), bw = lpt_phase_bwd(b, l->index);
    c->recompute_col = !keep;
    lpt_arena_relive(b->work, &c->col, keep ? lpt_live_span(f, bw) : lpt_live_scratch(b, l->index));
    lpt_arena_relive(b->work, &c->xq, keep ? lpt_live_scratch(b, l->index) : lpt_live_span(f, bw));
}

static int conv_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    conv2d *c = l->priv;
    if (in->ndim != 4) {
        lpt_error_set("layer %s (conv2d): needs an image input (C x H x W), got %d-D features",
                      l->name, in->ndim - 1);
        return -1;
    }
    c->g = (lpt_window){.c = in->dim[1], .h = in->dim[2], .w = in->dim[3], .kh = c->kh,
                        .kw = c->kw, .sh = c->stride, .sw = c->stride, .ph = c->pad, .pw = c->pad};
    if (lpt_window_finish(&c->g) != 0) {
        lpt_error_set("layer %s (conv2d): kernel %dx%d with pad %d does not fit input %dx%d",
                      l->name, c->kh, c->kw, c->pad, in->dim[2], in->dim[3]);
        return -1;
    }
    if ((long)b->batch * c->g.oh * c->g.ow > (1L << 30) || (long)c->g.c * c->kh * c->kw > (1L << 30)) {
        lpt_error_set("layer %s (conv2d): batch %d of %dx%d outputs is more than lpt's products take (2^30 columns)",
                      l->name, b->batch, c->g.oh, c->g.ow);
        return -1;
    }
    const int k = c->g.c * c->kh * c->kw, np = b->batch * c->g.oh * c->g.ow;
    *out = lpt_shape_make(4, (int[]){b->batch, c->out, c->g.oh, c->g.ow});
    c->w = lpt_tensor_make(LPT_FMT_FP32, 4, (int[]){c->out, c->g.c, c->kh, c->kw});
    c->dw = c->w;
    lpt_arena_reserve(b->params, &c->w);
    lpt_arena_reserve(b->grads, &c->dw);
    if (c->bias) {
        c->b = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){c->out});
        c->db = c->b;
        lpt_arena_reserve(b->params, &c->b);
        lpt_arena_reserve(b->grads, &c->db);
    }
    c->col = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){k, np});
    c->t = lpt_tensor_make(LPT_FMT_FP32, 2, (int[]){c->out, np});
    /* lifetimes (the memory planner): the columns are kept for dW, unless planned, when the
     * backward pass makes them again from X as the forward pass used it (kept instead:
     * 1/(KH KW) of their size); t, dyq and xq are scratch of either pass; W as used is kept */
    const int f = lpt_phase_fwd(b, l->index), bw = lpt_phase_bwd(b, l->index);
    c->recompute_col = b->plan;
    lpt_layer_reserve(b, l, &c->col, "columns", b->plan ? lpt_live_scratch(b, l->index) : lpt_live_span(f, bw));
    lpt_layer_reserve(b, l, &c->t, "product", lpt_live_scratch(b, l->index));
    c->xq = lpt_tensor_make(LPT_FMT_FP32, 4, in->dim);
    c->wq = c->w;
    c->dyq = lpt_tensor_make(LPT_FMT_FP32, 4, out->dim);
    lpt_layer_reserve(b, l, &c->xq, "xq", b->plan ? lpt_live_span(f, bw) : lpt_live_scratch(b, l->index));
    lpt_layer_reserve(b, l, &c->wq, "wq", lpt_live_span(f, bw));
    lpt_layer_reserve(b, l, &c->dyq, "dyq", lpt_live_scratch(b, l->index));
    if (c->bias) {
        c->bq = c->b;
        lpt_layer_reserve(b, l, &c->bq, "bq", lpt_live_span(f, f));
    }
    return 0;
}

/* One path for every precision (qlayer.h; fp32 is the identity): X and W at their
 * quantization points, im2col of the grid values, the exact product, the bias in the
 * accumulator, Y requantized (with the ReLU that follows, fused). */
static void conv_forward(lpt_layer *l, const lpt_ctx *cx, const lpt_tensor *x, lpt_tensor *y) {
    conv2d *c = l->priv;
    lpt_backend *be = cx->be;
    const lpt_qpoints *qp = &c->qs;
    const int k = c->g.c * c->kh * c->kw, p = c->g.oh * c->g.ow, np = cx->n * p;
    float *yv = lpt_tensor_f32(y), *t = lpt_tensor_f32(&c->t), *col = lpt_tensor_f32(&c->col);
    const float *xq = c->x_used = lpt_q_input(cx, qp->x, (size_t)cx->n * c->g.c * c->g.h * c->g.w, x, &c->xq);
    c->w_used = lpt_q_input(cx, qp->w, (size_t)c->out * k, &c->w, &c->wq);
    be->im2col(be, &c->g, cx->n, xq, col);
    lpt_q_gemm(cx, qp->w, qp->x, qp->y, 0, 0, c->out, np, k, c->w_used, k, col, np, t, np);
    const float *bias = c->bias ? lpt_q_bias(cx, qp->x, qp->w, c->out, lpt_tensor_f32(&c->b), lpt_tensor_f32(&c->bq))
                                : NULL;
    const size_t ny = (size_t)cx->n * c->out * p;
    /* Y before its quantization point, in dyq (free until the backward pass) */
    float *pre = lpt_q_pre(cx, yv, lpt_tensor_f32(&c->dyq));
    be->conv_out_fwd(be, cx->n, c->out, p, t, bias, pre);
    if (lpt_q_fused_relu(cx, qp->y, l)) be->relu_fwd(be, ny, pre, pre);
    lpt_q_output(cx, qp->y, ny, pre, yv);
    lpt_q_mark(cx, qp->y, y);
}

/* dY at its quantization point; dW = dY colᵀ (exact, then FP32); dX = col2im(Wᵀ dY),
 * requantized */
static void conv_backward(lpt_layer *l, const lpt_ctx *cx, const lpt_tensor *x, const lpt_tensor *y,
                          const lpt_tensor *dy, lpt_tensor *dx) {
    (void)x;
    (void)y;
    conv2d *c = l->priv;
    lpt_backend *be = cx->be;
    const lpt_qpoints *qp = &c->qs;
    const int k = c->g.c * c->kh * c->kw, p = c->g.oh * c->g.ow, np = cx->n * p;
    float *t = lpt_tensor_f32(&c->t), *col = lpt_tensor_f32(&c->col);
    const float *dyq = lpt_q_input(cx, qp->dy, (size_t)cx->n * c->out * p, dy, &c->dyq);
    if (c->recompute_col) be->im2col(be, &c->g, cx->n, c->x_used, col); /* exact: the same columns */
    be->conv_out_bwd(be, cx->n, c->out, p, dyq, t, c->bias ? lpt_tensor_f32(&c->db) : NULL);
    // dW (OC, K) = t (OC, NP) colᵀ (NP, K)
    lpt_q_gemm(cx, qp->dy, qp->x, -1, 0, 1, c->out, k, np, t, np, col, np, lpt_tensor_f32(&c->dw), k);
    if (!dx) return;
    // col (K, NP) = Wᵀ (K, OC) t (OC, NP)
    lpt_q_gemm(cx, qp->w, qp->dy, qp->dx, 1, 0, k, np, c->out, c->w_used, k, t, np, col, np);
    const size_t nx = (size_t)cx->n * c->g.c * c->g.h * c->g.w;
    float *pre = lpt_q_pre(cx, lpt_tensor_f32(dx), lpt_tensor_f32(&c->xq)); /* xq is free in the backward pass */
    be->col2im(be, &c->g, cx->n, col, pre);
    lpt_q_output(cx, qp->dx, nx, pre, lpt_tensor_f32(dx));
    lpt_q_mark(cx, qp->dx, dx);
}

static void conv_register_q(lpt_layer *l, lpt_qconfig *q) { lpt_q_register(&((conv2d *)l->priv)->qs, q, l); }

static int conv_params(lpt_layer *l, lpt_param *out) {
    conv2d *c = l->priv;
    const int fan_in = c->g.c * c->kh * c->kw;
    if (out) {
        lpt_param_set(&out[0], l, "weight", &c->w, &c->dw, 1, fan_in, 0.0f);
        if (c->bias) lpt_param_set(&out[1], l, "bias", &c->b, &c->db, 0, 0, 0.0f);
    }
    return c->bias ? 2 : 1;
}

static void conv_describe(const lpt_layer *l, char *buf, size_t n) {
    const conv2d *c = l->priv;
    snprintf(buf, n, "conv2d %d@%dx%d stride %d pad %d%s", c->out, c->kh, c->kw, c->stride,
             c->pad, c->bias ? "" : " no-bias");
}

static void conv_free(lpt_layer *l) { free(l->priv); }

static const lpt_window *conv_window(const lpt_layer *l) { return &((const conv2d *)l->priv)->g; }

static const lpt_layer_ops conv2d_ops = {
    .type = "conv2d",
    .plan_keep = conv_plan_keep,
    .bwd_reads = LPT_READS_X_DW,
    .setup = conv_setup,
    .forward = conv_forward,
    .backward = conv_backward,
    .register_q = conv_register_q,
    .params = conv_params,
    .describe = conv_describe,
    .free = conv_free,
    .window = conv_window,
};

int lpt_conv2d_create(lpt_layer_args *a, lpt_layer *l) {
    conv2d *c = lpt_xcalloc(1, sizeof *c);
    int k = 0;
    c->stride = 1;
    c->bias = 1;
    c->kh = c->kw = 0;
    if (lpt_args_int(a, "out", 1, 1, 1 << 16, &c->out) || lpt_args_int(a, "k", 0, 1, 64, &k) ||
        lpt_args_int(a, "stride", 0, 1, 64, &c->stride) ||
        lpt_args_int(a, "pad", 0, 0, 64, &c->pad) || lpt_args_int(a, "bias", 0, 0, 1, &c->bias)) {
        free(c);
        return -1;
    }
    c->kh = c->kw = k;
    if (lpt_args_int(a, "kh", 0, 1, 64, &c->kh) || lpt_args_int(a, "kw", 0, 1, 64, &c->kw)) {
        free(c);
        return -1;
    }
    if (c->kh == 0 || c->kw == 0) {
        lpt_error_set("%s: conv2d needs a kernel size: k=N (or kh=N kw=N)", a->where);
        free(c);
        return -1;
    }
    l->ops = &conv2d_ops;
    l->priv = c;
    return 0;
}
