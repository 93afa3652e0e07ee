/* step.c - one training step (step.h). */
#include "src/step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

/* fp16: S and the skipped count into backend memory, when the host's S is not the one
 * the device holds (a run's first step, and after the configuration block moved it) */
static void loss_scale_push(lpt_session *s, const lpt_step_args *a) {
    if (s->ls_host == *a->loss_scale) return;
    const lpt_loss_scale_dev v = {(double)*a->skipped, {*a->loss_scale, 1.0f / *a->loss_scale}, 0, 0};
    s->be->to_device(s->be, s->ls, &v, sizeof v);
    s->ls_host = *a->loss_scale;
}

/* fp16: what the device decided, at a read */
static void loss_scale_pull(lpt_session *s, const lpt_step_args *a) {
    lpt_loss_scale_dev v;
    lpt_backend_read(s->be, &v, s->ls, sizeof v);
    *a->skipped = (unsigned long long)v.skipped;
    *a->loss_scale = s->ls_host = v.state[0];
}

/* the reductions of the step, queued after the backward pass: gradient checks */
static void queue_grad_counts(lpt_session *s, int fp16, int health_due) {
    lpt_net *net = &s->net;
    for (int i = 0; i < net->np; i++) {
        const lpt_param *p = &net->p[i];
        if (!p->grad) continue;
        if (fp16)
            s->be->count_nonfinite(s->be, lpt_tensor_count(p->grad), lpt_tensor_f32(p->grad),
                                   net->res + lpt_res_grad_nonfinite(net, i));
        if (health_due && p->decay)
            s->be->count_nonzero(s->be, lpt_tensor_count(p->grad), lpt_tensor_f32(p->grad),
                                 net->res + lpt_res_grad_nonzero(net, i));
    }
    if (fp16) /* skip or unscale, decided on the device */
        s->be->loss_scale_check(s->be, net->np, net->res + lpt_res_grad_nonfinite(net, 0), s->ls->state,
                                &s->ls->skip, &s->ls->skipped);
}

/* the queued part of a step: from clearing the results to the gradients' counts */
typedef struct {
    lpt_session *s;
    const lpt_ctx *c;
    int health_due;
} queued_arg;

static void queue_step(void *arg) {
    const queued_arg *q = arg;
    lpt_net *net = &q->s->net;
    lpt_net_forward(net, q->c, 1);
    lpt_net_loss(net, q->c);
    lpt_net_backward(net, q->c);
    queue_grad_counts(q->s, q->s->prec.fp16, q->health_due);
}

/* a[i] += b[i] */
static void add_into(float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

/* the pairwise tree over a process's shards: a stack of partial sums of the gradient
 * arena (count floats each), merged while the top two are the same size */
typedef struct {
    float *stack;
    size_t count;
    int size[64], top;
} shard_tree;

/* after entry `top` (a shard) is pushed: the merges it causes, on floats [off, off + n)
 * only (sizes untouched); the number of entries left */
static int tree_merge_slice(shard_tree *t, size_t off, size_t n) {
    int size[64], top = t->top + 1;
    memcpy(size, t->size, sizeof size);
    size[t->top] = 1;
    while (top > 1 && size[top - 1] == size[top - 2]) {
        add_into(t->stack + (size_t)(top - 2) * t->count + off, t->stack + (size_t)(top - 1) * t->count + off, n);
        size[top - 2] *= 2;
        top--;
    }
    return top;
}

/* the same merges' bookkeeping for the whole entry */
static void tree_push_done(shard_tree *t) {
    t->size[t->top++] = 1;
    while (t->top > 1 && t->size[t->top - 1] == t->size[t->top - 2]) t->size[t->top - 2] *= 2, t->top--;
}

/* the first of a layer's parameters in net->p, which lists them layer by layer; *np: how many */
static int first_param(const lpt_net *net, int layer, int *np) {
    int first = 0;
    for (int j = 0; j < layer; j++) first += net->layers[j].ops->params(&net->layers[j], NULL);
    *np = net->layers[layer].ops->params(&net->layers[layer], NULL);
    return first;
}

/* a chunk of a parameter's gradient summed over the processes, into the backend (its
 * place in the tree's first entry is its place in the gradient arena) */
static void chunk_to_device(void *arg, float *at, size_t n) {
    lpt_session *s = arg;
    const size_t off = (size_t)(at - s->shard_stack);
    s->be->to_device(s->be, (char *)s->net.grads.base + off * sizeof(float), at, n * sizeof(float));
}

/* parameter i's exchange in: its gradient into the backend, and its update when due */
static int settle_param(lpt_session *s, int i) {
    if (s->pend.wait(s->pend.arg, i, chunk_to_device, s)) {
        s->pend.failed = 1;
        return -1;
    }
    s->pend.param[i] = 0;
    s->pend.n--;
    if (s->pend.update) lpt_sgd_step_param(&s->opt, &s->net, i, s->pend.sgd, s->pend.lr, NULL, NULL);
    return 0;
}

int lpt_step_settle(lpt_session *s) {
    while (s->pend.n > 0 && !s->pend.failed) { /* in the order they complete */
        const int i = s->pend.next(s->pend.arg);
        if (i < 0 || i >= s->net.np || !s->pend.param[i]) {
            lpt_error_set("the gradient exchange lost track of parameter %d", i);
            s->pend.failed = 1;
            break;
        }
        settle_param(s, i);
    }
    return s->pend.failed ? -1 : 0;
}

/* before a layer's forward pass (lpt_ctx.layer_begin): its parameters' updates */
static void settle_layer(void *arg, int layer) {
    lpt_session *s = arg;
    int np;
    const int first = first_param(&s->net, layer, &np);
    for (int i = first; i < first + np && !s->pend.failed; i++)
        if (s->pend.param[i]) settle_param(s, i);
}

/* overlap: the last shard's backward pass reports each layer; its parameter gradients
 * are read, merged into the tree and their exchange started */
typedef struct {
    lpt_session *s;
    const lpt_step_args *a;
    shard_tree *t;
    int failed;
    int empty; /* the shard had no items: its gradients are zeros, not read */
} overlap_arg;

static void mark(const lpt_step_args *a, const char *what, int index) {
    if (a->mark) a->mark(a->exchange_arg, what, index);
}

/* a chunk of a parameter's gradient (at: its place in the tree's first entry) read from
 * the backend into the tree's top entry and merged down, just before it leaves */
typedef struct {
    overlap_arg *o;
    const lpt_param *p;
    size_t off; /* the parameter's place */
} fill_arg;

static void fill_chunk(void *arg, float *at, size_t n) {
    const fill_arg *f = arg;
    overlap_arg *o = f->o;
    const size_t off = (size_t)(at - o->t->stack);
    float *mine = o->t->stack + (size_t)o->t->top * o->t->count + off;
    if (o->empty) memset(mine, 0, n * sizeof(float));
    else lpt_backend_read(o->s->be, mine, (const char *)f->p->grad->data + (off - f->off) * sizeof(float), n * sizeof(float));
    if (tree_merge_slice(o->t, off, n) != 1) o->failed = 1;
}

static void layer_done(void *arg, int layer) {
    overlap_arg *o = arg;
    lpt_session *s = o->s;
    lpt_net *net = &s->net;
    mark(o->a, "layer done", layer);
    int np;
    const int first = first_param(net, layer, &np);
    for (int i = first; i < first + np && !o->failed; i++) {
        const lpt_param *p = &net->p[i];
        if (!p->grad) continue;
        fill_arg f = {o, p, (size_t)((const char *)p->grad->data - (const char *)net->grads.base) / sizeof(float)};
        if (o->a->slice_start(o->a->exchange_arg, i, o->t->stack + f.off, lpt_tensor_count(p->grad), fill_chunk, &f))
            o->failed = 1;
        else /* (in flight even when a chunk failed to merge: the run then fails) */
            s->pend.param[i] = 1, s->pend.n++;
    }
    o->a->progress(o->a->exchange_arg);
}

/* shard k's context (its items, its random draws, the loss over the whole batch), its
 * items fed; the items (0: an empty shard, nothing fed) */
static int shard_begin(const lpt_step_args *a, const lpt_ctx *c, int k, lpt_ctx *ck) {
    const int lo = (int)((long)k * a->n / a->shards), hi = (int)((long)(k + 1) * a->n / a->shards);
    *ck = *c;
    ck->running_deferred = 1; /* (running statistics: applied in shard order, src/layer.h) */
    ck->n = hi - lo;
    ck->draw = 1 + (uint64_t)a->step * (uint64_t)a->shards + (uint64_t)k;
    ck->loss_items = a->n;
    if (hi > lo) a->feed(a->feed_arg, lo, hi - lo);
    return hi - lo;
}

/* What a step's shards' passes leave besides gradients, one block of floats a shard
 * (every process's gathered in one collective after the passes): a flag (the shard had
 * items); the layers' running-statistics updates, applied in shard order; under the
 * recompute rule, the FL each entry ended the pass with (small integers: exact), each
 * entry taking the first shard's correction, so that N processes agree with one. Every
 * pass starts from the FLs of the step's start (st0). */
typedef struct {
    size_t bs, rn;   /* floats a block (0: nothing to keep); of them, running statistics */
    float *blk;      /* shards blocks */
    int fls, n;      /* the recompute rule's FLs are kept: n entries */
    lpt_qpoint_state *st0, *st;
} shard_side;

/* the floats of the layers' running-statistics updates */
static size_t running_floats(lpt_net *net) {
    size_t n = 0;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].ops->running_contrib) n += net->layers[i].ops->running_contrib(&net->layers[i], NULL);
    return n;
}

static void side_begin(lpt_session *s, const lpt_step_args *a, shard_side *d) {
    const lpt_prec *p = &s->prec;
    memset(d, 0, sizeof *d);
    d->rn = running_floats(&s->net);
    int dfp = 0; /* (the recompute rule corrects dfp tensors only) */
    for (int e = 0; p->active && p->calibrated && p->q.recompute && e < p->q.stats->n; e++)
        dfp |= p->q.stats->e[e].fmt.fmt == LPT_FMT_DFP;
    if (dfp) {
        d->fls = 1, d->n = p->q.stats->n;
        d->st0 = lpt_xmalloc((size_t)d->n * sizeof *d->st0);
        d->st = lpt_xmalloc((size_t)d->n * sizeof *d->st);
        lpt_q_states_get(&p->q, s->be, d->st0);
    }
    d->bs = d->rn || d->fls ? 1 + d->rn + (size_t)d->n : 0;
    d->blk = d->bs ? lpt_xcalloc((size_t)a->shards * d->bs + 1, sizeof *d->blk) : NULL;
}

/* after shard k's pass (has: it had items), before the next one: its block; the step's
 * FLs put back */
static void side_shard(lpt_session *s, shard_side *d, int k, int has) {
    if (!d->bs) return;
    lpt_net *net = &s->net;
    float *block = d->blk + (size_t)k * d->bs, *fl = block + 1 + d->rn;
    block[0] = (float)has;
    for (int i = 0, at = 1; has && i < net->nlayers; i++) {
        lpt_layer *l = &net->layers[i];
        if (!l->ops->running_contrib) continue;
        const void *buf;
        const size_t n = l->ops->running_contrib(l, &buf);
        lpt_backend_read(s->be, block + at, buf, n * sizeof(float));
        at += (int)n;
    }
    if (!d->fls) return;
    lpt_qconfig *q = &s->prec.q;
    if (!has) {
        for (int e = 0; e < d->n; e++) fl[e] = (float)d->st0[e].fl;
        return;
    }
    lpt_q_states_get(q, s->be, d->st);
    for (int e = 0; e < d->n; e++) {
        fl[e] = (float)d->st[e].fl;
        if (d->st[e].event_seq && q->event_shard[e] < 0) q->event_shard[e] = k; /* its first collapse */
        d->st[e].fl = d->st0[e].fl;
    }
    lpt_q_states_set(q, s->be, d->st);
}

/* every shard's running statistics applied in shard order, layer by layer */
static void running_apply(lpt_session *s, const lpt_step_args *a, const shard_side *d) {
    lpt_net *net = &s->net;
    const float **from = lpt_xmalloc((size_t)a->shards * sizeof *from + 1);
    size_t at = 1;
    for (int i = 0; i < net->nlayers; i++) {
        lpt_layer *l = &net->layers[i];
        if (!l->ops->running_contrib) continue;
        int n = 0;
        for (int k = 0; k < a->shards; k++) {
            const float *block = d->blk + (size_t)k * d->bs;
            if (block[0] != 0.0f) from[n++] = block + at; /* (shards with items) */
        }
        l->ops->running_apply(l, s->be, from, n);
        at += l->ops->running_contrib(l, NULL);
    }
    free(from);
}

/* each entry's FL from the first shard that corrected it */
static void fls_apply(lpt_session *s, const lpt_step_args *a, shard_side *d) {
    lpt_q_states_get(&s->prec.q, s->be, d->st);
    for (int e = 0; e < d->n; e++) {
        d->st[e].fl = d->st0[e].fl;
        for (int k = 0; k < a->shards; k++) {
            const int fl = (int)d->blk[(size_t)k * d->bs + 1 + d->rn + (size_t)e];
            if (fl != d->st0[e].fl) {
                d->st[e].fl = fl;
                break;
            }
        }
    }
    lpt_q_states_set(&s->prec.q, s->be, d->st);
}

/* ok: every pass went well (then every process merges: one collective) */
static void side_end(lpt_session *s, const lpt_step_args *a, shard_side *d, int ok) {
    if (ok && d->bs) {
        if (a->gather) a->gather(d->blk, (size_t)a->nshards * d->bs);
        if (d->rn) running_apply(s, a, d);
        if (d->fls) fls_apply(s, a, d);
    }
    free(d->blk), free(d->st0), free(d->st);
    memset(d, 0, sizeof *d);
}

/* the tree's stack of partial sums (count floats each), kept in the session */
static shard_tree tree_stack(lpt_session *s, size_t count, int nshards) {
    int depth = 1;
    while ((1 << (depth - 1)) < nshards) depth++;
    const size_t need = (size_t)(depth + 1) * count + 1;
    if (s->shard_stack_floats < need) { /* (the first step: nothing in flight yet) */
        free(s->shard_stack);
        s->shard_stack = lpt_xcalloc(need, sizeof(float));
        s->shard_stack_floats = need;
    }
    return (shard_tree){.stack = s->shard_stack, .count = count};
}

/* Shards: each of this process's shards forward and backward, its gradients (the whole
 * gradient arena) summed in the fixed pairwise tree as they come, the block's sum
 * exchanged (with overlap: each parameter's during the last shard's backward pass), the
 * result back in the gradient arena; then the gradient checks as for one pass. With
 * `early` (overlap, no gradient check, no fp16), the exchanges are left in flight
 * (s->pend; lpt_step_train updates each parameter as it comes in). The updates still
 * owed from the step before are made as the first shard's forward pass reaches each
 * layer. 0, or -1 (error set) when the exchange failed. */
static int shard_passes(lpt_session *s, const lpt_step_args *a, const lpt_ctx *c, int health_due, int early) {
    lpt_net *net = &s->net;
    lpt_backend *be = s->be;
    const size_t count = net->grads.bytes / sizeof(float);
    shard_tree t = tree_stack(s, count, a->nshards);
    const int overlap = a->overlap && a->exchange && (a->nshards & (a->nshards - 1)) == 0;
    if (overlap && !s->pend.param) s->pend.param = lpt_xcalloc((size_t)net->np + 1, 1);
    s->pend.next = a->slice_next, s->pend.wait = a->slice_wait, s->pend.arg = a->exchange_arg;
    overlap_arg oa = {s, a, &t, 0, 0};
    shard_side side;
    side_begin(s, a, &side);
    int rc = 0, exchanged = 0;
    for (int k = a->shard0; k < a->shard0 + a->nshards && rc == 0; k++) {
        /* the last shard, overlapped (an empty one too: every process starts the same
         * exchanges, layer by layer) */
        const int ov = overlap && k == a->shard0 + a->nshards - 1;
        float *g = t.stack + (size_t)t.top * count;
        lpt_ctx ck;
        if (shard_begin(a, c, k, &ck)) {
            if (ov) ck.layer_done = layer_done, ck.layer_done_arg = &oa;
            if (s->pend.n) ck.layer_begin = settle_layer, ck.layer_begin_arg = s;
            mark(a, "forward", k);
            lpt_net_forward(net, &ck, 1);
            if (lpt_step_settle(s)) { /* (every layer settled its own: nothing left) */
                side_end(s, a, &side, 0);
                return -1;
            }
            lpt_net_loss(net, &ck);
            mark(a, "backward", k);
            lpt_net_backward(net, &ck);
            mark(a, "backward end", k);
            side_shard(s, &side, k, 1);
            if (!ov) lpt_backend_read(be, g, net->grads.base, count * sizeof(float));
        } else { /* no items: zeros, once the tree's entries are free */
            side_shard(s, &side, k, 0);
            if (lpt_step_settle(s)) {
                side_end(s, a, &side, 0);
                return -1;
            }
            memset(g, 0, count * sizeof(float));
            if (ov) {
                oa.empty = 1;
                for (int i = net->nlayers - 1; i >= 0; i--) layer_done(&oa, i);
            }
        }
        if (ov) {
            tree_push_done(&t); /* its slices were merged as they came */
            exchanged = 1;
            if (oa.failed) rc = -1;
            else if (!early) s->pend.update = 0, rc = lpt_step_settle(s); /* every gradient in, no update yet */
        } else {
            tree_merge_slice(&t, 0, count);
            tree_push_done(&t);
        }
    }
    for (; t.top > 1; t.top--) /* a count of shards that is not a power of two: the rest, right to left */
        add_into(t.stack + (size_t)(t.top - 2) * count, t.stack + (size_t)(t.top - 1) * count, count);
    side_end(s, a, &side, rc == 0);
    if (!exchanged && rc == 0) {
        if (a->exchange) {
            mark(a, "exchange", -1);
            rc = a->exchange(a->exchange_arg, t.stack, count);
            mark(a, "exchange end", -1);
        }
        if (rc == 0) be->to_device(be, net->grads.base, t.stack, count * sizeof(float));
    }
    if (rc == 0 && !(exchanged && early)) queue_grad_counts(s, s->prec.fp16, health_due);
    return rc;
}

/* Queue the step: replayed from a recording with the same scalars, recorded now, or
 * (no graphs, per-layer timing, a calibration step) queued op by op. */
static void run_queued(lpt_session *s, const lpt_ctx *c, int health_due) {
    const queued_arg q = {s, c, health_due};
    const int no_analysis = s->prec.active && s->prec.q.no_analysis;
    if (!s->graphs_ok || c->tap || s->net.t_fwd || s->net.t_bwd || (s->prec.active && !s->prec.calibrated)) {
        queue_step((void *)&q);
        return;
    }
    for (int i = 0; i < s->ngraphs; i++) {
        const lpt_step_graph *g = &s->graphs[i];
        if (g->n == c->n && g->health_due == health_due && g->no_analysis == no_analysis) {
            s->be->graph_launch(s->be, g->graph);
            return;
        }
    }
    if (s->ngraphs == LPT_STEP_GRAPHS) lpt_session_graphs_drop(s); /* a batch size more: start over */
    void *graph = s->be->graph_capture(s->be, queue_step, (void *)&q);
    if (!graph) { /* recording failed: this run goes on without graphs */
        s->graphs_ok = 0;
        queue_step((void *)&q);
        return;
    }
    s->graphs[s->ngraphs++] = (lpt_step_graph){graph, c->n, health_due, no_analysis};
    s->be->graph_launch(s->be, graph);
}

int lpt_step_read(lpt_session *s, const lpt_step_args *a, lpt_step_out *o) {
    lpt_net *net = &s->net;
    memset(o, 0, sizeof *o);
    o->bad_layer = -1;
    if (!s->window_steps) return LPT_STEP_OK;
    lpt_net_res_read(net); /* the window's one sync point */
    if (a->sum_results) a->sum_results(net->res_host, LPT_RES_LAYERS + net->nlayers);
    if (s->prec.fp16) loss_scale_pull(s, a);
    o->read = 1;
    o->loss = net->res_host[LPT_RES_LOSS];
    o->correct = (long)net->res_host[LPT_RES_CORRECT];
    o->seen = s->window_seen;
    o->first_step = s->window_first;
    s->window_steps = 0;
    s->window_seen = 0;
    if ((o->bad_layer = lpt_net_first_nonfinite(net)) >= 0) return LPT_STEP_NONFINITE;
    if (!isfinite(o->loss)) return LPT_STEP_NONFINITE_LOSS;
    return LPT_STEP_OK;
}

int lpt_step_train(lpt_session *s, const lpt_step_args *a, lpt_step_out *o) {
    lpt_net *net = &s->net;
    lpt_prec *p = &s->prec;
    if (p->fp16) loss_scale_push(s, a);
    const lpt_ctx c = {.be = s->be, .quant = lpt_prec_q(p), .n = a->n, .train = 1, .seed = a->seed,
                       .step = (uint64_t)a->step, .loss_scale = p->fp16 ? s->ls->state : NULL,
                       .tap = p->calibrated ? s->tap : NULL};
    if (p->active && !p->calibrated) { /* a new run's first step; with shards, on each of them (every process's) */
        if (a->shards > 1) {
            for (int k = a->shard0; k < a->shard0 + a->nshards; k++) {
                lpt_ctx cc;
                if (shard_begin(a, &c, k, &cc)) lpt_prec_calibrate_pass(p, net, &cc);
            }
            lpt_prec_calibrate_end(p);
        } else { /* (a calibration pass leaves the running statistics alone: its update is dropped) */
            lpt_ctx cc = c;
            cc.running_deferred = 1;
            lpt_prec_calibrate(p, net, &cc);
        }
    }
    if (!s->window_steps) { /* a new window of results */
        lpt_net_res_clear(net);
        s->window_first = a->step;
    }
    /* the window ends here when asked, and where the configuration block needs its
     * numbers (and for fp16 the scale in use); a gradient check due within it runs then */
    const int read = a->read || (p->active && (a->step + 1) % a->stats_interval == 0);
    const int health_due = read && lpt_health_grads_due(s->health, s->window_first, a->step);
    /* data parallel with overlap: each parameter updated as soon as its exchange is in,
     * where nothing needs every gradient before any update */
    const int early = a->shards > 1 && a->exchange && a->overlap && (a->nshards & (a->nshards - 1)) == 0 &&
                      !p->fp16 && !health_due;
    if (a->shards > 1) {
        if (shard_passes(s, a, &c, health_due, early)) return -1;
    } else {
        run_queued(s, &c, health_due);
    }
    s->window_steps++;
    s->window_seen += a->n;
    const int fp16 = p->fp16;
    const float *gscale = fp16 ? s->ls->state + 1 : NULL;
    const int32_t *skip = fp16 ? &s->ls->skip : NULL;
    memset(o, 0, sizeof *o);
    o->bad_layer = -1;
    if (read) {
        const int rc = lpt_step_read(s, a, o);
        if (rc) { /* nothing is updated: the exchanges in flight are let in */
            s->pend.update = 0;
            return lpt_step_settle(s) ? -1 : rc;
        }
        char msg[512];
        while (health_due && lpt_health_grads(s->health, net, a->step, net->res_host + lpt_res_grad_nonzero(net, 0),
                                              msg, sizeof msg)) /* one per layer */
            if (a->report && a->report(a->report_arg, a->step, msg)) return -1;
    }
    if (early) {
        s->pend.update = 1, s->pend.sgd = a->sgd, s->pend.lr = a->lr;
        const int interval_end = p->active && (a->step + 1) % a->stats_interval == 0;
        if ((!a->defer || interval_end) && lpt_step_settle(s)) return -1;
    } else {
        lpt_sgd_step(&s->opt, net, a->sgd, a->lr, gscale, skip);
    }
    o->interval_end = lpt_prec_step_end(p, a->step, a->stats_interval, a->loss_scale);
    if (o->interval_end) lpt_session_graphs_drop(s); /* the configuration may have changed */
    return LPT_STEP_OK;
}
