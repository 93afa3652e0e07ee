/* precision.h - the precision of a run, as one module: the per-role formats, the
 * statistics unit that configures every quantization point, the `auto` width policy,
 * the configuration schedule (every stats-interval steps) and the fp16 loss scale.
 *
 * fp32 is the identity: its quantization points pass values through, so layers have one
 * path for every precision (src/qlayer.h). */
#ifndef LPT_PRECISION_H
#define LPT_PRECISION_H

#include "hwsim/stats_unit.h"
#include "src/net.h"
#include "src/qlayer.h"

struct lpt_train_cfg;

typedef struct {
    int active;      /* something is quantized (a statistics unit runs) */
    int fp16;        /* fp16 gradients: dynamic loss scaling */
    int calibrated;  /* the statistics unit has a configuration (calibrated or restored) */
    lpt_qconfig q;   /* what layers see (q.stats points at stats) */
    lpt_stats_unit stats;
    lpt_backend *be; /* where the quantization points' results live (lpt_prec_register) */
} lpt_prec;

/* Set up p for cfg's --precision, --rounding and statistics options: 0, or -1 with an
 * error naming the choices. p must not move afterwards (p->q.stats points into it). */
int lpt_prec_init(lpt_prec *p, const struct lpt_train_cfg *cfg);
void lpt_prec_free(lpt_prec *p);
/* 0 when cfg's precision (and rounding) can be set up, else -1 with lpt_prec_init's
 * error; sets nothing up. */
int lpt_prec_check(const struct lpt_train_cfg *cfg);
/* The layer view of p: NULL for fp32 (identity everywhere). */
static inline lpt_qconfig *lpt_prec_q(lpt_prec *p) { return p->active ? &p->q : NULL; }
/* Register every quantization point of net (at build: keyed by layer name and role) and
 * give them result buffers in net's backend: 0, or -1 with an error. */
int lpt_prec_register(lpt_prec *p, lpt_net *net);
/* The sync point of the statistics unit: what the quantization points reported since
 * the last one is read from the backend into the unit's entries. Called before anything
 * reads them: the configuration, the end of a run, a checkpoint. */
void lpt_prec_sync(lpt_prec *p);
/* Calibration: one FP32 step over the batch in net (labels on the host) that only
 * observes every quantization point, then the first configuration. */
void lpt_prec_calibrate(lpt_prec *p, lpt_net *net, const lpt_ctx *c);
/* The same in parts: passes that only observe (shards: every shard of the step), then
 * the first configuration from all of them. */
void lpt_prec_calibrate_pass(lpt_prec *p, lpt_net *net, const lpt_ctx *c);
void lpt_prec_calibrate_end(lpt_prec *p);
/* Restore the statistics unit from a checkpoint's state text: 0, or -1 with an error. */
int lpt_prec_restore(lpt_prec *p, const char *text);
/* 1 when a checkpoint's state text holds a statistics unit's state. */
int lpt_prec_text_has_stats(const char *text);
/* End of global step `step`: at the end of a statistics interval, the configuration
 * block runs (and, for fp16, the loss scale follows the gradients); returns 1 then. */
int lpt_prec_step_end(lpt_prec *p, long step, int interval, float *loss_scale);
/* The first loss scale of a run (fp16: 4096, else 1). */
float lpt_prec_initial_loss_scale(const lpt_prec *p);
/* The per-layer summary printed at the end of a low-precision run. */
void lpt_prec_print_summary(const lpt_prec *p);

#endif
