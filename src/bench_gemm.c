/* bench_gemm.c - `lpt bench --gemm`: the throughput of one backend's matrix products,
 * float32 (gemm) and the 16-bit float products (gemm_lp, fp16 and bf16), on the same
 * operands in the same run; the ratio is to float32.
 *
 * The operands are multiples of 2^-7 in (-1, 1): on the grid of fp16 and of bf16, as the
 * quantization points leave them. Each product runs `reps` times between two syncs
 * (throughput of back-to-back products, as training queues them); best of five rounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "src/bench.h"
#include "src/base/rng.h"
#include "src/base/util.h"

typedef struct {
    lpt_backend *be;
    int m, n, k, reps;
    const float *a, *b;
    float *c;
} gemm_case;

static double time_rounds(const gemm_case *g, lpt_format fmt) {
    double best = 1e30;
    for (int round = 0; round < 6; round++) { /* round 0 warms up */
        g->be->sync(g->be);
        const double t0 = lpt_time_now();
        for (int r = 0; r < g->reps; r++)
            if (fmt == LPT_FMT_FP32)
                g->be->gemm(g->be, 0, 0, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c, g->n);
            else
                g->be->gemm_lp(g->be, fmt, 0, 0, g->m, g->n, g->k, g->a, g->k, g->b, g->n, g->c, g->n);
        g->be->sync(g->be);
        const double t = lpt_time_now() - t0;
        if (round && t < best) best = t;
    }
    return best / g->reps;
}

static int parse_shape(const char *s, int *m, int *n, int *k) {
    char tail;
    if (sscanf(s, "%d,%d,%d%c", m, n, k, &tail) != 3 || *m < 1 || *n < 1 || *k < 1 || *m > 65536 || *n > 65536 ||
        *k > 65536) {
        lpt_error_set("--gemm: expected M,N,K (each 1..65536), got '%s'", s);
        return -1;
    }
    return 0;
}

int lpt_bench_gemm(const char *backend, const lpt_backend_opts *o, const char *shapes, int json) {
    lpt_backend *be = lpt_backend_open(backend, o);
    if (!be) {
        fprintf(stderr, "lpt bench: %s\n", lpt_error_get());
        return 1;
    }
    char list[512];
    snprintf(list, sizeof list, "%s", shapes);
    int rc = 0;
    for (char *ps = NULL, *p = strtok_r(list, "/", &ps); p && !rc; p = strtok_r(NULL, "/", &ps)) {
        gemm_case g = {.be = be};
        if (parse_shape(p, &g.m, &g.n, &g.k)) {
            fprintf(stderr, "lpt bench: %s\n", lpt_error_get());
            rc = 2;
            break;
        }
        const size_t na = (size_t)g.m * g.k, nb = (size_t)g.k * g.n, nc = (size_t)g.m * g.n;
        float *host = lpt_xmalloc((na + nb) * sizeof *host);
        for (size_t i = 0; i < na + nb; i++) host[i] = (float)((int)(lpt_rng_bits(11, 0, i) >> 56) - 128) / 128.0f;
        float *a = be->alloc(be, na * sizeof *a), *b = be->alloc(be, nb * sizeof *b), *c = be->alloc(be, nc * sizeof *c);
        if (!a || !b || !c) {
            fprintf(stderr, "lpt bench: --gemm %s: out of backend memory\n", p);
            rc = 1;
        } else {
            be->to_device(be, a, host, na * sizeof *a);
            be->to_device(be, b, host + na, nb * sizeof *b);
            g.a = a, g.b = b, g.c = c;
            const double flop = 2.0 * g.m * g.n * g.k;
            g.reps = flop > 1e11 ? 3 : flop > 1e9 ? 20 : 200;
            const lpt_format fmts[3] = {LPT_FMT_FP32, LPT_FMT_FP16, LPT_FMT_BF16};
            const char *names[3] = {"fp32", "fp16", "bf16"};
            double base = 0;
            for (int f = 0; f < 3; f++) {
                const double t = time_rounds(&g, fmts[f]), tflops = flop / t / 1e12;
                if (f == 0) base = t;
                if (json)
                    printf("{\"gemm\":[%d,%d,%d],\"backend\":\"%s\",\"format\":\"%s\",\"ms\":%.6f,\"tflops\":%.3f,"
                           "\"vs_fp32\":%.3f}\n",
                           g.m, g.n, g.k, be->name, names[f], 1e3 * t, tflops, base / t);
                else
                    printf("gemm %5d x %5d x %5d  %-5s %-4s %10.3f ms  %9.3f TFLOP/s  %5.2fx fp32\n", g.m, g.n, g.k,
                           be->name, names[f], 1e3 * t, tflops, base / t);
                fflush(stdout);
            }
        }
        if (a) be->free(be, a);
        if (b) be->free(be, b);
        if (c) be->free(be, c);
        free(host);
    }
    lpt_backend_destroy(be);
    return rc;
}
