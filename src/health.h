/* health.h - dead-run detection: a training run that has stopped learning says so.
 *
 * Watched during training (the statistics unit watches its tensors itself, see
 * hwsim/stats_unit.h):
 * - train accuracy at chance: over a window of `window` steps (windows aligned to the
 *   global step: steps [kW, (k+1)W)), the fraction of correct predictions is within 2
 *   points of `chance` (the accuracy of always guessing the most frequent class of the
 *   training set);
 * - a layer whose weight gradient is identically zero at every check (one every
 *   LPT_HEALTH_CHECK_EVERY global steps) for at least `window` steps.
 * Each condition is reported once when it arises (and again only after it cleared). The
 * state travels in checkpoints (lpt_health_save/load), so a resumed run reports what
 * the uninterrupted run reports, at the same steps. */
#ifndef LPT_HEALTH_H
#define LPT_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "src/net.h"
#include "src/base/util.h"

#define LPT_HEALTH_CHECK_EVERY 10
#define LPT_HEALTH_MARGIN 0.02 /* "at chance": accuracy below chance + 2 points */

typedef struct {
    int window;    /* steps (0: off) */
    double chance; /* accuracy of a constant guess */
    long sum_correct, sum_seen; /* of the window in progress */
    int chance_flagged;
    int np;
    long *zero_since;  /* per parameter: first step of the current run of zero checks, -1: none */
    int *zero_flagged; /* per parameter: reported */
    long checked;      /* the step of the last check (-1: none) */
} lpt_health;

/* whether the chance window ends with global step `step`: lpt_health_step must then
 * have every step's numbers (a training loop that reads results every few steps reads
 * at this step) */
static inline int lpt_health_window_end(const lpt_health *h, long step) {
    return h->window && (step + 1) % h->window == 0;
}

/* window 0 turns the checks off. */
void lpt_health_init(lpt_health *h, int window, double chance, const lpt_net *net);
void lpt_health_free(lpt_health *h);
/* After global step `step` (0-based) with `correct` of `seen` right: 1 when the train
 * accuracy has just been found at chance (msg filled), else 0. */
int lpt_health_step(lpt_health *h, long step, long correct, long seen, char *msg, size_t cap);
/* 1 when a check step of the gradient test (every LPT_HEALTH_CHECK_EVERY-th) falls in
 * global steps first..last (h may be NULL). A loop that reads results once per window
 * of steps checks at the window's end, on that step's gradients. */
int lpt_health_grads_due(const lpt_health *h, long first, long last);
/* After the backward pass of a check step: nonzero[i] is the number of nonzero values of
 * parameter i's gradient (read at the step's sync point); 1 when a layer's weight
 * gradient has just been found identically zero over the window (msg names the layer
 * and the tensor), else 0. Call it again at the same step until it returns 0: one layer
 * is reported per call. */
int lpt_health_grads(lpt_health *h, const lpt_net *net, long step, const double *nonzero, char *msg, size_t cap);
/* The state as `health=` lines for a checkpoint's state section. */
void lpt_health_save(const lpt_health *h, lpt_buf *out);
/* Restore a saved state (other lines are skipped; a state saved with another window is
 * ignored: the checks start afresh): 0, or -1 with an error quoting the line. */
int lpt_health_load(lpt_health *h, const char *text);
/* The accuracy of always guessing the most frequent of n labels in [0, classes). */
double lpt_health_chance(const int32_t *labels, int n, int classes);

#endif
