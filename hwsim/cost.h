/* cost.h - what one training step costs an accelerator: multiply-accumulates by operand
 * format and accumulator width, bytes moved at each memory level, and energy from a
 * table of per-operation figures (docs/cost-model.md).
 *
 * The model, per layer and training step of N items:
 *   products   forward Y = W X (operands in the activation and weight formats),
 *              backward dX = Wᵀ dY (gradient x weight; not for the first layer) and
 *              dW = dY Xᵀ (gradient x activation); each MAC costs one multiply of its
 *              operand pair and one add in the accumulator (float formats: float32;
 *              dfp: an integer adder of the accumulator width);
 *   tensors    stored at their format's width: X, Y in the activation format, dY, dX in
 *              the gradient format, W in the weight format, dW and the update's master
 *              weights and momentum in float32 (SGD: read W, dW, momentum; write W and
 *              momentum; write the quantized copy of W);
 *   memory     an on-chip buffer of `buffer_bytes` between DRAM and the arithmetic:
 *              every byte crosses the buffer once each way (written in, read out). A
 *              product whose operands and result fit in the buffer reads each operand
 *              from DRAM once and writes the result once; otherwise one operand is
 *              split into blocks of half the buffer and the other read from DRAM again
 *              for every block, whichever way moves fewer bytes;
 *   other      layers without weights (ReLU, pooling, batch norm, dropout) read their
 *              input and write their output in each direction, at the formats above
 *              (flatten, a view, moves nothing); their arithmetic is not counted. */
#ifndef LPT_COST_H
#define LPT_COST_H

#include <stddef.h>

#include "quant/format.h"

/* energy per operation in picojoules; memory per 32 bits moved */
typedef struct {
    double int8_add, int8_mult, int16_add, int16_mult, int32_add, int32_mult, int64_add;
    double fp8_mult, fp16_add, fp16_mult, bf16_mult, fp32_add, fp32_mult;
    double sram_32b, dram_32b;
} lpt_energy_table;

/* The defaults (Horowitz, ISSCC 2014, 45 nm, and the derived figures docs/cost-model.md
 * explains). */
void lpt_energy_default(lpt_energy_table *t);
/* Read a table from a text file: lines "name value" (pJ), '#' comments; names not given
 * keep their defaults. 0, or -1 with an error naming the file, the line and the field. */
int lpt_energy_load(const char *path, lpt_energy_table *t);

/* one layer, per item of the batch */
typedef struct {
    const char *name;
    int weighted;         /* a product with a weight tensor (conv2d, linear) */
    int first;            /* no dX is computed */
    int view;             /* the output is the input seen another way (flatten): nothing moves */
    size_t in, out;       /* elements of the layer's input and output, per item */
    size_t weights;       /* elements of the weight tensor (weighted layers) */
    size_t macs;          /* multiply-accumulates of the forward product, per item */
    size_t params;        /* all learnable scalars (weights and biases) */
    const lpt_precision *prec; /* this layer's formats where they differ (auto); NULL: the setup's */
} lpt_cost_layer;

/* what one layer (or the whole network) costs per training step */
typedef struct {
    double macs;          /* multiply-accumulates, all three products */
    double e_mac;         /* pJ in multiplies and accumulator adds */
    double dram_bytes, sram_bytes;
    double e_mem;         /* pJ in DRAM and buffer traffic */
} lpt_cost;

typedef struct {
    lpt_precision prec;   /* per-role formats */
    int acc_bits;         /* dfp accumulator width (0: 32 up to 8-bit operands, else 48) */
    int batch;
    size_t buffer_bytes;  /* the on-chip buffer */
} lpt_cost_setup;

/* The cost of layer l, added to *sum (which the caller zeroes) and written to *one. */
void lpt_cost_layer_step(const lpt_cost_setup *s, const lpt_energy_table *t, const lpt_cost_layer *l,
                         lpt_cost *one, lpt_cost *sum);
/* The multiply and add energy of one MAC of operands a x b (pJ), and what it counts as
 * ("int8 x int8, int32 acc"). */
double lpt_cost_mac_pj(const lpt_energy_table *t, const lpt_qformat *a, const lpt_qformat *b, int acc_bits,
                       char *what, size_t n);

#endif
