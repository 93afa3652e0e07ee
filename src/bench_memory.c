/* bench_memory.c - lpt bench --memory: what a training step keeps in memory, with and
 * without the memory planner (bench.h). Sizes only: nothing is allocated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/bench.h"
#include "src/net.h"
#include "src/base/util.h"

/* the bytes of a step at batch n: parameters, gradients, work (planned or not) */
static int sizes(const lpt_model_spec *spec, int n, int plan, size_t *total, lpt_net *keep) {
    lpt_net net;
    if (lpt_net_build_plan(&net, NULL, spec, n, LPT_NET_DRY | (plan ? LPT_NET_PLAN : 0))) return -1;
    *total = net.params.bytes + net.grads.bytes + (plan ? net.work.bytes : net.work.bytes_unplanned);
    if (keep) *keep = net;
    else lpt_net_free(&net);
    return 0;
}

static void live_text(const lpt_live *l, char *buf, size_t n) {
    buf[0] = 0;
    if (!l->n) snprintf(buf, n, "whole step");
    for (int k = 0; k < l->n; k++) {
        const size_t at = strlen(buf);
        if (l->from[k] == l->to[k]) snprintf(buf + at, n - at, "%s%d", k ? ", " : "", l->from[k]);
        else snprintf(buf + at, n - at, "%s%d-%d", k ? ", " : "", l->from[k], l->to[k]);
    }
}

/* the largest batch (up to 65536) whose step fits budget bytes, 0 if none */
static int largest_batch(const lpt_model_spec *spec, size_t budget, int plan) {
    int lo = 0, hi = 65536;
    while (lo < hi) {
        const int mid = lo + (hi - lo + 1) / 2;
        size_t t;
        if (sizes(spec, mid, plan, &t, NULL) == 0 && t <= budget) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

int lpt_bench_memory(const lpt_model_spec *spec, int batch, int budget_mib, int json) {
    lpt_net net;
    size_t planned, unplanned;
    if (sizes(spec, batch, 0, &unplanned, NULL) || sizes(spec, batch, 1, &planned, &net)) {
        fprintf(stderr, "lpt bench: --memory: %s\n", lpt_error_get());
        return 1;
    }
    const lpt_arena *w = &net.work;
    const double mib = 1.0 / (1 << 20);
    if (!json) {
        printf("memory of a training step: %s, batch %d (phases: 0 input, 1..%d forward, %d loss, %d..%d backward: "
               "each layer's dW product, then its dX product; a tensor sharing another's bytes in place shows its "
               "place)\n", spec->origin, batch, net.nlayers, net.nlayers + 1, net.nlayers + 2, 3 * net.nlayers + 1);
        printf("  %-22s %12s %14s %14s\n", "work tensor", "MiB", "in use", "planned at MiB");
        for (int i = 0; i < w->count; i++) {
            char live[32];
            int r = i; /* (in place: the lifetime of the bytes it shares) */
            while (w->alias[r] >= 0) r = w->alias[r];
            live_text(&w->live[r], live, sizeof live);
            printf("  %-22s %12.3f %14s %14.3f\n", w->names[i][0] ? w->names[i] : "(unnamed)",
                   lpt_arena_size(w->items[i]) * mib, live, w->offset[i] * mib);
        }
        printf("parameters %.3f MiB, gradients %.3f MiB; work %.3f MiB unplanned, %.3f MiB planned\n",
               net.params.bytes * mib, net.grads.bytes * mib, w->bytes_unplanned * mib, w->bytes * mib);
        printf("peak: %.3f MiB unplanned, %.3f MiB planned: %.1f%% less\n", unplanned * mib, planned * mib,
               100.0 * (1.0 - (double)planned / (double)unplanned));
    } else {
        printf("{\"model\": \"%s\", \"batch\": %d, \"params_bytes\": %zu, \"grads_bytes\": %zu, \"work_unplanned\": %zu, "
               "\"work_planned\": %zu, \"peak_unplanned\": %zu, \"peak_planned\": %zu",
               spec->origin, batch, net.params.bytes, net.grads.bytes, w->bytes_unplanned, w->bytes, unplanned, planned);
    }
    if (budget_mib > 0) {
        const size_t budget = (size_t)budget_mib << 20;
        const int b0 = largest_batch(spec, budget, 0), b1 = largest_batch(spec, budget, 1);
        if (json) printf(", \"budget_mib\": %d, \"largest_batch_unplanned\": %d, \"largest_batch_planned\": %d", budget_mib, b0, b1);
        else printf("largest batch in %d MiB: %d unplanned, %d planned\n", budget_mib, b0, b1);
    }
    if (json) printf("}\n");
    lpt_net_free(&net);
    return 0;
}
