/* bench_scaling.c - lpt bench --scaling: a model of data-parallel training (bench.h,
 * docs/parallel.md, "Scaling model").
 *
 * Weak scaling: every process keeps the measured per-process batch, the global batch
 * grows with N. A step costs the measured forward passes, backward passes and the rest
 * (input, loss, update), plus the gradient exchange as lpt does it: an all-gather of
 * every process's gradients (sent once, N - 1 received) over a link of latency L and
 * bandwidth W, ceil(log2 N) latencies a message. Without overlap the exchange follows
 * the backward pass; with it, each layer's gradients go out when its backward pass ends
 * and the link carries one message at a time, so the step ends when the backward pass
 * and the last message have both finished. Exchange formats shrink the bytes: fp16 and
 * bf16 2x, dfp8 4x (the quantization's cost is not modelled). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/bench.h"
#include "src/net.h"
#include "src/base/util.h"

/* seconds of one all-gather of `bytes` per process over n processes */
static double gather_s(double bytes, int n, const lpt_link *k) {
    if (n <= 1) return 0;
    return ceil(log2((double)n)) * k->latency_us * 1e-6 + (double)(n - 1) * bytes / (k->bandwidth_gbs * 1e9);
}

/* ms of a step on n processes; grad_bytes[i] the gradient bytes of layer i (already in
 * the exchange format) */
static double step_ms(const lpt_scaling_in *in, const double *grad_bytes, int n, const lpt_link *k, int overlap) {
    double fwd = 0, bwd = 0, total_bytes = 0;
    for (int i = 0; i < in->nlayers; i++) fwd += in->fwd_ms[i], bwd += in->bwd_ms[i], total_bytes += grad_bytes[i];
    if (!overlap) return fwd + bwd + in->rest_ms + 1e3 * gather_s(total_bytes, n, k);
    double t = fwd, link = 0; /* ms: the backward pass from the last layer; the link's next free moment */
    for (int i = in->nlayers - 1; i >= 0; i--) {
        t += in->bwd_ms[i];
        if (grad_bytes[i] <= 0) continue;
        const double start = t > link ? t : link;
        link = start + 1e3 * gather_s(grad_bytes[i], n, k);
    }
    return (t > link ? t : link) + in->rest_ms;
}

int lpt_bench_scaling(const lpt_scaling_in *in, const lpt_link *link, int json) {
    static const struct {
        const char *name;
        double shrink;
    } fmts[] = {{"fp32", 1}, {"fp16", 2}, {"dfp8", 4}};
    double *gb = lpt_xcalloc((size_t)in->nlayers + 1, sizeof *gb);
    const double one = step_ms(in, gb, 1, link, 0); /* (no exchange on one process) */
    if (!json) {
        printf("scaling model: %s, %d images per process, link latency %.2f us, bandwidth %.2f GB/s (%s)\n",
               in->model, in->batch, link->latency_us, link->bandwidth_gbs, link->name);
        printf("measured on this machine: a step %.3f ms on one process (forward, backward, rest); gradients %.3f MiB\n",
               one, in->grad_bytes_total / (1 << 20));
        printf("  %5s", "N");
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
            printf("  %8s ms %6s  %8s ms %6s", fmts[f].name, "speedup", "+overlap", "speedup");
        printf("\n");
    }
    for (int n = 1; n <= 512; n *= 2) {
        if (!json) printf("  %5d", n);
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            for (int i = 0; i < in->nlayers; i++) gb[i] = in->grad_bytes[i] / fmts[f].shrink;
            const double a = step_ms(in, gb, n, link, 0), b = step_ms(in, gb, n, link, 1);
            /* speedup: images per second against one process */
            if (json)
                printf("{\"model\": \"%s\", \"n\": %d, \"exchange\": \"%s\", \"step_ms\": %.4f, \"step_ms_overlap\": %.4f, "
                       "\"speedup\": %.3f, \"speedup_overlap\": %.3f}\n",
                       in->model, n, fmts[f].name, a, b, n * one / a, n * one / b);
            else
                printf("  %11.3f %7.2fx  %11.3f %7.2fx", a, n * one / a, b, n * one / b);
        }
        if (!json) printf("\n");
    }
    free(gb);
    return 0;
}
