/* net.c - building and running a sequential network. */
#include "src/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/rng.h"
#include "src/base/util.h"

/* Create layer i of spec, name it, and set it up on input shape *cur. */
static int add_layer(lpt_net *net, const lpt_model_spec *spec, int i, lpt_shape *cur, lpt_build *b) {
    const lpt_spec_layer *S = &spec->layers[i];
    lpt_layer *l = &net->layers[i];
    lpt_kv kv[LPT_SPEC_MAX_KV];
    memcpy(kv, S->kv, sizeof kv);
    lpt_layer_args args = {.kv = kv, .count = S->nkv, .where = S->where};
    l->index = i;
    if (lpt_layer_create(S->type, &args, l) != 0) return -1;
    net->nlayers = i + 1;
    if (S->name[0]) {
        snprintf(l->name, sizeof l->name, "%s", S->name);
    } else { /* relu3, maxpool1, ...: numbered per type */
        int same = 1;
        for (int j = 0; j < i; j++) same += net->layers[j].ops == l->ops;
        snprintf(l->name, sizeof l->name, "%s%d", l->ops->type, same);
    }
    for (int j = 0; j < i; j++)
        if (strcmp(net->layers[j].name, l->name) == 0) {
            lpt_error_set("%s: layer name '%s' is used twice", S->where, l->name);
            return -1;
        }
    l->in = *cur;
    if (l->ops->setup(l, cur, &l->out, b) != 0) {
        lpt_error_prefix("%s", S->where);
        return -1;
    }
    return 0;
}

int lpt_net_build(lpt_net *net, lpt_backend *be, const lpt_model_spec *spec, int batch) {
    return lpt_net_build_plan(net, be, spec, batch, 0);
}

/* The memory planner's lifetimes of the layers' outputs: layer i's output is in use
 * from its forward pass until the last of: the next layer's forward pass, the next
 * layer's dW product or whole backward pass when that reads its X, layer i's own
 * backward pass when it reads its Y (the loss, for the last layer). A layer that may run
 * in place (ReLU) writes its output over its input (when the layer before does not read
 * its own output backward) and its dX over its dY unless that raises the peak: sharing
 * joins two lifetimes into one, which can also leave less room to the others, so each
 * such layer is tried in turn and kept in place unless the planned bytes grow. Before
 * that, a layer that can either keep a tensor for its backward pass or compute it again
 * (conv2d's columns) keeps it unless that raises the planned bytes: the time is spent
 * only where it buys memory. */
static void plan_outputs(lpt_net *net, const lpt_build *b) {
    const int nl = net->nlayers;
    lpt_arena *w = &net->work;
    for (int i = 0; i < nl; i++) {
        const lpt_layer_ops *o = net->layers[i].ops, *next = i + 1 < nl ? net->layers[i + 1].ops : NULL;
        int to = next ? lpt_phase_fwd(b, i + 1) : lpt_phase_loss(b);
        if (next && (next->bwd_reads & LPT_READS_X_DW)) to = lpt_phase_bwd_dw(b, i + 1);
        if (next && (next->bwd_reads & LPT_READS_X)) to = lpt_phase_bwd(b, i + 1);
        if (o->bwd_reads & LPT_READS_Y) to = lpt_phase_bwd(b, i);
        lpt_arena_relive(w, &net->act[i + 1], lpt_live_span(lpt_phase_fwd(b, i), to));
    }
    size_t best = lpt_arena_plan_bytes(w);
    for (int i = 0; i < nl; i++) { /* keeping instead of computing again, unless the peak grows */
        lpt_layer *l = &net->layers[i];
        if (!l->ops->plan_keep) continue;
        l->ops->plan_keep(l, b, 1);
        const size_t bytes = lpt_arena_plan_bytes(w);
        if (bytes <= best) best = bytes;
        else l->ops->plan_keep(l, b, 0);
    }
    lpt_live *base = lpt_xmalloc((size_t)w->count * sizeof *base + 1);
    int *alias = lpt_xmalloc((size_t)w->count * sizeof *alias + 1);
    for (int i = 1; i < nl; i++) {
        if (!net->layers[i].ops->in_place) continue;
        memcpy(base, w->live, (size_t)w->count * sizeof *base); /* the plan so far, to go back to */
        memcpy(alias, w->alias, (size_t)w->count * sizeof *alias);
        if (!(net->layers[i - 1].ops->bwd_reads & LPT_READS_Y)) lpt_arena_alias(w, &net->act[i + 1], &net->act[i]);
        lpt_arena_alias(w, &net->dact[i], &net->dact[i + 1]);
        const size_t bytes = lpt_arena_plan_bytes(w);
        if (bytes <= best) {
            best = bytes;
            continue;
        }
        memcpy(w->live, base, (size_t)w->count * sizeof *base);
        memcpy(w->alias, alias, (size_t)w->count * sizeof *alias);
    }
    free(base), free(alias);
}

int lpt_net_build_plan(lpt_net *net, lpt_backend *be, const lpt_model_spec *spec, int batch, int flags) {
    memset(net, 0, sizeof *net);
    net->be = be;
    net->batch = batch;
    lpt_arena_init(&net->params, be);
    lpt_arena_init(&net->grads, be);
    lpt_arena_init(&net->work, be);
    const int plan = (flags & LPT_NET_PLAN) != 0, dry = (flags & LPT_NET_DRY) != 0;
    net->work.plan = plan;
    net->params.dry = net->grads.dry = net->work.dry = dry;
    net->layers = lpt_xcalloc((size_t)spec->nlayers, sizeof *net->layers);
    net->act = lpt_xcalloc((size_t)spec->nlayers + 1, sizeof *net->act);
    net->dact = lpt_xcalloc((size_t)spec->nlayers + 1, sizeof *net->dact);
    lpt_build b = {.params = &net->params, .grads = &net->grads, .work = &net->work, .batch = batch,
                   .nlayers = spec->nlayers, .plan = plan};
    lpt_shape cur = lpt_shape_make(4, (int[]){batch, spec->in_c, spec->in_h, spec->in_w});
    net->act[0] = (lpt_tensor){.shape = cur, .fmt = LPT_FMT_FP32};
    /* lifetimes: the input until the first layer's backward pass; a layer's output from
     * its forward pass to its backward pass (the next layer reads it in between); the
     * gradient of a layer's output from the next layer's backward pass (or the loss) to
     * its own */
    lpt_arena_reserve_live(&net->work, &net->act[0], "input", lpt_live_span(0, lpt_phase_bwd(&b, 0)));
    for (int i = 0; i < spec->nlayers; i++) {
        if (add_layer(net, spec, i, &cur, &b)) goto fail;
        lpt_layer *l = &net->layers[i];
        cur = l->out;
        net->act[i + 1] = (lpt_tensor){.shape = cur, .fmt = LPT_FMT_FP32};
        net->dact[i + 1] = net->act[i + 1];
        const int from = i + 1 < spec->nlayers ? lpt_phase_bwd(&b, i + 1) : lpt_phase_loss(&b);
        /* (the output's end is known once the next layer is: below) */
        lpt_layer_reserve(&b, l, &net->act[i + 1], "y", lpt_live_span(lpt_phase_fwd(&b, i), lpt_phase_bwd(&b, i)));
        lpt_layer_reserve(&b, l, &net->dact[i + 1], "dy", lpt_live_span(from, lpt_phase_bwd(&b, i)));
        net->np += l->ops->params(l, NULL);
    }
    if (plan) plan_outputs(net, &b);
    if (cur.ndim != 2) {
        char s[64];
        lpt_shape_format(&cur, 1, s, sizeof s);
        lpt_error_set("%s: the last layer must give class scores (N x classes), got %s; end with "
                      "flatten and linear", spec->origin, s);
        goto fail;
    }
    for (int i = 0; i + 1 < net->nlayers; i++)
        net->layers[i].relu_after = net->layers[i + 1].ops->relu;
    net->classes = cur.dim[1];
    if (net->classes < 2) {
        lpt_error_set("%s: the last layer gives %d class score; need at least 2", spec->origin,
                      net->classes);
        goto fail;
    }
    net->prob = (lpt_tensor){.shape = cur, .fmt = LPT_FMT_FP32};
    net->labels = lpt_tensor_make(LPT_FMT_I32, 1, (int[]){batch});
    lpt_arena_reserve_live(&net->work, &net->prob, "softmax", lpt_live_span(lpt_phase_loss(&b), lpt_phase_loss(&b)));
    /* the labels for the whole step: a low-precision run's first step calibrates with a
     * whole forward and backward pass before its loss */
    lpt_arena_reserve_live(&net->work, &net->labels, "labels", (lpt_live){0});
    net->p = lpt_xcalloc((size_t)net->np + 1, sizeof *net->p);
    int k = 0;
    for (int i = 0; i < net->nlayers; i++) k += net->layers[i].ops->params(&net->layers[i], net->p + k);
    if (lpt_arena_commit(&net->params) || lpt_arena_commit(&net->grads) ||
        lpt_arena_commit(&net->work))
        goto fail;
    if (dry) return 0; /* sizes only */
    net->nres = LPT_RES_LAYERS + net->nlayers + 2 * net->np;
    net->res_host = lpt_xcalloc((size_t)net->nres, sizeof *net->res_host);
    if (!(net->res = be->alloc(be, (size_t)net->nres * sizeof *net->res))) {
        lpt_error_set("out of backend memory for %d result slots", net->nres);
        goto fail;
    }
    lpt_net_res_clear(net);
    return 0;
fail:
    lpt_net_free(net);
    return -1;
}

void lpt_net_free(lpt_net *net) {
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].ops) net->layers[i].ops->free(&net->layers[i]);
    lpt_arena_free(&net->params);
    lpt_arena_free(&net->grads);
    lpt_arena_free(&net->work);
    if (net->res) net->be->free(net->be, net->res);
    free(net->res_host);
    free(net->layers);
    free(net->act);
    free(net->dact);
    free(net->p);
    memset(net, 0, sizeof *net);
}

void lpt_net_init(lpt_net *net, uint64_t seed) {
    for (int i = 0; i < net->np; i++) {
        lpt_param *p = &net->p[i];
        size_t n = lpt_tensor_count(p->value);
        float *h = lpt_xmalloc(n * sizeof *h);
        float bound = p->fan_in > 0 ? sqrtf(6.0f / (float)p->fan_in) : 0.0f;
        for (size_t j = 0; j < n; j++)
            h[j] = p->fan_in > 0
                       ? bound * (2.0f * lpt_rng_uniform(seed, ((uint64_t)LPT_STREAM_INIT << 32) | (uint64_t)i, j) - 1.0f)
                       : p->init_value;
        net->be->to_device(net->be, p->value->data, h, n * sizeof *h);
        free(h);
    }
}

void lpt_net_res_clear(lpt_net *net) {
    memset(net->res_host, 0, (size_t)net->nres * sizeof *net->res_host);
    net->be->zero(net->be, net->res, (size_t)net->nres * sizeof *net->res);
}

void lpt_net_res_read(lpt_net *net) {
    lpt_backend_read(net->be, net->res_host, net->res, (size_t)net->nres * sizeof *net->res);
}

void lpt_net_forward(lpt_net *net, const lpt_ctx *c, int check) {
    for (int i = 0; i < net->nlayers; i++) {
        lpt_layer *l = &net->layers[i];
        if (c->layer_begin) c->layer_begin(c->layer_begin_arg, i);
        double t0 = net->t_fwd ? lpt_time_now() : 0.0;
        l->ops->forward(l, c, &net->act[i], &net->act[i + 1]);
        if (net->t_fwd) net->t_fwd[i] += lpt_time_now() - t0;
        if (check)
            c->be->count_nonfinite(c->be, (size_t)c->n * lpt_shape_item_count(&l->out),
                                   lpt_tensor_f32(&net->act[i + 1]), net->res + lpt_res_layer(net, i));
    }
}

int lpt_net_first_nonfinite(const lpt_net *net) {
    for (int i = 0; i < net->nlayers; i++)
        if (net->res_host[lpt_res_layer(net, i)] > 0) return i;
    return -1;
}

void lpt_net_set_batch(lpt_net *net, int n, const float *x, const int32_t *labels) {
    lpt_backend *be = net->be;
    be->to_device(be, net->act[0].data, x, (size_t)n * lpt_shape_item_count(&net->act[0].shape) * sizeof *x);
    be->to_device(be, net->labels.data, labels, (size_t)n * sizeof *labels);
}

void lpt_net_loss(lpt_net *net, const lpt_ctx *c) {
    lpt_backend *be = c->be;
    be->xent_fwd(be, c->n, net->classes, lpt_tensor_f32(&net->act[net->nlayers]), net->labels.data,
                 lpt_tensor_f32(&net->prob), net->res + LPT_RES_LOSS);
}

void lpt_net_backward(lpt_net *net, const lpt_ctx *c) {
    lpt_backend *be = c->be;
    be->xent_bwd(be, c->n, net->classes, lpt_tensor_f32(&net->prob), net->labels.data,
                 1.0f / (float)(c->loss_items > c->n ? c->loss_items : c->n), c->loss_scale,
                 lpt_tensor_f32(&net->dact[net->nlayers]));
    for (int i = net->nlayers - 1; i >= 0; i--) {
        lpt_layer *l = &net->layers[i];
        double t0 = net->t_bwd ? lpt_time_now() : 0.0;
        l->ops->backward(l, c, &net->act[i], &net->act[i + 1], &net->dact[i + 1],
                         i > 0 ? &net->dact[i] : NULL);
        if (net->t_bwd) net->t_bwd[i] += lpt_time_now() - t0;
        if (c->layer_done) c->layer_done(c->layer_done_arg, i);
    }
}

size_t lpt_net_param_count(const lpt_net *net) {
    size_t n = 0;
    for (int i = 0; i < net->np; i++)
        if (net->p[i].grad) n += lpt_tensor_count(net->p[i].value);
    return n;
}

void lpt_net_print(const lpt_net *net, FILE *f) {
    char in[64], d[128];
    lpt_shape_format(&net->act[0].shape, 1, in, sizeof in);
    fprintf(f, "  %-10s %-36s %s\n", "input", "", in);
    for (int i = 0; i < net->nlayers; i++) {
        const lpt_layer *l = &net->layers[i];
        l->ops->describe(l, d, sizeof d);
        lpt_shape_format(&l->out, 1, in, sizeof in);
        fprintf(f, "  %-10s %-36s %s\n", l->name, d, in);
    }
    fprintf(f, "  loss: softmax cross-entropy over %d classes; %zu parameters\n", net->classes,
            lpt_net_param_count(net));
}

lpt_param *lpt_net_find_param(lpt_net *net, const char *name) {
    for (int i = 0; i < net->np; i++)
        if (strcmp(net->p[i].name, name) == 0) return &net->p[i];
    return NULL;
}

int lpt_net_check_spec(const lpt_model_spec *spec) {
    lpt_backend *be = lpt_backend_create("ref", 1);
    if (!be) return -1;
    lpt_net net;
    int rc = lpt_net_build(&net, be, spec, 1);
    if (rc == 0) lpt_net_free(&net);
    lpt_backend_destroy(be);
    return rc;
}
