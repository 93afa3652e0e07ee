/* npy.c - .npy reader and writer. */
#include "src/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

/* find 'key': in the header dict and return the text after the colon */
static const char *dict_value(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

/* Where the header of a .npy file starts (*start) and how long it is (*hlen). */
static int header_span(const char *path, const unsigned char *buf, size_t len, size_t *start_out, size_t *hlen_out) {
    const int major = buf[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) {
            lpt_error_set("%s: truncated .npy header", path);
            return -1;
        }
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        start = 12;
    } else {
        lpt_error_set("%s: .npy format version %d.%d is not supported (1.0 to 3.0)", path, buf[6], buf[7]);
        return -1;
    }
    if (hlen > (1u << 20)) {
        lpt_error_set("%s: .npy header length %zu is over the 1 MiB this reader accepts", path, hlen);
        return -1;
    }
    if (hlen > len - start) {
        lpt_error_set("%s: truncated .npy header (%zu bytes promised, %zu in the file)", path, hlen, len - start);
        return -1;
    }
    *start_out = start;
    *hlen_out = hlen;
    return 0;
}

/* The dims of a .npy shape tuple, "(3, 4)". */
static int parse_shape(const char *path, const char *shape, lpt_npy *out) {
    if (*shape != '(') {
        lpt_error_set("%s: malformed shape in the .npy header", path);
        return -1;
    }
    const char *p = shape + 1;
    out->count = 1;
    for (;;) {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        if (!isdigit((unsigned char)*p) || out->ndim == LPT_NPY_MAX_DIMS) {
            lpt_error_set("%s: malformed shape in the .npy header (or more than %d dimensions)", path, LPT_NPY_MAX_DIMS);
            return -1;
        }
        char *end;
        errno = 0;
        unsigned long long d = strtoull(p, &end, 10);
        if (errno || d > (1ull << 40) || (d && out->count > (1ull << 40) / d)) {
            lpt_error_set("%s: shape in the .npy header is too large", path);
            return -1;
        }
        out->dims[out->ndim++] = (size_t)d;
        out->count *= (size_t)d;
        p = end;
    }
    return 0;
}

int lpt_npy_read_f32(const char *path, lpt_npy *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    unsigned char *buf = lpt_file_read_all(path, &len);
    if (!buf) return -1;
    int rc = -1;
    char *hdr = NULL;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        lpt_error_set("%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen, start;
    if (header_span(path, buf, len, &start, &hlen)) goto done;
    hdr = lpt_xmalloc(hlen + 1);
    memcpy(hdr, buf + start, hlen);
    hdr[hlen] = 0;
    const char *descr = dict_value(hdr, "descr"), *fo = dict_value(hdr, "fortran_order"),
               *shape = dict_value(hdr, "shape");
    if (!descr || !fo || !shape || hdr[0] != '{') {
        lpt_error_set("%s: malformed .npy header (needs descr, fortran_order and shape)", path);
        goto done;
    }
    int swap;
    if (strncmp(descr, "'<f4'", 5) == 0)
        swap = 0;
    else if (strncmp(descr, "'>f4'", 5) == 0)
        swap = 1;
    else {
        char d[16] = {0};
        sscanf(descr, "'%15[^']'", d);
        lpt_error_set("%s: dtype '%s' is not supported: lpt quantize reads float32 ('<f4'); "
                      "convert with a.astype(np.float32)", path, d);
        goto done;
    }
    if (strncmp(fo, "False", 5) != 0) {
        lpt_error_set("%s: Fortran-order arrays are not supported; save np.ascontiguousarray(a)", path);
        goto done;
    }
    if (parse_shape(path, shape, out)) goto done;
    const size_t data_at = start + hlen;
    if (len - data_at != out->count * 4) {
        lpt_error_set("%s: %s: the header promises %zu float32 values (%zu bytes), the file holds %zu bytes",
                      path, len - data_at < out->count * 4 ? "truncated" : "trailing data", out->count,
                      out->count * 4, len - data_at);
        goto done;
    }
    out->data = lpt_xmalloc(out->count * 4 + 4);
    memcpy(out->data, buf + data_at, out->count * 4);
    if (swap)
        for (size_t i = 0; i < out->count; i++) {
            uint32_t v;
            memcpy(&v, &out->data[i], 4);
            v = __builtin_bswap32(v);
            memcpy(&out->data[i], &v, 4);
        }
    rc = 0;
done:
    free(hdr);
    free(buf);
    return rc;
}

void lpt_npy_free(lpt_npy *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

int lpt_npy_write(const char *path, const char *descr, int ndim, const size_t *dims,
                  const void *data, size_t elem_bytes) {
    lpt_buf h = {0}, out = {0};
    lpt_buf_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        lpt_buf_printf(&h, "%zu%s", dims[i], ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        count *= dims[i];
    }
    lpt_buf_printf(&h, "), }");
    /* pad with spaces so that the data starts at a multiple of 64, then a newline */
    while ((10 + h.len + 1) % 64) lpt_buf_put(&h, " ", 1);
    lpt_buf_put(&h, "\n", 1);
    lpt_buf_put(&out, "\x93NUMPY\x01\x00", 8);
    unsigned char hl[2] = {(unsigned char)(h.len & 0xff), (unsigned char)(h.len >> 8)};
    lpt_buf_put(&out, hl, 2);
    lpt_buf_put(&out, h.data, h.len);
    lpt_buf_put(&out, data, count * elem_bytes);
    int rc = lpt_file_write_atomic(path, out.data, out.len);
    lpt_buf_free(&h);
    lpt_buf_free(&out);
    return rc;
}
