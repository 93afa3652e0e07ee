/* train.h - the training loop, evaluation and the state a checkpoint carries. */
#ifndef LPT_TRAIN_H
#define LPT_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "src/data.h"
#include "src/feed.h"
#include "src/health.h"
#include "src/net.h"
#include "src/optim.h"
#include "src/config.h"
#include "src/precision.h"
#include "src/qlayer.h"


/* One metrics record per finished epoch. */
typedef struct {
    int epoch;
    long step;
    double lr, train_loss, train_acc, test_loss, test_acc, images_per_s, seconds;
    /* the cost model's training step at the formats in use at the epoch's end (0: not
     * known, a checkpoint of an earlier build): mJ, MiB of DRAM traffic, energy / fp32's */
    double energy_mj, dram_mib, energy_ratio;
} lpt_epoch_record;

/* Where a run stands: enough to continue it exactly. */
typedef struct {
    int epoch;           /* epoch in progress (0-based) */
    long step_in_epoch;  /* steps of that epoch already taken */
    long global_step;
    double loss_sum;     /* accumulators of the epoch in progress */
    long correct, seen;
    double mean, std;    /* input normalization, from the training set */
    lpt_epoch_record *records;
    int nrecords;
    float loss_scale;              /* fp16: the current loss scale (0: not set yet) */
    unsigned long long skipped;    /* fp16: steps skipped on Inf/NaN gradients */
    const lpt_stats_unit *stats;   /* saving: the statistics unit of a low-precision run */
    const lpt_health *health;      /* saving: the dead-run checks */
    char *stats_text;              /* loaded: the state text, holding the unit's state */
} lpt_train_state;

/* Train as configured. Returns the process exit status: 0 done, 1 failure (message
 * printed), 2 an option the checkpoint's run cannot use, 130 interrupted (checkpoint
 * written). */
int lpt_train_run(const lpt_train_cfg *cfg);

/* Evaluate net on the dataset of feed f, in its order (eval mode; q: low-precision
 * configuration or NULL): mean loss and accuracy. -1 on non-finite output; 1 when *stop
 * became non-zero between two batches (stop may be NULL). With `label` (a progress line
 * on a terminal), shows how far it is. */
int lpt_evaluate(lpt_net *net, const lpt_qconfig *q, const lpt_feed *f, double *loss, double *acc,
                 const volatile sig_atomic_t *stop, const char *label);
/* 0 when the data fit the model (image size, and every label below its outputs), else -1
 * with an error naming the model, the data and the mismatch. */
int lpt_train_check_data(const lpt_model_spec *spec, int classes, const char *model, const char *data,
                         const lpt_dataset *train, const lpt_dataset *test);
/* Free what lpt_checkpoint_open put in st. */
void lpt_train_state_free(lpt_train_state *st);
/* Checkpoints (docs/checkpoint.md): model spec text, configuration, state, parameters,
 * buffers and momentum, closed by a CRC-32; written atomically. */
int lpt_checkpoint_save(const char *path, const lpt_train_cfg *cfg, const lpt_model_spec *spec,
                        const lpt_train_state *st, lpt_net *net, lpt_sgd *opt);
/* First stage of loading: verify and read the configuration, spec and state; every
 * field is checked against its range (error: the file, the section and the field). */
#define LPT_CHECKPOINT_MAX_BYTES (1ull << 36)
typedef struct {
    unsigned char *buf;
    size_t len;
    size_t tensors_at; /* offset of the tensor section */
} lpt_checkpoint;
int lpt_checkpoint_open(const char *path, lpt_checkpoint *ck, lpt_train_cfg *cfg,
                        lpt_model_spec *spec, lpt_train_state *st);
/* Second stage: copy parameters (and momentum, when opt is given) into a built net. */
int lpt_checkpoint_restore(const char *path, lpt_checkpoint *ck, lpt_net *net, lpt_sgd *opt);
void lpt_checkpoint_close(lpt_checkpoint *ck);

/* The statistics log at the start of a run: empty, or on resume (steps > 0) only the
 * records of intervals that ended before global step `steps`; rewritten atomically. */
int lpt_train_stats_cut(const char *path, long steps);
/* The metrics file (JSON Lines, or CSV when the path ends in .csv) with every epoch
 * record of st, written atomically: 0 or -1 with an error. */
int lpt_train_metrics_write(const char *path, const lpt_train_state *st);

#endif
