/* qlayer.h - low-precision semantics of the layers with weights (docs/training.md,
 * "Semantics"), shared by conv2d and linear.
 *
 * fp32 is the identity: in an fp32 run (lpt_ctx.quant NULL) every call passes its
 * operand through without a copy and products are plain GEMMs, so a layer has one path.
 * Tensors at quantization points hold values that lie exactly on their format's grid
 * (for dfp: code * 2^-FL) and carry that format (lpt_tensor.grid, .fl), so ReLU and max
 * pooling act on the stored integers unchanged, and every product of two dfp tensors is
 * computed as the accumulator of --acc-bits computes it, by the backend's dfp_gemm
 * (exactly, in any order, where the bound of quant/quant.h rules out overflow; else in
 * the reference integer order with its saturation).
 * The bias joins the accumulator in its units (bias_to_acc). The statistics unit
 * observes every tensor at a quantization point as it is quantized; what the backend
 * reports accumulates in backend memory until the precision module's sync point
 * (lpt_q_collect).
 * Recompute rule (on unless disabled): a dfp tensor whose observed overflow in this pass
 * beats the prediction by recompute_factor, or that collapsed (every nonzero value
 * saturated, or every nonzero value quantized to zero), gets the FL chosen from its own
 * histogram of the same pass and is quantized again from what it was quantized from: an
 * input (X, W, dY) from its source, an output (Y, dX) from the layer's pre-quantization
 * buffer (lpt_q_pre). The rule runs in the backend (quant_point).
 * fp16/bf16 roles: the operands are rounded to the format and multiplied with float32
 * accumulation (Tensor Core semantics), outputs stored in the format. */
#ifndef LPT_QLAYER_H
#define LPT_QLAYER_H

#include <stdint.h>

#include "hwsim/stats_unit.h"
#include "src/layer.h"

struct lpt_qconfig {
    lpt_precision prec;      /* per role; fp32 roles are not quantized */
    int acc_bits;            /* dfp accumulator width; 0: 32 for W <= 8, 48 for W <= 16, else 64 */
    int recompute;           /* the recompute rule (above) */
    double recompute_factor; /* observed > factor * max(predicted, 1/nonzero) triggers it */
    lpt_stats_unit *stats;
    /* backend memory (lpt_q_attach): per entry, what its quantization point reported
     * since the last lpt_q_collect, then one pass's result (the recompute rule); per
     * entry its live state (FL, recompute events); the events' sequence counter */
    lpt_qresult *acc, *pass;
    lpt_qpoint_state *states;
    uint64_t *seq;
    /* NULL, or at each sync point the entries' results (n of them) summed over the
     * processes of a data-parallel run (src/dp.h) */
    void (*merge)(lpt_qresult *r, int n);
    /* shards (src/step.c): per entry, the shard in whose pass its first collapse since
     * the last lpt_q_collect happened (-1: none), host memory; NULL, or at each sync
     * point the live states merged over the processes (counts added, the first collapse
     * by step, shard and order kept) */
    int *event_shard;
    void (*merge_states)(lpt_qpoint_state *st, int *event_shard, int n);
    int calibrating;         /* an FP32 step that only observes */
    int frozen;              /* evaluation: quantize with the current configuration, observe nothing */
    int no_analysis;         /* benchmarks: quantize at the current FLs without the analysis */
};

/* A tap: told, as the step is queued, every tensor at a quantization point of a
 * weighted layer and every product, so that a tool can look at what the layer computed
 * (lpt golden, the FP32 shadow). Only in quantized runs. The data are backend memory and
 * valid during the call (read them with lpt_backend_read); a step with a tap is queued
 * op by op, never replayed from a recording. */
typedef enum {
    LPT_TAP_QUANT,   /* a tensor after its quantization point: x, w, dy (operands), y, dx (outputs) */
    LPT_TAP_PRE,     /* an output (y, dx) before its quantization point */
    LPT_TAP_PRODUCT, /* a product op(A) op(B) as the backend returned it (float32) */
} lpt_tap_kind;

typedef struct {
    lpt_tap_kind kind;
    int id;         /* the tensor's entry; for a product, A's */
    int idb;        /* a product: B's entry (else -1) */
    size_t n;       /* QUANT, PRE: elements */
    int m, cols, k; /* PRODUCT: C is m x cols (row stride ld), a sum of k terms */
    int ld;
    const float *data;
} lpt_tap_event;

struct lpt_tap {
    void (*fn)(void *arg, const lpt_ctx *c, const lpt_tap_event *e);
    void *arg;
};

/* Statistics entries (quantization points) of one weighted layer, registered when the
 * network is built. */
typedef struct {
    int x, w, y, dy, dx; /* dx: -1 for the first layer, which computes none */
} lpt_qpoints;

/* The quantization points in backend memory: lpt_q_attach after every entry is
 * registered; lpt_q_collect at the sync points where the statistics unit reads its
 * entries (end of calibration, of an interval, of a run; before a checkpoint): the
 * results, the live FLs and the recompute events go to the entries, the results are
 * cleared; lpt_q_push after the host changed the configuration (FLs, predictions);
 * lpt_q_detach frees them. */
int lpt_q_attach(lpt_qconfig *q, lpt_backend *be);
void lpt_q_collect(lpt_qconfig *q, lpt_backend *be);
void lpt_q_push(lpt_qconfig *q, lpt_backend *be);
void lpt_q_detach(lpt_qconfig *q, lpt_backend *be);
/* The live states (FLs, the recompute rule's counts and first collapse) read now (a sync
 * point) or written, n = q->stats->n of them (src/step.c: under shards every pass starts
 * from the step's FLs). */
void lpt_q_states_get(const lpt_qconfig *q, lpt_backend *be, lpt_qpoint_state *st);
void lpt_q_states_set(const lpt_qconfig *q, lpt_backend *be, const lpt_qpoint_state *st);
/* Register the layer's quantization points with q's statistics unit (q NULL: fp32,
 * nothing to register). */
void lpt_q_register(lpt_qpoints *s, lpt_qconfig *q, const lpt_layer *l);
/* out = Q(in) with entry id's format and FL (in == out allowed); observes `in` and adds
 * the quantizer's counters. Calibration and fp32 roles copy. With in != out the
 * recompute rule applies: the FL may be corrected and `in` quantized again. */
void lpt_q_apply(const lpt_ctx *c, int id, size_t n, const float *in, float *out);
/* An operand at a quantization point: `in`'s values in an fp32 run (the identity),
 * otherwise lpt_q_apply into buf, whose data is returned and which then carries the
 * format (grid, fl) it holds. n: the elements in use. */
const float *lpt_q_input(const lpt_ctx *c, int id, size_t n, const lpt_tensor *in, lpt_tensor *buf);
/* Record on t the format entry id's quantization point gave its values (fp32 in an fp32
 * run or during calibration). */
void lpt_q_mark(const lpt_ctx *c, int id, lpt_tensor *t);
/* Where a layer writes an output before its quantization point: `out` itself in an fp32
 * run, otherwise `scratch` (a buffer of the layer the size of out, free at that time). */
float *lpt_q_pre(const lpt_ctx *c, float *out, float *scratch);
/* The quantization point of a product's output: out = Q(pre) with the recompute rule
 * (the backend's quant_point: when a correction is due, the FL is corrected and `pre`,
 * which stays, quantized again). Nothing in an fp32 run (pre is out). */
void lpt_q_output(const lpt_ctx *c, int id, size_t n, const float *pre, float *out);
/* 1 when layer l's output Y (entry id) is a dfp tensor that goes straight into a ReLU:
 * the layer then applies the ReLU before Y is observed and requantized (the activation
 * in the requantization stage). What the ReLU layer passes on is the same for any FL,
 * but the FL is chosen from the values the ReLU lets through: large negative
 * pre-activations, which the ReLU zeroes anyway, no longer coarsen the grid of the
 * small positive ones (docs/training.md). */
int lpt_q_fused_relu(const lpt_ctx *c, int id, const lpt_layer *l);
/* C (m, n) = op(A) op(B) for A quantized by entry ida and B by idb, exactly as described
 * above (the backend's dfp_gemm); the result is rounded once to float32. Accumulator
 * overflows are counted for entry idc, the product's output (-1: none, as for dW). */
void lpt_q_gemm(const lpt_ctx *c, int ida, int idb, int idc, int ta, int tb, int m, int n, int k,
                const float *a, int lda, const float *b, int ldb, float *out, int ldc);
/* The bias in the accumulator's units for a product of entries ida and idb: `bias`
 * itself in an fp32 run, otherwise computed into buf, which is returned. */
const float *lpt_q_bias(const lpt_ctx *c, int ida, int idb, int n, const float *bias, float *buf);

#endif
