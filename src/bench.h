/* bench.h - `lpt bench`: training-step throughput on synthetic data, per-layer profile. */
#ifndef LPT_BENCH_H
#define LPT_BENCH_H

#include "kernels/backend.h"
#include "src/model.h"

int lpt_bench_main(int argc, char **argv);
/* quantize throughput per format next to memcpy (bench_quant.c) */
int lpt_bench_quantize(int size_mib, const char *formats, int reps, const char *isa, int json);

/* The memory of a training step for spec at `batch` (bench_memory.c): every work tensor
 * with its size, lifetime and planned place, and the peak bytes planned and unplanned;
 * with budget_mib > 0 the largest batch whose memory fits, both ways. */
int lpt_bench_memory(const lpt_model_spec *spec, int batch, int budget_mib, int json);
/* gemm and gemm_lp throughput on one backend, shapes "M,N,K/M,N,K..." (bench_gemm.c) */
int lpt_bench_gemm(const char *backend, const lpt_backend_opts *o, const char *shapes, int json);

#endif
