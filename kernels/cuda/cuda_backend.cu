/* cuda_backend.cu - the CUDA backend's table: device memory (one cudaMalloc per
 * allocation; the engine allocates one per arena), one stream for every operation in
 * order, cuBLAS for the float GEMMs (fp32 with TF32 off unless asked; fp16/bf16 grid
 * values on Tensor Cores with float32 accumulation), the batch gather, and CUDA graphs
 * of queued work. The elementwise, layout, pooling, normalization, loss and update
 * kernels are in cuda_ops.cu; quantization and statistics in cuda_quant.cu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_impl.h"

extern "C" {
#include "src/base/util.h"
}

/* cuBLAS's workspace; the 16-bit copies of gemm_lp's operands (elements) */
enum { BLAS_WORKSPACE = 32 << 20, HALF_WORKSPACE = 64 << 20 };

void lpt_cuda_fail(const char *what, const char *why, const char *file, int line) {
    fprintf(stderr, "lpt: CUDA backend: %s failed: %s (%s:%d)\n", what, why, file, line);
    exit(1);
}

static int cuda_supports(const lpt_backend *be, lpt_op op, lpt_format fmt) {
    (void)be;
    /* quantization of every format runs here (quant/scalar.h); the dynamic fixed-point
     * products and the recompute rule run on the host backends for now */
    if (op == LPT_OP_IGEMM) return 0;
    if (op == LPT_OP_QUANTIZE) return 1;
    return fmt == LPT_FMT_FP32;
}

static void cuda_sync(lpt_backend *be) { CUDA_CHECK(cudaStreamSynchronize(cuda_of(be)->stream)); }

static void *cuda_alloc(lpt_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError(); /* the failure is reported by the caller, not sticky */
        return NULL;
    }
    return p;
}

static void cuda_free(lpt_backend *be, void *p) {
    cuda_sync(be);
    CUDA_CHECK(cudaFree(p));
}

static void cuda_to_device(lpt_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_of(be)->stream));
    cuda_sync(be); /* the host buffer may change as soon as this returns */
}

static void cuda_to_host(lpt_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_of(be)->stream));
    cuda_sync(be);
}

static void cuda_copy(lpt_backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_of(be)->stream));
}

static void cuda_zero(lpt_backend *be, void *p, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_of(be)->stream));
}

/* ---- GEMMs: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T ---- */

static cublasStatus_t gemm_ex(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha, const void *a,
                              int lda, const void *b, int ldb, cudaDataType_t ab, float beta, float *c, int ldc,
                              cublasComputeType_t compute) {
    if (m <= 0 || n <= 0) return CUBLAS_STATUS_SUCCESS;
    if (k <= 0) { /* C = beta C; with beta 0, overwritten */
        if (beta == 0.0f)
            for (int i = 0; i < m; i++) cuda_zero(be, c + (size_t)i * ldc, (size_t)n * sizeof *c);
        else
            for (int i = 0; i < m; i++) be->scale(be, (size_t)n, c + (size_t)i * ldc, beta);
        return CUBLAS_STATUS_SUCCESS;
    }
    return cublasGemmEx(cuda_of(be)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
                        &alpha, b, ab, ldb, a, ab, lda, &beta, c, CUDA_R_32F, ldc, compute,
                        CUBLAS_GEMM_DEFAULT);
}

static void cuda_gemm(lpt_backend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc) {
    CUBLAS_CHECK(gemm_ex(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, CUDA_R_32F, beta, c, ldc,
                         cuda_of(be)->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F));
}

/* rows x cols of a row-major float matrix (leading dimension ld) into a dense one of
 * the 16-bit type T: exact for values on T's grid */
template <class T>
__global__ static void k_to16(int rows, int cols, const float *src, int ld, T *dst) {
    GRID_STRIDE(e, (size_t)rows * cols) {
        const size_t r = e / cols, q = e - r * cols;
        dst[e] = T(src[r * ld + q]);
    }
}

template <class T>
static void to16(lpt_backend *be, int rows, int cols, const float *src, int ld, T *dst) {
    k_to16<T><<<cuda_blocks(be, (size_t)rows * cols), LPT_CUDA_THREADS, 0, cuda_of(be)->stream>>>(rows, cols, src,
                                                                                                 ld, dst);
    CUDA_CHECK(cudaGetLastError());
}

/* Operands on the fp16 (bf16) grid are copied to dense 16-bit matrices (exact) and
 * multiplied on the 16-bit Tensor Cores with float32 accumulation. op(A) is copied in
 * blocks of rows of C (one block when it fits beside 16 columns of B), B in blocks of
 * columns that fit the rest of the workspace (once, when it fits whole); each block
 * starts 128-byte aligned. A product too deep for even 16 rows and 16 columns (k over
 * about 2M) or a cuBLAS without the 16-bit mode gets the float32 product of the same
 * values: the same exact products, added in float32 as well. */
enum { GEMM16_ALIGN = 64 }; /* elements */
static size_t align16(size_t e) { return (e + GEMM16_ALIGN - 1) / GEMM16_ALIGN * GEMM16_ALIGN; }

template <class T>
static int gemm16(lpt_backend *be, cudaDataType_t type, int ta, int tb, int m, int n, int k, const float *a, int lda,
                  const float *b, int ldb, float *c, int ldc) {
    const size_t ws = HALF_WORKSPACE, kk = (size_t)k, n16 = n < 16 ? (size_t)n : 16;
    size_t mt = (size_t)m;
    if (align16(mt * kk) + n16 * kk > ws) { /* A in blocks of rows, half the workspace each */
        mt = ws / 2 / kk;
        mt -= mt % 16;
        if (mt < 16) return 0;
    }
    size_t nt = (ws - align16(mt * kk)) / kk;
    if (nt >= (size_t)n)
        nt = (size_t)n;
    else if ((nt -= nt % 16) < 16)
        return 0;
    T *a16 = (T *)cuda_of(be)->half_ws, *b16 = a16 + align16(mt * kk);
    const int b_once = nt == (size_t)n;
    for (int i0 = 0; i0 < m; i0 += (int)mt) {
        const int h = m - i0 < (int)mt ? m - i0 : (int)mt;
        if (ta) /* stored (k, m): the block is columns i0.. */
            to16(be, k, h, a + i0, lda, a16);
        else
            to16(be, h, k, a + (size_t)i0 * lda, lda, a16);
        for (int j0 = 0; j0 < n; j0 += (int)nt) {
            const int w = n - j0 < (int)nt ? n - j0 : (int)nt;
            if (!b_once || i0 == 0) {
                if (tb)
                    to16(be, w, k, b + (size_t)j0 * ldb, ldb, b16);
                else
                    to16(be, k, w, b + j0, ldb, b16);
            }
            const cublasStatus_t st = gemm_ex(be, ta, tb, h, w, k, 1.0f, a16, ta ? h : k, b16, tb ? k : w, type, 0.0f,
                                              c + (size_t)i0 * ldc + j0, ldc, CUBLAS_COMPUTE_32F);
            if (st == CUBLAS_STATUS_NOT_SUPPORTED && i0 == 0 && j0 == 0) return 0;
            CUBLAS_CHECK(st);
        }
    }
    return 1;
}

static void cuda_gemm_lp(lpt_backend *be, lpt_format fmt, int ta, int tb, int m, int n, int k, const float *a,
                         int lda, const float *b, int ldb, float *c, int ldc) {
    if (m > 0 && n > 0 && k > 0 &&
        (fmt == LPT_FMT_BF16 ? gemm16<__nv_bfloat16>(be, CUDA_R_16BF, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)
                             : gemm16<__half>(be, CUDA_R_16F, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)))
        return;
    CUBLAS_CHECK(gemm_ex(be, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, CUDA_R_32F, 0.0f, c, ldc, CUBLAS_COMPUTE_32F));
}

/* ---- the batch ---- */

__global__ static void k_gather(int n, size_t item, const int32_t *idx, const uint8_t *images, const int32_t *labels,
                                const float *lut, float *x, int32_t *y) {
    __shared__ float t[256];
    for (int v = threadIdx.x; v < 256; v += blockDim.x) t[v] = lut[v];
    __syncthreads();
    const size_t total = (size_t)n * item;
    GRID_STRIDE(i, total) {
        const size_t b = i / item, j = i - b * item;
        x[i] = t[images[(size_t)idx[b] * item + j]];
        if (j == 0) y[b] = labels[idx[b]];
    }
}

static void cuda_gather(lpt_backend *be, int n, size_t item, const int32_t *idx, const uint8_t *images,
                        const int32_t *labels, const float *lut, float *x, int32_t *y) {
    if (n <= 0 || !item) return;
    k_gather<<<cuda_blocks(be, (size_t)n * item), LPT_CUDA_THREADS, 0, cuda_of(be)->stream>>>(n, item, idx, images,
                                                                                              labels, lut, x, y);
    CUDA_LAUNCHED("gather");
}

/* ---- graphs ---- */

static void *cuda_graph_capture(lpt_backend *be, void (*fn)(void *), void *arg) {
    cudaStream_t s = cuda_of(be)->stream;
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    fn(arg);
    CUDA_CHECK(cudaStreamEndCapture(s, &g));
    const cudaError_t e = cudaGraphInstantiate(&x, g, 0);
    CUDA_CHECK(cudaGraphDestroy(g));
    if (e != cudaSuccess) {
        lpt_error_set("CUDA graph of the training step: %s", cudaGetErrorString(e));
        return NULL;
    }
    return x;
}

static void cuda_graph_launch(lpt_backend *be, void *graph) {
    CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)graph, cuda_of(be)->stream));
}

static void cuda_graph_free(lpt_backend *be, void *graph) {
    cuda_sync(be);
    CUDA_CHECK(cudaGraphExecDestroy((cudaGraphExec_t)graph));
}

/* ---- the dynamic fixed-point products: not on this backend yet (supports() says so,
 * and the session refuses a precision that needs them before any of these is called) ---- */

static void refuse(const char *entry) {
    fprintf(stderr, "lpt: CUDA backend: %s is not implemented on the GPU (dfp products run on --backend cpu)\n", entry);
    exit(1);
}
static void no_igemm(lpt_backend *, int, int, int, int, int, const int32_t *, int, const int32_t *, int,
                     const int64_t *, int, int, int, int64_t *, int, uint64_t *) { refuse("igemm"); }
static void no_gemm_exact(lpt_backend *, int, int, int, int, int, int, int, const float *, int, const float *, int,
                          float *, int) { refuse("gemm_exact"); }
static void no_dfp_gemm(lpt_backend *, lpt_dfp_operand, lpt_dfp_operand, int, int, int, int, int, int, const float *,
                        int, const float *, int, float *, int, uint64_t *) { refuse("dfp_gemm"); }
static void no_to_codes(lpt_backend *, size_t, const float *, int, int32_t *) { refuse("to_codes"); }
static void no_from_acc(lpt_backend *, int, int, const int64_t *, int, int, float *, int) { refuse("from_acc"); }
static void no_bias_to_acc(lpt_backend *, int, const float *, const int *, const int *, int, float *) {
    refuse("bias_to_acc");
}

/* ---- set-up ---- */

static void cuda_release(cuda_ctx *c) {
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->blas) cublasDestroy(c->blas);
    if (c->blas_ws) cudaFree(c->blas_ws);
    if (c->scratch) cudaFree(c->scratch);
    if (c->half_ws) cudaFree(c->half_ws);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static void cuda_destroy(lpt_backend *be) {
    cuda_release(cuda_of(be));
    free(be);
}

void lpt_cuda_describe(char *buf, size_t n) {
    int count = 0, drv = 0, rt = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (e != cudaSuccess || count == 0) {
        snprintf(buf, n, "cuda: built (runtime %d.%d), no device: %s\n", rt / 1000, rt % 1000 / 10,
                 e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return;
    }
    int at = snprintf(buf, n, "cuda: built (runtime %d.%d, driver %d.%d), %d device%s\n", rt / 1000, rt % 1000 / 10,
                      drv / 1000, drv % 1000 / 10, count, count == 1 ? "" : "s");
    for (int i = 0; i < count && at >= 0 && (size_t)at < n; i++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) break;
        at += snprintf(buf + at, n - (size_t)at, "  --device %d: %s, %.1f GiB, compute capability %d.%d, %d SMs\n", i,
                       p.name, (double)p.totalGlobalMem / (1 << 30), p.major, p.minor, p.multiProcessorCount);
    }
}

static int cuda_open(lpt_backend *be, cuda_ctx *c, const lpt_backend_opts *o) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        lpt_error_set("backend cuda: no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return -1;
    }
    if (o->device < 0 || o->device >= count) {
        lpt_error_set("backend cuda: --device %d, but this machine has %d CUDA device%s (0..%d)", o->device, count,
                      count == 1 ? "" : "s", count - 1);
        return -1;
    }
    cudaDeviceProp p;
    if ((e = cudaSetDevice(o->device)) != cudaSuccess || (e = cudaGetDeviceProperties(&p, o->device)) != cudaSuccess ||
        (e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        lpt_error_set("backend cuda: device %d: %s", o->device, cudaGetErrorString(e));
        return -1;
    }
    c->device = o->device;
    c->sms = p.multiProcessorCount;
    c->tf32 = o->tf32;
    snprintf(c->name, sizeof c->name, "%s", p.name);
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS) {
        lpt_error_set("backend cuda: cuBLAS could not start on device %d", o->device);
        return -1;
    }
    c->blas_ws = cuda_alloc(be, BLAS_WORKSPACE);
    c->scratch = (double *)cuda_alloc(be, LPT_CUDA_SCRATCH * sizeof(double));
    c->half_ws = cuda_alloc(be, (size_t)HALF_WORKSPACE * 2);
    if (!c->blas_ws || !c->scratch || !c->half_ws) {
        lpt_error_set("backend cuda: out of device memory at start");
        return -1;
    }
    CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
    CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->blas_ws, BLAS_WORKSPACE));
    /* TF32 and the 16-bit conversions only where the compute type asks for them */
    CUBLAS_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    return 0;
}

int lpt_backend_cuda_init(lpt_backend *be, const lpt_backend_opts *o) {
    cuda_ctx *c = (cuda_ctx *)lpt_xcalloc(1, sizeof *c);
    be->name = "cuda";
    be->read_every = 16; /* a read drains the stream: the GPU idles until the next launch */
    be->ctx = c;
    be->threads = 1;
    be->workers = 1;
    be->destroy = cuda_destroy;
    if (cuda_open(be, c, o)) {
        cuda_release(c); /* the registry frees the table */
        be->ctx = NULL;
        return -1;
    }
    be->supports = cuda_supports;
    be->sync = cuda_sync;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->to_device = cuda_to_device;
    be->to_host = cuda_to_host;
    be->copy = cuda_copy;
    be->zero = cuda_zero;
    be->gemm = cuda_gemm;
    be->gemm_lp = cuda_gemm_lp;
    be->gather = cuda_gather;
    be->graph_capture = cuda_graph_capture;
    be->graph_launch = cuda_graph_launch;
    be->graph_free = cuda_graph_free;
    be->igemm = no_igemm;
    be->gemm_exact = no_gemm_exact;
    be->dfp_gemm = no_dfp_gemm;
    be->to_codes = no_to_codes;
    be->from_acc = no_from_acc;
    be->bias_to_acc = no_bias_to_acc;
    lpt_cuda_ops_init(be);
    lpt_cuda_quant_init(be);
    return 0;
}
