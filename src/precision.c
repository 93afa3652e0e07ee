/* precision.c - the precision module (precision.h). */
#include "src/precision.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "src/config.h"
#include "src/base/util.h"

int lpt_prec_init(lpt_prec *pr, const lpt_train_cfg *cfg) {
    memset(pr, 0, sizeof *pr);
    lpt_qconfig *q = &pr->q;
    lpt_stats_unit *u = &pr->stats;
    lpt_precision p;
    const int is_auto = strcmp(cfg->precision, "auto") == 0;
    if (is_auto) {
        lpt_qformat d16 = {.fmt = LPT_FMT_DFP, .width = 16, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_SAT};
        p.w = p.a = p.g = d16;
        p.g.round = LPT_ROUND_SR; /* as the int8-dyn preset */
    } else if (lpt_precision_parse(cfg->precision, &p) != 0) {
        if (!strchr(cfg->precision, '=')) { /* one format: say what else a precision may be */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s; also auto, or one format per role: w=FMT,a=FMT,g=FMT", lpt_error_get());
            lpt_error_set("%s", msg);
        }
        return -1;
    }
    if (cfg->rounding[0]) {
        int r = -1;
        for (int i = 0; i < LPT_ROUND_COUNT; i++)
            if (strcmp(cfg->rounding, lpt_rounding_names[i]) == 0) r = i;
        if (r < 0) {
            lpt_error_set("unknown rounding '%s'; rounding: rne, rna, rtz, rdn, sr", cfg->rounding);
            return -1;
        }
        p.w.round = p.a.round = p.g.round = (lpt_rounding)r;
    }
    if (p.w.fmt == LPT_FMT_FP32 && p.a.fmt == LPT_FMT_FP32 && p.g.fmt == LPT_FMT_FP32) return 0;
    lpt_stats_init(u, cfg->stats_interval, cfg->overflow_rate);
    if (is_auto) {
        /* weights and activations: the smallest of 4, 6, 8 bits meeting the targets;
         * gradients: 8 bits (their small values underflow at any width that fits the
         * large ones, and 8 bits train as well as 16: see experiments/RESULTS.md) */
        static const int wa[] = {4, 6, 8}, g[] = {8};
        lpt_stats_set_auto(u, wa, 3, cfg->underflow_rate);
        lpt_stats_set_auto_role(u, LPT_ROLE_G, g, 1);
    }
    q->prec = p;
    q->acc_bits = cfg->acc_bits;
    q->recompute = cfg->recompute;
    q->recompute_factor = 4.0;
    q->stats = u;
    pr->active = 1;
    pr->fp16 = p.g.fmt == LPT_FMT_FP16;
    return 0;
}

int lpt_prec_check(const lpt_train_cfg *cfg) {
    lpt_prec p;
    if (lpt_prec_init(&p, cfg) != 0) return -1;
    lpt_prec_free(&p);
    return 0;
}

void lpt_prec_free(lpt_prec *p) {
    if (p->be) lpt_q_detach(&p->q, p->be);
    p->be = NULL;
    if (p->active) lpt_stats_free(&p->stats);
    p->active = 0;
}

/* fp16 loss scale from the gradient statistics: the largest scaled |dy| seen in the
 * interval is brought to about 2^13 (fp16 max 65504 ~ 2^16: 3 bits of headroom) */
static float loss_scale_update(const lpt_stats_unit *u, float scale) {
    double mx = 0;
    for (int i = 0; i < u->n; i++)
        if (u->e[i].role == LPT_ROLE_G && u->e[i].nsummary > 0)
            mx = fmax(mx, u->e[i].summary[(u->e[i].nsummary - 1) % LPT_STATS_HISTORY].max_abs);
    if (mx <= 0) return scale;
    double s = scale * ldexp(1.0, 13 - ilogb(mx));
    return (float)fmin(fmax(s, 1.0), 16777216.0);
}

void lpt_prec_calibrate_pass(lpt_prec *p, lpt_net *net, const lpt_ctx *c) {
    p->q.calibrating = 1;
    lpt_net_forward(net, c, 0);
    lpt_net_loss(net, c);
    lpt_net_backward(net, c);
}

void lpt_prec_calibrate_end(lpt_prec *p) {
    lpt_prec_sync(p);
    lpt_stats_calibrate(&p->stats);
    lpt_q_push(&p->q, p->be);
    p->q.calibrating = 0;
    p->calibrated = 1;
}

void lpt_prec_calibrate(lpt_prec *p, lpt_net *net, const lpt_ctx *c) {
    lpt_prec_calibrate_pass(p, net, c);
    lpt_prec_calibrate_end(p);
}

int lpt_prec_register(lpt_prec *p, lpt_net *net) {
    for (int i = 0; i < net->nlayers; i++) {
        lpt_layer *l = &net->layers[i];
        if (l->ops->register_q) l->ops->register_q(l, lpt_prec_q(p));
    }
    if (!p->active) return 0;
    if (lpt_q_attach(&p->q, net->be)) return -1;
    p->be = net->be;
    return 0;
}

void lpt_prec_sync(lpt_prec *p) {
    if (p->active && p->be) lpt_q_collect(&p->q, p->be);
}

int lpt_prec_restore(lpt_prec *p, const char *text) {
    if (lpt_stats_load(&p->stats, text)) return -1;
    lpt_q_push(&p->q, p->be);
    p->calibrated = 1;
    return 0;
}

int lpt_prec_text_has_stats(const char *text) { return text && strstr(text, "stats_entry=") != NULL; }

float lpt_prec_initial_loss_scale(const lpt_prec *p) { return p->fp16 ? 4096.0f : 1.0f; }

int lpt_prec_step_end(lpt_prec *p, long step, int interval, float *loss_scale) {
    if (!p->active || (step + 1) % interval != 0) return 0;
    lpt_prec_sync(p);
    lpt_stats_configure(&p->stats, step);
    lpt_q_push(&p->q, p->be);
    if (p->fp16) *loss_scale = loss_scale_update(&p->stats, *loss_scale);
    return 1;
}

void lpt_prec_print_summary(const lpt_prec *p) {
    const lpt_stats_unit *u = &p->stats;
    const int fp16 = p->fp16;
    int intervals = 0, ndfp = 0;
    for (int i = 0; i < u->n; i++) {
        if (u->e[i].nsummary > intervals) intervals = u->e[i].nsummary;
        ndfp += u->e[i].fmt.fmt == LPT_FMT_DFP;
    }
    if (intervals > LPT_STATS_HISTORY) intervals = LPT_STATS_HISTORY;
    printf("statistics unit: %d tensors (%d dfp), last configuration; rates averaged over the last %d "
           "interval%s, as fractions of the nonzero values%s\n", u->n, ndfp, intervals,
           intervals == 1 ? "" : "s", fp16 ? "; fp16 gradients are loss-scaled" : "");
    printf("  %-10s %-3s %-10s %5s %4s %10s %10s %10s %6s\n", "layer", "t", "format", "width", "FL",
           "overflow", "underflow", "max|v|", "recomp");
    double wsum = 0;
    int wn = 0;
    for (int i = 0; i < u->n; i++) {
        const lpt_stats_entry *e = &u->e[i];
        double ov = 0, un = 0, mx = 0;
        int k = e->nsummary < LPT_STATS_HISTORY ? e->nsummary : LPT_STATS_HISTORY;
        for (int j = 0; j < k; j++) {
            ov += e->summary[j].overflow;
            un += e->summary[j].underflow;
            mx = fmax(mx, e->summary[j].max_abs);
        }
        char name[48], fl[8] = "-"; /* FL means something for dfp only */
        lpt_qformat_name(&e->fmt, name, sizeof name);
        if (e->fmt.fmt == LPT_FMT_DFP) snprintf(fl, sizeof fl, "%d", e->fl);
        printf("  %-10s %-3s %-10s %5d %4s %9.4f%% %9.4f%% %10.4g %6llu\n", e->layer, e->tensor, name,
               e->fmt.width, fl, k ? 100 * ov / k : 0.0, k ? 100 * un / k : 0.0, mx,
               (unsigned long long)e->recomputes);
        if (e->fmt.fmt == LPT_FMT_DFP && e->configured) wsum += e->fmt.width, wn++;
    }
    uint64_t ovf = 0;
    for (int i = 0; i < u->n; i++) ovf += u->e[i].acc_overflows;
    if (ovf) /* only where --acc-bits is below the exact-product bound */
        printf("  accumulator overflows (this process): %llu outputs of Y and dX products saturated (--acc-bits)\n",
               (unsigned long long)ovf);
    /* dfp tensors never configured (no statistics yet) keep their initial width and do not count */
    if (wn) printf("  mean dfp width over the %d dfp tensors: %.2f bits\n", wn, wsum / wn);
}
