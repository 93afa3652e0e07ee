/* cuda_ops.cu - the CUDA backend's float operations: convolution layout (im2col,
 * col2im, output layout and bias), ReLU, pooling, batch norm, dropout, softmax
 * cross-entropy, SGD, and the elementwise helpers and counts. Each follows its reference
 * in kernels/ref/: operations that only move or select data give the same bits; sums run
 * in double per output (as the reference does) but in another order, so they agree to
 * float32 rounding; col2im and the pooling backward gather per input element in the
 * reference's order of windows, with no atomics, so results do not vary between runs. */
#include <float.h>
#include <math.h>

#include "kernels/cuda/cuda_impl.h"

#define STREAM(be) cuda_of(be)->stream
#define LAUNCH(be, n) <<<cuda_blocks(be, n), LPT_CUDA_THREADS, 0, STREAM(be)>>>

/* ---- convolution ---- */

__global__ static void k_im2col(lpt_window g, int n, const float *x, float *col) {
    const size_t np = (size_t)n * g.oh * g.ow, total = (size_t)g.c * g.kh * g.kw * np;
    GRID_STRIDE(e, total) {
        const size_t row = e / np, q = e - row * np;
        const int j = (int)(row % g.kw), i = (int)(row / g.kw % g.kh), c = (int)(row / g.kw / g.kh);
        const int ox = (int)(q % g.ow), oy = (int)(q / g.ow % g.oh), b = (int)(q / g.ow / g.oh);
        const int y = oy * g.sh - g.ph + i, xx = ox * g.sw - g.pw + j;
        col[e] = y >= 0 && y < g.h && xx >= 0 && xx < g.w ? x[(((size_t)b * g.c + c) * g.h + y) * g.w + xx] : 0.0f;
    }
}

static void cuda_im2col(lpt_backend *be, const lpt_window *g, int n, const float *x, float *col) {
    const size_t total = (size_t)g->c * g->kh * g->kw * n * g->oh * g->ow;
    if (!total) return;
    k_im2col LAUNCH(be, total)(*g, n, x, col);
    CUDA_LAUNCHED("im2col");
}

/* each input element sums the column entries of the windows that cover it, in the
 * reference's order (kernel row i, then column j) */
__global__ static void k_col2im(lpt_window g, int n, const float *col, float *dx) {
    const size_t np = (size_t)n * g.oh * g.ow, total = (size_t)n * g.c * g.h * g.w;
    GRID_STRIDE(e, total) {
        const int xx = (int)(e % g.w), y = (int)(e / g.w % g.h), c = (int)(e / g.w / g.h % g.c);
        const int b = (int)(e / g.w / g.h / g.c);
        float acc = 0.0f;
        for (int i = 0; i < g.kh; i++) {
            const int ty = y + g.ph - i;
            if (ty < 0 || ty % g.sh) continue;
            const int oy = ty / g.sh;
            if (oy >= g.oh) continue;
            for (int j = 0; j < g.kw; j++) {
                const int tx = xx + g.pw - j;
                if (tx < 0 || tx % g.sw) continue;
                const int ox = tx / g.sw;
                if (ox >= g.ow) continue;
                const size_t row = ((size_t)c * g.kh + i) * g.kw + j;
                acc += col[row * np + ((size_t)b * g.oh + oy) * g.ow + ox];
            }
        }
        dx[e] = acc;
    }
}

static void cuda_col2im(lpt_backend *be, const lpt_window *g, int n, const float *col, float *dx) {
    const size_t total = (size_t)n * g->c * g->h * g->w;
    if (!total) return;
    k_col2im LAUNCH(be, total)(*g, n, col, dx);
    CUDA_LAUNCHED("col2im");
}

__global__ static void k_conv_out_fwd(int n, int oc, int p, const float *t, const float *bias, float *y) {
    const size_t total = (size_t)n * oc * p;
    GRID_STRIDE(e, total) {
        const int q = (int)(e % p), o = (int)(e / p % oc), b = (int)(e / p / oc);
        y[e] = t[(size_t)o * n * p + (size_t)b * p + q] + (bias ? bias[o] : 0.0f);
    }
}

static void cuda_conv_out_fwd(lpt_backend *be, int n, int oc, int p, const float *t, const float *bias, float *y) {
    const size_t total = (size_t)n * oc * p;
    if (!total) return;
    k_conv_out_fwd LAUNCH(be, total)(n, oc, p, t, bias, y);
    CUDA_LAUNCHED("conv_out_fwd");
}

__global__ static void k_conv_out_bwd_t(int n, int oc, int p, const float *dy, float *t) {
    const size_t total = (size_t)n * oc * p;
    GRID_STRIDE(e, total) {
        const int q = (int)(e % p), o = (int)(e / p % oc), b = (int)(e / p / oc);
        t[(size_t)o * n * p + (size_t)b * p + q] = dy[e];
    }
}

/* the sum of v over the block, in double (warp shuffles, then the warps in order) */
__device__ static double block_sum(double v) {
    __shared__ double part[LPT_CUDA_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0.0;
    if (threadIdx.x == 0)
        for (int w = 0; w < (int)(blockDim.x >> 5); w++) s += part[w];
    __syncthreads();
    return s; /* valid in thread 0 */
}

/* ---- sums per channel over several blocks ----
 * Channel ch of an (n, c, s) tensor has n * s values. Their sum is split into `parts`
 * equal ranges of i = b * s + q, one block each, summed in double into the scratch
 * buffer; a second kernel adds each channel's parts in order. The split depends on the
 * shapes alone, so a run repeats bit for bit on any GPU. The scratch buffer holds two
 * doubles per channel for what the later kernels of an op need (CHAN_STATS), then the
 * parts. */
enum { CHAN_PART_VALUES = 4096, CHAN_MAX_PARTS = 256 };

static int chan_parts(int c, size_t cnt, int k, const char *op) {
    const size_t room = LPT_CUDA_SCRATCH - 2 * (size_t)c;
    if (2 * (size_t)c > LPT_CUDA_SCRATCH || room / ((size_t)c * k) < 1)
        lpt_cuda_fail(op, "more channels than the reduction scratch buffer holds", __FILE__, __LINE__);
    size_t parts = (cnt + CHAN_PART_VALUES - 1) / CHAN_PART_VALUES;
    if (parts > CHAN_MAX_PARTS) parts = CHAN_MAX_PARTS;
    if (parts > room / ((size_t)c * k)) parts = room / ((size_t)c * k);
    return parts < 1 ? 1 : (int)parts;
}
#define CHAN_STATS(be) (cuda_of(be)->scratch)
#define CHAN_PARTS(be, c) (cuda_of(be)->scratch + 2 * (size_t)(c))

template <int K, class F>
__global__ static void k_chan_partial(int c, int s, size_t cnt, int parts, F f, double *part) {
    const int ch = (int)(blockIdx.x / parts), pt = (int)(blockIdx.x % parts);
    const size_t len = (cnt + parts - 1) / parts, lo = (size_t)pt * len, hi = lo + len < cnt ? lo + len : cnt;
    double acc[K];
    for (int j = 0; j < K; j++) acc[j] = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) f(acc, (i / s * c + ch) * s + i % s, ch);
    for (int j = 0; j < K; j++) {
        const double t = block_sum(acc[j]);
        if (threadIdx.x == 0) part[((size_t)ch * parts + pt) * K + j] = t;
    }
}

template <int K, class F>
static void chan_partial(lpt_backend *be, int n, int c, int s, int parts, F f) {
    k_chan_partial<K><<<c * parts, LPT_CUDA_THREADS, 0, STREAM(be)>>>(c, s, (size_t)n * s, parts, f,
                                                                       CHAN_PARTS(be, c));
    CUDA_LAUNCHED("sums per channel");
}

/* the sum of channel ch's parts, in order */
__device__ static double chan_total(const double *part, int parts, int k, int ch, int j) {
    double t = 0.0;
    for (int p = 0; p < parts; p++) t += part[((size_t)ch * parts + p) * k + j];
    return t;
}

struct SumF {
    const float *x;
    __device__ void operator()(double *a, size_t k, int) const { a[0] += x[k]; }
};

__global__ static void k_conv_dbias_final(int oc, int parts, const double *part, float *dbias) {
    GRID_STRIDE(o, (size_t)oc) dbias[o] = (float)chan_total(part, parts, 1, (int)o, 0);
}

static void cuda_conv_out_bwd(lpt_backend *be, int n, int oc, int p, const float *dy, float *t, float *dbias) {
    const size_t total = (size_t)n * oc * p;
    if (!total) return;
    k_conv_out_bwd_t LAUNCH(be, total)(n, oc, p, dy, t);
    CUDA_LAUNCHED("conv_out_bwd");
    if (dbias) {
        const int parts = chan_parts(oc, (size_t)n * p, 1, "conv_out_bwd (bias)");
        chan_partial<1>(be, n, oc, p, parts, SumF{dy});
        k_conv_dbias_final LAUNCH(be, oc)(oc, parts, CHAN_PARTS(be, oc), dbias);
        CUDA_LAUNCHED("conv_out_bwd (bias)");
    }
}

__global__ static void k_bias_rows_fwd(int m, int n, const float *bias, float *y) {
    GRID_STRIDE(e, (size_t)m * n) y[e] += bias[e % n];
}

static void cuda_bias_rows_fwd(lpt_backend *be, int m, int n, const float *bias, float *y) {
    if ((size_t)m * n == 0) return;
    k_bias_rows_fwd LAUNCH(be, (size_t)m * n)(m, n, bias, y);
    CUDA_LAUNCHED("bias_rows_fwd");
}

/* column sums: a warp per column, strided over rows */
__global__ static void k_bias_rows_bwd(int m, int n, const float *dy, float *db) {
    const int lane = threadIdx.x & 31, j = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
    if (j >= n) return;
    double acc = 0.0;
    for (int i = lane; i < m; i += 32) acc += dy[(size_t)i * n + j];
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
    if (lane == 0) db[j] = (float)acc;
}

static void cuda_bias_rows_bwd(lpt_backend *be, int m, int n, const float *dy, float *db) {
    if (n <= 0) return;
    const int blocks = (int)(((size_t)n * 32 + LPT_CUDA_THREADS - 1) / LPT_CUDA_THREADS);
    k_bias_rows_bwd<<<blocks, LPT_CUDA_THREADS, 0, STREAM(be)>>>(m, n, dy, db);
    CUDA_LAUNCHED("bias_rows_bwd");
}

/* ---- ReLU, pooling ---- */

__global__ static void k_relu_fwd(size_t n, const float *x, float *y) {
    GRID_STRIDE(i, n) y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN stays NaN */
}
static void cuda_relu_fwd(lpt_backend *be, size_t n, const float *x, float *y) {
    if (!n) return;
    k_relu_fwd LAUNCH(be, n)(n, x, y);
    CUDA_LAUNCHED("relu_fwd");
}

__global__ static void k_relu_bwd(size_t n, const float *y, const float *dy, float *dx) {
    GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
static void cuda_relu_bwd(lpt_backend *be, size_t n, const float *y, const float *dy, float *dx) {
    if (!n) return;
    k_relu_bwd LAUNCH(be, n)(n, y, dy, dx);
    CUDA_LAUNCHED("relu_bwd");
}

__global__ static void k_maxpool_fwd(lpt_window g, int n, const float *x, float *y, int32_t *idx) {
    const size_t total = (size_t)n * g.c * g.oh * g.ow;
    GRID_STRIDE(e, total) {
        const int ox = (int)(e % g.ow), oy = (int)(e / g.ow % g.oh);
        const size_t pl = e / g.ow / g.oh;
        const float *xp = x + pl * g.h * g.w;
        float best = -FLT_MAX;
        int32_t bi = -1;
        int nan_seen = 0;
        for (int i = 0; i < g.kh; i++)
            for (int j = 0; j < g.kw; j++) {
                const int yy = oy * g.sh - g.ph + i, xx = ox * g.sw - g.pw + j;
                if (yy < 0 || yy >= g.h || xx < 0 || xx >= g.w) continue;
                const float v = xp[yy * g.w + xx];
                if (v != v && !nan_seen) { /* NaN wins, so it is never hidden */
                    nan_seen = 1;
                    best = v;
                    bi = yy * g.w + xx;
                } else if (!nan_seen && (bi < 0 || v > best)) {
                    best = v;
                    bi = yy * g.w + xx;
                }
            }
        y[e] = best;
        idx[e] = bi;
    }
}

static void cuda_maxpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y, int32_t *idx) {
    const size_t total = (size_t)n * g->c * g->oh * g->ow;
    if (!total) return;
    k_maxpool_fwd LAUNCH(be, total)(*g, n, x, y, idx);
    CUDA_LAUNCHED("maxpool_fwd");
}

/* each input element gathers dy of the windows whose argmax it is, in window order */
__global__ static void k_maxpool_bwd(lpt_window g, int n, const float *dy, const int32_t *idx, float *dx) {
    const size_t total = (size_t)n * g.c * g.h * g.w;
    GRID_STRIDE(e, total) {
        const int xx = (int)(e % g.w), y = (int)(e / g.w % g.h);
        const size_t pl = e / g.w / g.h, base = pl * g.oh * g.ow;
        const int here = y * g.w + xx;
        /* windows covering (y, xx): oy in [ceil((y + ph - kh + 1) / sh), (y + ph) / sh] */
        const int oy0 = max(0, (y + g.ph - g.kh + g.sh) / g.sh), oy1 = min(g.oh - 1, (y + g.ph) / g.sh);
        const int ox0 = max(0, (xx + g.pw - g.kw + g.sw) / g.sw), ox1 = min(g.ow - 1, (xx + g.pw) / g.sw);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                const size_t k = base + (size_t)oy * g.ow + ox;
                if (idx[k] == here) acc += dy[k];
            }
        dx[e] = acc;
    }
}

static void cuda_maxpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy, const int32_t *idx,
                             float *dx) {
    const size_t total = (size_t)n * g->c * g->h * g->w;
    if (!total) return;
    k_maxpool_bwd LAUNCH(be, total)(*g, n, dy, idx, dx);
    CUDA_LAUNCHED("maxpool_bwd");
}

__global__ static void k_avgpool_fwd(lpt_window g, int n, const float *x, float *y) {
    const size_t total = (size_t)n * g.c * g.oh * g.ow;
    const float inv = 1.0f / (float)(g.kh * g.kw);
    GRID_STRIDE(e, total) {
        const int ox = (int)(e % g.ow), oy = (int)(e / g.ow % g.oh);
        const float *xp = x + e / g.ow / g.oh * g.h * g.w;
        float acc = 0.0f;
        for (int i = 0; i < g.kh; i++)
            for (int j = 0; j < g.kw; j++) {
                const int yy = oy * g.sh - g.ph + i, xx = ox * g.sw - g.pw + j;
                if (yy >= 0 && yy < g.h && xx >= 0 && xx < g.w) acc += xp[yy * g.w + xx];
            }
        y[e] = acc * inv;
    }
}

static void cuda_avgpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y) {
    const size_t total = (size_t)n * g->c * g->oh * g->ow;
    if (!total) return;
    k_avgpool_fwd LAUNCH(be, total)(*g, n, x, y);
    CUDA_LAUNCHED("avgpool_fwd");
}

__global__ static void k_avgpool_bwd(lpt_window g, int n, const float *dy, float *dx) {
    const size_t total = (size_t)n * g.c * g.h * g.w;
    const float inv = 1.0f / (float)(g.kh * g.kw);
    GRID_STRIDE(e, total) {
        const int xx = (int)(e % g.w), y = (int)(e / g.w % g.h);
        const size_t base = e / g.w / g.h * g.oh * g.ow;
        const int oy0 = max(0, (y + g.ph - g.kh + g.sh) / g.sh), oy1 = min(g.oh - 1, (y + g.ph) / g.sh);
        const int ox0 = max(0, (xx + g.pw - g.kw + g.sw) / g.sw), ox1 = min(g.ow - 1, (xx + g.pw) / g.sw);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) acc += dy[base + (size_t)oy * g.ow + ox] * inv;
        dx[e] = acc;
    }
}

static void cuda_avgpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy, float *dx) {
    const size_t total = (size_t)n * g->c * g->h * g->w;
    if (!total) return;
    k_avgpool_bwd LAUNCH(be, total)(*g, n, dy, dx);
    CUDA_LAUNCHED("avgpool_bwd");
}

/* ---- batch norm: sums per channel over several blocks, then element-wise kernels ---- */

struct SqDevF { /* squared deviations from the channel mean (CHAN_STATS, even slots) */
    const float *x;
    const double *mu;
    __device__ void operator()(double *a, size_t k, int ch) const {
        const double d = x[k] - mu[2 * ch];
        a[0] += d * d;
    }
};

__global__ static void k_bn_mean(int c, int parts, double m, const double *part, double *stat) {
    GRID_STRIDE(ch, (size_t)c) stat[2 * ch] = chan_total(part, parts, 1, (int)ch, 0) / m;
}

__global__ static void k_bn_var(int c, int parts, double m, const double *part, const double *stat, float eps,
                                float momentum, float *mean, float *invstd, float *rmean, float *rvar) {
    GRID_STRIDE(ch, (size_t)c) {
        const double mu = stat[2 * ch], var = chan_total(part, parts, 1, (int)ch, 0) / m;
        const double unbiased = m > 1 ? var * m / (m - 1) : var;
        mean[ch] = (float)mu;
        invstd[ch] = (float)(1.0 / sqrt(var + eps));
        rmean[ch] = (1.0f - momentum) * rmean[ch] + momentum * (float)mu;
        rvar[ch] = (1.0f - momentum) * rvar[ch] + momentum * (float)unbiased;
    }
}

__global__ static void k_bn_norm(int c, int s, size_t total, const float *x, const float *gamma, const float *beta,
                                 const float *mean, const float *invstd, float *y) {
    GRID_STRIDE(k, total) {
        const int ch = (int)(k / s % c);
        y[k] = gamma[ch] * ((x[k] - mean[ch]) * invstd[ch]) + beta[ch];
    }
}

static void cuda_bn_fwd_train(lpt_backend *be, int n, int c, int s, const float *x, const float *gamma,
                              const float *beta, float eps, float momentum, float *mean, float *invstd,
                              float *running_mean, float *running_var, float *y) {
    const size_t cnt = (size_t)n * s;
    if (c <= 0 || !cnt) return;
    const int parts = chan_parts(c, cnt, 1, "bn_fwd_train");
    const double m = (double)cnt;
    double *stat = CHAN_STATS(be), *part = CHAN_PARTS(be, c);
    chan_partial<1>(be, n, c, s, parts, SumF{x});
    k_bn_mean LAUNCH(be, c)(c, parts, m, part, stat);
    CUDA_LAUNCHED("bn_fwd_train (mean)");
    chan_partial<1>(be, n, c, s, parts, SqDevF{x, stat});
    k_bn_var LAUNCH(be, c)(c, parts, m, part, stat, eps, momentum, mean, invstd, running_mean, running_var);
    CUDA_LAUNCHED("bn_fwd_train (variance)");
    k_bn_norm LAUNCH(be, cnt * c)(c, s, cnt * c, x, gamma, beta, mean, invstd, y);
    CUDA_LAUNCHED("bn_fwd_train");
}

__global__ static void k_bn_fwd_eval(int n, int c, int s, const float *x, const float *gamma, const float *beta,
                                     const float *rmean, const float *rvar, float eps, float *y) {
    GRID_STRIDE(k, (size_t)n * c * s) {
        const int ch = (int)(k / s % c);
        const float is = (float)(1.0 / sqrt((double)rvar[ch] + eps));
        y[k] = gamma[ch] * ((x[k] - rmean[ch]) * is) + beta[ch];
    }
}

static void cuda_bn_fwd_eval(lpt_backend *be, int n, int c, int s, const float *x, const float *gamma,
                             const float *beta, const float *running_mean, const float *running_var, float eps,
                             float *y) {
    if ((size_t)n * c * s == 0) return;
    k_bn_fwd_eval LAUNCH(be, (size_t)n * c * s)(n, c, s, x, gamma, beta, running_mean, running_var, eps, y);
    CUDA_LAUNCHED("bn_fwd_eval");
}

struct BnBwdF { /* the sums of dy and of dy * x-hat */
    const float *x, *dy, *mean, *invstd;
    __device__ void operator()(double *a, size_t k, int ch) const {
        const double xh = (double)(x[k] - mean[ch]) * invstd[ch];
        a[0] += dy[k];
        a[1] += dy[k] * xh;
    }
};

__global__ static void k_bn_bwd_sums(int c, int parts, const double *part, double *stat, float *dgamma,
                                     float *dbeta) {
    GRID_STRIDE(ch, (size_t)c) {
        const double sdy = chan_total(part, parts, 2, (int)ch, 0), sdyx = chan_total(part, parts, 2, (int)ch, 1);
        dbeta[ch] = (float)sdy;
        dgamma[ch] = (float)sdyx;
        stat[2 * ch] = sdy, stat[2 * ch + 1] = sdyx;
    }
}

__global__ static void k_bn_bwd_dx(int c, int s, size_t total, double m, const float *x, const float *dy,
                                   const float *gamma, const float *mean, const float *invstd, const double *stat,
                                   float *dx) {
    GRID_STRIDE(k, total) {
        const int ch = (int)(k / s % c);
        const double kk = (double)gamma[ch] * invstd[ch], a = stat[2 * ch] / m, b = stat[2 * ch + 1] / m;
        const double xh = (double)(x[k] - mean[ch]) * invstd[ch];
        dx[k] = (float)(kk * (dy[k] - a - xh * b));
    }
}

static void cuda_bn_bwd(lpt_backend *be, int n, int c, int s, const float *x, const float *dy, const float *gamma,
                        const float *mean, const float *invstd, float *dx, float *dgamma, float *dbeta) {
    const size_t cnt = (size_t)n * s;
    if (c <= 0 || !cnt) return;
    const int parts = chan_parts(c, cnt, 2, "bn_bwd");
    double *stat = CHAN_STATS(be), *part = CHAN_PARTS(be, c);
    chan_partial<2>(be, n, c, s, parts, BnBwdF{x, dy, mean, invstd});
    k_bn_bwd_sums LAUNCH(be, c)(c, parts, part, stat, dgamma, dbeta);
    CUDA_LAUNCHED("bn_bwd (sums)");
    k_bn_bwd_dx LAUNCH(be, cnt * c)(c, s, cnt * c, (double)cnt, x, dy, gamma, mean, invstd, stat, dx);
    CUDA_LAUNCHED("bn_bwd");
}

/* ---- dropout, products, loss, update, helpers ---- */

__global__ static void k_dropout(size_t n, float p, lpt_rng_key key, const float *x, float *mask, float *y) {
    const float keep = 1.0f / (1.0f - p);
    GRID_STRIDE(i, n) {
        const float u = lpt_rng_uniform(key.seed, key.stream, (key.step << 32) + i);
        mask[i] = u >= p ? keep : 0.0f;
        y[i] = x[i] * mask[i];
    }
}
static void cuda_dropout_fwd(lpt_backend *be, size_t n, float p, lpt_rng_key key, const float *x, float *mask,
                             float *y) {
    if (!n) return;
    k_dropout LAUNCH(be, n)(n, p, key, x, mask, y);
    CUDA_LAUNCHED("dropout_fwd");
}

__global__ static void k_mul(size_t n, const float *a, const float *b, float *y) { GRID_STRIDE(i, n) y[i] = a[i] * b[i]; }
static void cuda_mul(lpt_backend *be, size_t n, const float *a, const float *b, float *y) {
    if (!n) return;
    k_mul LAUNCH(be, n)(n, a, b, y);
    CUDA_LAUNCHED("mul");
}

/* one warp per row (classes is small): softmax in double as the reference computes it;
 * the loss and the correct count are summed per block into the scratch buffer, then the
 * blocks' sums in order into res (no atomics: the loss repeats bit for bit) */
__global__ static void k_xent_fwd(int n, int classes, const float *logits, const int32_t *labels, float *prob,
                                  double *part) {
    const int lane = threadIdx.x & 31, row = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
    double loss = 0.0, ok = 0.0;
    if (row < n) {
        const float *z = logits + (size_t)row * classes;
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[arg]) arg = j;
        const double mx = z[arg];
        double sum = 0.0;
        for (int j = lane; j < classes; j += 32) sum += exp((double)z[j] - mx);
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const double lse = mx + log(sum);
        for (int j = lane; j < classes; j += 32) prob[(size_t)row * classes + j] = (float)exp((double)z[j] - lse);
        if (lane == 0) {
            loss = lse - (double)z[labels[row]];
            ok = arg == labels[row];
        }
    }
    loss = block_sum(loss);
    ok = block_sum(ok);
    if (threadIdx.x == 0) part[2 * blockIdx.x] = loss, part[2 * blockIdx.x + 1] = ok;
}

__global__ static void k_xent_total(int blocks, const double *part, double *res) {
    double loss = 0.0, ok = 0.0;
    for (int b = 0; b < blocks; b++) loss += part[2 * b], ok += part[2 * b + 1];
    res[0] += loss, res[1] += ok;
}

static void cuda_xent_fwd(lpt_backend *be, int n, int classes, const float *logits, const int32_t *labels,
                          float *prob, double *res) {
    const int blocks = n > 0 ? (int)(((size_t)n * 32 + LPT_CUDA_THREADS - 1) / LPT_CUDA_THREADS) : 0;
    if (2 * (size_t)blocks > LPT_CUDA_SCRATCH)
        lpt_cuda_fail("xent_fwd", "a batch larger than the reduction scratch buffer holds", __FILE__, __LINE__);
    if (blocks) {
        k_xent_fwd<<<blocks, LPT_CUDA_THREADS, 0, STREAM(be)>>>(n, classes, logits, labels, prob, cuda_of(be)->scratch);
        CUDA_LAUNCHED("xent_fwd");
    }
    k_xent_total<<<1, 1, 0, STREAM(be)>>>(blocks, cuda_of(be)->scratch, res);
    CUDA_LAUNCHED("xent_fwd (total)");
}

__global__ static void k_xent_bwd(int n, int classes, const float *prob, const int32_t *labels, float scale,
                                  const float *dscale, float *d) {
    const float s = dscale ? scale * dscale[0] : scale;
    GRID_STRIDE(k, (size_t)n * classes) {
        const size_t i = k / classes;
        const int j = (int)(k - i * classes);
        d[k] = (prob[k] - (j == labels[i] ? 1.0f : 0.0f)) * s;
    }
}
static void cuda_xent_bwd(lpt_backend *be, int n, int classes, const float *prob, const int32_t *labels, float scale,
                          const float *dscale, float *dlogits) {
    if ((size_t)n * classes == 0) return;
    k_xent_bwd LAUNCH(be, (size_t)n * classes)(n, classes, prob, labels, scale, dscale, dlogits);
    CUDA_LAUNCHED("xent_bwd");
}

/* one thread: the gradients' non-finite counts are a few dozen slots */
__global__ static void k_loss_scale_check(int n, double *counts, float *state, int32_t *skip, double *skipped) {
    double bad = 0;
    for (int i = 0; i < n; i++) bad += counts[i], counts[i] = 0;
    state[1] = 1.0f / state[0];
    skip[0] = bad > 0;
    if (bad > 0) {
        state[0] = fmaxf(state[0] / 2, 1.0f);
        skipped[0] += 1;
    }
}
static void cuda_loss_scale_check(lpt_backend *be, int n, double *counts, float *state, int32_t *skip,
                                  double *skipped) {
    k_loss_scale_check<<<1, 1, 0, STREAM(be)>>>(n, counts, state, skip, skipped);
    CUDA_LAUNCHED("loss_scale_check");
}

__global__ static void k_sgd(size_t n, float lr, float momentum, float wd, float *w, const float *g, float *m,
                             const float *gscale, const int32_t *skip) {
    if (skip && skip[0]) return;
    const float gs = gscale ? gscale[0] : 1.0f;
    GRID_STRIDE(i, n) {
        const float gi = g[i] * gs + wd * w[i];
        m[i] = momentum * m[i] + gi;
        w[i] -= lr * m[i];
    }
}
static void cuda_sgd_step(lpt_backend *be, size_t n, float lr, float momentum, float wd, float *w, const float *g,
                          float *m, const float *gscale, const int32_t *skip) {
    if (!n) return;
    k_sgd LAUNCH(be, n)(n, lr, momentum, wd, w, g, m, gscale, skip);
    CUDA_LAUNCHED("sgd_step");
}

__global__ static void k_scale(size_t n, float *x, float a) { GRID_STRIDE(i, n) x[i] *= a; }
static void cuda_scale(lpt_backend *be, size_t n, float *x, float alpha) {
    if (!n) return;
    k_scale LAUNCH(be, n)(n, x, alpha);
    CUDA_LAUNCHED("scale");
}

__global__ static void k_fill(size_t n, float *x, float v) { GRID_STRIDE(i, n) x[i] = v; }
static void cuda_fill(lpt_backend *be, size_t n, float *x, float v) {
    if (!n) return;
    k_fill LAUNCH(be, n)(n, x, v);
    CUDA_LAUNCHED("fill");
}

/* counts: per block in integers, then one atomic add of the block's count */
__global__ static void k_count(size_t n, const float *x, int nonzero, double *acc) {
    __shared__ unsigned long long total;
    if (threadIdx.x == 0) total = 0;
    __syncthreads();
    unsigned long long c = 0;
    GRID_STRIDE(i, n) c += nonzero ? x[i] != 0.0f : !isfinite(x[i]);
    for (int o = 16; o > 0; o >>= 1) c += __shfl_down_sync(0xffffffffu, c, o);
    if ((threadIdx.x & 31) == 0 && c) atomicAdd(&total, c);
    __syncthreads();
    if (threadIdx.x == 0 && total) atomicAdd(acc, (double)total);
}
static void cuda_count_nonfinite(lpt_backend *be, size_t n, const float *x, double *acc) {
    if (!n) return;
    k_count LAUNCH(be, n)(n, x, 0, acc);
    CUDA_LAUNCHED("count_nonfinite");
}
static void cuda_count_nonzero(lpt_backend *be, size_t n, const float *x, double *acc) {
    if (!n) return;
    k_count LAUNCH(be, n)(n, x, 1, acc);
    CUDA_LAUNCHED("count_nonzero");
}

void lpt_cuda_ops_init(lpt_backend *be) {
    be->im2col = cuda_im2col;
    be->col2im = cuda_col2im;
    be->conv_out_fwd = cuda_conv_out_fwd;
    be->conv_out_bwd = cuda_conv_out_bwd;
    be->bias_rows_fwd = cuda_bias_rows_fwd;
    be->bias_rows_bwd = cuda_bias_rows_bwd;
    be->relu_fwd = cuda_relu_fwd;
    be->relu_bwd = cuda_relu_bwd;
    be->maxpool_fwd = cuda_maxpool_fwd;
    be->maxpool_bwd = cuda_maxpool_bwd;
    be->avgpool_fwd = cuda_avgpool_fwd;
    be->avgpool_bwd = cuda_avgpool_bwd;
    be->bn_fwd_train = cuda_bn_fwd_train;
    be->bn_fwd_eval = cuda_bn_fwd_eval;
    be->bn_bwd = cuda_bn_bwd;
    be->dropout_fwd = cuda_dropout_fwd;
    be->mul = cuda_mul;
    be->xent_fwd = cuda_xent_fwd;
    be->xent_bwd = cuda_xent_bwd;
    be->sgd_step = cuda_sgd_step;
    be->loss_scale_check = cuda_loss_scale_check;
    be->scale = cuda_scale;
    be->fill = cuda_fill;
    be->count_nonfinite = cuda_count_nonfinite;
    be->count_nonzero = cuda_count_nonzero;
}
