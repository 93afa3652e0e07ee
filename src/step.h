/* step.h - one training step, the same for `lpt train` and `lpt bench`: forward (each
 * layer's output checked for NaN/Inf), loss, backward, the dead-gradient check, fp16
 * loss-scale handling (unscale, or skip the update on Inf/NaN and halve the scale), the
 * SGD update, and at the end of a statistics interval the configuration block.
 *
 * fp16 loss scaling runs where the data is (loss_scale_check in the backend table): the
 * step's scale, the skip decision and the unscaling never make a round trip to the host.
 * The loss, the correct predictions and the non-finite counts of the layers' outputs
 * sum in backend memory over a window of steps and are read at its end (one sync point,
 * lpt_backend_read): every step on a host backend (the sync is free there), every
 * be->read_every steps on a GPU (--read-every), at the end of a statistics interval,
 * and at any step the caller asks for (the end of an epoch, a progress line, the end of
 * the chance-accuracy window, a stop). The dead-gradient check runs at a read when a
 * check step fell in its window, on the last step's gradients. A step that
 * fails on NaN/Inf in the window's last step has been observed in full by the statistics
 * unit and updated nothing; when the window had several steps, the steps before its last
 * have updated the weights (the failure is reported with the window's steps). */
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
    float *loss_scale;           /* in/out (fp16: the dynamic scale; else 1); current after a read */
    unsigned long long *skipped; /* fp16: steps skipped on Inf/NaN gradients; current after a read */
    int read;                    /* end the window of results with this step (see above) */
    /* a dead-gradient finding (message): returns -1 to stop the run (error set), else 0 */
    int (*report)(void *arg, long step, const char *msg);
    void *report_arg;
    /* Shards (shards > 1): the batch of n items is split into `shards` parts, shard k
     * holding items [k n / shards, (k+1) n / shards); each runs forward and backward
     * alone (its own batch statistics, its own random draws: counter step * shards + k,
     * the loss averaged over all n), and the gradients are summed in a fixed pairwise
     * tree over the shards, so that the sum does not depend on which process computed
     * which shard. This process runs shards [shard0, shard0 + nshards) (a contiguous,
     * aligned block of a power of two), feeding each with feed(feed_arg, first item, items);
     * exchange (NULL: one process) turns the block's sum into the whole tree's, in place. */
    int shards, shard0, nshards;
    void (*feed)(void *arg, int first, int n);
    void *feed_arg;
    int (*exchange)(void *arg, float *grads, size_t count);
    void *exchange_arg;
    /* overlap (exchange != NULL): during the last shard's backward pass, as each layer's
     * gradients are done, slice_start(exchange_arg, parameter, where the block's sum of
     * its gradient goes, floats, fill, cb) starts each parameter's exchange chunk by
     * chunk, fill reading each chunk from the backend into the tree just before it
     * leaves (progress lets them move on);
     * slice_next names the one to wait for next (-1: none) and slice_wait waits for it,
     * leaving the whole tree's sum in place chunk by chunk (the same numbers as
     * exchange). Each parameter goes to the backend, and when the step needs no
     * gradient check and no fp16 skip decision, is updated as soon as its own exchange
     * is in; with `defer` (the caller's next call is the next step's lpt_step_train, or
     * lpt_step_settle) only before its layer's forward pass in the next step. */
    int overlap, defer;
    int (*slice_start)(void *arg, int param, float *slice, size_t count, void (*fill)(void *cb, float *at, size_t n),
                       void *cb);
    void (*progress)(void *arg);
    int (*slice_next)(void *arg);
    int (*slice_wait)(void *arg, int param, void (*chunk_done)(void *cb, float *at, size_t n), void *cb);
    /* NULL, or told the moments of a step (a timeline): what ("forward", "backward",
     * "backward end", "layer done", "exchange", "exchange end") and which shard or layer */
    void (*mark)(void *arg, const char *what, int index);
    /* what shards' passes leave besides gradients (batch norm's running-statistics
     * updates, the recompute rule's FLs), merged in shard order after the passes, every
     * process's shards included: gather(all, n) fills all[] (a block of n floats a
     * process, in rank order) with every process's block, its own in place (NULL: one
     * process) */
    void (*gather)(float *all, size_t n);
    /* at a read, the per-shard sums (loss, correct predictions, each layer's non-finite
     * outputs: v[0..n)) summed over the processes (NULL: one process) */
    void (*sum_results)(double *v, int n);
} lpt_step_args;

typedef struct {
    int read;         /* the results below were read (the window ended with this step) */
    double loss;      /* summed over the window's batches */
    long correct, seen; /* over the window's batches: right predictions, items */
    long first_step;  /* the window's first global step */
    int interval_end; /* the configuration block ran */
    int bad_layer;    /* LPT_STEP_NONFINITE: the first layer whose output held NaN or Inf */
} lpt_step_out;

enum { LPT_STEP_OK = 0, LPT_STEP_NONFINITE = 1 /* a layer's output */, LPT_STEP_NONFINITE_LOSS = 2 };

/* One step on the batch in s->net.act[0] and s->net.labels: LPT_STEP_OK; a
 * LPT_STEP_NONFINITE* code (this step updated nothing); or -1 when the report stopped
 * the run. */
int lpt_step_train(lpt_session *s, const lpt_step_args *a, lpt_step_out *o);
/* Data parallel with a deferred update (lpt_step_args.defer): wait for every exchange
 * still in flight and update (before anything but the next step reads the weights: an
 * evaluation, a checkpoint, the end). 0, or -1 with an error. */
int lpt_step_settle(lpt_session *s);
/* End the window now (o->read 0 when no step was pending): before a stop or a checkpoint
 * between two read points. The same return codes. */
int lpt_step_read(lpt_session *s, const lpt_step_args *a, lpt_step_out *o);

#endif
