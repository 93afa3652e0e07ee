/* registry.c - the one place that knows which backends this build has. A CUDA backend
 * registers here (under LPT_HAVE_CUDA) when it exists; nothing else tests the switch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "kernels/backend.h"

static int ref_init(lpt_backend *be, int threads) {
    (void)threads; /* the reference is single-threaded */
    lpt_backend_ref_init(be);
    return 0;
}

const char *lpt_op_name(lpt_op op) {
    static const char *const names[LPT_OP_COUNT] = {
        "gemm", "im2col", "col2im", "conv_out", "bias", "relu", "maxpool", "avgpool", "batchnorm",
        "dropout", "xent", "sgd", "elementwise", "igemm", "quantize"};
    return (unsigned)op < LPT_OP_COUNT ? names[op] : "?";
}

/* Every backend of this build, one row each: the only list of backend names. */
static const struct {
    const char *name;
    int (*init)(lpt_backend *be, int threads);
} k_backends[] = {
    {"cpu", lpt_backend_cpu_init},
    {"ref", ref_init},
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

lpt_backend *lpt_backend_create(const char *name, int threads) {
    for (int i = 0; i < N_BACKENDS; i++)
        if (strcmp(name, k_backends[i].name) == 0) {
            lpt_backend *be = lpt_xcalloc(1, sizeof *be);
            if (k_backends[i].init(be, threads) == 0) return be;
            free(be);
            return NULL; /* error set by init */
        }
    lpt_error_set("unknown backend '%s'; available: %s", name, lpt_backend_names());
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
