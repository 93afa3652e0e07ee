/* ref_elementwise.c - reference ReLU, dropout, products, SGD, fill, finiteness. */
#include <math.h>

#include "src/base/rng.h"
#include "kernels/ref/ref.h"

void lpt_ref_relu_fwd(lpt_backend *be, size_t n, const float *x, float *y) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN stays NaN */
}

void lpt_ref_relu_bwd(lpt_backend *be, size_t n, const float *y, const float *dy, float *dx) {
    (void)be;
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void lpt_ref_dropout_fwd(lpt_backend *be, size_t n, float p, lpt_rng_key key, const float *x,
                         float *mask, float *y) {
    (void)be;
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        float u = lpt_rng_uniform(key.seed, key.stream, (key.step << 32) + i);
        mask[i] = u >= p ? keep : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

void lpt_ref_mul(lpt_backend *be, size_t n, const float *a, const float *b, float *y) {
    (void)be;
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void lpt_ref_sgd_step(lpt_backend *be, size_t n, float lr, float momentum, float wd, float *w,
                      const float *g, float *m, const float *gscale, const int32_t *skip) {
    (void)be;
    if (skip && skip[0]) return;
    const float gs = gscale ? gscale[0] : 1.0f; /* a power of two: g * gs is exact */
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * gs + wd * w[i];
        m[i] = momentum * m[i] + gi;
        w[i] -= lr * m[i];
    }
}

void lpt_ref_fill(lpt_backend *be, size_t n, float *x, float v) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] = v;
}

void lpt_ref_scale(lpt_backend *be, size_t n, float *x, float alpha) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= alpha;
}

void lpt_ref_count_nonfinite(lpt_backend *be, size_t n, const float *x, double *acc) {
    (void)be;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !isfinite(x[i]);
    *acc += (double)bad;
}

void lpt_ref_count_nonzero(lpt_backend *be, size_t n, const float *x, double *acc) {
    (void)be;
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += x[i] != 0.0f;
    *acc += (double)nz;
}

void lpt_ref_gather(lpt_backend *be, int n, size_t item, const int32_t *idx, const uint8_t *images,
                    const int32_t *labels, const float *lut, float *x, int32_t *y) {
    (void)be;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = images + (size_t)idx[i] * item;
        for (size_t j = 0; j < item; j++) x[(size_t)i * item + j] = lut[src[j]];
        y[i] = labels[idx[i]];
    }
}
