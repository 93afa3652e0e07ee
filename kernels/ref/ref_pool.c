/* ref_pool.c - reference max and average pooling. */
#include <float.h>

#include "kernels/ref/ref.h"

void lpt_ref_maxpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y,
                         int32_t *idx) {
    (void)be;
    // x (N, C, H, W) -> y, idx (N, C, OH, OW); idx = y*W + x of the first maximum
    for (size_t pl = 0; pl < (size_t)n * g->c; pl++) {
        const float *xp = x + pl * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                float best = -FLT_MAX;
                int32_t bi = -1;
                int nan_seen = 0;
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++) {
                        int yy = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                        if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) continue;
                        float v = xp[yy * g->w + xx];
                        if (v != v && !nan_seen) { /* NaN wins, so it is never hidden */
                            nan_seen = 1;
                            best = v;
                            bi = yy * g->w + xx;
                        } else if (!nan_seen && (bi < 0 || v > best)) {
                            best = v;
                            bi = yy * g->w + xx;
                        }
                    }
                size_t o = pl * g->oh * g->ow + (size_t)oy * g->ow + ox;
                y[o] = best;
                idx[o] = bi;
            }
    }
}

void lpt_ref_maxpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         const int32_t *idx, float *dx) {
    (void)be;
    for (size_t i = 0; i < (size_t)n * g->c * g->h * g->w; i++) dx[i] = 0.0f;
    for (size_t pl = 0; pl < (size_t)n * g->c; pl++)
        for (int o = 0; o < g->oh * g->ow; o++) {
            size_t k = pl * g->oh * g->ow + (size_t)o;
            dx[pl * g->h * g->w + (size_t)idx[k]] += dy[k];
        }
}

void lpt_ref_avgpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x,
                         float *y) {
    (void)be;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    for (size_t pl = 0; pl < (size_t)n * g->c; pl++) {
        const float *xp = x + pl * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                float acc = 0.0f;
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++) {
                        int yy = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                        if (yy >= 0 && yy < g->h && xx >= 0 && xx < g->w)
                            acc += xp[yy * g->w + xx];
                    }
                y[pl * g->oh * g->ow + (size_t)oy * g->ow + ox] = acc * inv;
            }
    }
}

void lpt_ref_avgpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         float *dx) {
    (void)be;
    const float inv = 1.0f / (float)(g->kh * g->kw);
    for (size_t i = 0; i < (size_t)n * g->c * g->h * g->w; i++) dx[i] = 0.0f;
    for (size_t pl = 0; pl < (size_t)n * g->c; pl++) {
        float *dp = dx + pl * g->h * g->w;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                float v = dy[pl * g->oh * g->ow + (size_t)oy * g->ow + ox] * inv;
                for (int i = 0; i < g->kh; i++)
                    for (int j = 0; j < g->kw; j++) {
                        int yy = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                        if (yy >= 0 && yy < g->h && xx >= 0 && xx < g->w) dp[yy * g->w + xx] += v;
                    }
            }
    }
}
