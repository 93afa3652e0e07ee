/* evaluate.c - evaluation of a network on a dataset, and the check that data fit a
 * model: used by `lpt train` at the end of every epoch and by `lpt eval`. */
#include <stdio.h>
#include <stdlib.h>

#include "src/base/util.h"
#include "src/train.h"

int lpt_evaluate(lpt_net *net, const lpt_qconfig *q, const lpt_feed *f, double *loss, double *acc,
                 const volatile sig_atomic_t *stop, const char *label) {
    lpt_qconfig frozen;
    if (q) {
        frozen = *q;
        frozen.frozen = 1;
        frozen.calibrating = 0;
        q = &frozen;
    }
    lpt_backend *be = net->be;
    double sum = 0.0, shown = lpt_time_now();
    long correct = 0;
    int rc = 0;
    for (int at = 0; at < f->n; at += net->batch) {
        if (stop && *stop) {
            rc = 1;
            break;
        }
        const int n = f->n - at < net->batch ? f->n - at : net->batch;
        lpt_feed_batch(f, net, at, n);
        lpt_ctx c = {.be = be, .quant = q, .n = n, .train = 0};
        lpt_net_res_clear(net);
        lpt_net_forward(net, &c, 1);
        lpt_net_loss(net, &c);
        lpt_net_res_read(net); /* the batch's one sync point */
        if (lpt_net_first_nonfinite(net) >= 0) {
            rc = -1;
            break;
        }
        sum += net->res_host[LPT_RES_LOSS];
        correct += (long)net->res_host[LPT_RES_CORRECT];
        const double now = lpt_time_now();
        if (label && now - shown > 0.2) {
            printf("\r\033[K%s  evaluating %d/%d", label, at + n, f->n);
            fflush(stdout);
            shown = now;
        }
    }
    if (label) {
        printf("\r\033[K");
        fflush(stdout);
    }
    *loss = f->n ? sum / f->n : 0.0;
    *acc = f->n ? (double)correct / f->n : 0.0;
    return rc;
}

int lpt_train_check_data(const lpt_model_spec *spec, int classes, const char *model, const char *data,
                         const lpt_dataset *train, const lpt_dataset *test) {
    const lpt_dataset *sets[2] = {train, test};
    for (int i = 0; i < 2; i++) {
        const lpt_dataset *d = sets[i];
        if (!d || !d->n) continue;
        if (d->c != spec->in_c || d->h != spec->in_h || d->w != spec->in_w) {
            lpt_error_set("model %s expects %dx%dx%d inputs but the %s images in %s are %dx%dx%d", model,
                          spec->in_c, spec->in_h, spec->in_w, i ? "test" : "training", data, d->c, d->h, d->w);
            return -1;
        }
        if (classes < d->classes) {
            lpt_error_set("model %s has %d outputs but the %s labels in %s go up to %d", model, classes,
                          i ? "test" : "training", data, d->classes - 1);
            return -1;
        }
    }
    return 0;
}
