/* step.c - one training step (step.h). */
#include "src/step.h"

#include <math.h>

#include "src/base/util.h"

/* fp16: the gradients' non-finite counts were read with the step's results; unscale,
 * or skip the update and halve the scale. Returns 1 when the update may go ahead. */
static int loss_scale_apply(lpt_session *s, const lpt_step_args *a) {
    lpt_net *net = &s->net;
    for (int i = 0; i < net->np; i++)
        if (net->p[i].grad && net->res_host[lpt_res_grad_nonfinite(net, i)] > 0) {
            *a->loss_scale = fmaxf(*a->loss_scale / 2, 1.0f);
            (*a->skipped)++;
            return 0;
        }
    for (int i = 0; i < net->np; i++) /* S is a power of two: 1/S exact */
        if (net->p[i].grad)
            s->be->scale(s->be, lpt_tensor_count(net->p[i].grad), lpt_tensor_f32(net->p[i].grad), 1.0f / *a->loss_scale);
    return 1;
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
    lpt_net_res_clear(net);
    lpt_net_forward(net, q->c, 1);
    lpt_net_loss(net, q->c);
    lpt_net_backward(net, q->c);
    queue_grad_counts(q->s, q->s->prec.fp16, q->health_due);
}

/* Queue the step: replayed from a recording with the same scalars, recorded now, or
 * (no graphs, per-layer timing, a calibration step) queued op by op. */
static void run_queued(lpt_session *s, const lpt_ctx *c, int health_due) {
    const queued_arg q = {s, c, health_due};
    const int no_analysis = s->prec.active && s->prec.q.no_analysis;
    if (!s->graphs_ok || s->net.t_fwd || s->net.t_bwd || (s->prec.active && !s->prec.calibrated)) {
        queue_step((void *)&q);
        return;
    }
    for (int i = 0; i < s->ngraphs; i++) {
        const lpt_step_graph *g = &s->graphs[i];
        if (g->n == c->n && g->health_due == health_due && g->no_analysis == no_analysis &&
            g->loss_scale == c->loss_scale) {
            s->be->graph_launch(s->be, g->graph);
            return;
        }
    }
    if (s->ngraphs == LPT_STEP_GRAPHS) lpt_session_graphs_drop(s); /* the loss scale moved on: start over */
    void *graph = s->be->graph_capture(s->be, queue_step, (void *)&q);
    if (!graph) { /* recording failed: this run goes on without graphs */
        s->graphs_ok = 0;
        queue_step((void *)&q);
        return;
    }
    s->graphs[s->ngraphs++] = (lpt_step_graph){graph, c->n, health_due, no_analysis, c->loss_scale};
    s->be->graph_launch(s->be, graph);
}

int lpt_step_train(lpt_session *s, const lpt_step_args *a, lpt_step_out *o) {
    lpt_net *net = &s->net;
    lpt_prec *p = &s->prec;
    const lpt_ctx c = {.be = s->be, .quant = lpt_prec_q(p), .n = a->n, .train = 1, .seed = a->seed,
                       .step = (uint64_t)a->step, .loss_scale = *a->loss_scale};
    if (p->active && !p->calibrated) lpt_prec_calibrate(p, net, &c); /* a new run's first step */
    const int health_due = lpt_health_grads_due(s->health, a->step);
    run_queued(s, &c, health_due);
    lpt_net_res_read(net); /* the step's one sync point */
    o->loss = net->res_host[LPT_RES_LOSS];
    o->correct = (long)net->res_host[LPT_RES_CORRECT];
    o->interval_end = 0;
    if ((o->bad_layer = lpt_net_first_nonfinite(net)) >= 0) return LPT_STEP_NONFINITE;
    if (!isfinite(o->loss)) return LPT_STEP_NONFINITE_LOSS;
    char msg[512];
    while (health_due && lpt_health_grads(s->health, net, a->step, net->res_host + lpt_res_grad_nonzero(net, 0), msg,
                                          sizeof msg)) /* one per layer */
        if (a->report && a->report(a->report_arg, a->step, msg)) return -1;
    if (!p->fp16 || loss_scale_apply(s, a)) lpt_sgd_step(&s->opt, net, a->sgd, a->lr);
    o->interval_end = lpt_prec_step_end(p, a->step, a->stats_interval, a->loss_scale);
    if (o->interval_end) lpt_session_graphs_drop(s); /* the configuration may have changed */
    return LPT_STEP_OK;
}
