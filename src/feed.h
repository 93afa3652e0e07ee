/* feed.h - a dataset held in backend memory, and the batches gathered from it there.
 *
 * The images (uint8), the labels and the normalization's lookup table go to the
 * backend once; the order of an epoch (the shuffle's permutation, drawn on the host from
 * the counter-based generator so that every backend sees the same batches) goes once per
 * epoch; each batch is gathered and normalized by the backend's `gather` straight into
 * the network's input and labels. No image crosses the bus during training. */
#ifndef LPT_FEED_H
#define LPT_FEED_H

#include "src/data.h"
#include "src/net.h"

typedef struct {
    lpt_backend *be;
    int n;             /* items */
    size_t item;       /* values per item */
    uint8_t *images;   /* backend: (n, item) */
    int32_t *labels;   /* backend: (n) */
    float *lut;        /* backend: 256 normalized values */
    int32_t *order;    /* backend: the epoch's order of items */
} lpt_feed;

/* Copy d to be's memory with the normalization (v / 255 - mean) / std; the order is
 * 0..n-1 until lpt_feed_order. 0, or -1 with an error (out of backend memory). */
int lpt_feed_open(lpt_feed *f, lpt_backend *be, const lpt_dataset *d, float mean, float std);
/* The order of the next epoch (n item indices). */
void lpt_feed_order(lpt_feed *f, const int *perm);
/* Items at positions [at, at + n) of the order into net's input (act[0]) and labels. */
void lpt_feed_batch(const lpt_feed *f, lpt_net *net, int at, int n);
void lpt_feed_close(lpt_feed *f);

#endif
