/* testutil.h - helpers shared by the cmocka suites. */
#ifndef LPT_TESTUTIL_H
#define LPT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kernels/backend.h"
#include "src/layer.h"

/* n uniform values in [lo, hi) from a counter-based stream */
float *tu_rand(size_t n, uint64_t seed, float lo, float hi);
/* ||a - b|| / max(||b||, 1e-30), accumulated in double */
double tu_norm_err(const float *a, const float *b, size_t n);
/* a fresh temporary directory (caller frees the string) */
char *tu_tmpdir(void);
/* remove a directory made by tu_tmpdir with everything in it, and free the string */
void tu_rmtree(char *dir);
void tu_write_file(const char *path, const void *data, size_t n);
/* a fresh temporary directory (tu_rmtree frees it) with data/ in it holding synthetic
 * images (tu_write_synthetic_mnist); data/'s path into data[n] */
char *tu_tmpdir_with_data(int ntrain, int ntest, uint64_t seed, char *data, size_t n);
/* an MNIST-layout directory of synthetic, learnable 1x28x28 images in `dir` (raw IDX) */
void tu_write_synthetic_mnist(const char *dir, int ntrain, int ntest, uint64_t seed);
/* run argv (argv[0] = program) with stdout/stderr captured into out/err (malloc'd,
 * NUL-terminated, either may be NULL); returns the exit status or 128+signal */
int tu_run(char *const argv[], char **out, char **err);
/* tu_run of the lpt executable (LPT_BINARY) with the arguments that follow, up to a NULL */
int tu_run_lpt(char **out, char **err, ...);
/* Run argv (argv[0] = program), send SIGINT once a line of its stdout contains `when`,
 * and wait: returns the exit status (128+signal if killed; -1 if `when` never came) and
 * the stdout that followed the signal in *rest (malloc'd). */
int tu_interrupt(char *const argv[], const char *when, char **rest);
/* number of lines in s */
int tu_lines(const char *s);
/* One layer built alone: its arenas and its input, output and their gradients. */
typedef struct {
    lpt_backend *be;
    lpt_layer l;
    lpt_arena params, grads, work;
    lpt_tensor x, y, dx, dy;
} tu_layer;
/* Build a layer of `type` with options "key=value ..." for an input of dims on a backend
 * (2 threads), as a non-first layer (dx is computed); fails the test on any error. */
void tu_layer_build(tu_layer *t, const char *backend, const char *type, const char *opts, int ndim,
                    const int *dims);
void tu_layer_free(tu_layer *t);
/* 1 when the default Fashion-MNIST directory exists */
int tu_have_fashion_mnist(void);

/* Backends under test: "ref" (tu_ref, the specification, host memory) and every other
 * registered backend that can start here, with 2 threads (tu_under) and 1 (tu_under1);
 * one that cannot start is skipped with a message. Group setup and teardown. */
#define TU_MAX_BACKENDS 8
extern lpt_backend *tu_ref, *tu_under[TU_MAX_BACKENDS], *tu_under1[TU_MAX_BACKENDS];
extern int tu_n_under;
int tu_backends_setup(void **state);
int tu_backends_teardown(void **state);
/* Memory of a backend: copies of host arrays in (tu_din), fresh buffers (tu_dnew, filled
 * with a NaN pattern so that an unwritten output shows), results out (tu_dget); freed
 * together (tu_dfree). */
typedef struct {
    lpt_backend *be;
    void *p[32];
    int n;
} tu_dev;
void *tu_din(tu_dev *d, const void *host, size_t bytes);
void *tu_dnew(tu_dev *d, size_t bytes);
void tu_dget(tu_dev *d, void *host, const void *p, size_t bytes);
void tu_dfree(tu_dev *d);
/* The table of every backend's largest error per operation against ref: tu_note records
 * an error (0: equal bit for bit), TU_SAME asserts bytes equal and notes 0; the table is
 * printed at tu_backends_teardown. */
void tu_note(const char *backend, const char *op, double err);
#define TU_SAME(be, op, a, b, bytes)          \
    do {                                      \
        assert_memory_equal(a, b, bytes);     \
        tu_note((be)->name, op, 0.0);         \
    } while (0)
/* 1 (saying so once per backend and operation) when be does not compute op for fmt:
 * the caller skips it there */
int tu_lacks(const lpt_backend *be, lpt_op op, lpt_format fmt);
/* for every backend under test (2 threads): be, and its memory d */
#define TU_EACH_BACKEND(be, d) \
    for (int u_ = 0; u_ < tu_n_under; u_++) \
        for (tu_dev d = {.be = tu_under[u_]}, *once_ = &d; once_; tu_dfree(&d), once_ = NULL) \
            for (lpt_backend *be = tu_under[u_]; be; be = NULL)

#endif
