/* session.h - one set-up for every command that runs a network (train, eval, bench):
 * the backend, the network built for a batch size, its quantization points registered
 * with the precision module, and for training the optimizer. What `lpt bench` times is
 * what `lpt train` runs: both call lpt_step_train (src/step.h) on a session. */
#ifndef LPT_SESSION_H
#define LPT_SESSION_H

#include "src/config.h"
#include "src/health.h"
#include "src/model.h"
#include "src/net.h"
#include "src/optim.h"
#include "src/precision.h"

/* A recorded training step (forward, loss, backward, the step's counts) for a backend
 * with graphs, valid for the scalars it was recorded with. */
typedef struct {
    void *graph;
    int n, health_due, no_analysis;
} lpt_step_graph;

#define LPT_STEP_GRAPHS 4
/* fp16 loss scaling's state in backend memory (the loss_scale_check entry's arguments) */
typedef struct {
    double skipped; /* steps skipped on Inf/NaN gradients */
    float state[2]; /* S, 1/S */
    int32_t skip;   /* the last step's update is skipped */
    int32_t pad;
} lpt_loss_scale_dev;

typedef struct {
    lpt_backend *be;
    lpt_net net;
    lpt_sgd opt;       /* training sessions only */
    lpt_prec prec;
    lpt_health *health; /* dead-run checks of training, or NULL */
    int built, training, prec_on;
    /* --cuda-graph on, a backend with graphs, and a step that draws no random bits
     * (no dropout, no stochastic rounding): the step is recorded once per set of scalars */
    int graphs_ok;
    lpt_step_graph graphs[LPT_STEP_GRAPHS];
    int ngraphs;
    /* fp16 loss scaling in backend memory (training: the host takes its members'
     * addresses, never reads through it); ls_host is the S the device holds as last
     * known here (0: not written yet) */
    lpt_loss_scale_dev *ls;
    float ls_host;
    /* the window of results (step.h): steps and items since the last read */
    int read_every; /* steps per read: --read-every, else the backend's choice */
    int window_steps;
    long window_seen, window_first;
    const lpt_tap *tap; /* the next steps are tapped (src/qlayer.h): queued op by op */
    /* shards (src/step.c): the pairwise tree's partial sums of the gradient arena */
    float *shard_stack;
    size_t shard_stack_floats;
    /* data parallel with overlap (src/step.c): the parameters whose exchange is in
     * flight; once `update` is set, each is updated when its exchange is in (at the
     * latest before its layer's forward pass in the next step, or lpt_step_settle) */
    struct {
        int n, update;
        unsigned char *param; /* net.np flags */
        const lpt_sgd_cfg *sgd;
        float lr;
        int (*next)(void *arg);
        int (*wait)(void *arg, int param, void (*chunk_done)(void *cb, float *at, size_t n), void *cb);
        void *arg;
        int failed;
    } pend;
} lpt_session;


/* The on|off options (--cuda-graph, --share-cores): 0, or -1 with an error naming the
 * option and the value. */
int lpt_session_check_switches(const lpt_train_cfg *cfg);
/* Set up cfg's backend (cfg->backend, cfg->threads) and precision, build spec for
 * batches of `batch`, register every quantization point; with `training`, the
 * optimizer too. 0, or -1 with an error (the session is then closed). The backend must
 * compute every operation the precision needs (supports()), or the error names the one
 * it lacks. */
int lpt_session_open(lpt_session *s, const lpt_train_cfg *cfg, const lpt_model_spec *spec, int batch,
                     int training);
void lpt_session_close(lpt_session *s);
/* Forget the recorded steps (the configuration changed: FLs, formats, widths). */
void lpt_session_graphs_drop(lpt_session *s);

#endif
