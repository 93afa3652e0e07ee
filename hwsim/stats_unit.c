/* stats_unit.c - database and configuration block of the statistics unit. */
#include "hwsim/stats_unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lpt_role_names[LPT_ROLE_COUNT] = {"w", "a", "g"};

void lpt_stats_init(lpt_stats_unit *u, int interval, double overflow_rate) {
    memset(u, 0, sizeof *u);
    u->interval = interval > 0 ? interval : 1;
    u->overflow_rate = overflow_rate;
}

void lpt_stats_free(lpt_stats_unit *u) {
    free(u->e);
    lpt_buf_free(&u->log);
    lpt_buf_free(&u->events);
    memset(u, 0, sizeof *u);
}

void lpt_stats_set_auto_role(lpt_stats_unit *u, lpt_role role, const int *widths, int n) {
    u->nwidths[role] = n > 8 ? 8 : n;
    memcpy(u->widths[role], widths, (size_t)u->nwidths[role] * sizeof *widths);
}

void lpt_stats_set_auto(lpt_stats_unit *u, const int *widths, int n, double underflow_rate) {
    u->auto_width = 1;
    for (int r = 0; r < LPT_ROLE_COUNT; r++) lpt_stats_set_auto_role(u, (lpt_role)r, widths, n);
    u->underflow_rate = underflow_rate;
}

int lpt_stats_register(lpt_stats_unit *u, const char *layer, const char *tensor, lpt_role role,
                       const lpt_qformat *fmt) {
    if (u->n == u->cap) {
        u->cap = u->cap ? 2 * u->cap : 16;
        lpt_stats_entry *e = realloc(u->e, (size_t)u->cap * sizeof *e);
        if (!e) {
            fprintf(stderr, "lpt: out of memory in the statistics unit\n");
            exit(1);
        }
        u->e = e;
    }
    lpt_stats_entry *e = &u->e[u->n];
    memset(e, 0, sizeof *e);
    snprintf(e->layer, sizeof e->layer, "%s", layer);
    snprintf(e->tensor, sizeof e->tensor, "%s", tensor);
    e->role = role;
    e->stream = lpt_stats_stream(layer, tensor);
    e->fmt = *fmt;
    e->fl = fmt->fmt == LPT_FMT_DFP ? fmt->width - 1 : 0;
    return u->n++;
}

void lpt_stats_observe(lpt_stats_unit *u, int id, size_t n, const float *x) {
    lpt_msb_hist_add_ref(&u->e[id].cur, n, x);
}

void lpt_stats_count(lpt_stats_unit *u, int id, const lpt_qstats *q) { lpt_qstats_add(&u->e[id].q, q); }

uint64_t lpt_stats_stream(const char *layer, const char *tensor) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, 64 bits */
    for (const char *s = layer;; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL; /* the terminating zero separates the names */
        if (!*s) break;
    }
    for (const char *s = tensor; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return lpt_mix64(h);
}

void lpt_stats_add_result(lpt_stats_unit *u, int id, const lpt_qresult *r) {
    lpt_msb_hist_merge(&u->e[id].cur, &r->hist);
    lpt_stats_count(u, id, &r->counts);
    u->e[id].acc_overflows += r->acc_overflows;
}

/* FL (and width) from the current histograms; an entry that saw no nonzero finite value
 * keeps its configuration */
static void choose(lpt_stats_unit *u, lpt_stats_entry *e) {
    const lpt_msb_hist *h = &e->cur;
    if (e->fmt.fmt != LPT_FMT_DFP || lpt_stats_nonzero(h) == 0) return;
    const int nw = u->nwidths[e->role], *ws = u->widths[e->role];
    if (u->auto_width && nw > 0) {
        int w = ws[nw - 1];
        for (int i = 0; i < nw; i++) {
            int fl = lpt_stats_choose_fl(h, ws[i], u->overflow_rate, LPT_FL_MIN, LPT_FL_MAX);
            if (lpt_stats_overflow_at(h, ws[i], fl) <= u->overflow_rate &&
                lpt_stats_underflow_at(h, fl) <= u->underflow_rate) {
                w = ws[i];
                break;
            }
        }
        e->fmt.width = w;
    }
    e->fl = lpt_stats_choose_fl(h, e->fmt.width, u->overflow_rate, LPT_FL_MIN, LPT_FL_MAX);
    e->predicted_overflow = lpt_stats_overflow_at(h, e->fmt.width, e->fl);
    e->configured = 1;
}

void lpt_stats_calibrate(lpt_stats_unit *u) {
    for (int i = 0; i < u->n; i++) {
        if (lpt_stats_nonzero(&u->e[i].cur)) u->e[i].ever_nonzero = 1;
        choose(u, &u->e[i]);
        lpt_msb_hist_clear(&u->e[i].cur);
        memset(&u->e[i].q, 0, sizeof u->e[i].q);
    }
}

/* dense run of a histogram's nonzero bins: [lo, hi] in MSB positions */
static void put_hist(lpt_buf *b, const char *key, const uint64_t *bins) {
    int lo = -1, hi = -1;
    for (int i = 0; i < LPT_MSB_BINS; i++)
        if (bins[i]) {
            if (lo < 0) lo = i;
            hi = i;
        }
    lpt_buf_printf(b, "\"%s\": {\"msb_min\": %d, \"counts\": [", key, lo < 0 ? 0 : lo + LPT_MSB_MIN);
    for (int i = lo; lo >= 0 && i <= hi; i++)
        lpt_buf_printf(b, "%s%llu", i > lo ? ", " : "", (unsigned long long)bins[i]);
    lpt_buf_printf(b, "]}");
}

lpt_stats_health lpt_stats_health_of(const lpt_msb_hist *h, const lpt_qstats *q) {
    const uint64_t nonzero = lpt_stats_nonzero(h);
    if (h->count == h->nonfinite) return LPT_STATS_OK; /* nothing observed (or only NaN/Inf) */
    if (!nonzero) return LPT_STATS_ALL_ZERO;
    if (q->out_of_range >= nonzero) return LPT_STATS_ALL_SATURATED;
    if (q->underflow >= nonzero) return LPT_STATS_ALL_UNDERFLOW;
    return LPT_STATS_OK;
}

const char *lpt_stats_health_name(lpt_stats_health v) {
    static const char *const names[] = {"ok", "all_zero", "all_saturated", "all_underflow"};
    return names[v];
}

static const char *health_text(lpt_stats_health v) {
    return v == LPT_STATS_ALL_ZERO        ? "every value was zero"
           : v == LPT_STATS_ALL_SATURATED ? "every nonzero value saturated"
                                          : "every nonzero value was quantized to zero";
}

/* a JSON string's content: quotes, backslashes and control characters escaped */
static void put_json_text(lpt_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            lpt_buf_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            lpt_buf_printf(b, "\\u%04x", (unsigned char)*s);
        else
            lpt_buf_put(b, s, 1);
    }
}

void lpt_stats_log_event(lpt_stats_unit *u, int64_t step, const char *event, const char *layer,
                         const char *tensor, const char *message, int partial) {
    lpt_buf_printf(&u->log, "{\"step\": %lld, \"event\": \"%s\"", (long long)step, event);
    if (layer) {
        lpt_buf_printf(&u->log, ", \"layer\": \"");
        put_json_text(&u->log, layer);
        lpt_buf_printf(&u->log, "\", \"tensor\": \"");
        put_json_text(&u->log, tensor ? tensor : "");
        lpt_buf_printf(&u->log, "\"");
    }
    lpt_buf_printf(&u->log, ", \"message\": \"");
    put_json_text(&u->log, message);
    lpt_buf_printf(&u->log, "\"%s}\n", partial ? ", \"partial\": true" : "");
}

/* One correction of entry id at `step` from old_fl to e->fl: counted, and a collapse (v
 * not OK) logged once per interval. */
static void note_recompute(lpt_stats_unit *u, int id, int64_t step, int old_fl, lpt_stats_health v) {
    lpt_stats_entry *e = &u->e[id];
    e->recomputes++;
    if (v == LPT_STATS_OK) return;
    e->collapses++;
    if (e->event_step_logged) return;
    e->event_step_logged = 1;
    char msg[256];
    snprintf(msg, sizeof msg, "%s at FL %d; recomputed at FL %d, chosen from this tensor's own histogram",
             health_text(v), old_fl, e->fl);
    lpt_stats_log_event(u, step, "recalibrated", e->layer, e->tensor, msg, 0);
}

void lpt_stats_add_recomputes(lpt_stats_unit *u, int id, uint64_t recomputes, uint64_t collapses, int64_t event_step,
                              int old_fl, int new_fl, lpt_stats_health why) {
    lpt_stats_entry *e = &u->e[id];
    if (event_step >= 0 && recomputes > 0 && collapses > 0) { /* the first collapse, as it was noted */
        e->fl = new_fl;
        note_recompute(u, id, event_step, old_fl, why);
        recomputes--, collapses--;
    }
    e->recomputes += recomputes;
    e->collapses += collapses;
}

char *lpt_stats_take_events(lpt_stats_unit *u) {
    if (!u->events.len) return NULL;
    lpt_buf_put(&u->events, "", 1);
    char *s = (char *)u->events.data;
    memset(&u->events, 0, sizeof u->events);
    return s;
}

/* Close the interval [first, step]: choose, log (a partial interval's records say so),
 * report dead tensors, push history, clear. */
static void close_interval(lpt_stats_unit *u, int64_t step, int partial) {
    const int64_t first = step - step % u->interval; /* intervals end at multiples of their length */
    for (int i = 0; i < u->n; i++) {
        lpt_stats_entry *e = &u->e[i];
        const lpt_msb_hist *h = &e->cur;
        const int used_fl = e->fl, used_w = e->fmt.width;
        const uint64_t nonzero = lpt_stats_nonzero(h);
        const double nz = nonzero ? (double)nonzero : 1.0;
        lpt_stats_summary s = {.step = step, .fl = used_fl, .width = used_w, .count = h->count,
                               .zeros = h->zeros, .nonfinite = h->nonfinite, .max_abs = h->max_abs,
                               .overflow = (double)e->q.out_of_range / nz, .underflow = (double)e->q.underflow / nz};
        const lpt_stats_health v = lpt_stats_health_of(h, &e->q);
        choose(u, e);
        char fname[64];
        lpt_qformat_name(&e->fmt, fname, sizeof fname);
        lpt_buf_printf(&u->log,
                       "{\"step\": %lld, \"layer\": \"%s\", \"tensor\": \"%s\", \"role\": \"%s\", \"format\": \"%s\", "
                       "\"width\": %d, \"fl\": %d, \"next_width\": %d, \"next_fl\": %d, \"count\": %llu, "
                       "\"zeros\": %llu, \"nonfinite\": %llu, \"max_abs\": %.9g, ",
                       (long long)step, e->layer, e->tensor, lpt_role_names[e->role], fname, used_w, used_fl,
                       e->fmt.width, e->fl, (unsigned long long)h->count, (unsigned long long)h->zeros,
                       (unsigned long long)h->nonfinite, h->max_abs);
        put_hist(&u->log, "pos_hist", h->pos);
        lpt_buf_printf(&u->log, ", ");
        put_hist(&u->log, "neg_hist", h->neg);
        lpt_buf_printf(&u->log,
                       ", \"overflow_rate\": %.9g, \"underflow_rate\": %.9g, \"saturation_rate\": %.9g, "
                       "\"predicted_overflow\": %.9g, \"predicted_underflow\": %.9g, \"recomputes\": %llu, "
                       "\"collapses\": %llu%s}\n",
                       s.overflow, s.underflow, e->fmt.ovf == LPT_OVF_SAT ? s.overflow : 0.0,
                       e->fmt.fmt == LPT_FMT_DFP ? lpt_stats_overflow_at(h, e->fmt.width, e->fl) : 0.0,
                       e->fmt.fmt == LPT_FMT_DFP ? lpt_stats_underflow_at(h, e->fl) : 0.0,
                       (unsigned long long)e->recomputes, (unsigned long long)e->collapses,
                       partial ? ", \"partial\": true" : "");
        if (v != LPT_STATS_OK && !partial) { /* a partial interval may be a single step */
            char msg[256];
            snprintf(msg, sizeof msg, "layer %s tensor %s (%s): %s over global steps %lld-%lld%s", e->layer, e->tensor,
                     fname, health_text(v), (long long)first + 1, (long long)step + 1,
                     v == LPT_STATS_ALL_ZERO && e->ever_nonzero ? " (nonzero before)" : "");
            lpt_stats_log_event(u, step, lpt_stats_health_name(v), e->layer, e->tensor, msg, 0);
            lpt_buf_printf(&u->events, "%s\n", msg);
        }
        if (nonzero) e->ever_nonzero = 1;
        e->event_step_logged = 0;
        e->summary[e->nsummary % LPT_STATS_HISTORY] = s;
        e->nsummary++;
        lpt_msb_hist_clear(&e->cur);
        memset(&e->q, 0, sizeof e->q);
    }
}

void lpt_stats_configure(lpt_stats_unit *u, int64_t step) { close_interval(u, step, 0); }

void lpt_stats_finish(lpt_stats_unit *u, int64_t step) {
    for (int i = 0; i < u->n; i++)
        if (u->e[i].cur.count) {
            close_interval(u, step, 1);
            return;
        }
}

static void save_hist(lpt_buf *b, const lpt_msb_hist *h) {
    lpt_buf_printf(b, " %llu %llu %llu %a", (unsigned long long)h->count, (unsigned long long)h->zeros,
                   (unsigned long long)h->nonfinite, h->max_abs);
    for (int i = 0; i < LPT_MSB_BINS; i++) {
        if (h->pos[i]) lpt_buf_printf(b, " p%d:%llu", i, (unsigned long long)h->pos[i]);
        if (h->neg[i]) lpt_buf_printf(b, " n%d:%llu", i, (unsigned long long)h->neg[i]);
    }
}

void lpt_stats_save(const lpt_stats_unit *u, lpt_buf *out) {
    for (int i = 0; i < u->n; i++) {
        const lpt_stats_entry *e = &u->e[i];
        lpt_buf_printf(out, "stats_entry=%s %s %d %d %d %a %llu %llu %llu %llu %d %llu %d %d\n", e->layer,
                       e->tensor, e->fmt.width, e->fl, e->configured, e->predicted_overflow,
                       (unsigned long long)e->recomputes, (unsigned long long)e->q.out_of_range,
                       (unsigned long long)e->q.underflow, (unsigned long long)e->q.nonfinite, e->nsummary,
                       (unsigned long long)e->collapses, e->ever_nonzero, e->event_step_logged);
        lpt_buf_printf(out, "stats_cur=%s %s", e->layer, e->tensor);
        save_hist(out, &e->cur);
        lpt_buf_printf(out, "\n");
        for (int j = 0; j < LPT_STATS_HISTORY && j < e->nsummary; j++) {
            const lpt_stats_summary *h = &e->summary[j];
            lpt_buf_printf(out, "stats_hist=%s %s %d %lld %d %d %llu %llu %llu %a %a %a\n", e->layer, e->tensor, j,
                           (long long)h->step, h->fl, h->width, (unsigned long long)h->count,
                           (unsigned long long)h->zeros, (unsigned long long)h->nonfinite, h->max_abs,
                           h->overflow, h->underflow);
        }
    }
}

/* the entry named by the first two words of s, and s advanced past them; *phantom is
 * set for the dx entry of a layer that has entries but no dx (the first layer: earlier
 * builds registered it although it is never computed) */
static lpt_stats_entry *entry_named(lpt_stats_unit *u, const char **s, int *phantom) {
    char layer[32], tensor[8];
    int used = 0, layer_known = 0;
    *phantom = 0;
    if (sscanf(*s, "%31s %7s%n", layer, tensor, &used) != 2) return NULL;
    /* (nsummary below is bounded so that the ring index nsummary % LPT_STATS_HISTORY never
     * wraps negative) */
    *s += used;
    if (!u->n && u->cap < 0) { /* lpt_stats_check: any name, parsed into a scratch entry */
        memset(u->e, 0, sizeof *u->e);
        return u->e;
    }
    for (int i = 0; i < u->n; i++) {
        if (strcmp(u->e[i].layer, layer) != 0) continue;
        layer_known = 1;
        if (strcmp(u->e[i].tensor, tensor) == 0) return &u->e[i];
    }
    *phantom = layer_known && strcmp(tensor, "dx") == 0;
    return NULL;
}

static int load_hist(const char *s, lpt_msb_hist *h) {
    unsigned long long c, z, nf;
    int used = 0;
    lpt_msb_hist_clear(h);
    if (sscanf(s, "%llu %llu %llu %la%n", &c, &z, &nf, &h->max_abs, &used) != 4) return -1;
    h->count = c, h->zeros = z, h->nonfinite = nf;
    for (s += used; *s == ' ';) {
        char side;
        int bin;
        unsigned long long v;
        if (sscanf(s, " %c%d:%llu%n", &side, &bin, &v, &used) != 3 || bin < 0 || bin >= LPT_MSB_BINS ||
            (side != 'p' && side != 'n'))
            return -1;
        (side == 'p' ? h->pos : h->neg)[bin] = v;
        s += used;
    }
    /* the counts must add up, and the largest magnitude must be a float's */
    uint64_t sum = h->zeros + h->nonfinite;
    for (int i = 0; i < LPT_MSB_BINS; i++) sum += h->pos[i] + h->neg[i];
    if (sum != h->count || !(h->max_abs >= 0 && h->max_abs <= 3.5e38)) return -1;
    return *s == '\n' || *s == 0 ? 0 : -1;
}

int lpt_stats_load(lpt_stats_unit *u, const char *text) {
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *s = l;
        lpt_stats_entry *e = NULL;
        int ok = 0, phantom = 0;
        if (strncmp(s, "stats_entry=", 12) == 0) {
            s += 12;
            unsigned long long rc, sat, un, nf, col = 0;
            int width, fl, configured, nsummary, ever = 1, logged = 0, used = 0;
            double pred;
            if ((e = entry_named(u, &s, &phantom)) &&
                sscanf(s, "%d %d %d %la %llu %llu %llu %llu %d%n", &width, &fl, &configured, &pred, &rc, &sat,
                       &un, &nf, &nsummary, &used) == 9 &&
                width >= 2 && width <= 32 && fl >= LPT_FL_MIN && fl <= LPT_FL_MAX && nsummary >= 0 && nsummary <= (1 << 30) &&
                (configured == 0 || configured == 1) && pred >= 0 && pred <= 1) {
                /* fields added later (absent from earlier checkpoints) */
                if (sscanf(s + used, "%llu %d %d", &col, &ever, &logged) != 3) col = 0, ever = 1, logged = 0;
                e->fmt.width = width, e->fl = fl, e->configured = configured, e->predicted_overflow = pred;
                e->nsummary = nsummary, e->recomputes = rc, e->q.out_of_range = sat, e->q.underflow = un;
                e->q.nonfinite = nf, e->collapses = col, e->ever_nonzero = ever != 0, e->event_step_logged = logged != 0;
                ok = 1;
            }
        } else if (strncmp(s, "stats_cur=", 10) == 0) {
            s += 10;
            ok = (e = entry_named(u, &s, &phantom)) && load_hist(s, &e->cur) == 0;
        } else if (strncmp(s, "stats_hist=", 11) == 0) {
            s += 11;
            int j;
            long long step;
            unsigned long long c, z, nf;
            lpt_stats_summary h;
            if ((e = entry_named(u, &s, &phantom)) &&
                sscanf(s, "%d %lld %d %d %llu %llu %llu %la %la %la", &j, &step, &h.fl, &h.width, &c, &z, &nf,
                       &h.max_abs, &h.overflow, &h.underflow) == 10 && j >= 0 && j < LPT_STATS_HISTORY &&
                step >= 0 && h.fl >= LPT_FL_MIN && h.fl <= LPT_FL_MAX && h.width >= 2 && h.width <= 32 &&
                z <= c && nf <= c - z && h.max_abs >= 0 && h.max_abs <= 3.5e38 && h.overflow >= 0 &&
                h.overflow <= 1 && h.underflow >= 0 && h.underflow <= 1) {
                h.step = step, h.count = c, h.zeros = z, h.nonfinite = nf;
                e->summary[j] = h;
                ok = 1;
            }
        } else {
            continue;
        }
        if (!ok && !phantom) {
            int len = (int)strcspn(l, "\n");
            lpt_error_set("statistics unit state does not fit this model or is malformed: '%.*s'",
                          len > 80 ? 80 : len, l);
            return -1;
        }
    }
    return 0;
}

int lpt_stats_check(const char *text) {
    lpt_stats_entry scratch;
    lpt_stats_unit u = {.e = &scratch, .n = 0, .cap = -1};
    return lpt_stats_load(&u, text);
}

int lpt_stats_flush(lpt_stats_unit *u, const char *path) {
    if (!u->log.len) return 0;
    FILE *f = fopen(path, "ab");
    if (!f) {
        lpt_error_set("cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    int bad = fwrite(u->log.data, 1, u->log.len, f) != u->log.len;
    bad |= fclose(f) != 0;
    if (bad) {
        lpt_error_set("cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    u->log.len = 0;
    return 0;
}
