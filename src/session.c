/* session.c - set-up shared by train, eval and bench (session.h). */
#include "src/session.h"

#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

/* the operations a run in precision p needs, with their formats */
static int check_supports(const lpt_backend *be, const lpt_prec *p) {
    static const lpt_op float_ops[] = {LPT_OP_GEMM, LPT_OP_IM2COL, LPT_OP_COL2IM, LPT_OP_CONV_OUT, LPT_OP_BIAS,
                                       LPT_OP_RELU, LPT_OP_MAXPOOL, LPT_OP_AVGPOOL, LPT_OP_BATCHNORM,
                                       LPT_OP_DROPOUT, LPT_OP_XENT, LPT_OP_SGD, LPT_OP_ELEMENTWISE};
    for (size_t i = 0; i < sizeof float_ops / sizeof float_ops[0]; i++)
        if (!be->supports(be, float_ops[i], LPT_FMT_FP32)) {
            lpt_error_set("backend %s lacks operation %s for fp32", be->name, lpt_op_name(float_ops[i]));
            return -1;
        }
    if (!p->active) return 0;
    const lpt_qformat *roles[3] = {&p->q.prec.w, &p->q.prec.a, &p->q.prec.g};
    for (int r = 0; r < 3; r++) {
        char name[48];
        lpt_qformat_name(roles[r], name, sizeof name);
        if (!be->supports(be, LPT_OP_QUANTIZE, roles[r]->fmt)) {
            lpt_error_set("backend %s lacks operation %s for %s", be->name, lpt_op_name(LPT_OP_QUANTIZE), name);
            return -1;
        }
        if (roles[r]->fmt == LPT_FMT_DFP && !be->supports(be, LPT_OP_IGEMM, LPT_FMT_DFP)) {
            lpt_error_set("backend %s lacks operation %s for %s", be->name, lpt_op_name(LPT_OP_IGEMM), name);
            return -1;
        }
    }
    return 0;
}

/* whether a step may be recorded once and replayed: nothing in it may depend on the step
 * number (dropout masks and stochastic rounding draw by step) */
static int graphs_possible(const lpt_session *s, const lpt_train_cfg *cfg) {
    if (strcmp(cfg->cuda_graph, "on") != 0 || !s->be->graph_capture) return 0;
    for (int i = 0; i < s->net.nlayers; i++)
        if (strcmp(s->net.layers[i].ops->type, "dropout") == 0) return 0;
    const lpt_prec *p = &s->prec;
    return !p->active || (p->q.prec.w.round != LPT_ROUND_SR && p->q.prec.a.round != LPT_ROUND_SR &&
                          p->q.prec.g.round != LPT_ROUND_SR);
}

int lpt_session_check_switches(const lpt_train_cfg *cfg) {
    const char *const sw[][2] = {
        {"--cuda-graph", cfg->cuda_graph}, {"--share-cores", cfg->share_cores}, {"--memory-plan", cfg->memory_plan},
        {"--overlap", cfg->overlap}};
    for (size_t i = 0; i < sizeof sw / sizeof sw[0]; i++)
        if (strcmp(sw[i][1], "on") != 0 && strcmp(sw[i][1], "off") != 0) {
            lpt_error_set("%s: expected on or off, got '%s'", sw[i][0], sw[i][1]);
            return -1;
        }
    return 0;
}

int lpt_session_open(lpt_session *s, const lpt_train_cfg *cfg, const lpt_model_spec *spec, int batch,
                     int training) {
    memset(s, 0, sizeof *s);
    if (lpt_session_check_switches(cfg)) return -1;
    if (lpt_prec_init(&s->prec, cfg) != 0) return -1;
    s->prec_on = 1;
    const lpt_backend_opts bo = {.threads = cfg->threads, .device = cfg->device, .tf32 = cfg->tf32,
                                 .share_cores = strcmp(cfg->share_cores, "on") == 0};
    if (!(s->be = lpt_backend_open(cfg->backend, &bo))) goto fail;
    if (check_supports(s->be, &s->prec)) goto fail;
    if (lpt_net_build_plan(&s->net, s->be, spec, batch, strcmp(cfg->memory_plan, "on") == 0 ? LPT_NET_PLAN : 0)) goto fail;
    s->built = 1;
    if (lpt_prec_register(&s->prec, &s->net)) goto fail;
    if (training) {
        s->training = 1; /* closed even when its arena fails */
        if (lpt_sgd_init(&s->opt, &s->net)) goto fail;
        if (!(s->ls = s->be->alloc(s->be, sizeof *s->ls))) {
            lpt_error_set("out of backend memory for the loss-scale state");
            goto fail;
        }
    }
    s->graphs_ok = graphs_possible(s, cfg);
    s->read_every = cfg->read_every > 0 ? cfg->read_every : s->be->read_every > 1 ? s->be->read_every : 1;
    return 0;
fail:
    lpt_session_close(s);
    return -1;
}

void lpt_session_graphs_drop(lpt_session *s) {
    for (int i = 0; i < s->ngraphs; i++) s->be->graph_free(s->be, s->graphs[i].graph);
    s->ngraphs = 0;
}

void lpt_session_close(lpt_session *s) {
    if (s->be) lpt_session_graphs_drop(s);
    if (s->prec_on) lpt_prec_free(&s->prec); /* its result buffers are backend memory */
    if (s->training) lpt_sgd_free(&s->opt);
    if (s->ls) s->be->free(s->be, s->ls);
    if (s->built) lpt_net_free(&s->net);
    if (s->be) lpt_backend_destroy(s->be);
    free(s->shard_stack);
    free(s->pend.param);
    memset(s, 0, sizeof *s);
}
