/* quant_point.c - a quantization point with the recompute rule (backend.h, quant_point),
 * from the table's quant_observe, for backends whose memory the host can address: the
 * rule reads this pass's own result and the point's state where they are. */
#include <math.h>
#include <string.h>

#include "hwsim/stats_unit.h"
#include "kernels/backend.h"

/* The FL this pass says the tensor should have (the state's FL when no correction is
 * due), and in *why whether it had collapsed. */
static int corrected_fl(const lpt_qpoint_call *p, const lpt_qresult *own, lpt_stats_health *why) {
    const lpt_qpoint_state *s = p->state;
    const uint64_t nonzero = lpt_stats_nonzero(&own->hist);
    *why = LPT_STATS_OK;
    if (!nonzero) return s->fl;
    const lpt_stats_health v = lpt_stats_health_of(&own->hist, &own->counts);
    const double observed = (double)own->counts.out_of_range / (double)nonzero;
    if (v != LPT_STATS_ALL_SATURATED && v != LPT_STATS_ALL_UNDERFLOW &&
        observed <= p->factor * fmax(s->predicted_overflow, 1.0 / (double)nonzero))
        return s->fl;
    *why = v;
    return lpt_stats_choose_fl(&own->hist, p->fmt->width, p->overflow_rate, LPT_FL_MIN, LPT_FL_MAX);
}

void lpt_quant_point_generic(lpt_backend *be, const lpt_qpoint_call *p, size_t n, const float *in, float *out) {
    lpt_qpoint_state *s = p->state;
    if (!p->correct) {
        be->quant_observe(be, p->fmt, s->fl, &p->key, n, in, out, &p->acc->counts, p->analyse ? &p->acc->hist : NULL);
        return;
    }
    /* one fused pass into the pass slot: this tensor's histogram, quantized at the FL */
    lpt_qresult *own = p->pass;
    memset(own, 0, sizeof *own);
    be->quant_observe(be, p->fmt, s->fl, &p->key, n, in, out, &own->counts, &own->hist);
    lpt_msb_hist_merge(&p->acc->hist, &own->hist);
    lpt_stats_health why;
    const int fl = corrected_fl(p, own, &why), old = s->fl;
    if (fl != old) { /* quantized again from `in` at the corrected FL; these counters count */
        s->fl = fl;
        s->recomputes++;
        if (why != LPT_STATS_OK) {
            s->collapses++;
            if (!s->event_seq) {
                s->event_seq = ++*p->seq;
                s->event_step = p->step, s->event_old_fl = old, s->event_new_fl = fl, s->event_why = (int)why;
            }
        }
        memset(&own->counts, 0, sizeof own->counts);
        be->quant_observe(be, p->fmt, fl, &p->key, n, in, out, &own->counts, NULL);
    }
    lpt_qstats_add(&p->acc->counts, &own->counts);
}
