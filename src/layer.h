/* layer.h - the layer interface.
 *
 * A layer is a table of operations plus private state. Adding a layer type means one
 * source file in src/layers/ and one line in the registry (src/layers/registry.c).
 * Layers compute only through the backend table (kernels/backend.h). */
#ifndef LPT_LAYER_H
#define LPT_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "src/tensor.h"

typedef struct lpt_layer lpt_layer;

/* A learnable parameter (grad != NULL) or a persistent buffer such as a running
 * statistic (grad == NULL). Both are saved in checkpoints. */
typedef struct {
    char name[48];   /* "<layer>.<what>", e.g. "conv1.weight" */
    lpt_tensor *value;
    lpt_tensor *grad;
    int decay;       /* weight decay applies */
    int fan_in;      /* > 0: He-uniform init with this fan-in; 0: constant init_value */
    float init_value;
} lpt_param;

#define LPT_LAYER_MAX_PARAMS 4

typedef struct lpt_qconfig lpt_qconfig; /* low-precision semantics: src/qlayer.h */
typedef struct lpt_tap lpt_tap;         /* observers of the quantization points: src/qlayer.h */

/* What a step needs to know. */
typedef struct {
    lpt_backend *be;
    const lpt_qconfig *quant; /* the quantization points' configuration; NULL: an fp32 run */
    int n;         /* batch items in this step (<= the batch the net was built for) */
    int train;     /* training mode: batch statistics, dropout */
    uint64_t seed; /* run seed, for counter-based randomness */
    uint64_t step; /* global step */
    const float *loss_scale; /* fp16 training: the loss gradient is multiplied by loss_scale[0] (backend memory; NULL: 1) */
    const lpt_tap *tap;      /* NULL, or told every quantized tensor and product of the step (golden vectors, FP32 shadow) */
    uint64_t draw;           /* 0, or 1 + the counter of this pass's random draws (a shard of a step: src/step.h) */
    int loss_items;          /* 0, or the items the loss is averaged over when they are more than n (shards) */
    /* NULL, or told after each layer's backward pass (its parameter gradients are then
     * queued): data parallelism starts exchanging them while the others go on */
    void (*layer_done)(void *arg, int layer);
    void *layer_done_arg;
    /* NULL, or told before each layer's forward pass: data parallelism finishes the
     * layer's update from the step before (its exchange) first */
    void (*layer_begin)(void *arg, int layer);
    void *layer_begin_arg;
    /* shards: a layer with running statistics leaves this pass's update of them in its
     * contribution buffer (lpt_layer_ops.running_contrib) instead of applying it */
    int running_deferred;
} lpt_ctx;

/* the step counter of the pass's random draws (dropout, stochastic rounding) */
static inline uint64_t lpt_ctx_draw(const lpt_ctx *c) { return c->draw ? c->draw - 1 : c->step; }

/* Where setup reserves its tensors. */
typedef struct {
    lpt_arena *params; /* parameter and buffer values */
    lpt_arena *grads;  /* parameter gradients */
    lpt_arena *work;   /* activations and workspaces */
    int batch;         /* largest batch */
    int nlayers;       /* of the network: the phases of a step below */
    int plan;          /* the memory planner is on: keep less from forward to backward */
} lpt_build;

/* The phases of a training step, in order, for the lifetimes of work tensors (the memory
 * planner: a work tensor declares the phases it is in use with lpt_arena_reserve_live;
 * tensors whose phases do not overlap may share memory): 0 the batch arrives, then the
 * forward pass of each layer, the loss, then the backward pass of each layer from the
 * last, in two phases: its dW product (a layer with parameters computes their gradients
 * first), then its dX product (the gradient for the layer below; a layer without
 * parameters does all its work here). dW first is the order that lets X die before dX
 * is born: both products read dY, only dW reads X, only dX writes dX. */
static inline int lpt_phase_fwd(const lpt_build *b, int layer) { (void)b; return 1 + layer; }
static inline int lpt_phase_loss(const lpt_build *b) { return 1 + b->nlayers; }
static inline int lpt_phase_bwd_dw(const lpt_build *b, int layer) { return 2 + b->nlayers + 2 * (b->nlayers - 1 - layer); }
/* the layer's dX product: the end of its backward pass */
static inline int lpt_phase_bwd(const lpt_build *b, int layer) { return lpt_phase_bwd_dw(b, layer) + 1; }
/* in use from phase `from` through `to` */
static inline lpt_live lpt_live_span(int from, int to) { return (lpt_live){1, {from, 0}, {to, 0}}; }
/* a scratch buffer of a layer's forward pass and of its whole backward pass */
static inline lpt_live lpt_live_scratch(const lpt_build *b, int layer) {
    return (lpt_live){2, {lpt_phase_fwd(b, layer), lpt_phase_bwd_dw(b, layer)}, {lpt_phase_fwd(b, layer), lpt_phase_bwd(b, layer)}};
}
/* reserve a layer's work tensor "<layer>.<what>" */
void lpt_layer_reserve(lpt_build *b, const lpt_layer *l, lpt_tensor *t, const char *what, lpt_live live);

/* What a layer's backward pass reads of its forward pass's tensors (the memory planner
 * keeps them that long; every layer type states it) */
#define LPT_READS_NONE 0
#define LPT_READS_X_DW 1 /* X, until its dW product is done */
#define LPT_READS_X 2    /* X, through its whole backward pass */
#define LPT_READS_Y 4    /* Y */

typedef struct {
    const char *type;
    int relu; /* y = max(x, 0): a weighted layer before it may apply it in its requantization */
    int bwd_reads; /* LPT_READS_* */
    int in_place;  /* forward may run with y == x and backward with dx == dy (the planner lets them share) */
    /* Check the per-item input shape `in` (dim[0] = batch), set `out`, reserve tensors. */
    int (*setup)(lpt_layer *l, const lpt_shape *in, lpt_shape *out, lpt_build *b);
    /* y = f(x) for c->n items */
    void (*forward)(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, lpt_tensor *y);
    /* dx = df/dx^T dy (dx may be NULL: the first layer needs none); parameter gradients
     * are overwritten, not accumulated */
    void (*backward)(lpt_layer *l, const lpt_ctx *c, const lpt_tensor *x, const lpt_tensor *y,
                     const lpt_tensor *dy, lpt_tensor *dx);
    /* Register the layer's quantization points (NULL for layers without any; q NULL:
     * an fp32 run). Called once, when the network is built. */
    void (*register_q)(lpt_layer *l, lpt_qconfig *q);
    /* Fill out[0..k) (out may be NULL) and return k <= LPT_LAYER_MAX_PARAMS. */
    int (*params)(lpt_layer *l, lpt_param *out);
    /* One line: "conv2d 6@5x5 stride 1 pad 2". */
    void (*describe)(const lpt_layer *l, char *buf, size_t n);
    void (*free)(lpt_layer *l);
    /* The memory planner's choice (NULL: the layer has none): keep (1) from the forward to
     * the backward pass what the backward pass would otherwise compute again, or not (0,
     * what setup reserves when planned): sets the lifetimes of the tensors concerned
     * (lpt_arena_relive on b->work) and how the backward pass runs. */
    void (*plan_keep)(lpt_layer *l, const lpt_build *b, int keep);
    /* Running statistics under shards (NULL for layers without): the floats of a pass's
     * contribution, in backend memory at *buf (lpt_ctx.running_deferred); apply adds n
     * passes' contributions (host floats), in order, to the running statistics, the
     * same arithmetic on every process. */
    size_t (*running_contrib)(lpt_layer *l, const void **buf);
    void (*running_apply)(lpt_layer *l, lpt_backend *be, const float *const *contrib, int n);
    /* A convolution's window (kernel, stride, padding), for tools that recompute it
     * (lpt golden); NULL for other layers. */
    const lpt_window *(*window)(const lpt_layer *l);
} lpt_layer_ops;

struct lpt_layer {
    const lpt_layer_ops *ops;
    char name[32];
    int index;
    int relu_after; /* the next layer is a ReLU (set by lpt_net_build) */
    lpt_shape in, out; /* dim[0] = batch */
    void *priv;
};

/* Options of one layer line of a model spec: key=value pairs. */
typedef struct {
    char key[32];
    char value[64];
    int used;
} lpt_kv;

typedef struct {
    lpt_kv *kv;
    int count;
    const char *where; /* "file:line" for messages */
} lpt_layer_args;

/* Option readers: 0 on success (default kept when absent), -1 with an error naming the
 * option and `where` when malformed or out of [lo, hi]. */
int lpt_args_int(lpt_layer_args *a, const char *key, int required, int lo, int hi, int *out);
int lpt_args_float(lpt_layer_args *a, const char *key, double lo, double hi, float *out);

/* Create a layer of `type` from its options; -1 with an error naming the type and the
 * option when unknown or malformed. Unused options are an error. */
int lpt_layer_create(const char *type, lpt_layer_args *args, lpt_layer *l);
/* Comma-separated registered types, for messages and docs. */
const char *lpt_layer_types(void);

/* Helpers for layer sources. */
void lpt_param_set(lpt_param *p, const lpt_layer *l, const char *what, lpt_tensor *value,
                   lpt_tensor *grad, int decay, int fan_in, float init_value);
lpt_tensor lpt_tensor_make(lpt_format fmt, int ndim, const int *dims);

#endif
