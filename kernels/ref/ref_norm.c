/* ref_norm.c - reference batch normalization. x is (N, C, S), statistics per channel. */
#include <math.h>

#include "kernels/ref/ref.h"

void lpt_ref_bn_fwd_train(lpt_backend *be, int n, int c, int s, const float *x,
                          const float *gamma, const float *beta, float eps, float momentum,
                          float *mean, float *invstd, float *running_mean, float *running_var,
                          float *y) {
    (void)be;
    const double m = (double)n * s;
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < s; q++) sum += x[((size_t)b * c + ch) * s + q];
        double mu = sum / m, ss = 0.0;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < s; q++) {
                double d = x[((size_t)b * c + ch) * s + q] - mu;
                ss += d * d;
            }
        double var = ss / m;
        float is = (float)(1.0 / sqrt(var + eps));
        mean[ch] = (float)mu;
        invstd[ch] = is;
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * (float)mu;
        double unbiased = m > 1 ? var * m / (m - 1) : var;
        running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float)unbiased;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < s; q++) {
                size_t i = ((size_t)b * c + ch) * s + q;
                y[i] = gamma[ch] * ((x[i] - mean[ch]) * is) + beta[ch];
            }
    }
}

void lpt_ref_bn_fwd_eval(lpt_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, const float *running_mean,
                         const float *running_var, float eps, float *y) {
    (void)be;
    for (int ch = 0; ch < c; ch++) {
        float is = (float)(1.0 / sqrt((double)running_var[ch] + eps));
        for (int b = 0; b < n; b++)
            for (int q = 0; q < s; q++) {
                size_t i = ((size_t)b * c + ch) * s + q;
                y[i] = gamma[ch] * ((x[i] - running_mean[ch]) * is) + beta[ch];
            }
    }
}

void lpt_ref_bn_bwd(lpt_backend *be, int n, int c, int s, const float *x, const float *dy,
                    const float *gamma, const float *mean, const float *invstd, float *dx,
                    float *dgamma, float *dbeta) {
    (void)be;
    const double m = (double)n * s;
    for (int ch = 0; ch < c; ch++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int b = 0; b < n; b++)
            for (int q = 0; q < s; q++) {
                size_t i = ((size_t)b * c + ch) * s + q;
                double xh = (double)(x[i] - mean[ch]) * invstd[ch];
                sdy += dy[i];
                sdyx += dy[i] * xh;
            }
        dbeta[ch] = (float)sdy;
        dgamma[ch] = (float)sdyx;
        /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
        double k = (double)gamma[ch] * invstd[ch];
        for (int b = 0; b < n; b++)
            for (int q = 0; q < s; q++) {
                size_t i = ((size_t)b * c + ch) * s + q;
                double xh = (double)(x[i] - mean[ch]) * invstd[ch];
                dx[i] = (float)(k * (dy[i] - sdy / m - xh * (sdyx / m)));
            }
    }
}
