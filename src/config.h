/* config.h - the configuration of a run: what `lpt train` takes on the command line, a
 * checkpoint stores, and the session and the training step read. */
#ifndef LPT_CONFIG_H
#define LPT_CONFIG_H

#include <stdint.h>

#include "src/optim.h"

typedef struct lpt_train_cfg {
    char model[512];
    char data[512];
    char precision[32];
    char backend[16];
    int epochs, batch, threads;
    lpt_sgd_cfg sgd;
    uint64_t seed;
    char metrics_out[512];
    char checkpoint[512];
    char resume[512];
    long max_steps;    /* stop (with a checkpoint) once the global step reaches this; 0: off */
    int train_limit;   /* use the first N training images (0: all) */
    int test_limit;    /* use the first N test images (0: all) */
    int progress;      /* 1 on a terminal: one refreshed line; 0: plain lines */
    int quiet;         /* only errors and the final line */
    /* low precision (docs/training.md) */
    char rounding[8];     /* override of every role's rounding ("" keeps the formats') */
    float overflow_rate;  /* target of the FL rule */
    float underflow_rate; /* auto: target of the width rule */
    int stats_interval;   /* steps between configurations */
    int acc_bits;         /* 0: 32 for dfp8, 48 for dfp16 */
    int recompute;        /* recompute outputs whose overflow beats the prediction (default on) */
    char stats_out[512];  /* JSON Lines, one record per interval, layer and tensor */
    /* dead-run detection (src/health.h, and the statistics unit's dead tensors) */
    int dead_steps;       /* window of the checks, in steps (0: off) */
    int fail_on_dead;     /* a dead run stops with exit status 1 instead of a warning */
} lpt_train_cfg;

/* The defaults of every field (the command line's [defaults]). */
void lpt_train_cfg_defaults(lpt_train_cfg *c);

#endif
