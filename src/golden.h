/* golden.h - golden vectors of one weighted layer at one training step (docs/golden.md).
 *
 * A capture taps the step (src/qlayer.h): the layer's quantized X, W and dY as integer
 * codes, its requantized Y and dX, its weight gradient. Writing recomputes the three
 * products' accumulators exactly from the codes (the reference below), checks the
 * engine's own results against them, and writes every tensor as .npy and as $readmemh
 * text with a manifest. Verifying reads the text files a manifest names (the engine's or
 * a simulator's) and recomputes everything from the operands. */
#ifndef LPT_GOLDEN_H
#define LPT_GOLDEN_H

#include <stdint.h>

#include "src/net.h"
#include "src/qlayer.h"

enum { LPT_GT_X, LPT_GT_W, LPT_GT_DY, LPT_GT_Y, LPT_GT_YPRE, LPT_GT_DX, LPT_GT_DXPRE, LPT_GT_DW, LPT_GT_COUNT };

typedef struct {
    lpt_net *net;
    int li;          /* the layer's index */
    const lpt_qconfig *q;
    lpt_tap tap;
    float *t[LPT_GT_COUNT]; /* host copies */
    size_t n[LPT_GT_COUNT];
    int id[LPT_GT_COUNT];   /* entries (-1: none) */
    int fl[LPT_GT_COUNT];   /* FLs after the quantization point */
    float *bias;            /* the bias as the forward pass used it (NULL: none) */
    int relu_fused;
    uint64_t seed, step;
    int events;
} lpt_golden;

/* Check that layer `name` of net can give golden vectors in this run (a conv2d or linear
 * layer whose X, W and dY are dfp, with products whose accumulators cannot overflow) and
 * set up the capture: 0, or -1 with an error naming the layer. */
int lpt_golden_init(lpt_golden *g, lpt_net *net, const lpt_qconfig *q, const char *name);
void lpt_golden_free(lpt_golden *g);
/* After the tapped step: recompute, cross-check the engine's results against the exact
 * accumulators and write DIR (made if missing): 0, or -1 with an error naming the tensor
 * and index where the engine disagrees. */
int lpt_golden_write(lpt_golden *g, const char *dir, const char *run);
/* `lpt golden verify DIR`: 0 when every file matches, 1 with mismatches (reported on
 * stdout by tensor and index), -1 with an error for a folder that cannot be read. */
int lpt_golden_verify(const char *dir, int max_report);

#endif
