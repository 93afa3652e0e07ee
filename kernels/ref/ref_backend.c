/* ref_backend.c - the reference backend table: host memory, plain loops. */
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"

void *lpt_host_alloc(lpt_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) return NULL;
    return p;
}

void lpt_host_free(lpt_backend *be, void *p) {
    (void)be;
    free(p);
}

void lpt_host_copy(lpt_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

void lpt_host_zero(lpt_backend *be, void *p, size_t bytes) {
    (void)be;
    memset(p, 0, bytes);
}

void lpt_host_sync(lpt_backend *be) { (void)be; }

static void ref_destroy(lpt_backend *be) { free(be); }

static int ref_supports(const lpt_backend *be, lpt_op op, lpt_format fmt) {
    (void)be;
    if (op == LPT_OP_IGEMM) return fmt == LPT_FMT_DFP;
    if (op == LPT_OP_QUANTIZE) return (unsigned)fmt < LPT_FMT_COUNT;
    return (unsigned)op < LPT_OP_COUNT && fmt == LPT_FMT_FP32;
}

void lpt_backend_ref_init(lpt_backend *be) {
    be->name = "ref";
    be->threads = 1;
    be->workers = 1;
    be->supports = ref_supports;
    be->sync = lpt_host_sync;
    be->destroy = ref_destroy;
    be->alloc = lpt_host_alloc;
    be->free = lpt_host_free;
    be->to_device = lpt_host_copy;
    be->to_host = lpt_host_copy;
    be->copy = lpt_host_copy;
    be->zero = lpt_host_zero;
    be->gemm = lpt_ref_gemm;
    be->gemm_lp = lpt_gemm_lp_generic;
    be->igemm = lpt_ref_igemm;
    be->gemm_exact = lpt_ref_gemm_exact;
    be->dfp_gemm = lpt_dfp_gemm_generic;
    be->pack = lpt_ref_pack;
    be->unpack = lpt_ref_unpack;
    be->to_codes = lpt_ref_to_codes;
    be->from_acc = lpt_ref_from_acc;
    be->bias_to_acc = lpt_ref_bias_to_acc;
    be->quant_observe = lpt_ref_quant_observe;
    be->quant_point = lpt_quant_point_generic;
    be->im2col = lpt_ref_im2col;
    be->col2im = lpt_ref_col2im;
    be->conv_out_fwd = lpt_ref_conv_out_fwd;
    be->conv_out_bwd = lpt_ref_conv_out_bwd;
    be->bias_rows_fwd = lpt_ref_bias_rows_fwd;
    be->bias_rows_bwd = lpt_ref_bias_rows_bwd;
    be->relu_fwd = lpt_ref_relu_fwd;
    be->relu_bwd = lpt_ref_relu_bwd;
    be->maxpool_fwd = lpt_ref_maxpool_fwd;
    be->maxpool_bwd = lpt_ref_maxpool_bwd;
    be->avgpool_fwd = lpt_ref_avgpool_fwd;
    be->avgpool_bwd = lpt_ref_avgpool_bwd;
    be->bn_fwd_train = lpt_ref_bn_fwd_train;
    be->bn_fwd_eval = lpt_ref_bn_fwd_eval;
    be->bn_bwd = lpt_ref_bn_bwd;
    be->dropout_fwd = lpt_ref_dropout_fwd;
    be->mul = lpt_ref_mul;
    be->xent_fwd = lpt_ref_xent_fwd;
    be->xent_bwd = lpt_ref_xent_bwd;
    be->sgd_step = lpt_ref_sgd_step;
    be->loss_scale_check = lpt_ref_loss_scale_check;
    be->fill = lpt_ref_fill;
    be->gather = lpt_ref_gather;
    be->scale = lpt_ref_scale;
    be->count_nonfinite = lpt_ref_count_nonfinite;
    be->count_nonzero = lpt_ref_count_nonzero;
}
