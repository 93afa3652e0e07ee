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
    /* when set (nlayers entries each), forward/backward add each layer's wall time;
     * for profiling (`lpt bench --profile`), meaningful for synchronous backends */
    double *t_fwd, *t_bwd;
} lpt_net;

/* Build `spec` for batches of up to `batch`; 0 or -1 with an error naming the layer. */
int lpt_net_build(lpt_net *net, lpt_backend *be, const lpt_model_spec *spec, int batch);
void lpt_net_free(lpt_net *net);
/* Build `spec` once (batch 1, reference backend) and free it: 0, or -1 with the error
 * lpt_net_build gives (a layer option or shape that does not fit). */
int lpt_net_check_spec(const lpt_model_spec *spec);

/* Seeded initialization: He-uniform weights (bound sqrt(6 / fan_in)), zero biases,
 * batch-norm scale 1; each parameter draws from its own counter-based stream. */
void lpt_net_init(lpt_net *net, uint64_t seed);

/* Forward pass over act[0] for c->n items. With `check`, returns the index of the first
 * layer whose output holds NaN or Inf (-1 when none). */
int lpt_net_forward(lpt_net *net, const lpt_ctx *c, int check);
/* Softmax cross-entropy against `labels` (device copy made here): summed loss. */
double lpt_net_loss(lpt_net *net, const lpt_ctx *c, const int32_t *host_labels, int *correct);
/* Backward from the loss (mean over the batch) to every parameter gradient. */
void lpt_net_backward(lpt_net *net, const lpt_ctx *c);

size_t lpt_net_param_count(const lpt_net *net); /* learnable scalars */
void lpt_net_print(const lpt_net *net, FILE *f);
/* Parameter by name or NULL. */
lpt_param *lpt_net_find_param(lpt_net *net, const char *name);

#endif
