/* feed.c - datasets in backend memory (feed.h). */
#include "src/feed.h"

#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

int lpt_feed_open(lpt_feed *f, lpt_backend *be, const lpt_dataset *d, float mean, float std) {
    memset(f, 0, sizeof *f);
    f->be = be;
    f->n = d->n;
    f->item = (size_t)d->c * d->h * d->w;
    const size_t n = d->n > 0 ? (size_t)d->n : 1;
    f->images = be->alloc(be, n * f->item);
    f->labels = be->alloc(be, n * sizeof *f->labels);
    f->order = be->alloc(be, n * sizeof *f->order);
    f->lut = be->alloc(be, 256 * sizeof *f->lut);
    if (!f->images || !f->labels || !f->order || !f->lut) {
        lpt_error_set("out of backend memory for a dataset of %d images (%zu bytes)", d->n, n * f->item);
        lpt_feed_close(f);
        return -1;
    }
    float lut[256];
    lpt_dataset_lut(mean, std, lut);
    be->to_device(be, f->lut, lut, sizeof lut);
    if (d->n) {
        be->to_device(be, f->images, d->images, (size_t)d->n * f->item);
        be->to_device(be, f->labels, d->labels, (size_t)d->n * sizeof *f->labels);
    }
    int *ident = lpt_xmalloc(n * sizeof *ident);
    for (int i = 0; i < d->n; i++) ident[i] = i;
    lpt_feed_order(f, ident);
    free(ident);
    return 0;
}

void lpt_feed_order(lpt_feed *f, const int *perm) {
    int32_t *o = lpt_xmalloc((f->n ? (size_t)f->n : 1) * sizeof *o);
    for (int i = 0; i < f->n; i++) o[i] = perm[i];
    f->be->to_device(f->be, f->order, o, (size_t)f->n * sizeof *o);
    free(o);
}

void lpt_feed_batch(const lpt_feed *f, lpt_net *net, int at, int n) {
    f->be->gather(f->be, n, f->item, f->order + at, f->images, f->labels, f->lut, lpt_tensor_f32(&net->act[0]),
                  net->labels.data);
}

void lpt_feed_close(lpt_feed *f) {
    lpt_backend *be = f->be;
    if (!be) return;
    if (f->images) be->free(be, f->images);
    if (f->labels) be->free(be, f->labels);
    if (f->order) be->free(be, f->order);
    if (f->lut) be->free(be, f->lut);
    memset(f, 0, sizeof *f);
}
