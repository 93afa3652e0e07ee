/* shadow.h - the FP32 shadow (docs/training.md, "FP32 shadow"): every --shadow-interval
 * steps the step's batch also runs, forward and backward, through an FP32 copy of the
 * network with the same weights; while the quantized step runs, a tap (src/qlayer.h)
 * compares each weighted layer's tensors with the copy's: X, W, Y, dY, dX and the weight
 * gradient dW get SQNR (dB), relative L2 error and cosine similarity, and each dfp
 * product its largest accumulator (in bits) beside the worst-case bound
 * (Wa-1)+(Wb-1)+ceil(log2 K)+1. The records go to the statistics log. */
#ifndef LPT_SHADOW_H
#define LPT_SHADOW_H

#include "src/session.h"
#include "src/step.h"

typedef struct lpt_shadow lpt_shadow;

/* The FP32 copy of s's network (batches up to `batch`): NULL with an error when the run
 * quantizes nothing or the copy does not fit. */
lpt_shadow *lpt_shadow_open(lpt_session *s, const lpt_model_spec *spec, int batch);
void lpt_shadow_close(lpt_shadow *sh);
/* Before a step: the copy takes s's weights and batch and runs its FP32 step (no update);
 * returns the tap for the quantized step, which also calls `also` (may be NULL). */
const lpt_tap *lpt_shadow_begin(lpt_shadow *sh, lpt_session *s, const lpt_step_args *a, const lpt_tap *also);
/* After the step: its records into u's log (JSON Lines, "shadow": true). */
void lpt_shadow_end(lpt_shadow *sh, lpt_stats_unit *u, long step);
/* The last comparison as a table on stdout. */
void lpt_shadow_print(const lpt_shadow *sh);

#endif
