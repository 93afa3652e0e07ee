/* qlayer.c - quantization points of weighted layers (see qlayer.h). */
#include "src/qlayer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/bits.h"
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
    t->fl = e && e->fmt.fmt == LPT_FMT_DFP ? e->fl : 0;
}

const float *lpt_q_input(const lpt_ctx *c, int id, size_t n, const lpt_tensor *in, lpt_tensor *buf) {
    if (!c->quant) return lpt_tensor_f32(in);
    lpt_q_apply(c, id, n, lpt_tensor_f32(in), lpt_tensor_f32(buf));
    lpt_q_mark(c, id, buf);
    return lpt_tensor_f32(buf);
}

/* the format a quantization point applies (NULL: the values pass unchanged) */
static const lpt_qformat *format_of(const lpt_ctx *c, const lpt_stats_entry *e) {
    return c->quant->calibrating || e->fmt.fmt == LPT_FMT_FP32 ? NULL : &e->fmt;
}

int lpt_q_attach(lpt_qconfig *q, lpt_backend *be) {
    const size_t n = (size_t)q->stats->n + 1, bytes = n * sizeof(lpt_qresult);
    if (!(q->acc = be->alloc(be, bytes))) {
        lpt_error_set("out of backend memory for the results of %d quantization points", q->stats->n);
        return -1;
    }
    q->pass = q->acc + q->stats->n;
    lpt_qresult *zeros = lpt_xcalloc(n, sizeof *zeros);
    be->to_device(be, q->acc, zeros, bytes);
    free(zeros);
    q->pass_host = lpt_xcalloc(1, sizeof *q->pass_host);
    return 0;
}

void lpt_q_collect(lpt_qconfig *q, lpt_backend *be) {
    const size_t n = (size_t)q->stats->n, bytes = n * sizeof(lpt_qresult);
    if (!n) return;
    lpt_qresult *host = lpt_xmalloc(bytes);
    lpt_backend_read(be, host, q->acc, bytes);
    for (size_t i = 0; i < n; i++) lpt_stats_add_result(q->stats, (int)i, &host[i]);
    memset(host, 0, bytes);
    be->to_device(be, q->acc, host, bytes);
    free(host);
}

void lpt_q_detach(lpt_qconfig *q, lpt_backend *be) {
    if (q->acc) be->free(be, q->acc);
    free(q->pass_host);
    q->acc = q->pass = q->pass_host = NULL;
}

/* the statistics unit analyses this pass (not in evaluation or a benchmark's off blocks) */
static int analysing(const lpt_ctx *c) { return !c->quant->frozen && !c->quant->no_analysis; }

/* where a pass reports (backend memory): the entry's accumulator when analysed, else
 * the pass slot as a sink */
static lpt_qresult *report_of(const lpt_ctx *c, int id) { return analysing(c) ? &c->quant->acc[id] : c->quant->pass; }

/* One pass whose result the host needs now (the recompute rule): quantize and observe
 * into the cleared pass slot, then read it (a sync point). */
static const lpt_qresult *observed_pass(const lpt_ctx *c, const lpt_qformat *f, int fl, const lpt_rng_key *key,
                                        size_t n, const float *in, float *out, int with_hist) {
    lpt_backend *be = c->be;
    lpt_qresult *host = c->quant->pass_host;
    memset(host, 0, sizeof *host);
    be->to_device(be, c->quant->pass, host, sizeof *host);
    be->quant_observe(be, f, fl, key, n, in, out, &c->quant->pass->counts, with_hist ? &c->quant->pass->hist : NULL);
    lpt_backend_read(be, host, c->quant->pass, sizeof *host);
    return host;
}

/* The recompute rule: after a fused pass that observed this tensor (own) and quantized it
 * at the entry's FL (counters st), the FL it should be quantized at instead, or the
 * current FL. A correction is due when the observed overflow beats the prediction by the
 * configured factor (at least `factor` values), or when the tensor collapsed: every
 * nonzero value saturated or every nonzero value became zero. The corrected FL is chosen
 * from this tensor's own histogram; it equals the current one when only rounding carries
 * overflowed. *why tells whether the tensor had collapsed. */
static int corrected_fl(const lpt_ctx *c, const lpt_stats_entry *e, const lpt_msb_hist *own,
                        const lpt_qstats *st, lpt_stats_health *why) {
    const uint64_t nonzero = lpt_stats_nonzero(own);
    *why = LPT_STATS_OK;
    if (!nonzero) return e->fl;
    const lpt_stats_health v = lpt_stats_health_of(own, st);
    const double observed = (double)st->out_of_range / (double)nonzero;
    const double predicted = e->predicted_overflow; /* from the interval FL was chosen on */
    if (v != LPT_STATS_ALL_SATURATED && v != LPT_STATS_ALL_UNDERFLOW &&
        observed <= c->quant->recompute_factor * fmax(predicted, 1.0 / (double)nonzero))
        return e->fl;
    *why = v;
    return lpt_stats_choose_fl(own, e->fmt.width, c->quant->stats->overflow_rate, LPT_FL_MIN, LPT_FL_MAX);
}

/* whether this pass may correct the entry's FL (dfp, analysis on, not calibrating) */
static int may_correct(const lpt_ctx *c, const lpt_stats_entry *e) {
    return c->quant->recompute && !c->quant->calibrating && !c->quant->frozen && !c->quant->no_analysis &&
           e->fmt.fmt == LPT_FMT_DFP;
}

void lpt_q_apply(const lpt_ctx *c, int id, size_t n, const float *in, float *out) {
    lpt_stats_unit *u = c->quant->stats;
    lpt_stats_entry *e = &u->e[id];
    const lpt_rng_key key = {.seed = c->seed, .stream = e->stream, .step = c->step, .index0 = 0};
    if (!may_correct(c, e) || in == out) {
        lpt_qresult *r = report_of(c, id);
        c->be->quant_observe(c->be, format_of(c, e), e->fl, &key, n, in, out, &r->counts,
                             analysing(c) ? &r->hist : NULL);
        return;
    }
    /* an input (X, W, dY): its source stays, so a corrected FL quantizes it again */
    const lpt_qresult *own = observed_pass(c, &e->fmt, e->fl, &key, n, in, out, 1);
    lpt_msb_hist_merge(&e->cur, &own->hist);
    lpt_stats_health why;
    const int fl = corrected_fl(c, e, &own->hist, &own->counts, &why), old = e->fl;
    if (fl != old) {
        e->fl = fl;
        lpt_stats_note_recompute(u, id, (int64_t)c->step, old, why);
        own = observed_pass(c, &e->fmt, e->fl, &key, n, in, out, 0);
    }
    lpt_stats_count(u, id, &own->counts); /* the counters of the values the layer goes on with */
}

int lpt_q_output(const lpt_ctx *c, int id, size_t n, const float *in, float *out) {
    if (!c->quant) return 0;
    lpt_stats_unit *u = c->quant->stats;
    lpt_stats_entry *e = &u->e[id];
    const lpt_rng_key key = {.seed = c->seed, .stream = e->stream, .step = c->step, .index0 = 0};
    if (e->redo) { /* the output again, at the corrected FL: observed before, counted now */
        c->be->quant_observe(c->be, &e->fmt, e->fl, &key, n, in, out, &c->quant->acc[id].counts, NULL);
        e->redo = 0;
        return 0;
    }
    if (!may_correct(c, e)) {
        lpt_q_apply(c, id, n, in, out);
        return 0;
    }
    /* one fused pass: this tensor's histogram, quantization at the current FL, counts */
    const lpt_qresult *own = observed_pass(c, &e->fmt, e->fl, &key, n, in, out, 1);
    lpt_msb_hist_merge(&e->cur, &own->hist);
    lpt_stats_health why;
    const int fl = corrected_fl(c, e, &own->hist, &own->counts, &why), old = e->fl;
    if (fl == old) {
        lpt_stats_count(u, id, &own->counts);
        return 0;
    }
    e->fl = fl;
    lpt_stats_note_recompute(u, id, (int64_t)c->step, old, why);
    e->redo = 1;
    return 1;
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
    c->be->bias_to_acc(c->be, n, bias, a->fl + b->fl, acc_bits_for(c->quant, w), out);
    return out;
}

void lpt_q_gemm(const lpt_ctx *c, int ida, int idb, int idc, int ta, int tb, int m, int n, int k,
                const float *a, int lda, const float *b, int ldb, float *out, int ldc) {
    lpt_backend *be = c->be;
    const lpt_stats_entry *ea = c->quant ? &c->quant->stats->e[ida] : NULL, *eb = c->quant ? &c->quant->stats->e[idb] : NULL;
    if (!c->quant || c->quant->calibrating || ea->fmt.fmt != LPT_FMT_DFP || eb->fmt.fmt != LPT_FMT_DFP) {
        /* float operands (fp32, or fp16/bf16 values): float32 accumulation */
        be->gemm(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, out, ldc);
        return;
    }
    const lpt_dfp_operand da = {ea->fmt.width, ea->fl}, db = {eb->fmt.width, eb->fl};
    const int acc = acc_bits_for(c->quant, da.width > db.width ? da.width : db.width);
    /* accumulator overflows count for the output's entry (idc), or go to the pass slot */
    lpt_qresult *r = idc >= 0 && !c->quant->frozen && !c->quant->no_analysis ? &c->quant->acc[idc] : c->quant->pass;
    be->dfp_gemm(be, da, db, acc, ta, tb, m, n, k, a, lda, b, ldb, out, ldc, &r->acc_overflows);
}
