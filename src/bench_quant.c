/* bench_quant.c - `lpt bench --quantize`: quantize throughput per format on one core,
 * next to memcpy measured in the same run on the same buffers.
 *
 * Each kernel reads a float32 tensor and writes the dequantized float32 values (the
 * fake-quantization training uses), so it moves the same bytes as memcpy of the
 * tensor; GB/s counts the tensor's bytes (input size) per second, best of the reps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "src/bench.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "kernels/cpu/cpu_quant.h"
#include "src/base/isa.h"

static double best_of(int reps, void (*fn)(void *), void *arg) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = lpt_time_now();
        fn(arg);
        double t = lpt_time_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    const lpt_qformat *q;
    size_t n;
    const float *x;
    float *y;
    lpt_qstats st;
} qjob;

static void run_memcpy(void *a) {
    qjob *j = a;
    memcpy(j->y, j->x, j->n * sizeof(float));
}

static void run_quant(void *a) {
    qjob *j = a;
    lpt_rng_key key = {.seed = 1, .stream = 2, .step = 3};
    lpt_quantize(j->q, 4, &key, j->n, j->x, NULL, j->y, &j->st);
}

int lpt_bench_quantize(int size_mib, const char *formats, int reps, const char *isa, int json) {
    if (isa[0] && lpt_isa_set(isa) != 0) {
        fprintf(stderr, "lpt bench: --isa %s: unknown or not supported by this CPU (base, x86-64-v3, x86-64-v4)\n", isa);
        return 2;
    }
    const size_t n = (size_t)size_mib * 1024 * 1024 / sizeof(float);
    float *x = lpt_xmalloc(n * sizeof *x), *y = lpt_xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) x[i] = 8.0f * lpt_rng_uniform(1, 1, i) - 4.0f; /* dfp8 FL 4 fits */
    memset(y, 1, n * sizeof *y);
    qjob j = {.n = n, .x = x, .y = y};
    const double bytes = (double)n * sizeof(float);
    /* every format is checked before anything is timed */
    char list[512];
    snprintf(list, sizeof list, "%s", formats);
    lpt_qformat qs[64];
    char *names[64];
    int nf = 0, rc = 0;
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (nf == 64) {
            fprintf(stderr, "lpt bench: --formats: at most 64 formats\n");
            rc = 2;
            break;
        }
        if (lpt_qformat_parse(f, &qs[nf]) != 0) {
            fprintf(stderr, "lpt bench: --formats: %s\n", lpt_error_get());
            rc = 2;
            break;
        }
        names[nf++] = f;
    }
    double t_copy = 0, t[64];
    if (!rc) {
        t_copy = best_of(reps, run_memcpy, &j);
        for (int i = 0; i < nf; i++) {
            j.q = &qs[i];
            t[i] = best_of(reps, run_quant, &j);
            /* memcpy again after each format, so that drift over the run shows; every
             * ratio below uses the best memcpy of the whole run */
            double t_copy2 = best_of(reps, run_memcpy, &j);
            if (t_copy2 < t_copy) t_copy = t_copy2;
        }
    }
    if (!rc && !json) {
        printf("quantize throughput, %d MiB float32 -> float32 (dequantized), one core, best of %d, "
               "fast kernels at %s\n  %-22s %10s %9s  %s\n  %-22s %10.2f %9s  %s\n", size_mib, reps,
               lpt_isa_name(), "format", "GB/s", "/memcpy", "kernel", "memcpy", bytes / t_copy * 1e-9, "1.00",
               "libc (best over the run; every ratio uses it)");
        for (int i = 0; i < nf; i++)
            printf("  %-22s %10.2f %9.2f  %s\n", names[i], bytes / t[i] * 1e-9, t_copy / t[i],
                   lpt_quantize_kernel_name(&qs[i]));
    } else if (!rc) {
        printf("{\"what\": \"memcpy\", \"mib\": %d, \"gb_per_s\": %.3f}\n", size_mib, bytes / t_copy * 1e-9);
        for (int i = 0; i < nf; i++)
            printf("{\"what\": \"quantize\", \"format\": \"%s\", \"mib\": %d, \"gb_per_s\": %.3f, "
                   "\"ratio_to_memcpy\": %.3f, \"kernel\": \"%s\"}\n", names[i], size_mib, bytes / t[i] * 1e-9,
                   t_copy / t[i], lpt_quantize_kernel_name(&qs[i]));
    }
    fflush(stdout);
    lpt_isa_set("best");
    free(x);
    free(y);
    return rc;
}
