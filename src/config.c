/* config.c - the defaults of a run's configuration. */
#include "src/config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/data.h"

void lpt_train_cfg_defaults(lpt_train_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "lenet5");
    snprintf(c->data, sizeof c->data, "%s", LPT_DEFAULT_DATA);
    snprintf(c->precision, sizeof c->precision, "fp32");
    snprintf(c->backend, sizeof c->backend, "cpu");
    c->epochs = 10;
    c->batch = 64;
    c->threads = 2;
    c->sgd = (lpt_sgd_cfg){.lr = 0.05f, .momentum = 0.9f, .wd = 5e-4f, .sched = LPT_SCHED_COSINE,
                           .step_epochs = 5, .gamma = 0.1f, .warmup = 200};
    c->seed = 1;
    c->progress = isatty(STDOUT_FILENO);
    c->overflow_rate = 1e-4f;
    c->underflow_rate = 0.01f;
    c->stats_interval = 50;
    c->recompute = 1;
    c->dead_steps = 200;
}
