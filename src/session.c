/* session.c - set-up shared by train, eval and bench (session.h). */
#include "src/session.h"

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

int lpt_session_open(lpt_session *s, const lpt_train_cfg *cfg, const lpt_model_spec *spec, int batch,
                     int training) {
    memset(s, 0, sizeof *s);
    if (lpt_prec_init(&s->prec, cfg) != 0) return -1;
    s->prec_on = 1;
    if (!(s->be = lpt_backend_create(cfg->backend, cfg->threads))) goto fail;
    if (check_supports(s->be, &s->prec)) goto fail;
    if (lpt_net_build(&s->net, s->be, spec, batch)) goto fail;
    s->built = 1;
    if (lpt_prec_register(&s->prec, &s->net)) goto fail;
    if (training) {
        s->training = 1; /* closed even when its arena fails */
        if (lpt_sgd_init(&s->opt, &s->net)) goto fail;
    }
    return 0;
fail:
    lpt_session_close(s);
    return -1;
}

void lpt_session_close(lpt_session *s) {
    if (s->prec_on) lpt_prec_free(&s->prec); /* its result buffers are backend memory */
    if (s->training) lpt_sgd_free(&s->opt);
    if (s->built) lpt_net_free(&s->net);
    if (s->be) lpt_backend_destroy(s->be);
    memset(s, 0, sizeof *s);
}
