/* cpu_backend.c - the "cpu" backend table: the reference table with the fast kernels
 * of this folder in place of the hot operations. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"
#include "kernels/ref/ref.h"
#include "src/base/util.h"

/* what the cpu backend owns besides the table */
typedef struct {
    void *scratch; /* the kernels' workspace, grown on demand */
    size_t scratch_bytes;
} cpu_ctx;

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

int lpt_backend_cpu_init(lpt_backend *be, int threads) {
    lpt_backend_ref_init(be);
    if (threads < 1) threads = 1;
    be->name = "cpu";
    be->ctx = lpt_xcalloc(1, sizeof(cpu_ctx));
    be->destroy = cpu_destroy;
    be->threads = threads;
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
