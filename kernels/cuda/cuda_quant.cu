/* cuda_quant.cu - quantization points on the GPU: one pass over a tensor rounds it to
 * its format (quant/scalar.h, the very functions of the CPU reference), counts what the
 * quantizer reports (out of range, underflow, non-finite) and, when asked, adds the
 * statistics unit's MSB histograms, zeros and largest magnitude of the input (before
 * quantization) to a result in device memory. Counts are integers and the maximum a
 * maximum, so the result is the reference's bit for bit whatever the order of the
 * threads. Storage (pack/unpack) of grid values as codes of the format's width. The
 * recompute rule for dfp tensors is not on the GPU yet: supports() keeps dfp on the host
 * backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_impl.h"

extern "C" {
#include "quant/scalar.h"
}

typedef struct {
    lpt_qformat q;
    lpt_format_traits t;
    int quantize;   /* 0: the values pass unchanged (no format, or fp32) */
    int fl;         /* dfp: the FL, unless flp (device memory) gives it */
    const int *flp;
    uint64_t prefix, index0; /* stochastic rounding (lpt_sr_prefix) */
} qargs;

enum { HIST_BINS = 2 * LPT_MSB_BINS };

__device__ static void add_u64(uint64_t *dst, unsigned long long v) {
    if (v) atomicAdd((unsigned long long *)dst, v);
}

__device__ static unsigned long long warp_sum(unsigned long long v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

__global__ static void k_quant_observe(qargs a, size_t n, const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h) {
    __shared__ unsigned int bins[HIST_BINS];
    __shared__ unsigned long long zeros, nonfinite;
    if (h) {
        for (int i = threadIdx.x; i < HIST_BINS; i += blockDim.x) bins[i] = 0;
        if (threadIdx.x == 0) zeros = nonfinite = 0;
        __syncthreads();
    }
    const int fl = a.flp ? *a.flp : a.fl;
    lpt_qstats c = {0, 0, 0};
    unsigned long long z = 0, nf = 0;
    double mx = 0.0;
    /* whole warps walk the tensor together (lanes past the end take no value), so that
     * the lanes that fall into the same bin add to it once, with their count: the values
     * of a tensor crowd into a few bins, and one shared-memory atomic per value would
     * queue on them */
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t w0 = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) & ~(size_t)31; w0 < n; w0 += stride) {
        const size_t i = w0 + (threadIdx.x & 31);
        const int in = i < n;
        const float v = in ? x[i] : 0.0f;
        if (h) {
            int bin = -1;
            if (!in)
                ;
            else if (lpt_is_nan(v) || lpt_is_inf(v))
                nf++;
            else if (v == 0.0f)
                z++;
            else {
                const double m = fabs((double)v);
                bin = (v < 0 ? LPT_MSB_BINS : 0) + lpt_msb_of(m) - LPT_MSB_MIN;
                mx = m > mx ? m : mx;
            }
            const unsigned peers = __match_any_sync(0xffffffffu, bin);
            if (bin >= 0 && (int)(threadIdx.x & 31) == __ffs(peers) - 1) atomicAdd(&bins[bin], (unsigned)__popc(peers));
        }
        if (!in) continue;
        if (a.quantize) {
            const int32_t code = lpt_quantize_one(&a.q, &a.t, fl, v, lpt_sr_u(&a.q, a.prefix, a.index0 + i), &c);
            y[i] = lpt_code_value(&a.q, &a.t, fl, code);
        } else if (y != x) {
            y[i] = v;
        }
    }
    if (a.quantize) {
        const unsigned long long o = warp_sum(c.out_of_range), u = warp_sum(c.underflow), f = warp_sum(c.nonfinite);
        if ((threadIdx.x & 31) == 0) {
            add_u64(&st->out_of_range, o);
            add_u64(&st->underflow, u);
            add_u64(&st->nonfinite, f);
        }
    }
    if (!h) return;
    z = warp_sum(z);
    nf = warp_sum(nf);
    for (int o = 16; o > 0; o >>= 1) {
        const double other = __shfl_down_sync(0xffffffffu, mx, o);
        mx = other > mx ? other : mx;
    }
    if ((threadIdx.x & 31) == 0) {
        if (z) atomicAdd(&zeros, z);
        if (nf) atomicAdd(&nonfinite, nf);
        /* non-negative doubles order as their bit patterns */
        if (mx > 0) atomicMax((unsigned long long *)&h->max_abs, (unsigned long long)__double_as_longlong(mx));
    }
    __syncthreads();
    for (int i = threadIdx.x; i < HIST_BINS; i += blockDim.x)
        if (bins[i]) add_u64(i < LPT_MSB_BINS ? &h->pos[i] : &h->neg[i - LPT_MSB_BINS], bins[i]);
    if (threadIdx.x == 0) {
        add_u64(&h->zeros, zeros);
        add_u64(&h->nonfinite, nonfinite);
        if (blockIdx.x == 0) add_u64(&h->count, n);
    }
}

static qargs args_of(const lpt_qformat *q, int fl, const int *flp, const lpt_rng_key *key) {
    qargs a;
    memset(&a, 0, sizeof a);
    a.quantize = q && q->fmt != LPT_FMT_FP32;
    if (a.quantize) {
        a.q = *q;
        a.t = *lpt_format_traits_of(q->fmt);
        a.t.name = NULL; /* host memory: never read on the device */
    }
    a.fl = fl;
    a.flp = flp;
    if (key) {
        a.prefix = lpt_sr_prefix(key);
        a.index0 = key->index0;
    } else {
        const lpt_rng_key k0 = {0, 0, 0, 0};
        a.prefix = lpt_sr_prefix(&k0);
    }
    return a;
}

static void observe(lpt_backend *be, const qargs *a, size_t n, const float *x, float *y, lpt_qstats *st,
                    lpt_msb_hist *h) {
    if (!n || (!a->quantize && !h && y == x)) return;
    /* with a histogram, about four blocks per multiprocessor: each flushes its bins to
     * global memory with atomics at the end */
    const int all = cuda_blocks(be, n), few = cuda_of(be)->sms * 4;
    const int blocks = h && all > few ? few : all;
    k_quant_observe<<<blocks, LPT_CUDA_THREADS, 0, cuda_of(be)->stream>>>(*a, n, x, y, st, h);
    CUDA_LAUNCHED("quant_observe");
}

static void cuda_quant_observe(lpt_backend *be, const lpt_qformat *q, int fl, const lpt_rng_key *key, size_t n,
                               const float *x, float *y, lpt_qstats *st, lpt_msb_hist *h) {
    const qargs a = args_of(q, fl, NULL, key);
    observe(be, &a, n, x, y, st, h);
}

static void cuda_quant_point(lpt_backend *be, const lpt_qpoint_call *p, size_t n, const float *in, float *out) {
    if (p->correct) { /* dfp with the recompute rule: the host backends only (supports()) */
        fprintf(stderr, "lpt: CUDA backend: the recompute rule of dfp tensors is not on the GPU yet\n");
        exit(1);
    }
    const qargs a = args_of(p->fmt, 0, &p->state->fl, &p->key);
    observe(be, &a, n, in, out, &p->acc->counts, p->analyse ? &p->acc->hist : NULL);
}

/* ---- storage: codes of the format's width, little-endian ---- */

__global__ static void k_pack(qargs a, int cb, size_t n, const float *x, unsigned char *codes) {
    lpt_qstats c = {0, 0, 0};
    GRID_STRIDE(i, n) {
        const uint32_t code = (uint32_t)lpt_quantize_one(&a.q, &a.t, a.fl, x[i], 0.0, &c);
        for (int b = 0; b < cb; b++) codes[i * cb + b] = (unsigned char)(code >> (8 * b));
    }
}

__global__ static void k_unpack(qargs a, int cb, size_t n, const unsigned char *codes, float *y) {
    const int sign_extend = a.q.fmt == LPT_FMT_DFP && cb < 4;
    GRID_STRIDE(i, n) {
        uint32_t u = 0;
        for (int b = 0; b < cb; b++) u |= (uint32_t)codes[i * cb + b] << (8 * b);
        int32_t c = (int32_t)u;
        if (sign_extend) c = (int32_t)(u << (32 - 8 * cb)) >> (32 - 8 * cb);
        y[i] = lpt_code_value(&a.q, &a.t, a.fl, c);
    }
}

static qargs storage_args(const lpt_qformat *f, int fl) {
    lpt_qformat exact = *f; /* values on the grid: any rounding gives them back; no SR draws */
    exact.round = LPT_ROUND_RNE;
    qargs a = args_of(&exact, fl, NULL, NULL);
    a.q = exact;
    a.t = *lpt_format_traits_of(f->fmt);
    a.t.name = NULL;
    return a;
}

static void cuda_pack(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const float *x, void *codes) {
    if (!n) return;
    k_pack<<<cuda_blocks(be, n), LPT_CUDA_THREADS, 0, cuda_of(be)->stream>>>(storage_args(f, fl), lpt_qformat_code_bytes(f),
                                                                             n, x, (unsigned char *)codes);
    CUDA_LAUNCHED("pack");
}

static void cuda_unpack(lpt_backend *be, const lpt_qformat *f, int fl, size_t n, const void *codes, float *y) {
    if (!n) return;
    k_unpack<<<cuda_blocks(be, n), LPT_CUDA_THREADS, 0, cuda_of(be)->stream>>>(
        storage_args(f, fl), lpt_qformat_code_bytes(f), n, (const unsigned char *)codes, y);
    CUDA_LAUNCHED("unpack");
}

void lpt_cuda_quant_init(lpt_backend *be) {
    be->quant_observe = cuda_quant_observe;
    be->quant_point = cuda_quant_point;
    be->pack = cuda_pack;
    be->unpack = cuda_unpack;
}
