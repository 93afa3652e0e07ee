/* train_run.h - a training run in progress, shared by src/train.c (the loop) and
 * src/train_io.c (its files, output and data-parallel set-up). Internal. */
#ifndef LPT_TRAIN_RUN_H
#define LPT_TRAIN_RUN_H

#include "src/data.h"
#include "src/feed.h"
#include "src/golden.h"
#include "src/health.h"
#include "src/session.h"
#include "src/shadow.h"
#include "src/train.h"

/* Dead-run reports: a warning on stderr (and an event record in the statistics log), or
 * with --fail-on-dead the error that stops the run. */
typedef struct {
    const lpt_train_cfg *cfg;
    lpt_stats_unit *stats; /* NULL: no statistics log */
    int count;             /* conditions reported */
    char first[512];       /* the first of them */
} dead_log;

/* A training run in progress: everything lpt_train_run sets up and tears down. */
typedef struct {
    lpt_train_cfg cfg;
    lpt_model_spec spec;
    lpt_train_state st;
    lpt_checkpoint ck;
    lpt_dataset train, test;
    lpt_session s;
    lpt_health health;
    dead_log dead;
    int opened, health_on, lock_fd, usage, threads_from_ckpt;
    int stats_from_ckpt; /* --stats-out is the resumed checkpoint's, not the command line's */
    long steps; /* per epoch */
    lpt_feed ftrain, ftest; /* the datasets in backend memory */
    int *perm;
    lpt_golden golden; /* --golden-layer: the capture (golden_on), written once (golden_done) */
    int golden_on, golden_done;
    lpt_shadow *shadow; /* --shadow-interval */
    double t_epoch;
    long img_epoch;
} run_t;

/* the progress line (a refreshed one on a terminal) */
void lpt_train_progress(const lpt_train_cfg *cfg, int epoch, long step, long steps, double loss, double acc, double ips,
                        int final);
/* the run's banner: model, precision, backend, data, the network, a resume's origin */
void lpt_train_banner(const run_t *r);
/* a data-parallel run's configuration (src/dp.h): 0, or -1 with an error */
int lpt_train_dp_config(run_t *r);
/* after the session opens: the statistics unit merged over the processes, the
 * parameters' slices and the seed for the exchange */
void lpt_train_dp_setup(run_t *r);
/* --stats-out needs something to log: a quantized run, or a data-parallel one's narrow
 * gradient exchange (the CLI checks a new run; this, a resumed one, whose log taken
 * from its checkpoint is dropped with a note when there is nothing to log); a narrow
 * exchange in one process is said to do nothing. 0, or -1 with an error. */
int lpt_train_check_stats_out(run_t *r);
/* the golden vectors captured in global step g, written (src/golden.h): 0; 2 when that
 * was all the run was for (lpt golden); -1 with an error when it was and they failed */
int lpt_train_golden_write(run_t *r, long g);

#endif
