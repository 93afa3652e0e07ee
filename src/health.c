/* health.c - dead-run detection (see health.h). */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void lpt_health_init(lpt_health *h, int window, double chance, const lpt_net *net) {
    memset(h, 0, sizeof *h);
    h->window = window > 0 ? window : 0;
    h->chance = chance;
    h->np = net->np;
    h->ring_correct = lpt_xcalloc((size_t)h->window + 1, sizeof *h->ring_correct);
    h->ring_seen = lpt_xcalloc((size_t)h->window + 1, sizeof *h->ring_seen);
    h->zero_since = lpt_xmalloc(((size_t)h->np + 1) * sizeof *h->zero_since);
    h->zero_flagged = lpt_xcalloc((size_t)h->np + 1, sizeof *h->zero_flagged);
    for (int i = 0; i < h->np; i++) h->zero_since[i] = -1;
}

void lpt_health_free(lpt_health *h) {
    free(h->ring_correct);
    free(h->ring_seen);
    free(h->zero_since);
    free(h->zero_flagged);
    memset(h, 0, sizeof *h);
}

int lpt_health_step(lpt_health *h, long step, long correct, long seen, char *msg, size_t cap) {
    if (!h->window) return 0;
    h->sum_correct += correct - h->ring_correct[h->at];
    h->sum_seen += seen - h->ring_seen[h->at];
    h->ring_correct[h->at] = correct;
    h->ring_seen[h->at] = seen;
    h->at = (h->at + 1) % h->window;
    if (h->filled < h->window) h->filled++;
    if (h->filled < h->window || h->sum_seen == 0) return 0;
    const double acc = (double)h->sum_correct / (double)h->sum_seen;
    const int at_chance = acc < h->chance + LPT_HEALTH_MARGIN;
    if (!at_chance) {
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

int lpt_health_grads(lpt_health *h, lpt_net *net, long step, char *msg, size_t cap) {
    if (!h->window || step % LPT_HEALTH_CHECK_EVERY != 0) return 0;
    lpt_backend *be = net->be;
    int found = 0;
    for (int i = 0; i < net->np && i < h->np; i++) {
        const lpt_param *p = &net->p[i];
        if (!p->grad || !p->decay) continue; /* weights of conv2d and linear layers */
        if (be->count_nonzero(be, lpt_tensor_count(p->grad), lpt_tensor_f32(p->grad))) {
            h->zero_since[i] = -1;
            h->zero_flagged[i] = 0;
            continue;
        }
        if (h->zero_since[i] < 0) h->zero_since[i] = step;
        if (found || h->zero_flagged[i] || step - h->zero_since[i] < h->window) continue;
        h->zero_flagged[i] = 1;
        char layer[48];
        snprintf(layer, sizeof layer, "%s", p->name);
        char *dot = strrchr(layer, '.');
        if (dot) *dot = 0;
        snprintf(msg, cap,
                 "layer %s tensor dw: the gradient of %s is identically zero at every check over "
                 "global steps %ld-%ld: the layer has stopped learning",
                 layer, p->name, h->zero_since[i] + 1, step + 1);
        found = 1;
    }
    return found;
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
