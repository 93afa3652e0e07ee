/* stats_unit.c - database and configuration block of the statistics unit. */
#include "stats_unit.h"

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
    e->fmt = *fmt;
    e->fl = fmt->fmt == LPT_FMT_DFP ? fmt->width - 1 : 0;
    return u->n++;
}

void lpt_stats_observe(lpt_stats_unit *u, int id, size_t n, const float *x) {
    lpt_msb_hist_add(&u->e[id].cur, n, x);
}

void lpt_stats_count(lpt_stats_unit *u, int id, const lpt_qstats *q) {
    lpt_qstats *d = &u->e[id].q;
    d->saturated += q->saturated;
    d->underflow += q->underflow;
    d->nonfinite += q->nonfinite;
}

/* FL (and width) from the current histograms; an entry that saw no nonzero finite value
 * keeps its configuration */
static void choose(lpt_stats_unit *u, lpt_stats_entry *e) {
    const lpt_msb_hist *h = &e->cur;
    if (e->fmt.fmt != LPT_FMT_DFP || h->count - h->nonfinite - h->zeros == 0) return;
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

void lpt_stats_configure(lpt_stats_unit *u, int64_t step) {
    for (int i = 0; i < u->n; i++) {
        lpt_stats_entry *e = &u->e[i];
        const lpt_msb_hist *h = &e->cur;
        const int used_fl = e->fl, used_w = e->fmt.width;
        const double n = h->count ? (double)h->count : 1.0;
        lpt_stats_summary s = {.step = step, .fl = used_fl, .width = used_w, .count = h->count,
                               .zeros = h->zeros, .nonfinite = h->nonfinite, .max_abs = h->max_abs,
                               .overflow = (double)e->q.saturated / n, .underflow = (double)e->q.underflow / n};
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
                       "\"predicted_overflow\": %.9g, \"predicted_underflow\": %.9g, \"recomputes\": %llu}\n",
                       s.overflow, s.underflow, e->fmt.ovf == LPT_OVF_SAT ? s.overflow : 0.0,
                       e->fmt.fmt == LPT_FMT_DFP ? lpt_stats_overflow_at(h, e->fmt.width, e->fl) : 0.0,
                       e->fmt.fmt == LPT_FMT_DFP ? lpt_stats_underflow_at(h, e->fl) : 0.0,
                       (unsigned long long)e->recomputes);
        e->hist[e->nhist % LPT_STATS_HISTORY] = s;
        e->nhist++;
        lpt_msb_hist_clear(&e->cur);
        memset(&e->q, 0, sizeof e->q);
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
        lpt_buf_printf(out, "stats_entry=%s %s %d %d %d %a %llu %llu %llu %llu %d\n", e->layer, e->tensor,
                       e->fmt.width, e->fl, e->configured, e->predicted_overflow,
                       (unsigned long long)e->recomputes, (unsigned long long)e->q.saturated,
                       (unsigned long long)e->q.underflow, (unsigned long long)e->q.nonfinite, e->nhist);
        lpt_buf_printf(out, "stats_cur=%s %s", e->layer, e->tensor);
        save_hist(out, &e->cur);
        lpt_buf_printf(out, "\n");
        for (int j = 0; j < LPT_STATS_HISTORY && j < e->nhist; j++) {
            const lpt_stats_summary *h = &e->hist[j];
            lpt_buf_printf(out, "stats_hist=%s %s %d %lld %d %d %llu %llu %llu %a %a %a\n", e->layer, e->tensor, j,
                           (long long)h->step, h->fl, h->width, (unsigned long long)h->count,
                           (unsigned long long)h->zeros, (unsigned long long)h->nonfinite, h->max_abs,
                           h->overflow, h->underflow);
        }
    }
}

/* the entry named by the first two words of s, and s advanced past them */
static lpt_stats_entry *entry_named(lpt_stats_unit *u, const char **s) {
    char layer[32], tensor[8];
    int used = 0;
    if (sscanf(*s, "%31s %7s%n", layer, tensor, &used) != 2) return NULL;
    *s += used;
    for (int i = 0; i < u->n; i++)
        if (strcmp(u->e[i].layer, layer) == 0 && strcmp(u->e[i].tensor, tensor) == 0) return &u->e[i];
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
    return *s == '\n' || *s == 0 ? 0 : -1;
}

int lpt_stats_load(lpt_stats_unit *u, const char *text) {
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *s = l;
        lpt_stats_entry *e = NULL;
        int ok = 0;
        if (strncmp(s, "stats_entry=", 12) == 0) {
            s += 12;
            unsigned long long rc, sat, un, nf;
            if ((e = entry_named(u, &s)))
                ok = sscanf(s, "%d %d %d %la %llu %llu %llu %llu %d", &e->fmt.width, &e->fl, &e->configured,
                            &e->predicted_overflow, &rc, &sat, &un, &nf, &e->nhist) == 9 &&
                     e->fmt.width >= 2 && e->fmt.width <= 32 && e->nhist >= 0;
            if (ok) e->recomputes = rc, e->q.saturated = sat, e->q.underflow = un, e->q.nonfinite = nf;
        } else if (strncmp(s, "stats_cur=", 10) == 0) {
            s += 10;
            ok = (e = entry_named(u, &s)) && load_hist(s, &e->cur) == 0;
        } else if (strncmp(s, "stats_hist=", 11) == 0) {
            s += 11;
            int j;
            long long step;
            unsigned long long c, z, nf;
            lpt_stats_summary h;
            if ((e = entry_named(u, &s)) &&
                sscanf(s, "%d %lld %d %d %llu %llu %llu %la %la %la", &j, &step, &h.fl, &h.width, &c, &z, &nf,
                       &h.max_abs, &h.overflow, &h.underflow) == 10 && j >= 0 && j < LPT_STATS_HISTORY) {
                h.step = step, h.count = c, h.zeros = z, h.nonfinite = nf;
                e->hist[j] = h;
                ok = 1;
            }
        } else {
            continue;
        }
        if (!ok) {
            int len = (int)strcspn(l, "\n");
            lpt_error_set("statistics unit state does not fit this model: '%.*s'", len > 80 ? 80 : len, l);
            return -1;
        }
    }
    return 0;
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
