/* health.c - dead-run detection (see health.h). */
#include "src/health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

void lpt_health_init(lpt_health *h, int window, double chance, const lpt_net *net) {
    memset(h, 0, sizeof *h);
    h->window = window > 0 ? window : 0;
    h->chance = chance;
    h->np = net->np;
    h->zero_since = lpt_xmalloc(((size_t)h->np + 1) * sizeof *h->zero_since);
    h->zero_flagged = lpt_xcalloc((size_t)h->np + 1, sizeof *h->zero_flagged);
    for (int i = 0; i < h->np; i++) h->zero_since[i] = -1;
    h->checked = -1;
}

void lpt_health_free(lpt_health *h) {
    free(h->zero_since);
    free(h->zero_flagged);
    memset(h, 0, sizeof *h);
}

int lpt_health_step(lpt_health *h, long step, long correct, long seen, char *msg, size_t cap) {
    if (!h->window) return 0;
    h->sum_correct += correct;
    h->sum_seen += seen;
    if ((step + 1) % h->window != 0) return 0; /* the window ends at a multiple of its length */
    const double acc = h->sum_seen ? (double)h->sum_correct / (double)h->sum_seen : 0.0;
    const int ran = h->sum_seen > 0;
    h->sum_correct = h->sum_seen = 0;
    if (!ran || acc >= h->chance + LPT_HEALTH_MARGIN) {
        h->chance_flagged = 0;
        return 0;
    }
    if (h->chance_flagged) return 0;
    h->chance_flagged = 1;
    snprintf(msg, cap,
             "train accuracy %.2f%% over global steps %ld-%ld is at chance (%.2f%% for always "
             "guessing the most frequent class): the network is not learning",
             100 * acc, step + 2 - h->window, step + 1, 100 * h->chance);
    return 1;
}

int lpt_health_grads_due(const lpt_health *h, long first, long last) {
    return h && h->window && last >= first && last / LPT_HEALTH_CHECK_EVERY * LPT_HEALTH_CHECK_EVERY >= first;
}

int lpt_health_grads(lpt_health *h, const lpt_net *net, long step, const double *nonzero, char *msg, size_t cap) {
    if (h->checked != step) { /* count once per check step, report over several calls */
        h->checked = step;
        for (int i = 0; i < net->np && i < h->np; i++) {
            const lpt_param *p = &net->p[i];
            if (!p->grad || !p->decay) continue; /* weights of conv2d and linear layers */
            if (nonzero[i] > 0) {
                h->zero_since[i] = -1;
                h->zero_flagged[i] = 0;
            } else if (h->zero_since[i] < 0) {
                h->zero_since[i] = step;
            }
        }
    }
    for (int i = 0; i < net->np && i < h->np; i++) {
        const lpt_param *p = &net->p[i];
        if (!p->grad || !p->decay || h->zero_since[i] < 0 || h->zero_flagged[i] || step - h->zero_since[i] < h->window)
            continue;
        h->zero_flagged[i] = 1;
        char layer[48];
        snprintf(layer, sizeof layer, "%s", p->name);
        char *dot = strrchr(layer, '.');
        if (dot) *dot = 0;
        snprintf(msg, cap,
                 "layer %s tensor dw: the gradient of %s is identically zero at every check over "
                 "global steps %ld-%ld: the layer has stopped learning",
                 layer, p->name, h->zero_since[i] + 1, step + 1);
        return 1;
    }
    return 0;
}

void lpt_health_save(const lpt_health *h, lpt_buf *out) {
    lpt_buf_printf(out, "health=%d %ld %ld %d\n", h->window, h->sum_correct, h->sum_seen, h->chance_flagged);
    for (int i = 0; i < h->np; i++)
        if (h->zero_since[i] >= 0 || h->zero_flagged[i])
            lpt_buf_printf(out, "health_grad=%d %ld %d\n", i, h->zero_since[i], h->zero_flagged[i]);
}

int lpt_health_load(lpt_health *h, const char *text) {
    int same_window = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        int ok = 0;
        if (strncmp(l, "health=", 7) == 0) {
            int w, flagged;
            long c, n;
            ok = sscanf(l + 7, "%d %ld %ld %d", &w, &c, &n, &flagged) == 4 && w >= 0 && c >= 0 && n >= c &&
                 (flagged == 0 || flagged == 1);
            if (ok && w == h->window) {
                same_window = 1;
                h->sum_correct = c, h->sum_seen = n, h->chance_flagged = flagged;
            }
        } else if (strncmp(l, "health_grad=", 12) == 0) {
            int i, flagged;
            long since;
            ok = sscanf(l + 12, "%d %ld %d", &i, &since, &flagged) == 3 && i >= 0 && i < h->np &&
                 since >= -1 && (flagged == 0 || flagged == 1);
            if (ok && same_window) h->zero_since[i] = since, h->zero_flagged[i] = flagged;
        } else {
            continue;
        }
        if (!ok) {
            const int len = (int)strcspn(l, "\n");
            lpt_error_set("dead-run state is malformed: '%.*s'", len > 80 ? 80 : len, l);
            return -1;
        }
    }
    return 0;
}

double lpt_health_chance(const int32_t *labels, int n, int classes) {
    if (n <= 0 || classes <= 0) return 0.0;
    long *count = lpt_xcalloc((size_t)classes, sizeof *count);
    long most = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < classes && ++count[labels[i]] > most) most = count[labels[i]];
    free(count);
    return (double)most / (double)n;
}
