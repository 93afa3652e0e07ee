/* registry.c - the one place that knows which backends this build has. The CUDA backend
 * registers here when CMake built it (LPT_HAVE_CUDA); nothing else tests the switch. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "kernels/backend.h"
#ifdef LPT_HAVE_CUDA
#include "kernels/cuda/cuda.h"
#endif

static int ref_init(lpt_backend *be, const lpt_backend_opts *o) {
    (void)o; /* the reference is single-threaded */
    lpt_backend_ref_init(be);
    return 0;
}

static int cpu_init(lpt_backend *be, const lpt_backend_opts *o) {
    return lpt_backend_cpu_init(be, o->threads, o->share_cores);
}

const char *lpt_op_name(lpt_op op) {
    static const char *const names[LPT_OP_COUNT] = {
        [LPT_OP_GEMM] = "gemm",       [LPT_OP_IM2COL] = "im2col",           [LPT_OP_COL2IM] = "col2im",
        [LPT_OP_CONV_OUT] = "conv_out", [LPT_OP_BIAS] = "bias",             [LPT_OP_RELU] = "relu",
        [LPT_OP_MAXPOOL] = "maxpool", [LPT_OP_AVGPOOL] = "avgpool",         [LPT_OP_BATCHNORM] = "batchnorm",
        [LPT_OP_DROPOUT] = "dropout", [LPT_OP_XENT] = "xent",               [LPT_OP_SGD] = "sgd",
        [LPT_OP_ELEMENTWISE] = "elementwise", [LPT_OP_IGEMM] = "igemm",     [LPT_OP_QUANTIZE] = "quantize"};
    return (unsigned)op < LPT_OP_COUNT ? names[op] : "?";
}

/* Every entry of the table, so that a backend with a hole is refused by name. */
#define ENTRY(f) {#f, offsetof(lpt_backend, f)}
static const struct {
    const char *name;
    size_t at;
} k_entries[] = {
    ENTRY(supports), ENTRY(sync), ENTRY(destroy), ENTRY(alloc), ENTRY(free), ENTRY(to_device), ENTRY(to_host),
    ENTRY(copy), ENTRY(zero), ENTRY(gemm), ENTRY(gemm_lp), ENTRY(gemm_exact), ENTRY(igemm), ENTRY(dfp_gemm), ENTRY(pack), ENTRY(unpack),
    ENTRY(to_codes), ENTRY(from_acc), ENTRY(bias_to_acc), ENTRY(quant_observe), ENTRY(quant_point), ENTRY(im2col), ENTRY(col2im),
    ENTRY(conv_out_fwd), ENTRY(conv_out_bwd), ENTRY(bias_rows_fwd), ENTRY(bias_rows_bwd), ENTRY(relu_fwd),
    ENTRY(relu_bwd), ENTRY(maxpool_fwd), ENTRY(maxpool_bwd), ENTRY(avgpool_fwd), ENTRY(avgpool_bwd),
    ENTRY(bn_fwd_train), ENTRY(bn_fwd_eval), ENTRY(bn_bwd), ENTRY(dropout_fwd), ENTRY(mul), ENTRY(xent_fwd),
    ENTRY(xent_bwd), ENTRY(sgd_step), ENTRY(loss_scale_check), ENTRY(gather), ENTRY(scale), ENTRY(fill), ENTRY(count_nonfinite), ENTRY(count_nonzero),
};

const char *lpt_backend_missing_entry(const lpt_backend *be) {
    for (size_t i = 0; i < sizeof k_entries / sizeof k_entries[0]; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)be + k_entries[i].at, sizeof fn);
        if (!fn) return k_entries[i].name;
    }
    return NULL;
}

/* Every backend of this build, one row each: the only list of backend names. */
static const struct {
    const char *name;
    int (*init)(lpt_backend *be, const lpt_backend_opts *o);
} k_backends[] = {
    {"cpu", cpu_init},
    {"ref", ref_init},
#ifdef LPT_HAVE_CUDA
    {"cuda", lpt_backend_cuda_init},
#endif
};
#define N_BACKENDS ((int)(sizeof k_backends / sizeof k_backends[0]))

const char *lpt_backend_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0, at = 0; i < N_BACKENDS; i++)
            at += snprintf(names + at, sizeof names - (size_t)at, "%s%s", i ? ", " : "", k_backends[i].name);
    return names;
}

int lpt_backend_count(void) { return N_BACKENDS; }

const char *lpt_backend_name(int i) { return i >= 0 && i < N_BACKENDS ? k_backends[i].name : NULL; }

int lpt_backend_known(const char *name) {
    for (int i = 0; i < N_BACKENDS; i++)
        if (strcmp(name, k_backends[i].name) == 0) return 1;
    return 0;
}

void lpt_backend_describe(char *buf, size_t n) {
    int at = snprintf(buf, n, "backends: %s\n", lpt_backend_names());
#ifdef LPT_HAVE_CUDA
    if (at >= 0 && (size_t)at < n) lpt_cuda_describe(buf + at, n - (size_t)at);
#else
    if (at >= 0 && (size_t)at < n) snprintf(buf + at, n - (size_t)at, "cuda: not built (no nvcc when lpt was configured)\n");
#endif
}

const char *lpt_backend_why_unknown(const char *name) {
    static char msg[512];
    if (strcmp(name, "cuda") == 0) /* only reached in a build without it */
        snprintf(msg, sizeof msg,
                 "backend 'cuda' is not in this build: no CUDA compiler (nvcc) was found when lpt was configured "
                 "(install the CUDA toolkit and build again); available: %s", lpt_backend_names());
    else
        snprintf(msg, sizeof msg, "unknown backend '%s'; available: %s", name, lpt_backend_names());
    return msg;
}

lpt_backend *lpt_backend_create(const char *name, int threads) {
    const lpt_backend_opts o = {.threads = threads};
    return lpt_backend_open(name, &o);
}

lpt_backend *lpt_backend_open(const char *name, const lpt_backend_opts *o) {
    for (int i = 0; i < N_BACKENDS; i++)
        if (strcmp(name, k_backends[i].name) == 0) {
            lpt_backend *be = lpt_xcalloc(1, sizeof *be);
            if (k_backends[i].init(be, o) != 0) {
                free(be);
                return NULL; /* error set by init */
            }
            const char *hole = lpt_backend_missing_entry(be);
            if (hole) {
                lpt_error_set("backend %s lacks the table entry %s", name, hole);
                be->destroy(be);
                return NULL;
            }
            return be;
        }
    lpt_error_set("%s", lpt_backend_why_unknown(name));
    return NULL;
}

void lpt_backend_destroy(lpt_backend *be) {
    if (be) be->destroy(be);
}

void lpt_backend_read(lpt_backend *be, void *dst, const void *src, size_t bytes) {
    be->sync(be);
    be->to_host(be, dst, src, bytes);
    be->syncs++;
}
