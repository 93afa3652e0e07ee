/* data.h - IDX datasets (MNIST layout), gzip-compressed or raw. */
#ifndef LPT_DATA_H
#define LPT_DATA_H

#include <stdint.h>

typedef struct {
    int n, c, h, w;
    uint8_t *images; /* (n, c, h, w) */
    int32_t *labels; /* (n) */
    int classes;     /* 1 + largest label */
} lpt_dataset;

/* Read one IDX file of unsigned bytes with `want_dims` dimensions (3 for images, 1 for
 * labels). gzip is detected by its header (members may be concatenated); otherwise the
 * file is read raw. Refuses anything but a regular file (a FIFO or a device, which
 * would hang or never end), wrong magic, wrong type or rank, zero or huge dimensions
 * (over 2^31 bytes in all), truncated data, trailing bytes (of the data, or of the file
 * after the gzip stream) and corrupt gzip, naming the file and the reason. */
int lpt_idx_read(const char *path, int want_dims, int dims[3], uint8_t **data);

/* Images and labels of one split; checks counts agree and labels are < 256. */
int lpt_dataset_load(const char *images, const char *labels, lpt_dataset *out);
/* A directory in MNIST layout: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (the
 * dotted "train-images.idx3-ubyte" spelling is found too). */
int lpt_dataset_load_dir(const char *dir, lpt_dataset *train, lpt_dataset *test);
void lpt_dataset_free(lpt_dataset *d);
/* Keep the first n items (n < d->n). */
void lpt_dataset_truncate(lpt_dataset *d, int n);

/* Pixel mean and standard deviation of x/255 over the whole set. */
void lpt_dataset_stats(const lpt_dataset *d, double *mean, double *std);
/* The normalization of a pixel value v: lut[v] = (v / 255 - mean) / std. */
void lpt_dataset_lut(float mean, float std, float lut[256]);
/* out (n, c, h, w) = (images[idx[i]] / 255 - mean) / std; labels[i] = labels[idx[i]] */
void lpt_dataset_gather(const lpt_dataset *d, const int *idx, int n, float mean, float std,
                        float *out, int32_t *labels);

#define LPT_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

#endif
