/* cpu_norm.c - batch normalization threaded over channels; per-channel sums are
 * accumulated in double in a fixed (n, s) order, so results do not depend on threads. */
#include <math.h>

#include "kernels/cpu/cpu.h"

void lpt_cpu_bn_fwd_train(lpt_backend *be, int n, int c, int s, const float *x,
                          const float *gamma, const float *beta, float eps, float momentum,
                          float *mean, float *invstd, float *running_mean, float *running_var,
                          float *y) {
    const double m = (double)n * s;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int b = 0; b < n; b++) {
            const float *xp = x + ((size_t)b * c + ch) * s;
            float part = 0.0f;
            for (int q = 0; q < s; q++) part += xp[q];
            sum += part;
        }
        const float mu = (float)(sum / m);
        double ss = 0.0;
        for (int b = 0; b < n; b++) {
            const float *xp = x + ((size_t)b * c + ch) * s;
            float part = 0.0f;
            for (int q = 0; q < s; q++) part += (xp[q] - mu) * (xp[q] - mu);
            ss += part;
        }
        const double var = ss / m;
        const float is = (float)(1.0 / sqrt(var + eps));
        mean[ch] = mu;
        invstd[ch] = is;
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mu;
        const double unbiased = m > 1 ? var * m / (m - 1) : var;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)unbiased;
        const float sc = gamma[ch] * is, sh = beta[ch] - mu * sc;
        for (int b = 0; b < n; b++) {
            const float *xp = x + ((size_t)b * c + ch) * s;
            float *yp = y + ((size_t)b * c + ch) * s;
            for (int q = 0; q < s; q++) yp[q] = xp[q] * sc + sh;
        }
    }
}

void lpt_cpu_bn_fwd_eval(lpt_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, const float *running_mean,
                         const float *running_var, float eps, float *y) {
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float is = (float)(1.0 / sqrt((double)running_var[ch] + eps));
        const float sc = gamma[ch] * is, sh = beta[ch] - running_mean[ch] * sc;
        for (int b = 0; b < n; b++) {
            const float *xp = x + ((size_t)b * c + ch) * s;
            float *yp = y + ((size_t)b * c + ch) * s;
            for (int q = 0; q < s; q++) yp[q] = xp[q] * sc + sh;
        }
    }
}

void lpt_cpu_bn_bwd(lpt_backend *be, int n, int c, int s, const float *x, const float *dy,
                    const float *gamma, const float *mean, const float *invstd, float *dx,
                    float *dgamma, float *dbeta) {
    const double m = (double)n * s;
#pragma omp parallel for num_threads(be->workers) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const float mu = mean[ch], is = invstd[ch];
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < n; b++) {
            const float *xp = x + ((size_t)b * c + ch) * s, *dp = dy + ((size_t)b * c + ch) * s;
            float p1 = 0.0f, p2 = 0.0f;
            for (int q = 0; q < s; q++) {
                p1 += dp[q];
                p2 += dp[q] * ((xp[q] - mu) * is);
            }
            sdy += p1;
            sdyx += p2;
        }
        dbeta[ch] = (float)sdy;
        dgamma[ch] = (float)sdyx;
        /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
        const float k = gamma[ch] * is, b0 = (float)(sdy / m), b1 = (float)(sdyx / m);
        for (int b = 0; b < n; b++) {
            const float *xp = x + ((size_t)b * c + ch) * s, *dp = dy + ((size_t)b * c + ch) * s;
            float *o = dx + ((size_t)b * c + ch) * s;
            for (int q = 0; q < s; q++) o[q] = k * (dp[q] - b0 - ((xp[q] - mu) * is) * b1);
        }
    }
}
