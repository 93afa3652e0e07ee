/* registry.c - the one place that knows which backends this build has. A CUDA backend
 * registers here (under LPT_HAVE_CUDA) when it exists; nothing else tests the switch. */
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "kernels/backend.h"

const char *lpt_backend_names(void) { return "cpu, ref"; }

int lpt_backend_known(const char *name) { return strcmp(name, "cpu") == 0 || strcmp(name, "ref") == 0; }

lpt_backend *lpt_backend_create(const char *name, int threads) {
    lpt_backend *be = lpt_xcalloc(1, sizeof *be);
    if (strcmp(name, "ref") == 0) {
        lpt_backend_ref_fill(be);
        return be;
    }
    if (strcmp(name, "cpu") == 0) {
        lpt_backend_cpu_fill(be, threads);
        return be;
    }
    free(be);
    lpt_error_set("unknown backend '%s'; available: %s", name, lpt_backend_names());
    return NULL;
}

void lpt_backend_destroy(lpt_backend *be) {
    if (!be) return;
    free(be->scratch);
    free(be);
}

void *lpt_backend_scratch(lpt_backend *be, size_t bytes) {
    if (bytes > be->scratch_bytes) {
        free(be->scratch);
        be->scratch = lpt_xmalloc(bytes);
        be->scratch_bytes = bytes;
    }
    return be->scratch;
}
