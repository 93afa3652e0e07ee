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

#endif
