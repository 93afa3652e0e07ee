/* util.c - errors, checked allocation, atomic file writes, checksums, timing. */
#include "src/base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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

void lpt_error_prefix(const char *fmt, ...) {
    char pre[512], msg[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "%s", lpt_error_get());
    size_t k = strlen(pre), m = strlen(msg); /* "pre: msg", cut to fit */
    if (k > sizeof g_err - 3) k = sizeof g_err - 3;
    memcpy(g_err, pre, k);
    memcpy(g_err + k, ": ", 2);
    k += 2;
    if (m > sizeof g_err - 1 - k) m = sizeof g_err - 1 - k;
    memcpy(g_err + k, msg, m);
    g_err[k + m] = 0;
}

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
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        lpt_error_set("cannot write '%s': %s", path,
                      S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
        return -1;
    }
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

int lpt_file_open_regular(const char *path, unsigned long long max_bytes, unsigned long long *size) {
    /* O_NONBLOCK: opening a FIFO without a writer returns at once (and is refused below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        lpt_error_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        lpt_error_set("%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        lpt_error_set("%s: not a regular file (%s)", path,
                      S_ISDIR(st.st_mode)                            ? "a directory"
                      : S_ISFIFO(st.st_mode)                         ? "a pipe"
                      : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                     : "a socket or other special file");
        close(fd);
        return -1;
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        lpt_error_set("%s: %lld bytes, more than the %llu such a file may hold", path, (long long)st.st_size,
                      max_bytes);
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *size = (unsigned long long)st.st_size;
    return fd;
}

void *lpt_file_read(const char *path, unsigned long long max_bytes, size_t *n) {
    unsigned long long size;
    int fd = lpt_file_open_regular(path, max_bytes, &size);
    if (fd < 0) return NULL;
    unsigned char *buf = malloc((size_t)size + 1);
    if (!buf) {
        lpt_error_set("%s: cannot allocate %llu bytes to read it", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        const size_t want = size - got > (1u << 30) ? (1u << 30) : (size_t)(size - got);
        ssize_t r = read(fd, buf + got, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            lpt_error_set("%s: cannot read: %s", path, r < 0 ? strerror(errno) : "the file shrank while being read");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *n = got;
    return buf;
}

void *lpt_file_read_all(const char *path, size_t *n) { return lpt_file_read(path, 1ull << 36, n); }

/* the lock file of path (caller frees) */
static char *lock_path(const char *path) {
    const size_t len = strlen(path) + 8;
    char *l = lpt_xmalloc(len);
    snprintf(l, len, "%s.lock", path);
    return l;
}

int lpt_file_lock(const char *path) {
    char *lp = lock_path(path);
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            lpt_error_set("cannot create the lock file '%s': %s", lp, strerror(errno));
            free(lp);
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int busy = errno == EWOULDBLOCK;
            char pid[32] = "";
            ssize_t r = busy ? pread(fd, pid, sizeof pid - 1, 0) : -1;
            pid[r > 0 ? r : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            if (busy)
                lpt_error_set("'%s' is being written by another lpt run%s%s%s (lock '%s'); use another path",
                              path, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "", lp);
            else
                lpt_error_set("cannot lock '%s': %s", lp, strerror(errno));
            close(fd);
            free(lp);
            return -1;
        }
        /* the holder before us may have removed the file after we opened it: the lock
         * counts only on the file that is at the path now */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char pid[32];
            const int k = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)k, 0) != k) {
                /* the pid in the lock file is only informative */
            }
            free(lp);
            return fd;
        }
        close(fd);
    }
    lpt_error_set("cannot lock '%s': it keeps being replaced", lp);
    free(lp);
    return -1;
}

void lpt_file_unlock(const char *path, int fd) {
    char *lp = lock_path(path);
    unlink(lp); /* while holding the lock: a process that opened it before checks again */
    close(fd);
    free(lp);
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

int lpt_mkdirs(const char *path) {
    char buf[640];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *q = buf + 1;; q++) {
        const char c = *q;
        if (c != '/' && c != 0) continue;
        *q = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            lpt_error_set("cannot create folder %s: %s", buf, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
            lpt_error_set("%s is not a folder", buf);
            return -1;
        }
        *q = c;
        if (!c) return 0;
    }
}
