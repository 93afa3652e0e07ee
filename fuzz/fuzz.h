/* fuzz.h - helpers of the libFuzzer harnesses (fuzz/README.md).
 *
 * The loaders take paths: the input goes to an in-memory file (memfd), which is a
 * regular file, and the loader opens it through /proc/self/fd/N. Code that prints its
 * messages runs between fuzz_quiet(1) and fuzz_quiet(0), which send them to /dev/null
 * (libFuzzer's own report stays on stderr). */
#ifndef LPT_FUZZ_H
#define LPT_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static inline const char *fuzz_file(const uint8_t *data, size_t n) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("lpt-fuzz", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (n && pwrite(fd, data, n, 0) != (ssize_t)n)) abort();
    return path;
}

/* on: stdout and stderr to /dev/null; off: back */
static inline void fuzz_quiet(int on) {
    static int null = -1, out = -1, err = -1;
    fflush(stdout);
    fflush(stderr);
    if (null < 0) {
        null = open("/dev/null", O_WRONLY);
        out = dup(STDOUT_FILENO);
        err = dup(STDERR_FILENO);
    }
    dup2(on ? null : out, STDOUT_FILENO);
    dup2(on ? null : err, STDERR_FILENO);
}

/* the input as a NUL-terminated string (caller frees) */
static inline char *fuzz_text(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

#endif
