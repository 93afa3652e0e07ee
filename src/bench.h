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
/* The scaling model of data-parallel training (bench_scaling.c): a link, and a
 * measured step per layer with each layer's gradient bytes (fp32). */
typedef struct {
    const char *name;
    double latency_us, bandwidth_gbs;
} lpt_link;
typedef struct {
    const char *model;
    int batch, nlayers;
    const double *fwd_ms, *bwd_ms, *grad_bytes;
    double rest_ms, grad_bytes_total;
} lpt_scaling_in;
/* the table to 512 processes: step time and speedup with fp32, fp16 and dfp8 exchange,
 * with and without overlap */
int lpt_bench_scaling(const lpt_scaling_in *in, const lpt_link *link, int json);
/* gemm and gemm_lp throughput on one backend, shapes "M,N,K/M,N,K..." (bench_gemm.c) */
int lpt_bench_gemm(const char *backend, const lpt_backend_opts *o, const char *shapes, int json);

#endif
