/* stats_unit.h - the statistics unit's database and configuration block
 * (docs/training.md, "Statistics unit").
 *
 * Each observed tensor is an entry (layer, role) with its current format and FL, the
 * MSB histograms of the current interval (what the backend's quant_observe reported,
 * added at the engine's sync points by lpt_stats_add_result, or by lpt_stats_observe),
 * the quantizer's counters, and a bounded history of
 * past intervals. Every `interval` steps lpt_stats_configure closes the interval for
 * every entry: it picks the largest FL whose predicted overflow fraction (of the nonzero
 * values) is at most `overflow_rate`, and in auto mode the smallest allowed width that
 * meets both the overflow and the underflow target; an entry that saw no nonzero value
 * keeps its configuration. It appends one JSON Lines record per entry, and one event
 * record per entry whose interval shows a dead tensor (every value zero, every nonzero
 * value saturated, or every nonzero value quantized to zero); the events are also kept
 * as messages for the caller to report (lpt_stats_take_events). */
#ifndef LPT_STATS_UNIT_H
#define LPT_STATS_UNIT_H

#include <stdint.h>

#include "quant/quant.h"
#include "src/base/util.h"
#include "hwsim/stats.h"

typedef enum { LPT_ROLE_W = 0, LPT_ROLE_A, LPT_ROLE_G, LPT_ROLE_COUNT } lpt_role;
extern const char *const lpt_role_names[LPT_ROLE_COUNT]; /* "w", "a", "g" */

#define LPT_STATS_HISTORY 8

typedef struct {
    int64_t step; /* last step of the interval */
    int fl, width;
    uint64_t count, zeros, nonfinite;
    double max_abs, overflow, underflow; /* observed rates */
} lpt_stats_summary;

typedef struct {
    char layer[32];
    char tensor[8]; /* which tensor of the layer: x, w, y, dy, dx */
    lpt_role role;
    uint64_t stream; /* its stochastic-rounding stream (lpt_stats_stream) */
    lpt_qformat fmt; /* current format (auto may change the width) */
    int fl;
    int configured;     /* an FL has been chosen from statistics */
    double predicted_overflow; /* at the chosen FL, from the interval it was chosen on */
    lpt_msb_hist cur;   /* current interval */
    lpt_qstats q;       /* quantizer counters of the current interval */
    uint64_t acc_overflows; /* outputs of this tensor's products whose accumulator overflowed (this run) */
    uint64_t recomputes;
    uint64_t collapses; /* of the recomputes: the tensor had collapsed (all saturated or all zero) */
    int ever_nonzero;   /* some interval held a nonzero value */
    int event_step_logged; /* a collapse event of this entry is in the log for the current interval */
    lpt_stats_summary summary[LPT_STATS_HISTORY]; /* ring of past intervals */
    int nsummary;
} lpt_stats_entry;

typedef struct {
    lpt_stats_entry *e;
    int n, cap;
    int interval;          /* steps per interval */
    double overflow_rate;  /* target of the FL rule */
    double underflow_rate; /* auto: target for the predicted underflow */
    int auto_width;        /* choose the width per entry from its role's `widths` */
    int widths[LPT_ROLE_COUNT][8], nwidths[LPT_ROLE_COUNT];
    lpt_buf log; /* JSON Lines records not yet written out */
    lpt_buf events; /* messages of dead tensors found since the last lpt_stats_take_events */
} lpt_stats_unit;

/* What an interval or a quantization pass says about a tensor. */
typedef enum {
    LPT_STATS_OK = 0,
    LPT_STATS_ALL_ZERO,      /* every value was zero */
    LPT_STATS_ALL_SATURATED, /* every nonzero value overflowed the format */
    LPT_STATS_ALL_UNDERFLOW, /* every nonzero value was quantized to zero */
} lpt_stats_health;
/* The verdict for a histogram and the quantizer's counters of the same values. */
lpt_stats_health lpt_stats_health_of(const lpt_msb_hist *h, const lpt_qstats *q);
const char *lpt_stats_health_name(lpt_stats_health v); /* "all_zero", ... */

void lpt_stats_init(lpt_stats_unit *u, int interval, double overflow_rate);
void lpt_stats_free(lpt_stats_unit *u);
/* Auto width: allowed widths (ascending) for every role, and the underflow target. */
void lpt_stats_set_auto(lpt_stats_unit *u, const int *widths, int n, double underflow_rate);
/* Auto width: the allowed widths of one role. */
void lpt_stats_set_auto_role(lpt_stats_unit *u, lpt_role role, const int *widths, int n);
/* Register a tensor; returns its id. The FL starts at W - 1 until statistics exist. */
int lpt_stats_register(lpt_stats_unit *u, const char *layer, const char *tensor, lpt_role role,
                       const lpt_qformat *fmt);
/* The stochastic-rounding stream of a quantization point: FNV-1a over the layer name, a
 * zero byte and the tensor name, mixed (lpt_mix64). Independent of registration order. */
uint64_t lpt_stats_stream(const char *layer, const char *tensor);
/* Analysis: add n values of entry id to the current interval. */
void lpt_stats_observe(lpt_stats_unit *u, int id, size_t n, const float *x);
/* Add the quantizer's counters for entry id. */
void lpt_stats_count(lpt_stats_unit *u, int id, const lpt_qstats *q);
/* Add what a quantization point reported (counters and histograms) to entry id. */
void lpt_stats_add_result(lpt_stats_unit *u, int id, const lpt_qresult *r);
/* Calibration: configure every entry from what has been observed so far (used after
 * one FP32 step, before the first low-precision step), without logging. */
void lpt_stats_calibrate(lpt_stats_unit *u);
/* Close the interval ending at `step` for every entry: choose FL (and width), log,
 * report dead tensors, push history, clear. */
void lpt_stats_configure(lpt_stats_unit *u, int64_t step);
/* At the end of a run (finished, interrupted or stopped): close the interval in progress
 * if it observed anything, its records marked "partial": true (a resumed run drops them
 * from the log and logs the whole interval when it ends); a partial interval reports no
 * dead tensors. */
void lpt_stats_finish(lpt_stats_unit *u, int64_t step);
/* The unit's state (every entry's configuration, current interval and history) as
 * `key=value` text lines for a checkpoint (real numbers as C99 hex floats). */
void lpt_stats_save(const lpt_stats_unit *u, lpt_buf *out);
/* Restore a state saved by lpt_stats_save into a unit whose entries are registered
 * (lines of other keys are skipped): 0, or -1 with an error naming the entry that does
 * not fit. */
int lpt_stats_load(lpt_stats_unit *u, const char *text);
/* Check the syntax and the ranges of a saved state without a unit (entries of any name):
 * 0, or -1 with an error quoting the line. */
int lpt_stats_check(const char *text);
/* What the recompute rule did to entry id since the last sync point: `recomputes`
 * corrections, `collapses` of them after a collapse; when event_step >= 0, the first
 * collapse (at event_step, from old_fl to new_fl, why), logged as a "recalibrated" event
 * record once per entry and interval. Leaves e->fl at new_fl when an event is given (the
 * caller sets the live FL). */
void lpt_stats_add_recomputes(lpt_stats_unit *u, int id, uint64_t recomputes, uint64_t collapses, int64_t event_step,
                              int old_fl, int new_fl, lpt_stats_health why);
/* Append an event record {"step", "event", "layer", "tensor", "message"} to the log
 * (layer and tensor may be NULL); `partial`: an end-of-run event, marked so that a
 * resumed run drops it. */
void lpt_stats_log_event(lpt_stats_unit *u, int64_t step, const char *event, const char *layer,
                         const char *tensor, const char *message, int partial);
/* The messages of dead tensors found by lpt_stats_configure since the last call, one per
 * line (NULL when none); the caller frees the string. */
char *lpt_stats_take_events(lpt_stats_unit *u);
/* Write and clear the pending records (appending to path); 0 or -1 with an error. */
int lpt_stats_flush(lpt_stats_unit *u, const char *path);

#endif
