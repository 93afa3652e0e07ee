/* qlayer.c - quantization points of weighted layers (see qlayer.h). */
#include "src/qlayer.h"

#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

static const lpt_qformat *role_fmt(const lpt_qconfig *q, lpt_role r) {
    return r == LPT_ROLE_W ? &q->prec.w : r == LPT_ROLE_A ? &q->prec.a : &q->prec.g;
}

void lpt_q_register(lpt_qpoints *s, lpt_qconfig *q, const lpt_layer *l) {
    *s = (lpt_qpoints){-1, -1, -1, -1, -1};
    if (!q) return;
    lpt_stats_unit *u = q->stats;
    s->x = lpt_stats_register(u, l->name, "x", LPT_ROLE_A, role_fmt(q, LPT_ROLE_A));
    s->w = lpt_stats_register(u, l->name, "w", LPT_ROLE_W, role_fmt(q, LPT_ROLE_W));
    s->y = lpt_stats_register(u, l->name, "y", LPT_ROLE_A, role_fmt(q, LPT_ROLE_A));
    s->dy = lpt_stats_register(u, l->name, "dy", LPT_ROLE_G, role_fmt(q, LPT_ROLE_G));
    /* the first layer's dx is never computed: no entry */
    s->dx = l->index > 0 ? lpt_stats_register(u, l->name, "dx", LPT_ROLE_G, role_fmt(q, LPT_ROLE_G)) : -1;
}

void lpt_q_mark(const lpt_ctx *c, int id, lpt_tensor *t) {
    const lpt_qformat fp32 = {.fmt = LPT_FMT_FP32, .width = 32, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_IEEE};
    const lpt_stats_entry *e = c->quant && id >= 0 && !c->quant->calibrating ? &c->quant->stats->e[id] : NULL;
    t->grid = e ? e->fmt : fp32;
    t->fl = e && e->fmt.fmt == LPT_FMT_DFP ? &c->quant->states[id].fl : NULL;
}

static void tap(const lpt_ctx *c, lpt_tap_kind kind, int id, size_t n, const float *data) {
    if (c->tap) c->tap->fn(c->tap->arg, c, &(lpt_tap_event){.kind = kind, .id = id, .idb = -1, .n = n, .data = data});
}

const float *lpt_q_input(const lpt_ctx *c, int id, size_t n, const lpt_tensor *in, lpt_tensor *buf) {
    if (!c->quant) return lpt_tensor_f32(in);
    lpt_q_apply(c, id, n, lpt_tensor_f32(in), lpt_tensor_f32(buf));
    lpt_q_mark(c, id, buf);
    tap(c, LPT_TAP_QUANT, id, n, lpt_tensor_f32(buf));
    return lpt_tensor_f32(buf);
}

float *lpt_q_pre(const lpt_ctx *c, float *out, float *scratch) { return c->quant ? scratch : out; }

/* the format a quantization point applies (NULL: the values pass unchanged) */
static const lpt_qformat *format_of(const lpt_ctx *c, const lpt_stats_entry *e) {
    return c->quant->calibrating || e->fmt.fmt == LPT_FMT_FP32 ? NULL : &e->fmt;
}

int lpt_q_attach(lpt_qconfig *q, lpt_backend *be) {
    const size_t n = (size_t)q->stats->n;
    q->acc = be->alloc(be, (n + 1) * sizeof *q->acc);
    q->states = be->alloc(be, (n ? n : 1) * sizeof *q->states);
    q->seq = be->alloc(be, sizeof *q->seq);
    if (!q->acc || !q->states || !q->seq) {
        lpt_error_set("out of backend memory for the results of %d quantization points", q->stats->n);
        lpt_q_detach(q, be);
        return -1;
    }
    q->pass = q->acc + n;
    q->event_shard = lpt_xmalloc((n + 1) * sizeof *q->event_shard);
    for (size_t i = 0; i < n; i++) q->event_shard[i] = -1;
    lpt_qresult *zeros = lpt_xcalloc(n + 1, sizeof *zeros);
    be->to_device(be, q->acc, zeros, (n + 1) * sizeof *zeros);
    free(zeros);
    const uint64_t zero = 0;
    be->to_device(be, q->seq, &zero, sizeof zero);
    lpt_q_push(q, be);
    return 0;
}

void lpt_q_push(lpt_qconfig *q, lpt_backend *be) {
    const size_t n = (size_t)q->stats->n;
    if (!n) return;
    lpt_qpoint_state *h = lpt_xcalloc(n, sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i].fl = q->stats->e[i].fl;
        h[i].predicted_overflow = q->stats->e[i].predicted_overflow;
    }
    be->to_device(be, q->states, h, n * sizeof *h);
    free(h);
}

void lpt_q_states_get(const lpt_qconfig *q, lpt_backend *be, lpt_qpoint_state *st) {
    lpt_backend_read(be, st, q->states, (size_t)q->stats->n * sizeof *st);
}

void lpt_q_states_set(const lpt_qconfig *q, lpt_backend *be, const lpt_qpoint_state *st) {
    be->to_device(be, q->states, st, (size_t)q->stats->n * sizeof *st);
}

/* collapse a happened before collapse b: by step, then shard, then order within the pass */
static int event_before(const lpt_qpoint_state *a, int sa, const lpt_qpoint_state *b, int sb) {
    if (a->event_step != b->event_step) return a->event_step < b->event_step;
    if (sa != sb) return sa < sb;
    return a->event_seq < b->event_seq;
}

/* what the recompute rule did since the last sync, in the order it happened */
static void apply_states(lpt_qconfig *q, const lpt_qpoint_state *st, size_t n) {
    int *order = lpt_xmalloc((n + 1) * sizeof *order), k = 0;
    const int *sh = q->event_shard;
    for (size_t i = 0; i < n; i++)
        if (st[i].event_seq) order[k++] = (int)i;
    for (int i = 1; i < k; i++) /* in the order they happened (few: collapses are rare) */
        for (int j = i; j > 0 && event_before(&st[order[j]], sh[order[j]], &st[order[j - 1]], sh[order[j - 1]]); j--) {
            const int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (int i = 0; i < k; i++) {
        const lpt_qpoint_state *s = &st[order[i]];
        lpt_stats_add_recomputes(q->stats, order[i], s->recomputes, s->collapses, s->event_step, s->event_old_fl,
                                 s->event_new_fl, (lpt_stats_health)s->event_why);
    }
    for (size_t i = 0; i < n; i++) {
        if (!st[i].event_seq) lpt_stats_add_recomputes(q->stats, (int)i, st[i].recomputes, st[i].collapses, -1, 0, 0, 0);
        q->stats->e[i].fl = st[i].fl; /* the live FL */
    }
    free(order);
}

void lpt_q_collect(lpt_qconfig *q, lpt_backend *be) {
    const size_t n = (size_t)q->stats->n, bytes = n * sizeof(lpt_qresult);
    if (!n) return;
    lpt_qresult *host = lpt_xmalloc(bytes);
    lpt_qpoint_state *st = lpt_xmalloc(n * sizeof *st);
    lpt_backend_read(be, host, q->acc, bytes); /* the sync point (the states come with it) */
    be->to_host(be, st, q->states, n * sizeof *st);
    if (q->merge) q->merge(host, (int)n);
    if (q->merge_states) q->merge_states(st, q->event_shard, (int)n);
    for (size_t i = 0; i < n; i++) lpt_stats_add_result(q->stats, (int)i, &host[i]);
    apply_states(q, st, n);
    for (size_t i = 0; i < n; i++) q->event_shard[i] = -1;
    memset(host, 0, bytes);
    be->to_device(be, q->acc, host, bytes);
    lpt_q_push(q, be); /* the live FLs stay, the event counters restart */
    free(host);
    free(st);
}

void lpt_q_detach(lpt_qconfig *q, lpt_backend *be) {
    if (q->acc) be->free(be, q->acc);
    if (q->states) be->free(be, q->states);
    if (q->seq) be->free(be, q->seq);
    free(q->event_shard);
    q->event_shard = NULL;
    q->acc = q->pass = NULL;
    q->states = NULL;
    q->seq = NULL;
}

/* the statistics unit analyses this pass (not in evaluation or a benchmark's off blocks) */
static int analysing(const lpt_ctx *c) { return !c->quant->frozen && !c->quant->no_analysis; }

/* whether this pass may correct the entry's FL (dfp, analysis on, not calibrating) */
static int may_correct(const lpt_ctx *c, const lpt_stats_entry *e) {
    return c->quant->recompute && !c->quant->calibrating && analysing(c) && e->fmt.fmt == LPT_FMT_DFP;
}

/* out = Q(in) at entry id's point, with the recompute rule when it applies (in != out) */
static void point(const lpt_ctx *c, int id, size_t n, const float *in, float *out) {
    const lpt_qconfig *q = c->quant;
    const lpt_stats_entry *e = &q->stats->e[id];
    const int analyse = analysing(c);
    const lpt_qpoint_call call = {.fmt = format_of(c, e),
                                  .state = &q->states[id],
                                  .acc = analyse ? &q->acc[id] : q->pass, /* not analysed: a sink */
                                  .pass = q->pass,
                                  .seq = q->seq,
                                  .key = {.seed = c->seed, .stream = e->stream, .step = lpt_ctx_draw(c), .index0 = 0},
                                  .analyse = analyse,
                                  .correct = may_correct(c, e) && in != out,
                                  .factor = q->recompute_factor,
                                  .overflow_rate = q->stats->overflow_rate,
                                  .step = (int64_t)c->step};
    c->be->quant_point(c->be, &call, n, in, out);
}

void lpt_q_apply(const lpt_ctx *c, int id, size_t n, const float *in, float *out) { point(c, id, n, in, out); }

void lpt_q_output(const lpt_ctx *c, int id, size_t n, const float *pre, float *out) {
    if (!c->quant) return;
    tap(c, LPT_TAP_PRE, id, n, pre);
    point(c, id, n, pre, out);
    tap(c, LPT_TAP_QUANT, id, n, out);
}

int lpt_q_fused_relu(const lpt_ctx *c, int id, const lpt_layer *l) {
    return c->quant && l->relu_after && c->quant->stats->e[id].fmt.fmt == LPT_FMT_DFP;
}

static int acc_bits_for(const lpt_qconfig *q, int w) {
    return q->acc_bits > 0 ? q->acc_bits : lpt_dfp_acc_bits_default(w);
}

const float *lpt_q_bias(const lpt_ctx *c, int ida, int idb, int n, const float *bias, float *out) {
    if (!c->quant) return bias;
    const lpt_stats_entry *a = &c->quant->stats->e[ida], *b = &c->quant->stats->e[idb];
    if (c->quant->calibrating || a->fmt.fmt != LPT_FMT_DFP || b->fmt.fmt != LPT_FMT_DFP) {
        c->be->copy(c->be, out, bias, (size_t)n * sizeof *out);
        return out;
    }
    const int w = a->fmt.width > b->fmt.width ? a->fmt.width : b->fmt.width;
    c->be->bias_to_acc(c->be, n, bias, &c->quant->states[ida].fl, &c->quant->states[idb].fl, acc_bits_for(c->quant, w),
                       out);
    return out;
}

static void product(const lpt_ctx *c, int ida, int idb, int idc, int ta, int tb, int m, int n, int k,
                    const float *a, int lda, const float *b, int ldb, float *out, int ldc);

void lpt_q_gemm(const lpt_ctx *c, int ida, int idb, int idc, int ta, int tb, int m, int n, int k,
                const float *a, int lda, const float *b, int ldb, float *out, int ldc) {
    product(c, ida, idb, idc, ta, tb, m, n, k, a, lda, b, ldb, out, ldc);
    if (c->quant && c->tap)
        c->tap->fn(c->tap->arg, c,
                   &(lpt_tap_event){.kind = LPT_TAP_PRODUCT, .id = ida, .idb = idb, .m = m, .cols = n, .k = k,
                                    .ld = ldc, .data = out});
}

static void product(const lpt_ctx *c, int ida, int idb, int idc, int ta, int tb, int m, int n, int k,
                    const float *a, int lda, const float *b, int ldb, float *out, int ldc) {
    lpt_backend *be = c->be;
    const lpt_stats_entry *ea = c->quant ? &c->quant->stats->e[ida] : NULL, *eb = c->quant ? &c->quant->stats->e[idb] : NULL;
    if (!c->quant || c->quant->calibrating || ea->fmt.fmt != LPT_FMT_DFP || eb->fmt.fmt != LPT_FMT_DFP) {
        /* float operands: float32 accumulation; two operands of one 16-bit float format
         * multiply in it (Tensor Cores on a GPU) */
        const int lp = c->quant && !c->quant->calibrating && ea->fmt.fmt == eb->fmt.fmt &&
                       (ea->fmt.fmt == LPT_FMT_FP16 || ea->fmt.fmt == LPT_FMT_BF16);
        if (lp)
            be->gemm_lp(be, ea->fmt.fmt, ta, tb, m, n, k, a, lda, b, ldb, out, ldc);
        else
            be->gemm(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, out, ldc);
        return;
    }
    const lpt_dfp_operand da = {ea->fmt.width, &c->quant->states[ida].fl}, db = {eb->fmt.width, &c->quant->states[idb].fl};
    const int acc = acc_bits_for(c->quant, da.width > db.width ? da.width : db.width);
    /* accumulator overflows count for the output's entry (idc), or go to the pass slot */
    lpt_qresult *r = idc >= 0 && !c->quant->frozen && !c->quant->no_analysis ? &c->quant->acc[idc] : c->quant->pass;
    be->dfp_gemm(be, da, db, acc, ta, tb, m, n, k, a, lda, b, ldb, out, ldc, &r->acc_overflows);
}
