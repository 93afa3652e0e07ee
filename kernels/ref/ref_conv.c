/* ref_conv.c - reference im2col / col2im, convolution output layout and bias. */
#include "kernels/ref/ref.h"

int lpt_window_finish(lpt_window *g) {
    if (g->c <= 0 || g->h <= 0 || g->w <= 0 || g->kh <= 0 || g->kw <= 0 || g->sh <= 0 ||
        g->sw <= 0 || g->ph < 0 || g->pw < 0)
        return -1;
    if (g->h + 2 * g->ph < g->kh || g->w + 2 * g->pw < g->kw) return -1;
    g->oh = (g->h + 2 * g->ph - g->kh) / g->sh + 1;
    g->ow = (g->w + 2 * g->pw - g->kw) / g->sw + 1;
    return 0;
}

void lpt_ref_im2col(lpt_backend *be, const lpt_window *g, int n, const float *x, float *col) {
    (void)be;
    // x (N, C, H, W) -> col (C*KH*KW, N*OH*OW)
    const size_t np = (size_t)n * g->oh * g->ow;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                size_t row = ((size_t)c * g->kh + i) * g->kw + j;
                for (int b = 0; b < n; b++)
                    for (int oy = 0; oy < g->oh; oy++)
                        for (int ox = 0; ox < g->ow; ox++) {
                            int y = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                            float v = 0.0f;
                            if (y >= 0 && y < g->h && xx >= 0 && xx < g->w)
                                v = x[(((size_t)b * g->c + c) * g->h + y) * g->w + xx];
                            col[row * np + ((size_t)b * g->oh + oy) * g->ow + ox] = v;
                        }
            }
}

void lpt_ref_col2im(lpt_backend *be, const lpt_window *g, int n, const float *col, float *dx) {
    (void)be;
    // col (C*KH*KW, N*OH*OW) -> dx (N, C, H, W), summing overlapping windows
    const size_t np = (size_t)n * g->oh * g->ow;
    for (size_t i = 0; i < (size_t)n * g->c * g->h * g->w; i++) dx[i] = 0.0f;
    for (int c = 0; c < g->c; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                size_t row = ((size_t)c * g->kh + i) * g->kw + j;
                for (int b = 0; b < n; b++)
                    for (int oy = 0; oy < g->oh; oy++)
                        for (int ox = 0; ox < g->ow; ox++) {
                            int y = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                            if (y >= 0 && y < g->h && xx >= 0 && xx < g->w)
                                dx[(((size_t)b * g->c + c) * g->h + y) * g->w + xx] +=
                                    col[row * np + ((size_t)b * g->oh + oy) * g->ow + ox];
                        }
            }
}

void lpt_ref_conv_out_fwd(lpt_backend *be, int n, int oc, int p, const float *t,
                          const float *bias, float *y) {
    (void)be;
    // t (OC, N*P) -> y (N, OC, P)
    for (int b = 0; b < n; b++)
        for (int o = 0; o < oc; o++)
            for (int q = 0; q < p; q++)
                y[((size_t)b * oc + o) * p + q] =
                    t[(size_t)o * n * p + (size_t)b * p + q] + (bias ? bias[o] : 0.0f);
}

void lpt_ref_conv_out_bwd(lpt_backend *be, int n, int oc, int p, const float *dy, float *t,
                          float *dbias) {
    (void)be;
    // dy (N, OC, P) -> t (OC, N*P); dbias (OC)
    for (int o = 0; o < oc; o++) {
        double acc = 0.0;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < p; q++) {
                float v = dy[((size_t)b * oc + o) * p + q];
                t[(size_t)o * n * p + (size_t)b * p + q] = v;
                acc += v;
            }
        if (dbias) dbias[o] = (float)acc;
    }
}

void lpt_ref_bias_rows_fwd(lpt_backend *be, int m, int n, const float *bias, float *y) {
    (void)be;
    // y (m, n) += bias (n)
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) y[(size_t)i * n + j] += bias[j];
}

void lpt_ref_bias_rows_bwd(lpt_backend *be, int m, int n, const float *dy, float *db) {
    (void)be;
    // db (n) = sum over rows of dy (m, n)
    for (int j = 0; j < n; j++) {
        double acc = 0.0;
        for (int i = 0; i < m; i++) acc += dy[(size_t)i * n + j];
        db[j] = (float)acc;
    }
}
