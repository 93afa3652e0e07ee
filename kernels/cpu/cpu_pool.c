/* cpu_pool.c - pooling, threaded over images. Each image runs the reference loops, so
 * the results equal the reference exactly; a fast 2x2/stride-2 path covers LeNet/VGG. */
#include "kernels/ref/ref.h"
#include "kernels/cpu/cpu.h"

enum { POOL_CHUNK = 64 }; /* output columns per pass of maxpool_2x2 */

static int is_2x2s2(const lpt_window *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

/* 2x2 stride-2 max without padding. Planes without NaN take a branch-free path that
 * vectorizes (strictly-greater selects keep the reference's first-maximum rule); a plane
 * holding a NaN runs the reference loops, so the NaN rule stays the reference's. */
static void maxpool_2x2(const lpt_window *g, const float *x, float *y, int32_t *idx) {
    lpt_window one = *g;
    one.c = 1;
    const int w = g->w;
    for (int pl = 0; pl < g->c; pl++) {
        const float *xp = x + (size_t)pl * g->h * g->w;
        float *yp = y + (size_t)pl * g->oh * g->ow;
        int32_t *ip = idx + (size_t)pl * g->oh * g->ow;
        int nan = 0;
        for (int i = 0; i < g->h * g->w; i++) nan |= xp[i] != xp[i];
        if (nan) {
            lpt_ref_maxpool_fwd(NULL, &one, 1, xp, yp, ip);
            continue;
        }
        for (int oy = 0; oy < g->oh; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * w, *r1 = r0 + w;
            float *yo = yp + (size_t)oy * g->ow;
            int32_t *io = ip + (size_t)oy * g->ow;
            const int32_t base = 2 * oy * w;
            for (int ox0 = 0; ox0 < g->ow; ox0 += POOL_CHUNK) {
                /* the four corners into contiguous arrays first: the selects below then
                 * run on whole vectors */
                const int cn = g->ow - ox0 < POOL_CHUNK ? g->ow - ox0 : POOL_CHUNK;
                float a[POOL_CHUNK], b[POOL_CHUNK], c[POOL_CHUNK], d[POOL_CHUNK];
                for (int j = 0; j < cn; j++) {
                    const int x0 = 2 * (ox0 + j);
                    a[j] = r0[x0], b[j] = r0[x0 + 1], c[j] = r1[x0], d[j] = r1[x0 + 1];
                }
                for (int j = 0; j < cn; j++) {
                    const int32_t i0 = base + 2 * (ox0 + j);
                    float m = b[j] > a[j] ? b[j] : a[j];
                    int32_t k = b[j] > a[j] ? i0 + 1 : i0;
                    k = c[j] > m ? i0 + w : k;
                    m = c[j] > m ? c[j] : m;
                    k = d[j] > m ? i0 + w + 1 : k;
                    m = d[j] > m ? d[j] : m;
                    yo[ox0 + j] = m;
                    io[ox0 + j] = k;
                }
            }
        }
    }
}

void lpt_cpu_maxpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y,
                         int32_t *idx) {
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->c * g->oh * g->ow;
    const int fast = is_2x2s2(g);
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int b = 0; b < n; b++) {
        if (fast)
            maxpool_2x2(g, x + b * in, y + b * out, idx + b * out);
        else
            lpt_ref_maxpool_fwd(be, g, 1, x + b * in, y + b * out, idx + b * out);
    }
}

void lpt_cpu_maxpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         const int32_t *idx, float *dx) {
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->c * g->oh * g->ow;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int b = 0; b < n; b++) lpt_ref_maxpool_bwd(be, g, 1, dy + b * out, idx + b * out, dx + b * in);
}

void lpt_cpu_avgpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y) {
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->c * g->oh * g->ow;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int b = 0; b < n; b++) lpt_ref_avgpool_fwd(be, g, 1, x + b * in, y + b * out);
}

void lpt_cpu_avgpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         float *dx) {
    const size_t in = (size_t)g->c * g->h * g->w, out = (size_t)g->c * g->oh * g->ow;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int b = 0; b < n; b++) lpt_ref_avgpool_bwd(be, g, 1, dy + b * out, dx + b * in);
}
