/* backend.h - the backend table: every arithmetic operation a layer needs.
 *
 * A backend is a table of function pointers plus a context. Layers never touch tensor
 * data themselves; they call these. Pointers passed to compute functions are backend
 * memory (from `alloc`); hosts move data in and out with `to_device` / `to_host`.
 * A backend may queue work: results of reductions (non-finite and nonzero counts, the
 * loss and the correct predictions, quantizer counters and histograms, accumulator
 * overflow counts) land in backend memory, and the engine reads them only with
 * lpt_backend_read, its sync point (counted in `syncs`): once per step and once per
 * statistics interval. Decisions inside a step that depend on data (the recompute
 * rule's FL correction) stay in the backend (quant_point), and FLs are read where they
 * live (lpt_qpoint_state). Every entry of the table must be set (the registry
 * refuses a table with a hole, naming the entry).
 * `supports(op, fmt)` says which (operation, number format) pairs a backend computes;
 * the float operations are fp32 and the integer GEMM is dfp; a CUDA backend adds entries.
 *
 * Backends in this build: "ref" (plain C loops, the specification) and "cpu" (OpenBLAS
 * sgemm, threaded im2col and elementwise kernels). Both give results that are a pure
 * function of the inputs and the thread count.
 *
 * Layout conventions: images are NCHW; matrices are row-major. */
#ifndef LPT_BACKEND_H
#define LPT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "hwsim/stats.h"
#include "quant/quant.h"

typedef enum {
    LPT_OP_GEMM = 0,
    LPT_OP_IM2COL,
    LPT_OP_COL2IM,
    LPT_OP_CONV_OUT,
    LPT_OP_BIAS,
    LPT_OP_RELU,
    LPT_OP_MAXPOOL,
    LPT_OP_AVGPOOL,
    LPT_OP_BATCHNORM,
    LPT_OP_DROPOUT,
    LPT_OP_XENT,
    LPT_OP_SGD,
    LPT_OP_ELEMENTWISE,
    LPT_OP_IGEMM,    /* the dfp products: igemm, dfp_gemm, gemm_exact, to_codes, from_acc, bias_to_acc */
    LPT_OP_QUANTIZE, /* a format's quantization points and storage: quant_observe, pack, unpack */
    LPT_OP_COUNT
} lpt_op;

/* A sliding window over one (C, H, W) image: convolution and pooling geometry. */
typedef struct {
    int c, h, w;    /* input channels and size */
    int kh, kw;     /* window */
    int sh, sw;     /* stride */
    int ph, pw;     /* zero padding on each side */
    int oh, ow;     /* output size: (h + 2ph - kh) / sh + 1 */
} lpt_window;

/* Fill oh/ow; returns -1 if the window does not fit. */
int lpt_window_finish(lpt_window *g);


typedef struct lpt_backend lpt_backend;

/* An operand of a dynamic fixed-point product: code width, and where its fractional
 * length lives (backend memory: a quantization point's state, lpt_qpoint_state.fl). */
typedef struct {
    int width;
    const int *fl;
} lpt_dfp_operand;

/* The live state of one quantization point, in backend memory: its FL (set by the
 * configuration, corrected by the recompute rule during a step), the overflow its FL
 * was chosen to give, and what the rule did since the engine last read the state (the
 * first collapse, with a sequence number that orders it among the other points'). */
typedef struct {
    int fl;
    int event_old_fl, event_new_fl, event_why; /* the first collapse: FL before, after, lpt_stats_health */
    double predicted_overflow;
    uint64_t recomputes, collapses;
    uint64_t event_seq; /* 0: no collapse since the last read */
    int64_t event_step;
} lpt_qpoint_state;

/* One call of a quantization point (quant_point). Pointers marked backend are in the
 * backend's memory; fmt is a host descriptor. */
typedef struct {
    const lpt_qformat *fmt;   /* NULL: the values pass unchanged (calibration, fp32 roles) */
    lpt_qpoint_state *state;  /* backend */
    lpt_qresult *acc;         /* backend: counters (and the histogram when analyse) add here */
    lpt_qresult *pass;        /* backend: one pass's result, for the recompute rule */
    uint64_t *seq;            /* backend: the counter that numbers collapse events */
    lpt_rng_key key;
    int analyse;              /* the statistics unit's analysis of `in` goes to acc */
    int correct;              /* apply the recompute rule (dfp, training, analysis on) */
    double factor;            /* observed overflow > factor * max(predicted, 1/nonzero) corrects */
    double overflow_rate;     /* the FL rule's target, for the corrected FL */
    int64_t step;
} lpt_qpoint_call;

struct lpt_backend {
    const char *name;
    void *ctx;
    /* threads the work is split for: results are a function of the inputs and this count */
    int threads;
    /* threads that run the split work now (1..threads): the CPU backend lowers it while
     * other processes keep cores busy (--share-cores), without changing any result */
    int workers;
    uint64_t syncs; /* host reads of backend results so far (lpt_backend_read) */
    /* training steps whose results (loss, counts) one read covers at most (src/step.h):
     * 0 or 1 on host backends, where a read costs nothing; more where it stalls a queue */
    int read_every;

    int (*supports)(const lpt_backend *be, lpt_op op, lpt_format fmt);

    /* wait until every queued operation is done (a synchronous backend returns at once) */
    void (*sync)(lpt_backend *be);
    /* free the context, scratch and the table itself */
    void (*destroy)(lpt_backend *be);

    /* memory */
    void *(*alloc)(lpt_backend *be, size_t bytes);
    void (*free)(lpt_backend *be, void *p);
    void (*to_device)(lpt_backend *be, void *dst, const void *src, size_t bytes);
    void (*to_host)(lpt_backend *be, void *dst, const void *src, size_t bytes);
    void (*copy)(lpt_backend *be, void *dst, const void *src, size_t bytes); /* within */
    void (*zero)(lpt_backend *be, void *p, size_t bytes);                     /* all bits zero */

    /* C (m, n) = alpha * op(A) op(B) + beta * C; op(A) is (m, k), op(B) is (k, n);
     * ta/tb non-zero means the stored matrix is the transpose. Row-major, leading
     * dimensions lda/ldb/ldc. */
    void (*gemm)(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc);

    /* C (m, n) = op(A) op(B) where every value of A and of B lies on the grid of the
     * 16-bit float format fmt (fp16 or bf16; the quantization points put them there):
     * the products are exact in float32 and accumulate in float32, as on Tensor Cores.
     * The host backends call their gemm; a GPU multiplies in the 16-bit format. The
     * order of the float32 additions is the backend's (results agree to float32
     * rounding, not bit for bit). */
    void (*gemm_lp)(lpt_backend *be, lpt_format fmt, int ta, int tb, int m, int n, int k, const float *a, int lda,
                    const float *b, int ldb, float *c, int ldc);

    /* Exact product of dynamic fixed-point grid values: every value of A is an integer of
     * at most a_bits bits (two's complement) times one power of two, likewise B with
     * b_bits, and (a_bits - 1) + (b_bits - 1) + ceil(log2 k) <= 52, so every partial sum
     * is exact in double. C (m, n) = op(A) op(B), rounded once to float32. The reference
     * adds in double in increasing k; under the bound any order gives its result bit for
     * bit, so a backend picks the cheapest exact way (float GEMM where the sums stay
     * below 2^24 units, float GEMM over chunks of k summed in double, double GEMM). */
    void (*gemm_exact)(lpt_backend *be, int a_bits, int b_bits, int ta, int tb, int m, int n, int k,
                       const float *a, int lda, const float *b, int ldb, float *c, int ldc);

    /* Integer GEMM for dynamic fixed point: C (m, n) = bias + op(A) op(B) over int32
     * codes of at most in_bits bits (two's complement), in an accumulator of acc_bits
     * (2..64) bits. Reference order: for each output, the accumulator starts at bias[j]
     * (0 without bias) and adds the products in increasing k; after every addition it
     * is saturated to [-2^(A-1), 2^(A-1) - 1] (wrap = 0) or wrapped modulo 2^A (wrap = 1).
     * *overflows (backend memory) += how many outputs overflowed at least once. A fast
     * version may use any order where no partial sum can overflow and every sum is exact. */
    void (*igemm)(lpt_backend *be, int ta, int tb, int m, int n, int k, const int32_t *a, int lda,
                  const int32_t *b, int ldb, const int64_t *bias, int in_bits, int acc_bits, int wrap,
                  int64_t *c, int ldc, uint64_t *overflows);

    /* The product of two dynamic fixed-point tensors as the accumulator computes it
     * (docs/training.md): A holds grid values of a.width-bit codes at FL a.fl, likewise B;
     * C (m, n) = op(A) op(B) rounded once to float32, in an accumulator of acc_bits bits
     * that saturates in the reference order (igemm) unless lpt_dfp_exact_ok rules out
     * overflow, where any exact way will do (gemm_exact). *overflows (backend memory) +=
     * outputs whose accumulator overflowed. The choice of the exact way is the backend's. */
    void (*dfp_gemm)(lpt_backend *be, lpt_dfp_operand a, lpt_dfp_operand b, int acc_bits, int ta, int tb,
                     int m, int n, int k, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                     uint64_t *overflows);
    /* A quantization point with the recompute rule (docs/training.md), decided where
     * the data are: out = Q(in) at the state's FL, observed into acc; when p->correct
     * and this pass's own histogram shows the overflow beating the prediction by
     * p->factor (or every nonzero value saturated or vanished), the FL is corrected from
     * that histogram (state->fl), the event counted in the state, and `in` quantized
     * again at the new FL. in != out. lpt_quant_point_generic implements it from
     * quant_observe for backends whose memory the host can address. */
    void (*quant_point)(lpt_backend *be, const lpt_qpoint_call *p, size_t n, const float *in, float *out);
    /* Storage of quantized tensors as what they are: pack writes the n values of x (on
     * the grid of format f, at FL fl for dfp) as codes of f's width (lpt_qformat_code_bytes:
     * dfp int8/int16/int32 two's complement, fp16/bf16 16-bit patterns, fp8 8-bit
     * patterns), little-endian; unpack reads them back to float32. Exact both ways for
     * values on the grid. */
    void (*pack)(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const float *x, void *codes);
    void (*unpack)(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const void *codes, float *y);
    /* codes[i] = x[i] * 2^fl: the integer codes of grid values at FL fl (exact) */
    void (*to_codes)(lpt_backend *be, size_t n, const float *x, int fl, int32_t *codes);
    /* y (m, n; row stride ldy) = c (m, n; row stride ldc) * 2^-fl, rounded once to float32 */
    void (*from_acc)(lpt_backend *be, int m, int n, const int64_t *c, int ldc, int fl, float *y, int ldy);
    /* The bias in the accumulator's units for a product of operands at FLs *fla and *flb
     * (backend memory), fl = *fla + *flb: out[j] = r * 2^-fl with r = bias[j] * 2^fl
     * rounded to nearest even and clamped to the acc_bits accumulator. */
    void (*bias_to_acc)(lpt_backend *be, int n, const float *bias, const int *fla, const int *flb, int acc_bits,
                        float *out);

    /* A quantization point (docs/training.md): y = Q(x), the n values of x rounded to format q
     * at fractional length fl (q NULL or fp32: y = x), y == x allowed, element i drawing
     * its stochastic-rounding bits at index key->index0 + i; the quantizer's counters
     * are added to st (backend memory). When h (backend memory) is not NULL, the
     * statistics unit's analysis of x (its MSB histograms, zeros and largest magnitude,
     * before quantization) is added to h in the same pass over memory. */
    void (*quant_observe)(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_rng_key *key,
                          size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h);

    /* x (N, C, H, W) -> col (C*KH*KW, N*OH*OW): row r = (c, i, j), column = n*OH*OW + p */
    void (*im2col)(lpt_backend *be, const lpt_window *g, int n, const float *x, float *col);
    /* the adjoint: dx (N, C, H, W) = sum of col entries over the windows (overwrites dx) */
    void (*col2im)(lpt_backend *be, const lpt_window *g, int n, const float *col, float *dx);

    /* Convolution output layout: t (OC, N*P) <-> y (N, OC, P), P = OH*OW.
     * fwd: y[n][o][p] = t[o][n*P + p] + bias[o] (bias may be NULL)
     * bwd: t[o][n*P + p] = dy[n][o][p]; dbias[o] = sum over n, p (if dbias) */
    void (*conv_out_fwd)(lpt_backend *be, int n, int oc, int p, const float *t,
                         const float *bias, float *y);
    void (*conv_out_bwd)(lpt_backend *be, int n, int oc, int p, const float *dy, float *t,
                         float *dbias);

    /* rows: y (m, n) += bias (n); db (n) = column sums of dy (m, n) */
    void (*bias_rows_fwd)(lpt_backend *be, int m, int n, const float *bias, float *y);
    void (*bias_rows_bwd)(lpt_backend *be, int m, int n, const float *dy, float *db);

    /* y = max(x, 0) (NaN propagates); dx = dy where y > 0 else 0 */
    void (*relu_fwd)(lpt_backend *be, size_t n, const float *x, float *y);
    void (*relu_bwd)(lpt_backend *be, size_t n, const float *y, const float *dy, float *dx);

    /* pooling over windows of g, padding never wins a max and counts as zero in the
     * average (count_include_pad). idx holds the argmax's flat index in the plane. */
    void (*maxpool_fwd)(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y,
                        int32_t *idx);
    void (*maxpool_bwd)(lpt_backend *be, const lpt_window *g, int n, const float *dy,
                        const int32_t *idx, float *dx);
    void (*avgpool_fwd)(lpt_backend *be, const lpt_window *g, int n, const float *x, float *y);
    void (*avgpool_bwd)(lpt_backend *be, const lpt_window *g, int n, const float *dy, float *dx);

    /* Batch norm over x (N, C, S) with S spatial positions per channel.
     * train: batch statistics (biased variance) normalize; mean/invstd saved for bwd;
     *        running_mean/var <- (1-momentum) * running + momentum * batch (unbiased var)
     * eval:  running statistics normalize. */
    void (*bn_fwd_train)(lpt_backend *be, int n, int c, int s, const float *x,
                         const float *gamma, const float *beta, float eps, float momentum,
                         float *mean, float *invstd, float *running_mean,
                         float *running_var, float *y);
    void (*bn_fwd_eval)(lpt_backend *be, int n, int c, int s, const float *x,
                        const float *gamma, const float *beta, const float *running_mean,
                        const float *running_var, float eps, float *y);
    void (*bn_bwd)(lpt_backend *be, int n, int c, int s, const float *x, const float *dy,
                   const float *gamma, const float *mean, const float *invstd, float *dx,
                   float *dgamma, float *dbeta);

    /* Inverted dropout: element i is kept when lpt_rng_uniform(key.seed, key.stream,
     * key.step * 2^32 + i) >= p; mask[i] = kept / (1 - p); y = x * mask */
    void (*dropout_fwd)(lpt_backend *be, size_t n, float p, lpt_rng_key key, const float *x,
                        float *mask, float *y);
    /* dx = dy * mask (also used for any elementwise product) */
    void (*mul)(lpt_backend *be, size_t n, const float *a, const float *b, float *y);

    /* Softmax cross-entropy over logits (n, classes) with int32 labels: prob holds the
     * softmax; res[0] (backend memory) += the summed loss (not the mean), res[1] += the
     * count of argmax == label (first maximum wins): a training loop sums several steps
     * there and reads them once.
     * bwd: dlogits = (prob - onehot) * s, where s = scale * dscale[0] when dscale (backend
     * memory: the fp16 loss scale, read when the work runs) is given, else scale. */
    void (*xent_fwd)(lpt_backend *be, int n, int classes, const float *logits,
                     const int32_t *labels, float *prob, double *res);
    void (*xent_bwd)(lpt_backend *be, int n, int classes, const float *prob,
                     const int32_t *labels, float scale, const float *dscale, float *dlogits);

    /* SGD with momentum (PyTorch semantics): g' = g + wd * w; m = mu * m + g'; w -= lr * m.
     * With gscale (backend memory) the gradient is g * gscale[0]; with skip (backend
     * memory) nothing changes when skip[0] is not zero (fp16: the step overflowed). */
    void (*sgd_step)(lpt_backend *be, size_t n, float lr, float momentum, float wd, float *w,
                     const float *g, float *m, const float *gscale, const int32_t *skip);
    /* fp16 dynamic loss scaling, decided where the data is: state = {S, 1/S} (backend
     * memory). When counts[0..n) (non-finite gradient values) sum to more than zero:
     * skip[0] = 1, S = max(S / 2, 1), skipped[0] += 1; else skip[0] = 0. In both cases
     * state[1] = 1 / (the S this step's gradients were scaled by), and counts are zeroed. */
    void (*loss_scale_check)(lpt_backend *be, int n, double *counts, float *state, int32_t *skip,
                             double *skipped);

    /* A batch from a dataset held in backend memory: item i is image idx[i] (uint8, `item`
     * bytes each) mapped through lut (256 floats: the normalization), x (n, item); y[i] =
     * labels[idx[i]]. Every pointer is backend memory. */
    void (*gather)(lpt_backend *be, int n, size_t item, const int32_t *idx, const uint8_t *images,
                   const int32_t *labels, const float *lut, float *x, int32_t *y);

    /* elementwise helpers; scale: x *= alpha */
    void (*scale)(lpt_backend *be, size_t n, float *x, float alpha);
    void (*fill)(lpt_backend *be, size_t n, float *x, float v);
    /* *acc (backend memory) += number of elements that are NaN or +-Inf */
    void (*count_nonfinite)(lpt_backend *be, size_t n, const float *x, double *acc);
    /* *acc (backend memory) += number of elements that are not zero (+0 and -0 are
     * zero; NaN is not) */
    void (*count_nonzero)(lpt_backend *be, size_t n, const float *x, double *acc);

    /* Optional (NULL where a backend has none; the engine then runs the work itself):
     * graph_capture runs fn(arg) while recording the work it queues, without executing
     * it, and returns a recording (NULL with the error set when the recording failed);
     * graph_launch queues the recorded work again, with the same pointers and scalars;
     * graph_free releases it. */
    void *(*graph_capture)(lpt_backend *be, void (*fn)(void *arg), void *arg);
    void (*graph_launch)(lpt_backend *be, void *graph);
    void (*graph_free)(lpt_backend *be, void *graph);
};

/* How a backend is opened: host threads; for a GPU its index and whether fp32 GEMMs may
 * use TF32 Tensor Cores (off by default: TF32 keeps 10 mantissa bits). */
typedef struct {
    int threads;
    int device;
    int tf32;
    int share_cores; /* CPU: fewer workers while other processes keep cores busy (workers) */
} lpt_backend_opts;

/* Registry: the one place that knows which backends are built. */
lpt_backend *lpt_backend_open(const char *name, const lpt_backend_opts *o);
/* lpt_backend_open with `threads` and the defaults (workers fixed at `threads`) */
lpt_backend *lpt_backend_create(const char *name, int threads);
/* What this build has: its backends, and for a GPU backend the devices it sees (or why
 * it sees none), as lines of text. */
void lpt_backend_describe(char *buf, size_t n);
void lpt_backend_destroy(lpt_backend *be);
/* The first table entry be lacks (a NULL function), or NULL when the table is whole;
 * lpt_backend_create refuses a backend with a hole, naming the entry. */
const char *lpt_backend_missing_entry(const lpt_backend *be);
/* The sync point: wait for the backend, then copy `bytes` of results from backend memory
 * src to the host (counted in be->syncs). */
void lpt_backend_read(lpt_backend *be, void *dst, const void *src, size_t bytes);
/* Name of an operation, for messages. */
const char *lpt_op_name(lpt_op op);
/* Comma-separated names of the backends in this build. */
const char *lpt_backend_names(void);
/* The backends of this build, by index (tests run every one of them). */
int lpt_backend_count(void);
const char *lpt_backend_name(int i);
/* 1 when `name` is a backend of this build. */
int lpt_backend_known(const char *name);
/* Why `name` is not a backend of this build, with the ones it has (a static string). */
const char *lpt_backend_why_unknown(const char *name);

/* The dfp product for any backend from its gemm_exact, to_codes, igemm and from_acc
 * (the ref and cpu tables use it; integer codes live in backend memory from alloc). */
void lpt_dfp_gemm_generic(lpt_backend *be, lpt_dfp_operand a, lpt_dfp_operand b, int acc_bits, int ta, int tb,
                          int m, int n, int k, const float *A, int lda, const float *B, int ldb, float *C, int ldc,
                          uint64_t *overflows);

/* gemm_lp for backends without 16-bit products: their gemm on the grid values. */
void lpt_gemm_lp_generic(lpt_backend *be, lpt_format fmt, int ta, int tb, int m, int n, int k, const float *a, int lda,
                         const float *b, int ldb, float *c, int ldc);

/* quant_point from the table's quant_observe, for backends with host-addressable memory. */
void lpt_quant_point_generic(lpt_backend *be, const lpt_qpoint_call *p, size_t n, const float *in, float *out);

/* Set up the two CPU backends' tables (used by the registry); share_cores: see
 * lpt_backend.workers. */
void lpt_backend_ref_init(lpt_backend *be);
int lpt_backend_cpu_init(lpt_backend *be, int threads, int share_cores);

#endif
