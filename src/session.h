/* session.h - one set-up for every command that runs a network (train, eval, bench):
 * the backend, the network built for a batch size, its quantization points registered
 * with the precision module, and for training the optimizer. What `lpt bench` times is
 * what `lpt train` runs: both call lpt_step_train (src/step.h) on a session. */
#ifndef LPT_SESSION_H
#define LPT_SESSION_H

#include "src/config.h"
#include "src/health.h"
#include "src/model.h"
#include "src/net.h"
#include "src/optim.h"
#include "src/precision.h"

typedef struct {
    lpt_backend *be;
    lpt_net net;
    lpt_sgd opt;       /* training sessions only */
    lpt_prec prec;
    lpt_health *health; /* dead-run checks of training, or NULL */
    int built, training, prec_on;
} lpt_session;

/* Set up cfg's backend (cfg->backend, cfg->threads) and precision, build spec for
 * batches of `batch`, register every quantization point; with `training`, the
 * optimizer too. 0, or -1 with an error (the session is then closed). The backend must
 * compute every operation the precision needs (supports()), or the error names the one
 * it lacks. */
int lpt_session_open(lpt_session *s, const lpt_train_cfg *cfg, const lpt_model_spec *spec, int batch,
                     int training);
void lpt_session_close(lpt_session *s);

#endif
