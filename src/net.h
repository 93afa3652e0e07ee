/* net.h - a network: a sequence of layers ending in softmax cross-entropy, with one
 * arena each for parameters, gradients and activations/workspaces. */
#ifndef LPT_NET_H
#define LPT_NET_H

#include <stdint.h>
#include <stdio.h>

#include "src/layer.h"
#include "src/model.h"

typedef struct {
    lpt_backend *be;
    int nlayers;
    lpt_layer *layers;
    int batch;   /* largest batch */
    int classes; /* outputs of the last layer */
    lpt_tensor *act;  /* nlayers + 1: act[0] is the input, act[i+1] the output of layer i */
    lpt_tensor *dact; /* nlayers + 1: gradients of the activations (dact[0] unused) */
    lpt_tensor prob;  /* softmax of the logits */
    lpt_tensor labels;
    lpt_arena params, grads, work;
    lpt_param *p; /* every parameter and buffer, in layer order */
    int np;
    /* results of the step's reductions, in backend memory (lpt_net_res), read at the
     * step's one sync point into res_host */
    double *res, *res_host;
    int nres;
    /* when set (nlayers entries each), forward/backward add each layer's wall time;
     * for profiling (`lpt bench --profile`), meaningful for synchronous backends */
    double *t_fwd, *t_bwd;
} lpt_net;

/* Build `spec` for batches of up to `batch`; 0 or -1 with an error naming the layer. */
int lpt_net_build(lpt_net *net, lpt_backend *be, const lpt_model_spec *spec, int batch);
/* The same with flags: LPT_NET_PLAN, the memory planner: work tensors whose lifetimes
 * within a step do not overlap share memory, and layers keep less from forward to
 * backward (conv2d computes its im2col columns again in its backward pass); the results
 * are the same bit for bit. LPT_NET_DRY: the tensors are placed, nothing is allocated
 * (for sizes; the net cannot run). net->work.bytes and .bytes_unplanned tell the sizes. */
enum { LPT_NET_PLAN = 1, LPT_NET_DRY = 2 };
int lpt_net_build_plan(lpt_net *net, lpt_backend *be, const lpt_model_spec *spec, int batch, int flags);
void lpt_net_free(lpt_net *net);
/* Build `spec` once (batch 1, reference backend) and free it: 0, or -1 with the error
 * lpt_net_build gives (a layer option or shape that does not fit). */
int lpt_net_check_spec(const lpt_model_spec *spec);

/* Seeded initialization: He-uniform weights (bound sqrt(6 / fan_in)), zero biases,
 * batch-norm scale 1; each parameter draws from its own counter-based stream. */
void lpt_net_init(lpt_net *net, uint64_t seed);

/* Result slots (doubles in backend memory): the summed loss, the correct predictions,
 * per layer the non-finite values of its output, per parameter the non-finite and the
 * nonzero values of its gradient. */
enum { LPT_RES_LOSS = 0, LPT_RES_CORRECT = 1, LPT_RES_LAYERS = 2 };
static inline int lpt_res_layer(const lpt_net *n, int layer) { (void)n; return LPT_RES_LAYERS + layer; }
static inline int lpt_res_grad_nonfinite(const lpt_net *n, int p) { return LPT_RES_LAYERS + n->nlayers + p; }
static inline int lpt_res_grad_nonzero(const lpt_net *n, int p) { return LPT_RES_LAYERS + n->nlayers + n->np + p; }
/* Zero every result slot (no sync). */
void lpt_net_res_clear(lpt_net *net);
/* The sync point: copy every result slot to net->res_host. */
void lpt_net_res_read(lpt_net *net);

/* Forward pass over act[0] for c->n items. With `check`, each layer's non-finite outputs
 * are counted into its result slot (lpt_net_first_nonfinite tells after the read). */
void lpt_net_forward(lpt_net *net, const lpt_ctx *c, int check);
/* After lpt_net_res_read: the first layer whose output held NaN or Inf, or -1. */
int lpt_net_first_nonfinite(const lpt_net *net);
/* A batch of n items from host memory into the input (act[0]) and the labels (tests and
 * benchmarks; training gathers its batches in backend memory, src/feed.h). */
void lpt_net_set_batch(lpt_net *net, int n, const float *x, const int32_t *labels);
/* Softmax cross-entropy against the labels (net->labels, backend memory): the summed
 * loss and the correct predictions go to their result slots. */
void lpt_net_loss(lpt_net *net, const lpt_ctx *c);
/* Backward from the loss (mean over the batch) to every parameter gradient. */
void lpt_net_backward(lpt_net *net, const lpt_ctx *c);

size_t lpt_net_param_count(const lpt_net *net); /* learnable scalars */
void lpt_net_print(const lpt_net *net, FILE *f);
/* Parameter by name or NULL. */
lpt_param *lpt_net_find_param(lpt_net *net, const char *name);

#endif
