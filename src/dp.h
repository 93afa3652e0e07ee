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

#include "hwsim/stats.h"

/* a moment of a step's timeline */
typedef struct {
    char what[16];
    int index;
    double ms; /* from the step's start */
} lpt_dp_event;

typedef struct {
    int rank, size;  /* this process and how many (1 without MPI) */
    int mpi;         /* MPI was started (lpt_dp_stop finalizes it) */
    double bytes;    /* gradient bytes this rank sent and received, the whole run */
    double seconds;  /* time in the exchange: blocked in it (with overlap, waiting at the end) */
    int steps;       /* exchanges */
    /* --grad-exchange: the format on the wire ("": fp32) and what it needs: each
     * parameter's gradient as a slice of the gradient arena, the run's seed and the step
     * (stochastic rounding of dfp codes); what the quantization did, the whole run */
    char format[16];
    int nslices_tab;
    size_t *tab_off, *tab_n;
    unsigned long long seed;
    long step;
    double q_nonzero, q_underflow, q_saturated;
    /* a timeline of one step (lpt_dp_timeline_*): its events since the step began */
    int timeline;    /* recording */
    double t0;
    int nev;
    lpt_dp_event ev[2048];
    int slice_done[512]; /* a started slice seen complete (timeline) */
    /* overlap: the slices started and not finished */
    int nslices;
    float *slice[512];
    size_t slice_count[512];
    float *recv[512];
    void *req[512];
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

/* lpt_step_args.exchange: this rank's sum of its shards (count floats) becomes the
 * sum over every rank's, added in the pairwise tree over the ranks (a power of two);
 * arg is the lpt_dp. 0, or -1 with an error. */
int lpt_dp_exchange(void *arg, float *grads, size_t count);
/* Overlapped exchange (lpt_step_args.slice_start, .progress, .exchange_finish; arg is
 * the lpt_dp): start gathering a slice of this rank's sum (non-blocking), let the
 * started gathers move on, wait for all of them and add each in the tree over the ranks
 * in place. 0, or -1 with an error. */
int lpt_dp_slice_start(void *arg, float *slice, size_t count);
void lpt_dp_progress(void *arg);
int lpt_dp_finish(void *arg);

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

/* v[0..n) summed over the ranks in rank order, the same on every rank */
void lpt_dp_sum(double *v, int n);
/* the largest of x over the ranks (an agreement: stop when any rank was interrupted) */
int lpt_dp_max(int x);

#endif
