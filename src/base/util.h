/* util.h - errors, checked allocation, atomic file writes, checksums, timing. */
#ifndef LPT_UTIL_H
#define LPT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define LPT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LPT_PRINTF(a, b)
#endif

/* The last error of the calling thread: functions that fail return non-zero (or NULL)
 * and leave one line here naming what failed and where. */
void lpt_error_set(const char *fmt, ...) LPT_PRINTF(1, 2);
const char *lpt_error_get(void);
/* Put "<formatted>: " before the current error (naming where it happened). */
void lpt_error_prefix(const char *fmt, ...) LPT_PRINTF(1, 2);

/* Allocation that never returns NULL: prints file:line and exits on failure. */
#define lpt_xmalloc(n) lpt_xmalloc_at((n), __FILE__, __LINE__)
#define lpt_xcalloc(c, n) lpt_xcalloc_at((c), (n), __FILE__, __LINE__)
void *lpt_xmalloc_at(size_t n, const char *file, int line);
void *lpt_xcalloc_at(size_t count, size_t n, const char *file, int line);
char *lpt_xstrdup(const char *s);

/* Write `n` bytes to `path` atomically: a temporary file beside it, fsync, rename.
 * On failure the previous file (if any) is untouched; returns 0 or -1 with an error. */
int lpt_file_write_atomic(const char *path, const void *data, size_t n);
/* 0 when `path` can be written atomically: it is not a directory or another non-regular
 * file, and a file can be created beside it (its directory is writable); else -1 with
 * an error. Checked before long work whose results would go there. */
int lpt_file_check_writable(const char *path);
/* Open a regular file for reading without blocking on a FIFO: a directory, device, pipe
 * or socket is refused, as is a file over max_bytes. Returns the descriptor (its size in
 * *size) or -1 with an error naming the file and the reason. */
int lpt_file_open_regular(const char *path, unsigned long long max_bytes, unsigned long long *size);
/* Read a whole regular file of at most max_bytes (lpt_file_open_regular's checks, and
 * never more bytes than the file held when opened); returns a malloc'd buffer
 * (NUL-terminated after the n bytes) or NULL with an error. */
void *lpt_file_read(const char *path, unsigned long long max_bytes, size_t *n);
/* mkdir -p: 0, or -1 with an error naming the folder (one that cannot be made, or a
 * path that is not a folder). */
int lpt_mkdirs(const char *path);
/* lpt_file_read with a limit of 64 GiB. */
void *lpt_file_read_all(const char *path, size_t *n);
/* Take the exclusive lock that says a run writes `path` (an advisory lock on PATH.lock,
 * held until lpt_file_unlock): the descriptor, or -1 with an error when another process
 * holds it. */
int lpt_file_lock(const char *path);
void lpt_file_unlock(const char *path, int fd);

uint32_t lpt_crc32(uint32_t crc, const void *data, size_t n);
double lpt_time_now(void); /* monotonic seconds */

/* Growable byte buffer for serialization. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} lpt_buf;
void lpt_buf_put(lpt_buf *b, const void *p, size_t n);
/* Append n uninitialized bytes; returns where they start. */
void *lpt_buf_grow(lpt_buf *b, size_t n);
void lpt_buf_printf(lpt_buf *b, const char *fmt, ...) LPT_PRINTF(2, 3);
void lpt_buf_free(lpt_buf *b);

#endif
