/* shadow.c - the FP32 shadow (shadow.h). */
#include "src/shadow.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

typedef struct {
    int layer;         /* index in the network */
    char tensor[8];    /* x, w, y, dy, dx, dw */
    char format[24];
    double sqnr_db;    /* NaN: the FP32 tensor is all zero; Inf: no error */
    double rel_l2, cosine;
    int acc_bits, acc_bound; /* products of dfp operands; else -1 */
} shadow_rec;

struct lpt_shadow {
    lpt_net net;   /* the FP32 copy */
    lpt_tap tap;
    const lpt_tap *also;
    float scale;   /* fp16: the loss scale of the quantized step (its gradients carry it), read from the device */
    float *ha, *hb; /* host buffers */
    size_t cap;
    shadow_rec *rec; /* six a weighted layer at most (x, w, y, dy, dx, dw) */
    int nrec, nrec_cap;
    long step; /* of the records (-1: none yet) */
};

lpt_shadow *lpt_shadow_open(lpt_session *s, const lpt_model_spec *spec, int batch) {
    if (!s->prec.active) {
        lpt_error_set("--shadow-interval: this run is fp32: there is nothing to compare with an FP32 copy");
        return NULL;
    }
    lpt_shadow *sh = lpt_xcalloc(1, sizeof *sh);
    if (lpt_net_build(&sh->net, s->be, spec, batch) != 0) {
        lpt_error_prefix("--shadow-interval: the FP32 copy of the network");
        free(sh);
        return NULL;
    }
    sh->step = -1;
    sh->nrec_cap = 6 * sh->net.nlayers;
    sh->rec = lpt_xcalloc((size_t)sh->nrec_cap + 1, sizeof *sh->rec);
    return sh;
}

void lpt_shadow_close(lpt_shadow *sh) {
    if (!sh) return;
    lpt_net_free(&sh->net);
    free(sh->rec);
    free(sh->ha);
    free(sh->hb);
    free(sh);
}

static void reserve(lpt_shadow *sh, size_t n) {
    if (n <= sh->cap) return;
    free(sh->ha);
    free(sh->hb);
    sh->ha = lpt_xmalloc(n * sizeof(float));
    sh->hb = lpt_xmalloc(n * sizeof(float));
    sh->cap = n;
}

static int layer_index(const lpt_net *net, const char *name) {
    for (int i = 0; i < net->nlayers; i++)
        if (!strcmp(net->layers[i].name, name)) return i;
    return -1;
}

static shadow_rec *new_rec(lpt_shadow *sh, int layer, const char *tensor, const lpt_qformat *f) {
    if (sh->nrec == sh->nrec_cap) return NULL;
    shadow_rec *r = &sh->rec[sh->nrec++];
    memset(r, 0, sizeof *r);
    r->layer = layer;
    snprintf(r->tensor, sizeof r->tensor, "%s", tensor);
    if (f) lpt_qformat_name(f, r->format, sizeof r->format);
    else snprintf(r->format, sizeof r->format, "fp32");
    r->acc_bits = r->acc_bound = -1;
    return r;
}

/* q (the quantized step's, times `scale`) against ref (FP32) */
static void compare(shadow_rec *r, const float *q, const float *ref, size_t n, double scale) {
    double sig = 0, err = 0, dot = 0, qq = 0;
    for (size_t i = 0; i < n; i++) {
        const double a = q[i] / scale, b = ref[i];
        sig += b * b;
        err += (a - b) * (a - b);
        dot += a * b;
        qq += a * a;
    }
    r->sqnr_db = sig == 0 ? NAN : err == 0 ? INFINITY : 10.0 * log10(sig / err);
    r->rel_l2 = sig == 0 ? NAN : sqrt(err / sig);
    r->cosine = sig == 0 || qq == 0 ? NAN : dot / sqrt(sig * qq);
}

static const char *entry_tensor(const lpt_ctx *c, int id) { return c->quant->stats->e[id].tensor; }

static void on_tap(void *arg, const lpt_ctx *c, const lpt_tap_event *e) {
    lpt_shadow *sh = arg;
    if (sh->also) sh->also->fn(sh->also->arg, c, e);
    if (e->kind == LPT_TAP_PRE) return;
    if (c->loss_scale) lpt_backend_read(c->be, &sh->scale, c->loss_scale, sizeof sh->scale); /* fp16: the S in use */
    const lpt_stats_entry *ea = &c->quant->stats->e[e->id];
    const int li = layer_index(&sh->net, ea->layer);
    if (li < 0) return;
    lpt_net *net = &sh->net;
    lpt_backend *be = c->be;
    if (e->kind == LPT_TAP_PRODUCT) {
        const char *ta = entry_tensor(c, e->id), *tb = entry_tensor(c, e->idb);
        const int dw = !strcmp(ta, "dy") && !strcmp(tb, "x");
        const char *what = dw ? "dw" : (!strcmp(ta, "dy") || !strcmp(tb, "dy")) ? "dx" : "y";
        const size_t n = (size_t)e->m * (size_t)e->cols;
        reserve(sh, (size_t)e->m * (size_t)e->ld);
        lpt_backend_read(be, sh->ha, e->data, ((size_t)(e->m - 1) * (size_t)e->ld + (size_t)e->cols) * sizeof(float));
        if (e->ld != e->cols) /* dense rows */
            for (int i = 1; i < e->m; i++) memmove(sh->ha + (size_t)i * e->cols, sh->ha + (size_t)i * e->ld, (size_t)e->cols * sizeof(float));
        shadow_rec *r = NULL;
        if (dw) { /* the weight gradient against the copy's */
            char name[80];
            snprintf(name, sizeof name, "%s.weight", net->layers[li].name);
            const lpt_param *p = lpt_net_find_param(net, name);
            if (!p || lpt_tensor_count(p->grad) != n || !(r = new_rec(sh, li, "dw", NULL))) return;
            lpt_backend_read(be, sh->hb, lpt_tensor_f32(p->grad), n * sizeof(float));
            compare(r, sh->ha, sh->hb, n, sh->scale);
        } else { /* the accumulator of Y or dX goes with that tensor's record, made at its point */
            for (int i = sh->nrec - 1; i >= 0 && !r; i--)
                if (sh->rec[i].layer == li && !strcmp(sh->rec[i].tensor, what)) r = &sh->rec[i];
            if (!r && !(r = new_rec(sh, li, what, NULL))) return;
        }
        const lpt_stats_entry *eb = &c->quant->stats->e[e->idb];
        if (ea->fmt.fmt == LPT_FMT_DFP && eb->fmt.fmt == LPT_FMT_DFP) {
            int fla, flb;
            lpt_backend_read(be, &fla, &c->quant->states[e->id].fl, sizeof fla);
            lpt_backend_read(be, &flb, &c->quant->states[e->idb].fl, sizeof flb);
            double mx = 0;
            for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)sh->ha[i]));
            const double units = ldexp(mx, fla + flb);
            r->acc_bits = units < 1 ? 1 : (int)floor(log2(units)) + 2; /* magnitude bits and the sign */
            r->acc_bound = lpt_dfp_sum_bits(ea->fmt.width, eb->fmt.width, e->k) + 1;
        }
        return;
    }
    /* a tensor at its quantization point against the copy's */
    const char *t = ea->tensor;
    const lpt_tensor *ref = NULL;
    int relu = 0;
    double scale = 1.0;
    if (!strcmp(t, "x")) ref = &net->act[li];
    else if (!strcmp(t, "y")) ref = &net->act[li + 1], relu = lpt_q_fused_relu(c, e->id, &net->layers[li]);
    else if (!strcmp(t, "dy")) ref = &net->dact[li + 1], scale = sh->scale;
    else if (!strcmp(t, "dx")) ref = &net->dact[li], scale = sh->scale;
    else if (!strcmp(t, "w")) {
        char name[80];
        snprintf(name, sizeof name, "%s.weight", net->layers[li].name);
        const lpt_param *p = lpt_net_find_param(net, name);
        ref = p ? p->value : NULL;
    }
    if (!ref) return;
    shadow_rec *r = NULL;
    for (int i = sh->nrec - 1; i >= 0 && !r; i--) /* Y and dX: made by their product, which comes first */
        if (sh->rec[i].layer == li && !strcmp(sh->rec[i].tensor, t)) r = &sh->rec[i];
    if (!r && !(r = new_rec(sh, li, t, &ea->fmt))) return;
    if (!strcmp(r->format, "fp32")) lpt_qformat_name(&ea->fmt, r->format, sizeof r->format);
    reserve(sh, e->n);
    lpt_backend_read(be, sh->ha, e->data, e->n * sizeof(float));
    lpt_backend_read(be, sh->hb, lpt_tensor_f32(ref), e->n * sizeof(float));
    if (relu)
        for (size_t i = 0; i < e->n; i++) sh->hb[i] = sh->hb[i] > 0 ? sh->hb[i] : 0.0f;
    compare(r, sh->ha, sh->hb, e->n, scale);
}

const lpt_tap *lpt_shadow_begin(lpt_shadow *sh, lpt_session *s, const lpt_step_args *a, const lpt_tap *also) {
    lpt_net *net = &sh->net, *m = &s->net;
    lpt_backend *be = s->be;
    for (int i = 0; i < m->np; i++)
        be->copy(be, lpt_tensor_f32(net->p[i].value), lpt_tensor_f32(m->p[i].value),
                 lpt_tensor_count(m->p[i].value) * sizeof(float));
    const size_t item = lpt_tensor_count(&m->act[0]) / (size_t)m->batch;
    be->copy(be, lpt_tensor_f32(&net->act[0]), lpt_tensor_f32(&m->act[0]), (size_t)a->n * item * sizeof(float));
    be->copy(be, net->labels.data, m->labels.data, (size_t)a->n * sizeof(int32_t));
    const lpt_ctx c = {.be = be, .n = a->n, .train = 1, .seed = a->seed, .step = (uint64_t)a->step};
    lpt_net_forward(net, &c, 0);
    lpt_net_loss(net, &c);
    lpt_net_backward(net, &c);
    sh->scale = 1.0f;
    sh->nrec = 0;
    sh->also = also;
    sh->tap = (lpt_tap){on_tap, sh};
    return &sh->tap;
}

static void json_num(lpt_buf *b, const char *key, double v) {
    if (isfinite(v)) lpt_buf_printf(b, ", \"%s\": %.6g", key, v);
    else lpt_buf_printf(b, ", \"%s\": null", key);
}

void lpt_shadow_end(lpt_shadow *sh, lpt_stats_unit *u, long step) {
    sh->step = step;
    for (int i = 0; i < sh->nrec; i++) {
        const shadow_rec *r = &sh->rec[i];
        lpt_buf_printf(&u->log, "{\"step\": %ld, \"shadow\": true, \"layer\": \"%s\", \"tensor\": \"%s\", \"format\": \"%s\"",
                       step, sh->net.layers[r->layer].name, r->tensor, r->format);
        json_num(&u->log, "sqnr_db", isinf(r->sqnr_db) ? 999.0 : r->sqnr_db);
        json_num(&u->log, "rel_l2", r->rel_l2);
        json_num(&u->log, "cosine", r->cosine);
        if (r->acc_bits >= 0) lpt_buf_printf(&u->log, ", \"acc_bits\": %d, \"acc_bound\": %d", r->acc_bits, r->acc_bound);
        lpt_buf_printf(&u->log, "}\n");
    }
}

void lpt_shadow_print(const lpt_shadow *sh) {
    if (sh->step < 0) return;
    printf("FP32 shadow at global step %ld (SQNR in dB; 999: no error):\n", sh->step + 1);
    printf("  %-10s %-6s %-12s %9s %10s %9s %12s\n", "layer", "tensor", "format", "SQNR", "rel L2", "cosine",
           "acc bits/max");
    for (int i = 0; i < sh->nrec; i++) {
        const shadow_rec *r = &sh->rec[i];
        char acc[24] = "";
        if (r->acc_bits >= 0) snprintf(acc, sizeof acc, "%d/%d", r->acc_bits, r->acc_bound);
        printf("  %-10s %-6s %-12s %9.2f %10.3g %9.6f %12s\n", sh->net.layers[r->layer].name, r->tensor, r->format,
               isinf(r->sqnr_db) ? 999.0 : r->sqnr_db, r->rel_l2, r->cosine, acc);
    }
}
