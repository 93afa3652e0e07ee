/* pool.c - max and average pooling (one file: they share geometry and options). */
#include <stdio.h>
#include <stdlib.h>

#include "src/layer.h"
#include "src/base/util.h"
#include "src/layers/layers.h"

typedef struct {
    int max; /* 1: max pooling, 0: average */
    int k, stride, pad;
    lpt_window g;
    lpt_tensor idx; /* max: argmax per output (int32) */
} pool;

static int pool_setup(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b) {
    pool *p = l->priv;
    if (in->ndim != 4) {
        lpt_error_set("layer %s (%s): needs an image input (C x H x W)", l->name, l->ops->type);
        return -1;
    }
    p->g = (lpt_window){.c = in->dim[1], .h = in->dim[2], .w = in->dim[3], .kh = p->k,
                        .kw = p->k, .sh = p->stride, .sw = p->stride, .ph = p->pad, .pw = p->pad};
    if (lpt_window_finish(&p->g) != 0 || p->pad * 2 > p->k) {
        lpt_error_set("layer %s (%s): window %d with pad %d does not fit input %dx%d", l->name,
                      l->ops->type, p->k, p->pad, in->dim[2], in->dim[3]);
        return -1;
    }
    *out = lpt_shape_make(4, (int[]){b->batch, p->g.c, p->g.oh, p->g.ow});
    if (p->max) {
        p->idx = lpt_tensor_make(LPT_FMT_I32, 4, out->dim);
        lpt_layer_reserve(b, l, &p->idx, "argmax", lpt_live_span(lpt_phase_fwd(b, l->index), lpt_phase_bwd(b, l->index)));
    }
    return 0;
}

static void pool_forward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y) {
    pool *p = l->priv;
    if (p->max) {
        c->be->maxpool_fwd(c->be, &p->g, c->n, lpt_tensor_f32(x), lpt_tensor_f32(y), p->idx.data);
        lpt_tensor_keep_grid(y, x);
    } else {
        c->be->avgpool_fwd(c->be, &p->g, c->n, lpt_tensor_f32(x), lpt_tensor_f32(y));
    }
}

static void pool_backward(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x,
                          const lpt_tensor *y, const lpt_tensor *dy, lpt_tensor *dx) {
    (void)x;
    (void)y;
    pool *p = l->priv;
    if (!dx) return;
    if (p->max)
        c->be->maxpool_bwd(c->be, &p->g, c->n, lpt_tensor_f32(dy), p->idx.data, lpt_tensor_f32(dx));
    else
        c->be->avgpool_bwd(c->be, &p->g, c->n, lpt_tensor_f32(dy), lpt_tensor_f32(dx));
}

static int pool_params(lpt_layer *l, lpt_param *out) {
    (void)l;
    (void)out;
    return 0;
}

static void pool_describe(const lpt_layer *l, char *buf, size_t n) {
    const pool *p = l->priv;
    snprintf(buf, n, "%s %dx%d stride %d pad %d", l->ops->type, p->k, p->k, p->stride, p->pad);
}

static void pool_free(lpt_layer *l) { free(l->priv); }

static const lpt_layer_ops maxpool_ops = {
    .type = "maxpool",
    .bwd_reads = LPT_READS_NONE,
    .setup = pool_setup,
    .forward = pool_forward,
    .backward = pool_backward,
    .params = pool_params,
    .describe = pool_describe,
    .free = pool_free,
};

static const lpt_layer_ops avgpool_ops = {
    .type = "avgpool",
    .bwd_reads = LPT_READS_NONE,
    .setup = pool_setup,
    .forward = pool_forward,
    .backward = pool_backward,
    .params = pool_params,
    .describe = pool_describe,
    .free = pool_free,
};

static int pool_create(lpt_layer_args *a, lpt_layer *l, int max) {
    pool *p = lpt_xcalloc(1, sizeof *p);
    p->max = max;
    if (lpt_args_int(a, "k", 1, 1, 64, &p->k)) {
        free(p);
        return -1;
    }
    p->stride = p->k;
    if (lpt_args_int(a, "stride", 0, 1, 64, &p->stride) || lpt_args_int(a, "pad", 0, 0, 32, &p->pad)) {
        free(p);
        return -1;
    }
    l->ops = max ? &maxpool_ops : &avgpool_ops;
    l->priv = p;
    return 0;
}

int lpt_maxpool_create(lpt_layer_args *a, lpt_layer *l) { return pool_create(a, l, 1); }
int lpt_avgpool_create(lpt_layer_args *a, lpt_layer *l) { return pool_create(a, l, 0); }
