/* data.c - IDX reader and batching. */
#include "data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "util.h"

#define IDX_MAX_BYTES (1ull << 31)

/* read exactly n bytes; returns bytes read, or -1 on a stream error (message set) */
static long long gz_read_full(gzFile f, const char *path, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(f, (char *)buf + got, (unsigned)want);
        if (r < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            lpt_error_set("%s: corrupt compressed data (%s)", path, msg);
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    /* a gzip stream cut short reports itself only as an error after the last read */
    int code;
    const char *msg = gzerror(f, &code);
    if (code != Z_OK && code != Z_STREAM_END) {
        lpt_error_set("%s: corrupt or truncated compressed data (%s)", path, msg);
        return -1;
    }
    return (long long)got;
}

int lpt_idx_read(const char *path, int want_dims, int dims[3], uint8_t **data) {
    *data = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        lpt_error_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        lpt_error_set("%s: is a directory, expected an IDX file", path);
        return -1;
    }
    gzFile f = gzopen(path, "rb");
    if (!f) {
        lpt_error_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    unsigned char hdr[4 + 4 * 3];
    int rc = -1;
    long long r = gz_read_full(f, path, hdr, 4);
    if (r < 0) goto done;
    if (r < 4) {
        lpt_error_set("%s: truncated: %lld bytes, too short for an IDX header", path, r);
        goto done;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        lpt_error_set("%s: not an IDX file (magic %02x%02x%02x%02x, expected 0000080%d)", path,
                      hdr[0], hdr[1], hdr[2], hdr[3], want_dims);
        goto done;
    }
    if (hdr[2] != 0x08) {
        lpt_error_set("%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                      path, hdr[2]);
        goto done;
    }
    if (hdr[3] != want_dims) {
        lpt_error_set("%s: IDX file has %d dimensions, expected %d (%s)", path, hdr[3], want_dims,
                      want_dims == 3 ? "images" : "labels");
        goto done;
    }
    r = gz_read_full(f, path, hdr + 4, 4 * (size_t)want_dims);
    if (r < 0) goto done;
    if (r < 4 * want_dims) {
        lpt_error_set("%s: truncated IDX header", path);
        goto done;
    }
    unsigned long long total = 1;
    for (int i = 0; i < want_dims; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        unsigned long long d = ((unsigned long long)p[0] << 24) | ((unsigned)p[1] << 16) |
                               ((unsigned)p[2] << 8) | p[3];
        if (d == 0 || d > IDX_MAX_BYTES) {
            lpt_error_set("%s: dimension %d is %llu; must be in [1, 2^31]", path, i, d);
            goto done;
        }
        total *= d;
        if (total > IDX_MAX_BYTES) {
            lpt_error_set("%s: dimensions describe more than 2 GiB of data; refusing", path);
            goto done;
        }
        dims[i] = (int)d;
    }
    /* a raw file must be at least this large: refuse before allocating */
    if (gzdirect(f) && (unsigned long long)st.st_size < 4 + 4ull * want_dims + total) {
        lpt_error_set("%s: truncated: header promises %llu bytes of data, file holds %lld", path,
                      total, (long long)st.st_size - 4 - 4 * want_dims);
        goto done;
    }
    *data = malloc(total);
    if (!*data) {
        lpt_error_set("%s: cannot allocate %llu bytes", path, total);
        goto done;
    }
    r = gz_read_full(f, path, *data, total);
    if (r < 0) goto done;
    if ((unsigned long long)r < total) {
        lpt_error_set("%s: truncated: header promises %llu bytes of data, found %lld", path, total, r);
        goto done;
    }
    unsigned char extra;
    r = gz_read_full(f, path, &extra, 1);
    if (r < 0) goto done;
    if (r > 0) {
        lpt_error_set("%s: trailing bytes after the %llu bytes of data the header describes", path,
                      total);
        goto done;
    }
    rc = 0;
done:
    gzclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int lpt_dataset_load(const char *images, const char *labels, lpt_dataset *out) {
    memset(out, 0, sizeof *out);
    int idims[3], ldims[3];
    uint8_t *img, *lab;
    if (lpt_idx_read(images, 3, idims, &img)) return -1;
    if (lpt_idx_read(labels, 1, ldims, &lab)) {
        free(img);
        return -1;
    }
    if (idims[0] != ldims[0]) {
        lpt_error_set("%s holds %d images but %s holds %d labels", images, idims[0], labels, ldims[0]);
        free(img);
        free(lab);
        return -1;
    }
    out->n = idims[0];
    out->c = 1;
    out->h = idims[1];
    out->w = idims[2];
    out->images = img;
    out->labels = lpt_xmalloc((size_t)out->n * sizeof(int32_t));
    int mx = 0;
    for (int i = 0; i < out->n; i++) {
        out->labels[i] = lab[i];
        if (lab[i] > mx) mx = lab[i];
    }
    out->classes = mx + 1;
    free(lab);
    return 0;
}

static int find_file(const char *dir, const char *const *names, char *out, size_t n) {
    for (int i = 0; names[i]; i++) {
        for (int gz = 1; gz >= 0; gz--) {
            snprintf(out, n, "%s/%s%s", dir, names[i], gz ? ".gz" : "");
            struct stat st;
            if (stat(out, &st) == 0) return 0;
        }
    }
    lpt_error_set("%s: no %s[.gz] found (expected the four MNIST-layout IDX files)", dir, names[0]);
    return -1;
}

int lpt_dataset_load_dir(const char *dir, lpt_dataset *train, lpt_dataset *test) {
    static const char *const tri[] = {"train-images-idx3-ubyte", "train-images.idx3-ubyte", NULL};
    static const char *const trl[] = {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte", NULL};
    static const char *const tei[] = {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte", NULL};
    static const char *const tel[] = {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte", NULL};
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        lpt_error_set("data directory '%s' does not exist%s", dir,
                      strcmp(dir, LPT_DEFAULT_DATA) == 0
                          ? " (install it: apt-get install dataset-fashion-mnist)"
                          : "");
        return -1;
    }
    char a[4096], b[4096];
    if (find_file(dir, tri, a, sizeof a) || find_file(dir, trl, b, sizeof b)) return -1;
    if (lpt_dataset_load(a, b, train)) return -1;
    if (find_file(dir, tei, a, sizeof a) || find_file(dir, tel, b, sizeof b) ||
        lpt_dataset_load(a, b, test)) {
        lpt_dataset_free(train);
        return -1;
    }
    if (train->h != test->h || train->w != test->w) {
        lpt_error_set("%s: training images are %dx%d but test images are %dx%d", dir, train->h,
                      train->w, test->h, test->w);
        lpt_dataset_free(train);
        lpt_dataset_free(test);
        return -1;
    }
    if (test->classes > train->classes) train->classes = test->classes;
    test->classes = train->classes;
    return 0;
}

void lpt_dataset_free(lpt_dataset *d) {
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

void lpt_dataset_truncate(lpt_dataset *d, int n) {
    if (n > 0 && n < d->n) d->n = n;
}

void lpt_dataset_stats(const lpt_dataset *d, double *mean, double *std) {
    size_t n = (size_t)d->n * d->c * d->h * d->w;
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double v = d->images[i] / 255.0;
        s += v;
        ss += v * v;
    }
    *mean = n ? s / (double)n : 0.0;
    double var = n ? ss / (double)n - *mean * *mean : 1.0;
    *std = var > 1e-12 ? sqrt(var) : 1.0;
}

void lpt_dataset_gather(const lpt_dataset *d, const int *idx, int n, float mean, float std,
                        float *out, int32_t *labels) {
    const size_t item = (size_t)d->c * d->h * d->w;
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean) / std;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = d->images + (size_t)idx[i] * item;
        float *dst = out + (size_t)i * item;
        for (size_t j = 0; j < item; j++) dst[j] = lut[src[j]];
        labels[i] = d->labels[idx[i]];
    }
}
