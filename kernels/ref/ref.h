/* ref.h - the reference backend's functions, shared with backends that reuse some. */
#ifndef LPT_REF_H
#define LPT_REF_H

#include "kernels/backend.h"

void lpt_ref_gemm(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc);
void lpt_ref_gemm_exact(lpt_backend *be, int a_bits, int b_bits, int ta, int tb, int m, int n, int k,
                        const float *a, int lda, const float *b, int ldb, float *c, int ldc);
void lpt_ref_igemm(lpt_backend *be, int ta, int tb, int m, int n, int k, const int32_t *a, int lda,
                   const int32_t *b, int ldb, const int64_t *bias, int in_bits, int acc_bits, int wrap, int64_t *c,
                   int ldc, uint64_t *overflows);
void lpt_ref_quant_observe(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_rng_key *key,
                           size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h);
void lpt_ref_im2col(lpt_backend *be, const lpt_window *g, int n, const float *x, float *col);
void lpt_ref_col2im(lpt_backend *be, const lpt_window *g, int n, const float *col, float *dx);
void lpt_ref_conv_out_fwd(lpt_backend *be, int n, int oc, int p, const float *t,
                          const float *bias, float *y);
void lpt_ref_conv_out_bwd(lpt_backend *be, int n, int oc, int p, const float *dy, float *t,
                          float *dbias);
void lpt_ref_bias_rows_fwd(lpt_backend *be, int m, int n, const float *bias, float *y);
void lpt_ref_bias_rows_bwd(lpt_backend *be, int m, int n, const float *dy, float *db);
void lpt_ref_relu_fwd(lpt_backend *be, size_t n, const float *x, float *y);
void lpt_ref_relu_bwd(lpt_backend *be, size_t n, const float *y, const float *dy, float *dx);
void lpt_ref_maxpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y,
                         int32_t *idx);
void lpt_ref_maxpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         const int32_t *idx, float *dx);
void lpt_ref_avgpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y);
void lpt_ref_avgpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         float *dx);
void lpt_ref_bn_fwd_train(lpt_backend *be, int n, int c, int s, const float *x,
                          const float *gamma, const float *beta, float eps, float momentum,
                          float *mean, float *invstd, float *running_mean, float *running_var,
                          float *y);
void lpt_ref_bn_fwd_eval(lpt_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, const float *running_mean,
                         const float *running_var, float eps, float *y);
void lpt_ref_bn_bwd(lpt_backend *be, int n, int c, int s, const float *x, const float *dy,
                    const float *gamma, const float *mean, const float *invstd, float *dx,
                    float *dgamma, float *dbeta);
void lpt_ref_dropout_fwd(lpt_backend *be, size_t n, float p, lpt_rng_key key, const float *x,
                         float *mask, float *y);
void lpt_ref_mul(lpt_backend *be, size_t n, const float *a, const float *b, float *y);
void lpt_ref_xent_fwd(lpt_backend *be, int n, int classes, const float *logits,
                        const int32_t *labels, float *prob, double *res);
void lpt_ref_xent_bwd(lpt_backend *be, int n, int classes, const float *prob,
                      const int32_t *labels, float scale, const float *dscale, float *dlogits);
void lpt_ref_loss_scale_check(lpt_backend *be, int n, double *counts, float *state, int32_t *skip,
                              double *skipped);
void lpt_ref_sgd_step(lpt_backend *be, size_t n, float lr, float momentum, float wd, float *w,
                      const float *g, float *m, const float *gscale, const int32_t *skip);
void lpt_ref_fill(lpt_backend *be, size_t n, float *x, float v);
void lpt_ref_gather(lpt_backend *be, int n, size_t item, const int32_t *idx, const uint8_t *images,
                    const int32_t *labels, const float *lut, float *x, int32_t *y);
void lpt_ref_pack(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const float *x, void *codes);
void lpt_ref_unpack(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const void *codes, float *y);
void lpt_ref_to_codes(lpt_backend *be, size_t n, const float *x, int fl, int32_t *codes);
void lpt_ref_from_acc(lpt_backend *be, int m, int n, const int64_t *c, int ldc, int fl, float *y, int ldy);
void lpt_ref_bias_to_acc(lpt_backend *be, int n, const float *bias, const int *fla, const int *flb, int acc_bits,
                         float *out);
void lpt_ref_scale(lpt_backend *be, size_t n, float *x, float alpha);
void lpt_ref_count_nonfinite(lpt_backend *be, size_t n, const float *x, double *acc);
void lpt_ref_count_nonzero(lpt_backend *be, size_t n, const float *x, double *acc);

/* host-memory helpers shared by the CPU backends */
void *lpt_host_alloc(lpt_backend *be, size_t bytes);
void lpt_host_free(lpt_backend *be, void *p);
void lpt_host_sync(lpt_backend *be);
void lpt_host_copy(lpt_backend *be, void *dst, const void *src, size_t bytes);
void lpt_host_zero(lpt_backend *be, void *p, size_t bytes);

#endif
