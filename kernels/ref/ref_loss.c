/* ref_loss.c - reference softmax cross-entropy. */
#include <math.h>

#include "kernels/ref/ref.h"

void lpt_ref_xent_fwd(lpt_backend *be, int n, int classes, const float *logits,
                      const int32_t *labels, float *prob, double *res) {
    (void)be;
    // logits, prob (n, classes); labels (n)
    double loss = 0.0;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        float *p = prob + (size_t)i * classes;
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (z[j] > z[arg]) arg = j;
        double mx = z[arg], sum = 0.0;
        for (int j = 0; j < classes; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        for (int j = 0; j < classes; j++) p[j] = (float)exp((double)z[j] - lse);
        loss += lse - (double)z[labels[i]];
        ok += arg == labels[i];
    }
    res[0] += loss;
    res[1] += ok;
}

void lpt_ref_xent_bwd(lpt_backend *be, int n, int classes, const float *prob,
                      const int32_t *labels, float scale, const float *dscale, float *dlogits) {
    (void)be;
    if (dscale) scale *= dscale[0];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < classes; j++) {
            size_t k = (size_t)i * classes + j;
            dlogits[k] = (prob[k] - (j == labels[i] ? 1.0f : 0.0f)) * scale;
        }
}

void lpt_ref_loss_scale_check(lpt_backend *be, int n, double *counts, float *state, int32_t *skip,
                              double *skipped) {
    (void)be;
    double bad = 0;
    for (int i = 0; i < n; i++) bad += counts[i], counts[i] = 0;
    state[1] = 1.0f / state[0]; /* S is a power of two: exact */
    skip[0] = bad > 0;
    if (bad > 0) {
        state[0] = fmaxf(state[0] / 2, 1.0f);
        skipped[0] += 1;
    }
}
