/* cpu_elementwise.c - threaded, vectorizable elementwise kernels. */
#include <math.h>

#include "src/base/rng.h"
#include "kernels/cpu/cpu.h"

#define PAR_FOR(n) _Pragma("omp parallel for simd num_threads(be->workers) schedule(static) if ((n) >= LPT_CPU_PAR_MIN)")

void lpt_cpu_relu_fwd(lpt_backend *be, size_t n, const float *x, float *y) {
    PAR_FOR(n)
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void lpt_cpu_relu_bwd(lpt_backend *be, size_t n, const float *y, const float *dy, float *dx) {
    PAR_FOR(n)
    for (size_t i = 0; i < n; i++) {
        const float g = dy[i]; /* unconditional load: the select vectorizes */
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

void lpt_cpu_dropout_fwd(lpt_backend *be, size_t n, float p, lpt_rng_key key, const float *x,
                         float *mask, float *y) {
    const float keep = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(be->workers) schedule(static) if (n >= LPT_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float u = lpt_rng_uniform(key.seed, key.stream, (key.step << 32) + i);
        mask[i] = u >= p ? keep : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

void lpt_cpu_mul(lpt_backend *be, size_t n, const float *a, const float *b, float *y) {
    PAR_FOR(n)
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void lpt_cpu_sgd_step(lpt_backend *be, size_t n, float lr, float momentum, float wd, float *w,
                      const float *g, float *m, const float *gscale, const int32_t *skip) {
    if (skip && skip[0]) return;
    const float gs = gscale ? gscale[0] : 1.0f;
    PAR_FOR(n)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gs + wd * w[i];
        m[i] = momentum * m[i] + gi;
        w[i] -= lr * m[i];
    }
}

void lpt_cpu_fill(lpt_backend *be, size_t n, float *x, float v) {
    PAR_FOR(n)
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void lpt_cpu_count_nonfinite(lpt_backend *be, size_t n, const float *x, double *acc) {
    size_t bad = 0;
#pragma omp parallel for simd num_threads(be->workers) schedule(static) reduction(+ : bad) if (n >= LPT_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        /* x - x is 0 for finite x and NaN for NaN/Inf: branch-free and vectorizable */
        float z = x[i] - x[i];
        bad += z != z;
    }
    *acc += (double)bad;
}

void lpt_cpu_count_nonzero(lpt_backend *be, size_t n, const float *x, double *acc) {
    size_t nz = 0;
#pragma omp parallel for simd num_threads(be->workers) schedule(static) reduction(+ : nz) if (n >= LPT_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) nz += x[i] != 0.0f;
    *acc += (double)nz;
}

/* the batch's items in parallel (the data path of a training step) */
void lpt_cpu_gather(lpt_backend *be, int n, size_t item, const int32_t *idx, const uint8_t *images,
                    const int32_t *labels, const float *lut, float *x, int32_t *y) {
#pragma omp parallel for num_threads(be->workers) schedule(static) if ((size_t)n * item >= LPT_CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const uint8_t *src = images + (size_t)idx[i] * item;
        float *dst = x + (size_t)i * item;
        for (size_t j = 0; j < item; j++) dst[j] = lut[src[j]];
        y[i] = labels[idx[i]];
    }
}
