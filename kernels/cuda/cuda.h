/* cuda.h - the CUDA backend's entry points for the registry (built when CMake finds nvcc;
 * kernels/registry.c is the one place that asks). */
#ifndef LPT_CUDA_H
#define LPT_CUDA_H

#include <stddef.h>

#include "kernels/backend.h"

/* Set up the table on device o->device (its stream, cuBLAS handle, workspace): 0, or -1
 * with the error set (no CUDA device, a bad index, a driver too old). */
int lpt_backend_cuda_init(lpt_backend *be, const lpt_backend_opts *o);
/* One line per CUDA device seen (name, memory, compute capability), or why none is. */
void lpt_cuda_describe(char *buf, size_t n);

#endif
