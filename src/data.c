/* data.c - IDX reader and batching. */
#include "src/data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "src/base/util.h"

#define IDX_MAX_BYTES (1ull << 31)

/* The bytes of an IDX file, raw or gzip, as a stream: next(n) gives the next n bytes of
 * the (decompressed) content or reports a short or corrupt file. */
typedef struct {
    const char *path;
    int fd;
    int gz;                 /* gzip: the compressed file is in buf, inflated through z */
    unsigned char *buf;     /* gzip: the whole compressed file */
    size_t len;
    z_stream z;
    int z_on, z_end;        /* inflate initialized; the current member ended */
} idx_src;

/* read exactly n bytes (raw) or inflate exactly n bytes (gzip); returns the count
 * delivered (< n at the end of the content), or -1 with an error set */
static long long idx_next(idx_src *s, void *dst, size_t n) {
    size_t got = 0;
    if (!s->gz) {
        while (got < n) {
            const size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
            ssize_t r = read(s->fd, (char *)dst + got, want);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                lpt_error_set("%s: cannot read: %s", s->path, strerror(errno));
                return -1;
            }
            if (r == 0) break;
            got += (size_t)r;
        }
        return (long long)got;
    }
    while (got < n) {
        if (s->z_end) { /* a member ended: another may follow (gzip allows concatenation) */
            if (s->z.avail_in < 2 || s->z.next_in[0] != 0x1f || s->z.next_in[1] != 0x8b) break;
            if (inflateReset(&s->z) != Z_OK) break;
            s->z_end = 0;
        }
        const size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        s->z.next_out = (unsigned char *)dst + got;
        s->z.avail_out = (uInt)want;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        got += want - s->z.avail_out;
        if (rc == Z_STREAM_END) {
            s->z_end = 1;
            continue;
        }
        if (rc == Z_BUF_ERROR && s->z.avail_in == 0) {
            lpt_error_set("%s: truncated compressed data (the gzip stream ends early)", s->path);
            return -1;
        }
        if (rc != Z_OK) {
            lpt_error_set("%s: corrupt compressed data (%s)", s->path, s->z.msg ? s->z.msg : "inflate failed");
            return -1;
        }
    }
    return (long long)got;
}

/* The IDX header: magic, element type, dimensions (into dims), and the data size. */
static int idx_header(idx_src *s, const char *path, int want_dims, int dims[3], unsigned long long *total_out) {
    unsigned char hdr[4 + 4 * 3];
    long long r = idx_next(s, hdr, 4);
    if (r < 0) return -1;
    if (r < 4) {
        lpt_error_set("%s: truncated: %lld bytes, too short for an IDX header", path, r);
        return -1;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        lpt_error_set("%s: not an IDX file (magic %02x%02x%02x%02x, expected 0000080%d)", path,
                      hdr[0], hdr[1], hdr[2], hdr[3], want_dims);
        return -1;
    }
    if (hdr[2] != 0x08) {
        lpt_error_set("%s: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)",
                      path, hdr[2]);
        return -1;
    }
    if (hdr[3] != want_dims) {
        lpt_error_set("%s: IDX file has %d dimensions, expected %d (%s)", path, hdr[3], want_dims,
                      want_dims == 3 ? "images" : "labels");
        return -1;
    }
    r = idx_next(s, hdr + 4, 4 * (size_t)want_dims);
    if (r < 0) return -1;
    if (r < 4 * want_dims) {
        lpt_error_set("%s: truncated IDX header", path);
        return -1;
    }
    unsigned long long total = 1;
    for (int i = 0; i < want_dims; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        unsigned long long d = ((unsigned long long)p[0] << 24) | ((unsigned)p[1] << 16) |
                               ((unsigned)p[2] << 8) | p[3];
        if (d == 0 || d > IDX_MAX_BYTES) {
            lpt_error_set("%s: dimension %d is %llu; must be in [1, 2^31]", path, i, d);
            return -1;
        }
        total *= d;
        if (total > IDX_MAX_BYTES) {
            lpt_error_set("%s: dimensions describe more than 2 GiB of data; refusing", path);
            return -1;
        }
        dims[i] = (int)d;
    }
    *total_out = total;
    return 0;
}

/* After the data of a gzip file: nothing may follow, and the gzip stream ends the file. */
static int idx_gz_end(idx_src *s, const char *path, unsigned long long total) {
    long long r = 0;
    unsigned char extra[65536];
    unsigned long long more = 0;
    /* a corrupt stream says so before its length does; a bomb stops at 16 MiB */
    while (more < (16u << 20) && (r = idx_next(s, extra, sizeof extra)) > 0) more += (unsigned long long)r;
    if (r < 0) return -1;
    if (more > 0) {
        lpt_error_set("%s: %s%llu trailing bytes after the %llu bytes of data the header describes", path,
                      more >= (16u << 20) ? "at least " : "", more, total);
        return -1;
    }
    if (!s->z_end) {
        lpt_error_set("%s: truncated compressed data (the gzip stream does not end)", path);
        return -1;
    }
    if (s->z.avail_in > 0) {
        lpt_error_set("%s: %u trailing bytes after the gzip stream", path, s->z.avail_in);
        return -1;
    }
    return 0;
}

int lpt_idx_read(const char *path, int want_dims, int dims[3], uint8_t **data) {
    *data = NULL;
    idx_src s = {.path = path, .fd = -1};
    unsigned long long fsize;
    /* a regular file only (a FIFO would hang, a device never end), at most what a gzip of
     * 2 GiB of data can take */
    s.fd = lpt_file_open_regular(path, IDX_MAX_BYTES + 4096, &fsize);
    if (s.fd < 0) return -1;
    int rc = -1;
    unsigned char magic[2] = {0, 0};
    if (fsize >= 2 && pread(s.fd, magic, 2, 0) != 2) {
        lpt_error_set("%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    if (magic[0] == 0x1f && magic[1] == 0x8b) { /* gzip: the whole compressed file */
        s.gz = 1;
        if (!(s.buf = lpt_file_read(path, IDX_MAX_BYTES + 4096, &s.len))) goto done;
        if (inflateInit2(&s.z, 16 + MAX_WBITS) != Z_OK) {
            lpt_error_set("%s: cannot start decompression", path);
            goto done;
        }
        s.z_on = 1;
        s.z.next_in = s.buf;
        s.z.avail_in = (uInt)s.len; /* <= 2 GiB + 4 KiB: fits */
    }
    unsigned long long total;
    if (idx_header(&s, path, want_dims, dims, &total)) goto done;
    long long r;
    /* a raw file must be exactly this large, and a gzip file can hold at most about 1032
     * times its size (deflate's largest ratio): refuse before allocating */
    const unsigned long long header_bytes = 4 + 4ull * want_dims;
    if (s.gz && header_bytes + total > 1032ull * s.len + 4096) {
        lpt_error_set("%s: truncated: a gzip file of %zu bytes cannot hold the %llu bytes of data its header "
                      "promises", path, s.len, total);
        goto done;
    }
    if (!s.gz && fsize != header_bytes + total) {
        lpt_error_set(fsize < header_bytes + total
                          ? "%s: truncated: header promises %llu bytes of data, file holds %lld"
                          : "%s: trailing bytes: header promises %llu bytes of data, file holds %lld",
                      path, total, (long long)(fsize - header_bytes));
        goto done;
    }
    *data = malloc(total);
    if (!*data) {
        lpt_error_set("%s: cannot allocate %llu bytes", path, total);
        goto done;
    }
    r = idx_next(&s, *data, total);
    if (r < 0) goto done;
    if ((unsigned long long)r < total) {
        lpt_error_set("%s: truncated: header promises %llu bytes of data, found %lld", path, total, r);
        goto done;
    }
    if (s.gz && idx_gz_end(&s, path, total)) goto done;
    rc = 0;
done:
    if (s.z_on) inflateEnd(&s.z);
    free(s.buf);
    close(s.fd);
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

void lpt_dataset_lut(float mean, float std, float lut[256]) {
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean) / std;
}

void lpt_dataset_gather(const lpt_dataset *d, const int *idx, int n, float mean, float std,
                        float *out, int32_t *labels) {
    const size_t item = (size_t)d->c * d->h * d->w;
    float lut[256];
    lpt_dataset_lut(mean, std, lut);
    for (int i = 0; i < n; i++) {
        const uint8_t *src = d->images + (size_t)idx[i] * item;
        float *dst = out + (size_t)i * item;
        for (size_t j = 0; j < item; j++) dst[j] = lut[src[j]];
        labels[i] = d->labels[idx[i]];
    }
}
