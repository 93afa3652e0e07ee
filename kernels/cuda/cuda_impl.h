/* cuda_impl.h - what the CUDA backend's files share: the context, error checks, launch
 * shapes, and each file's table entries. Included by .cu files only. */
#ifndef LPT_CUDA_IMPL_H
#define LPT_CUDA_IMPL_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

extern "C" {
#include "kernels/backend.h"
#include "kernels/cuda/cuda.h"
}

typedef struct {
    int device;
    int sms;               /* multiprocessors: the grid of the grid-stride loops */
    int tf32;              /* fp32 GEMMs may use TF32 Tensor Cores */
    cudaStream_t stream;   /* every operation is queued here, in order */
    cublasHandle_t blas;
    void *blas_ws;         /* cuBLAS workspace (fixed, so that graphs may record GEMMs) */
    void *half_ws;         /* gemm_lp's operands in 16 bits */
    double *scratch;       /* LPT_CUDA_SCRATCH doubles: the partial sums of reductions */
    char name[256];
} cuda_ctx;

static inline cuda_ctx *cuda_of(const lpt_backend *be) { return (cuda_ctx *)be->ctx; }

/* A failed CUDA or cuBLAS call ends the process with a message naming the call and where
 * it was made: the GPU's state is unknown after it, and every file lpt writes is
 * written atomically, so nothing finished is lost. */
void lpt_cuda_fail(const char *what, const char *why, const char *file, int line);
#define CUDA_CHECK(call)                                                                    \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) lpt_cuda_fail(#call, cudaGetErrorString(e_), __FILE__, __LINE__); \
    } while (0)
#define CUBLAS_CHECK(call)                                                                  \
    do {                                                                                    \
        cublasStatus_t s_ = (call);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) lpt_cuda_fail(#call, cublasGetStatusString(s_), __FILE__, __LINE__); \
    } while (0)
/* after every launch */
#define CUDA_LAUNCHED(name) CUDA_CHECK(cudaGetLastError())

enum { LPT_CUDA_THREADS = 256, LPT_CUDA_SCRATCH = 1 << 18 };

/* blocks for a grid-stride loop over n elements */
static inline int cuda_blocks(const lpt_backend *be, size_t n) {
    const size_t want = (n + LPT_CUDA_THREADS - 1) / LPT_CUDA_THREADS, cap = (size_t)cuda_of(be)->sms * 16;
    return (int)(want < 1 ? 1 : want > cap ? cap : want);
}

#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* cuda_ops.cu: the float operations */
void lpt_cuda_ops_init(lpt_backend *be);
/* cuda_quant.cu: quantization points, statistics and storage */
void lpt_cuda_quant_init(lpt_backend *be);

#endif
