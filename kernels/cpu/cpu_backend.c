/* cpu_backend.c - the "cpu" backend table: the reference table with the fast kernels
 * of this folder in place of the hot operations. */
#include <cblas.h>
#include <dirent.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/cpu/cpu.h"
#include "kernels/ref/ref.h"
#include "src/base/util.h"

/* --share-cores: the cores other processes keep busy are sampled at the sync points,
 * at most every SHARE_PERIOD seconds; the workers are the cores they leave free (at
 * least 1, at most the threads), the largest count of the last SHARE_SAMPLES samples
 * (a process that runs for a moment takes no core away, one that keeps running does
 * within a second, and the workers come back as soon as a sample finds the cores
 * free). Bulk-synchronous threads that share their cores with busy processes wait for
 * each other at every parallel region: fewer threads that have a core each go faster. */
#define SHARE_PERIOD 0.25
#define SHARE_SAMPLES 3

/* what the cpu backend owns besides the table */
typedef struct {
    void *scratch; /* the kernels' workspace, grown on demand */
    size_t scratch_bytes;
    int share;                  /* --share-cores on, and /proc readable */
    double next_sample;         /* monotonic seconds */
    int free_cores[SHARE_SAMPLES]; /* the last samples, newest at [0] */
} cpu_ctx;

/* the kernel's count of runnable tasks (/proc/stat procs_running); -1 if unknown */
static int procs_running(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "procs_running %d", &n) == 1) break;
    fclose(f);
    return n;
}

/* this process's threads that are running or runnable now (state R); -1 if unknown */
static int own_running(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        const size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        const char *close = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
        if (close && close[1] == ' ' && close[2] == 'R') n++;
    }
    closedir(d);
    return n;
}

/* cores no other process keeps busy now, at most the cores this process may run on;
 * -1 if unknown. The count of runnable tasks is the whole machine's (in a container,
 * the host's), and is not split by affinity: busy cores outside this process's set
 * count as busy. */
static int free_cores_now(void) {
    const int all = procs_running(), own = own_running();
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (all < 0 || own < 0 || cores < 1) return -1;
    const int others = all > own ? all - own : 0;
    int f = (int)cores - others;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < f) f = CPU_COUNT(&set);
    return f;
}

static void cpu_sync(lpt_backend *be) {
    cpu_ctx *c = be->ctx;
    if (!c->share) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if (now < c->next_sample) return;
    c->next_sample = now + SHARE_PERIOD;
    const int f = free_cores_now();
    if (f < 0) { /* no /proc: every thread works, as without --share-cores */
        c->share = 0;
        be->workers = be->threads;
        return;
    }
    memmove(c->free_cores + 1, c->free_cores, (SHARE_SAMPLES - 1) * sizeof c->free_cores[0]);
    c->free_cores[0] = f;
    int w = 1;
    for (int i = 0; i < SHARE_SAMPLES; i++)
        if (c->free_cores[i] > w) w = c->free_cores[i];
    be->workers = w < be->threads ? w : be->threads;
}

void *lpt_cpu_scratch(lpt_backend *be, size_t bytes) {
    cpu_ctx *c = be->ctx;
    if (bytes > c->scratch_bytes) {
        free(c->scratch);
        c->scratch = lpt_xmalloc(bytes);
        c->scratch_bytes = bytes;
    }
    return c->scratch;
}

static void cpu_destroy(lpt_backend *be) {
    cpu_ctx *c = be->ctx;
    free(c->scratch);
    free(c);
    free(be);
}

int lpt_backend_cpu_init(lpt_backend *be, int threads, int share_cores) {
    lpt_backend_ref_init(be);
    if (threads < 1) threads = 1;
    be->name = "cpu";
    cpu_ctx *c = lpt_xcalloc(1, sizeof(cpu_ctx));
    be->ctx = c;
    be->destroy = cpu_destroy;
    be->threads = be->workers = threads;
    c->share = share_cores && threads > 1;
    for (int i = 0; i < SHARE_SAMPLES; i++) c->free_cores[i] = threads;
    be->sync = cpu_sync;
    /* OpenBLAS stays single-threaded: lpt threads GEMM itself (cpu_gemm.c) */
    openblas_set_num_threads(1);
    omp_set_dynamic(0);
    be->gemm = lpt_cpu_gemm;
    be->igemm = lpt_cpu_igemm;
    be->gemm_exact = lpt_cpu_gemm_exact;
    be->quant_observe = lpt_cpu_quant_observe;
    be->im2col = lpt_cpu_im2col;
    be->col2im = lpt_cpu_col2im;
    be->conv_out_fwd = lpt_cpu_conv_out_fwd;
    be->conv_out_bwd = lpt_cpu_conv_out_bwd;
    be->bias_rows_bwd = lpt_cpu_bias_rows_bwd;
    be->relu_fwd = lpt_cpu_relu_fwd;
    be->relu_bwd = lpt_cpu_relu_bwd;
    be->maxpool_fwd = lpt_cpu_maxpool_fwd;
    be->maxpool_bwd = lpt_cpu_maxpool_bwd;
    be->avgpool_fwd = lpt_cpu_avgpool_fwd;
    be->avgpool_bwd = lpt_cpu_avgpool_bwd;
    be->bn_fwd_train = lpt_cpu_bn_fwd_train;
    be->bn_fwd_eval = lpt_cpu_bn_fwd_eval;
    be->bn_bwd = lpt_cpu_bn_bwd;
    be->dropout_fwd = lpt_cpu_dropout_fwd;
    be->mul = lpt_cpu_mul;
    be->sgd_step = lpt_cpu_sgd_step;
    be->fill = lpt_cpu_fill;
    be->gather = lpt_cpu_gather;
    be->count_nonfinite = lpt_cpu_count_nonfinite;
    be->count_nonzero = lpt_cpu_count_nonzero;
    return 0;
}
