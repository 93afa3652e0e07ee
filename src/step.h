/* step.h - one training step, the same for `lpt train` and `lpt bench`: forward (each
 * layer's output checked for NaN/Inf), loss, backward, the dead-gradient check, fp16
 * loss-scale handling (unscale, or skip the step on Inf/NaN and halve the scale), the
 * SGD update, and at the end of a statistics interval the configuration block.
 *
 * The step reads the backend's results once (one sync point, lpt_backend_read): the
 * loss, the correct predictions, the non-finite and nonzero counts. Besides it: one
 * read at the end of a statistics interval (the quantization points' results, live FLs
 * and recompute events; the recompute rule itself runs in the backend, quant_point).
 * The whole step runs before the read: a step that fails on NaN/Inf has been observed
 * in full by the statistics unit, and nothing was updated. */
#ifndef LPT_STEP_H
#define LPT_STEP_H

#include <stdint.h>

#include "src/session.h"

typedef struct {
    long step;        /* global step, 0-based */
    int n;            /* items of the batch in net.act[0] */
    float lr;
    const lpt_sgd_cfg *sgd;
    uint64_t seed;
    int stats_interval;
    float *loss_scale;           /* in/out (fp16: the dynamic scale; else 1) */
    unsigned long long *skipped; /* fp16: steps skipped on Inf/NaN gradients */
    /* a dead-gradient finding (message): returns -1 to stop the run (error set), else 0 */
    int (*report)(void *arg, long step, const char *msg);
    void *report_arg;
} lpt_step_args;

typedef struct {
    double loss;      /* summed over the batch */
    long correct;
    int interval_end; /* the configuration block ran */
    int bad_layer;    /* LPT_STEP_NONFINITE: the first layer whose output held NaN or Inf */
} lpt_step_out;

enum { LPT_STEP_OK = 0, LPT_STEP_NONFINITE = 1 /* a layer's output */, LPT_STEP_NONFINITE_LOSS = 2 };

/* One step on the batch in s->net.act[0] and s->net.labels: LPT_STEP_OK; a
 * LPT_STEP_NONFINITE* code (no parameter updated); or -1 when the report stopped the
 * run. */
int lpt_step_train(lpt_session *s, const lpt_step_args *a, lpt_step_out *o);

#endif
