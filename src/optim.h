/* optim.h - SGD with momentum and weight decay, and learning-rate schedules. */
#ifndef LPT_OPTIM_H
#define LPT_OPTIM_H

#include "src/net.h"

typedef enum { LPT_SCHED_CONST = 0, LPT_SCHED_STEP, LPT_SCHED_COSINE } lpt_sched;

typedef struct {
    float lr, momentum, wd;
    lpt_sched sched;
    int step_epochs; /* step: multiply by gamma every step_epochs epochs */
    float gamma;
    int warmup; /* linear warm-up over the first min(warmup, steps_per_epoch) steps (0: none) */
} lpt_sgd_cfg;

/* Learning rate at global step `step` of a run of `epochs` epochs with
 * `steps_per_epoch` steps each. cosine: lr * (1 + cos(pi * step / total)) / 2. During
 * the warm-up (steps 0..W-1, W = min(warmup, steps_per_epoch)) the schedule's rate is
 * multiplied by (step + 1) / W. */
float lpt_lr_at(const lpt_sgd_cfg *c, long step, long steps_per_epoch, int epochs);
int lpt_sched_parse(const char *s, lpt_sched *out);
const char *lpt_sched_name(lpt_sched s);

/* Momentum buffers, one per learnable parameter (in the net's parameter order). */
typedef struct {
    lpt_arena arena;
    lpt_tensor *mom; /* np entries; unused for buffers */
    int np;
} lpt_sgd;

int lpt_sgd_init(lpt_sgd *o, lpt_net *net);
/* w -= lr * m after m = mu m + g + wd w; weight decay only where the parameter asks.
 * gscale and skip (backend memory, or NULL): the fp16 loss scaling's unscale factor
 * and skip flag (the sgd_step entry). */
void lpt_sgd_step(lpt_sgd *o, lpt_net *net, const lpt_sgd_cfg *c, float lr, const float *gscale,
                  const int32_t *skip);
/* the same for parameter i of net->p alone (a parameter without gradient: nothing) */
void lpt_sgd_step_param(lpt_sgd *o, lpt_net *net, int i, const lpt_sgd_cfg *c, float lr, const float *gscale,
                        const int32_t *skip);
void lpt_sgd_free(lpt_sgd *o);

#endif
