/* dp.h - data parallelism over MPI (docs/parallel.md).
 *
 * `mpirun -np N lpt train ...` starts N processes (ranks); the build uses MPI when CMake
 * finds it, and without it (or started without mpirun) a run is one rank. Each step's
 * batch is split into shards (--shards S, src/step.h); rank r computes shards
 * [r S/N, (r+1) S/N) and sums their gradients in the fixed pairwise tree; the ranks'
 * sums are gathered and every rank adds them in the same tree, so N = 1, 2, 4 ... give
 * the same weights bit for bit as one process with S shards. */
#ifndef LPT_DP_H
#define LPT_DP_H

#include <stddef.h>

#include "hwsim/stats_unit.h"
#include "src/net.h"

/* a moment of a step's timeline */
typedef struct {
    char what[16];
    int index;
    double ms; /* from the step's start */
} lpt_dp_event;

/* A parameter's gradient on its way: this rank's sum in dst (read until its chunk is
 * sent), gathered from every rank in chunks (one non-blocking all-gather each), each
 * chunk summed over the ranks into dst as soon as it is in. */
typedef struct {
    int param;           /* its parameter (the network's index) */
    float *dst;
    size_t n, chunk;     /* floats; floats a chunk */
    int nchunks, waited; /* chunks, of them summed */
    int eb, fl;          /* bytes an element on the wire; dfp: the codes' FL */
    unsigned char *send, *recv; /* (send: dst itself in fp32) */
    void *req;           /* MPI_Request[nchunks] */
    int seen;            /* seen complete (timeline) */
} lpt_dp_slice;

#define LPT_DP_SLICES 512

typedef struct {
    int rank, size;  /* this process and how many (1 without MPI) */
    int mpi;         /* MPI was started (lpt_dp_stop finalizes it) */
    double bytes;    /* gradient bytes this rank sent and received, the whole run */
    double seconds;  /* time in the exchange: blocked in it (with overlap, waiting for it) */
    int steps;       /* training steps run (src/train.c), for the per-step figures */
    size_t chunk_bytes; /* --exchange-chunk: bytes on the wire a chunk (0: a parameter's whole gradient) */
    /* the parameters: where each one's gradient lies in the gradient arena (floats; n 0:
     * none), its entry in the exchange's statistics unit */
    int np;
    size_t *p_off, *p_n;
    int *p_entry;
    /* --grad-exchange: the format on the wire ("": fp32); the run's seed and the step
     * (stochastic rounding of dfp codes); a statistics unit whose entries are the
     * parameters' gradients as exchanged (FL from the histograms merged over the
     * processes, overflow and underflow logged); what the quantization did, the run */
    char format[16];
    lpt_qformat qf;
    lpt_stats_unit xu;
    int xu_on;
    unsigned long long seed;
    long step;
    double q_nonzero, q_underflow, q_saturated;
    /* a timeline of one step (lpt_dp_timeline_*): its events since the step began */
    int timeline;    /* recording */
    double t0;
    int nev;
    lpt_dp_event ev[2048];
    /* the slices started and not yet summed, in the order they started */
    int nslices;
    lpt_dp_slice sl[LPT_DP_SLICES];
} lpt_dp;

/* The run's ranks: MPI started when this build has it and mpirun (or another launcher
 * that sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK) started the process. 0, or -1
 * (said on stderr). */
int lpt_dp_start(int *argc, char ***argv);
void lpt_dp_stop(void);
lpt_dp *lpt_dp_self(void);
/* a failed process of a data-parallel run ends them all (MPI_Abort) */
void lpt_dp_abort(int code);
/* 1 when this build can run data-parallel */
int lpt_dp_available(void);

/* the wire format: fp32, fp16, bf16, dfp8 or dfp16 (0), or -1 with an error */
int lpt_dp_set_format(lpt_dp *d, const char *format);
/* the parameters (the network's; grads->base: the gradient arena): their places, and for
 * a narrow format the exchange's statistics unit (interval and overflow target: the
 * run's) */
void lpt_dp_set_params(lpt_dp *d, const lpt_net *net, int interval, double overflow_rate);

/* lpt_step_args.exchange: this rank's sum of its shards (count floats: the gradient
 * arena) becomes the sum over every rank's (fp32: added in the pairwise tree over the
 * ranks, a power of two); arg is the lpt_dp. 0, or -1 with an error. */
int lpt_dp_exchange(void *arg, float *grads, size_t count);
/* Overlapped exchange (lpt_step_args.slice_start, .progress, .slice_next, .slice_wait;
 * arg is the lpt_dp): start the exchange of parameter `param`'s gradient (this rank's
 * sum, count floats at dst; non-blocking), chunk by chunk: fill (may be NULL: dst holds
 * it already) puts each chunk's values at dst first, and the chunk leaves at once (a
 * dfp tensor whose FL is still to be agreed is filled whole first); let the started
 * ones move on; the parameter of a started one to wait for next (one already complete
 * if any, else the first started; -1: none); wait for parameter `param`'s chunks,
 * summing each over the ranks into dst and telling chunk_done (may be NULL) where it
 * lies. 0, or -1 with an error. */
int lpt_dp_slice_start(void *arg, int param, float *dst, size_t count, void (*fill)(void *cb, float *at, size_t n),
                       void *cb);
void lpt_dp_progress(void *arg);
int lpt_dp_slice_next(void *arg);
int lpt_dp_slice_wait(void *arg, int param, void (*chunk_done)(void *cb, float *at, size_t n), void *cb);
/* A narrow format's statistics at the end of a statistics interval (every process,
 * after the step): the histograms merged over the processes, the FLs chosen, the
 * records appended to the statistics log `path` by the first process ("" : not kept).
 * 0, or -1 with an error. */
int lpt_dp_interval_end(lpt_dp *d, long step, const char *path);

/* the live states of the quantization points merged over the ranks (lpt_qconfig.
 * merge_states): the recompute rule's counts added, the first collapse of each entry
 * (by step, shard, order) kept with its shard; the FLs are every rank's alike */
void lpt_dp_merge_states(lpt_qpoint_state *st, int *event_shard, int n);

/* The end of a run or a stop (every process): a narrow format's statistics of the
 * interval in progress merged and logged as partial records (as the statistics unit
 * does), and its counts of values rounded to zero and saturated summed over the
 * processes. 0, or -1 with an error. */
int lpt_dp_end(lpt_dp *d, long step, const char *path);

/* the statistics unit's results summed over the ranks (counts added, largest magnitude
 * the largest), in rank order, the same on every rank (lpt_qconfig.merge) */
void lpt_dp_merge_results(lpt_qresult *r, int n);

/* A timeline of one step on every rank: arm before it, then write after it (rank 0
 * gathers every rank's events into a CSV file: rank, event, index, ms from the step's
 * start; and prints how much of the exchange the backward pass hid). mark is
 * lpt_step_args.mark. */
void lpt_dp_timeline_arm(lpt_dp *d);
void lpt_dp_mark(void *arg, const char *what, int index);
int lpt_dp_timeline_write(lpt_dp *d, const char *path);

/* lpt_step_args.gather: all[] holds a block of n floats a rank, in rank order; this
 * rank's (in place) becomes everyone's */
void lpt_dp_gather(float *all, size_t n);
/* v[0..n) summed over the ranks in rank order, the same on every rank */
void lpt_dp_sum(double *v, int n);
/* the largest of x over the ranks (an agreement: stop when any rank was interrupted) */
int lpt_dp_max(int x);

#endif
