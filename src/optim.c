/* optim.c - SGD and schedules. */
#include "src/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

static float sched_lr(const lpt_sgd_cfg *c, long step, long steps_per_epoch, int epochs) {
    switch (c->sched) {
    case LPT_SCHED_STEP: {
        long epoch = steps_per_epoch > 0 ? step / steps_per_epoch : 0;
        int k = c->step_epochs > 0 ? (int)(epoch / c->step_epochs) : 0;
        return c->lr * powf(c->gamma, (float)k);
    }
    case LPT_SCHED_COSINE: {
        double total = (double)steps_per_epoch * epochs;
        double t = total > 0 ? (double)step / total : 0.0;
        if (t > 1.0) t = 1.0;
        return (float)(c->lr * 0.5 * (1.0 + cos(M_PI * t)));
    }
    case LPT_SCHED_CONST:
    default:
        return c->lr;
    }
}

float lpt_lr_at(const lpt_sgd_cfg *c, long step, long steps_per_epoch, int epochs) {
    const float lr = sched_lr(c, step, steps_per_epoch, epochs);
    long w = c->warmup;
    if (steps_per_epoch > 0 && w > steps_per_epoch) w = steps_per_epoch;
    return w > 0 && step < w ? lr * (float)(step + 1) / (float)w : lr;
}

static const char *const g_sched[] = {"const", "step", "cosine"};

int lpt_sched_parse(const char *s, lpt_sched *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(s, g_sched[i]) == 0) {
            *out = (lpt_sched)i;
            return 0;
        }
    lpt_error_set("unknown schedule '%s'; available: const, step, cosine", s);
    return -1;
}

const char *lpt_sched_name(lpt_sched s) { return (unsigned)s < 3 ? g_sched[s] : "?"; }

int lpt_sgd_init(lpt_sgd *o, lpt_net *net) {
    memset(o, 0, sizeof *o);
    lpt_arena_init(&o->arena, net->be);
    o->np = net->np;
    o->mom = lpt_xcalloc((size_t)net->np + 1, sizeof *o->mom);
    for (int i = 0; i < net->np; i++) {
        if (!net->p[i].grad) continue;
        o->mom[i] = *net->p[i].value;
        o->mom[i].data = NULL;
        lpt_arena_reserve(&o->arena, &o->mom[i]);
    }
    return lpt_arena_commit(&o->arena);
}

void lpt_sgd_step_param(lpt_sgd *o, lpt_net *net, int i, const lpt_sgd_cfg *c, float lr, const float *gscale,
                        const int32_t *skip) {
    lpt_backend *be = net->be;
    lpt_param *p = &net->p[i];
    if (!p->grad) return;
    be->sgd_step(be, lpt_tensor_count(p->value), lr, c->momentum, p->decay ? c->wd : 0.0f, lpt_tensor_f32(p->value),
                 lpt_tensor_f32(p->grad), lpt_tensor_f32(&o->mom[i]), gscale, skip);
}

void lpt_sgd_step(lpt_sgd *o, lpt_net *net, const lpt_sgd_cfg *c, float lr, const float *gscale,
                  const int32_t *skip) {
    for (int i = 0; i < net->np; i++) lpt_sgd_step_param(o, net, i, c, lr, gscale, skip);
}

void lpt_sgd_free(lpt_sgd *o) {
    lpt_arena_free(&o->arena);
    free(o->mom);
    memset(o, 0, sizeof *o);
}
