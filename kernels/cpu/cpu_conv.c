/* cpu_conv.c - threaded im2col / col2im and convolution output layout. */
#include <string.h>

#include "kernels/cpu/cpu.h"

void lpt_cpu_im2col(lpt_backend *be, const lpt_window *g, int n, const float *x, float *col) {
    // x (N, C, H, W) -> col (C*KH*KW, N*OH*OW); one thread per block of rows
    const int rows = g->c * g->kh * g->kw, oh = g->oh, ow = g->ow;
    const size_t np = (size_t)n * oh * ow;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int row = 0; row < rows; row++) {
        const int c = row / (g->kh * g->kw), i = (row / g->kw) % g->kh, j = row % g->kw;
        float *dst = col + (size_t)row * np;
        /* output columns ox whose input column xx = ox*sw - pw + j lies inside [0, w) */
        int lo = 0, hi = ow;
        while (lo < ow && lo * g->sw - g->pw + j < 0) lo++;
        while (hi > lo && (hi - 1) * g->sw - g->pw + j >= g->w) hi--;
        for (int b = 0; b < n; b++) {
            const float *src = x + ((size_t)b * g->c + c) * g->h * g->w;
            for (int oy = 0; oy < oh; oy++, dst += ow) {
                int yy = oy * g->sh - g->ph + i;
                if (yy < 0 || yy >= g->h) {
                    memset(dst, 0, sizeof(float) * (size_t)ow);
                    continue;
                }
                const float *s = src + (size_t)yy * g->w - g->pw + j;
                for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                if (g->sw == 1)
                    memcpy(dst + lo, s + lo, sizeof(float) * (size_t)(hi - lo));
                else
                    for (int ox = lo; ox < hi; ox++) dst[ox] = s[ox * g->sw];
                for (int ox = hi; ox < ow; ox++) dst[ox] = 0.0f;
            }
        }
    }
}

void lpt_cpu_col2im(lpt_backend *be, const lpt_window *g, int n, const float *col, float *dx) {
    // col (C*KH*KW, N*OH*OW) -> dx (N, C, H, W); one thread per block of (n, c) planes,
    // each plane summed in the reference order (i, j, oy, ox)
    const int planes = n * g->c, oh = g->oh, ow = g->ow;
    const size_t np = (size_t)n * oh * ow;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int pl = 0; pl < planes; pl++) {
        const int b = pl / g->c, c = pl % g->c;
        float *d = dx + (size_t)pl * g->h * g->w;
        memset(d, 0, sizeof(float) * (size_t)g->h * g->w);
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const float *src =
                    col + (((size_t)c * g->kh + i) * g->kw + j) * np + (size_t)b * oh * ow;
                int lo = 0, hi = ow;
                while (lo < ow && lo * g->sw - g->pw + j < 0) lo++;
                while (hi > lo && (hi - 1) * g->sw - g->pw + j >= g->w) hi--;
                for (int oy = 0; oy < oh; oy++) {
                    int yy = oy * g->sh - g->ph + i;
                    if (yy < 0 || yy >= g->h) continue;
                    float *drow = d + (size_t)yy * g->w - g->pw + j;
                    const float *srow = src + (size_t)oy * ow;
                    for (int ox = lo; ox < hi; ox++) drow[ox * g->sw] += srow[ox];
                }
            }
    }
}

void lpt_cpu_conv_out_fwd(lpt_backend *be, int n, int oc, int p, const float *t,
                          const float *bias, float *y) {
    // t (OC, N*P) -> y (N, OC, P)
#pragma omp parallel for num_threads(be->workers) schedule(static) if ((size_t)n * oc * p >= LPT_CPU_PAR_MIN)
    for (int k = 0; k < n * oc; k++) {
        const int b = k / oc, o = k % oc;
        const float *src = t + (size_t)o * n * p + (size_t)b * p;
        float *dst = y + (size_t)k * p;
        const float bv = bias ? bias[o] : 0.0f;
        for (int q = 0; q < p; q++) dst[q] = src[q] + bv;
    }
}

void lpt_cpu_conv_out_bwd(lpt_backend *be, int n, int oc, int p, const float *dy, float *t,
                          float *dbias) {
    // dy (N, OC, P) -> t (OC, N*P); dbias (OC), summed per channel in (n, p) order
#pragma omp parallel for num_threads(be->workers) schedule(static) if ((size_t)n * oc * p >= LPT_CPU_PAR_MIN)
    for (int o = 0; o < oc; o++) {
        double acc = 0.0;
        for (int b = 0; b < n; b++) {
            const float *src = dy + ((size_t)b * oc + o) * p;
            float *dst = t + (size_t)o * n * p + (size_t)b * p;
            float part = 0.0f;
            for (int q = 0; q < p; q++) {
                dst[q] = src[q];
                part += src[q];
            }
            acc += part;
        }
        if (dbias) dbias[o] = (float)acc;
    }
}

void lpt_cpu_bias_rows_bwd(lpt_backend *be, int m, int n, const float *dy, float *db) {
    (void)be;
    // db (n) = column sums of dy (m, n), row by row so the inner loop is contiguous
    for (int j = 0; j < n; j++) db[j] = 0.0f;
    for (int i = 0; i < m; i++) {
        const float *r = dy + (size_t)i * n;
        for (int j = 0; j < n; j++) db[j] += r[j];
    }
}
