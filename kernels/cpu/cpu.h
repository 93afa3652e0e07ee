/* cpu.h - the "cpu" backend: OpenBLAS sgemm and OpenMP-threaded kernels. Work is split
 * statically (a fixed partition per thread count), so results depend only on the inputs
 * and the thread count. */
#ifndef LPT_CPU_H
#define LPT_CPU_H

#include "kernels/backend.h"

void lpt_cpu_gemm(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c,
                  int ldc);
void lpt_cpu_gemm_exact(lpt_backend *be, int a_bits, int b_bits, int ta, int tb, int m, int n, int k,
                        const float *a, int lda, const float *b, int ldb, float *c, int ldc);
void lpt_cpu_igemm(lpt_backend *be, int ta, int tb, int m, int n, int k, const int32_t *a, int lda,
                   const int32_t *b, int ldb, const int64_t *bias, int in_bits, int acc_bits, int wrap, int64_t *c,
                   int ldc, uint64_t *overflows);
void lpt_cpu_quant_observe(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_rng_key *key,
                           size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h);
void lpt_cpu_im2col(lpt_backend *be, const lpt_window *g, int n, const float *x, float *col);
void lpt_cpu_col2im(lpt_backend *be, const lpt_window *g, int n, const float *col, float *dx);
void lpt_cpu_conv_out_fwd(lpt_backend *be, int n, int oc, int p, const float *t,
                          const float *bias, float *y);
void lpt_cpu_conv_out_bwd(lpt_backend *be, int n, int oc, int p, const float *dy, float *t,
                          float *dbias);
void lpt_cpu_bias_rows_bwd(lpt_backend *be, int m, int n, const float *dy, float *db);
void lpt_cpu_maxpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y,
                         int32_t *idx);
void lpt_cpu_maxpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         const int32_t *idx, float *dx);
void lpt_cpu_avgpool_fwd(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y);
void lpt_cpu_avgpool_bwd(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                         float *dx);
void lpt_cpu_bn_fwd_train(lpt_backend *be, int n, int c, int s, const float *x,
                          const float *gamma, const float *beta, float eps, float momentum,
                          float *mean, float *invstd, float *running_mean, float *running_var,
                          float *y);
void lpt_cpu_bn_fwd_eval(lpt_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, const float *running_mean,
                         const float *running_var, float eps, float *y);
void lpt_cpu_bn_bwd(lpt_backend *be, int n, int c, int s, const float *x, const float *dy,
                    const float *gamma, const float *mean, const float *invstd, float *dx,
                    float *dgamma, float *dbeta);
void lpt_cpu_relu_fwd(lpt_backend *be, size_t n, const float *x, float *y);
void lpt_cpu_relu_bwd(lpt_backend *be, size_t n, const float *y, const float *dy, float *dx);
void lpt_cpu_dropout_fwd(lpt_backend *be, size_t n, float p, lpt_rng_key key, const float *x,
                         float *mask, float *y);
void lpt_cpu_mul(lpt_backend *be, size_t n, const float *a, const float *b, float *y);
void lpt_cpu_sgd_step(lpt_backend *be, size_t n, float lr, float momentum, float wd, float *w,
                      const float *g, float *m, const float *gscale, const int32_t *skip);
void lpt_cpu_fill(lpt_backend *be, size_t n, float *x, float v);
void lpt_cpu_gather(lpt_backend *be, int n, size_t item, const int32_t *idx, const uint8_t *images,
                    const int32_t *labels, const float *lut, float *x, int32_t *y);
void lpt_cpu_count_nonfinite(lpt_backend *be, size_t n, const float *x, double *acc);
/* The CPU backend's scratch, at least `bytes` long (contents not kept when it grows;
 * exits with a message when memory runs out), for one operation at a time. */
void *lpt_cpu_scratch(lpt_backend *be, size_t bytes);
void lpt_cpu_count_nonzero(lpt_backend *be, size_t n, const float *x, double *acc);

/* Elementwise work below this many elements runs on one thread (thread start-up would
 * cost more than it saves). */
#define LPT_CPU_PAR_MIN 32768

#endif
