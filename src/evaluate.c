/* evaluate.c - evaluation of a network on a dataset, and the check that data fit a
 * model: used by `lpt train` at the end of every epoch and by `lpt eval`. */
#include <stdio.h>
#include <stdlib.h>

#include "src/base/util.h"
#include "src/train.h"

int lpt_evaluate(lpt_net *net, const lpt_qconfig *q, const lpt_dataset *d, float mean, float std,
                 double *loss, double *acc, const volatile sig_atomic_t *stop, const char *label) {
    lpt_qconfig frozen;
    if (q) {
        frozen = *q;
        frozen.frozen = 1;
        frozen.calibrating = 0;
        q = &frozen;
    }
    lpt_backend *be = net->be;
    const size_t item = lpt_shape_item_count(&net->act[0].shape);
    float *x = lpt_xmalloc((size_t)net->batch * item * sizeof *x);
    int32_t *y = lpt_xmalloc((size_t)net->batch * sizeof *y);
    int *idx = lpt_xmalloc((size_t)net->batch * sizeof *idx);
    double sum = 0.0, shown = lpt_time_now();
    long correct = 0;
    int rc = 0;
    for (int at = 0; at < d->n; at += net->batch) {
        if (stop && *stop) {
            rc = 1;
            break;
        }
        int n = d->n - at < net->batch ? d->n - at : net->batch;
        for (int i = 0; i < n; i++) idx[i] = at + i;
        lpt_dataset_gather(d, idx, n, mean, std, x, y);
        be->to_device(be, net->act[0].data, x, (size_t)n * item * sizeof *x);
        lpt_ctx c = {.be = be, .quant = q, .n = n, .train = 0};
        lpt_net_res_clear(net);
        lpt_net_forward(net, &c, 1);
        lpt_net_loss(net, &c, y);
        lpt_net_res_read(net); /* the batch's one sync point */
        if (lpt_net_first_nonfinite(net) >= 0) {
            rc = -1;
            break;
        }
        sum += net->res_host[LPT_RES_LOSS];
        correct += (long)net->res_host[LPT_RES_CORRECT];
        const double now = lpt_time_now();
        if (label && now - shown > 0.2) {
            printf("\r\033[K%s  evaluating %d/%d", label, at + n, d->n);
            fflush(stdout);
            shown = now;
        }
    }
    if (label) {
        printf("\r\033[K");
        fflush(stdout);
    }
    free(x);
    free(y);
    free(idx);
    *loss = d->n ? sum / d->n : 0.0;
    *acc = d->n ? (double)correct / d->n : 0.0;
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
