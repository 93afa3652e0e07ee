/* hd.h - LPT_HD marks the static inline scalar functions that the CPU and the GPU share
 * (rounding, quantization, random bits): gcc compiles them as plain C, nvcc for both the
 * host and the device, so the CPU tests exercise the code the GPU runs. This is the one
 * place outside the backend registry and CMake that knows about the CUDA compiler. */
#ifndef LPT_HD_H
#define LPT_HD_H

#if defined(__CUDACC__)
#define LPT_HD __host__ __device__
#else
#define LPT_HD
#endif

#endif
