/* util.c - errors, checked allocation, atomic file writes, checksums, timing. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static _Thread_local char g_err[1024];

void lpt_error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
}

const char *lpt_error_get(void) { return g_err[0] ? g_err : "unknown error"; }

void *lpt_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "lpt: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
        exit(1);
    }
    return p;
}

void *lpt_xcalloc_at(size_t count, size_t n, const char *file, int line) {
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "lpt: out of memory allocating %zu x %zu bytes at %s:%d\n", count, n,
                file, line);
        exit(1);
    }
    return p;
}

char *lpt_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lpt_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

/* the temporary file next to path that atomic writes go through (caller frees) */
static char *tmp_path(const char *path) {
    const size_t len = strlen(path) + 32;
    char *tmp = lpt_xmalloc(len);
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

int lpt_file_write_atomic(const char *path, const void *data, size_t n) {
    char *tmp = tmp_path(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        lpt_error_set("cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const unsigned char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            lpt_error_set("cannot write '%s': %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        lpt_error_set("cannot flush '%s': %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        lpt_error_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int lpt_file_check_writable(const char *path) {
    char *tmp = tmp_path(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        lpt_error_set("cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}

void *lpt_file_read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        lpt_error_set("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    lpt_buf b = {0};
    unsigned char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) lpt_buf_put(&b, chunk, r);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        lpt_error_set("cannot read '%s'", path);
        lpt_buf_free(&b);
        return NULL;
    }
    lpt_buf_put(&b, "", 1); /* NUL after the data, not counted */
    *n = b.len - 1;
    return b.data;
}

uint32_t lpt_crc32(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}

double lpt_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void *lpt_buf_grow(lpt_buf *b, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            fprintf(stderr, "lpt: out of memory growing a buffer to %zu bytes\n", cap);
            exit(1);
        }
        b->data = d;
        b->cap = cap;
    }
    b->len += n;
    return b->data + b->len - n;
}

void lpt_buf_put(lpt_buf *b, const void *p, size_t n) {
    void *dst = lpt_buf_grow(b, n);
    if (n) memcpy(dst, p, n);
}

void lpt_buf_printf(lpt_buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        lpt_buf_put(b, tmp, (size_t)k);
        return;
    }
    char *big = lpt_xmalloc((size_t)k + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    lpt_buf_put(b, big, (size_t)k);
    free(big);
}

void lpt_buf_free(lpt_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
