/* ref_igemm.c - reference integer GEMM with a bounded accumulator (the specification of
 * the accumulator: order, width, saturation and wrap; see backend.h). */
#include "kernels/ref/ref.h"

/* reduce a 128-bit sum into an acc_bits accumulator; *ovf set when it did not fit */
static int64_t acc_reduce(__int128 v, int acc_bits, int wrap, int *ovf) {
    const __int128 hi = ((__int128)1 << (acc_bits - 1)) - 1, lo = -((__int128)1 << (acc_bits - 1));
    if (v >= lo && v <= hi) return (int64_t)v;
    *ovf = 1;
    if (!wrap) return (int64_t)(v > hi ? hi : lo);
    const unsigned __int128 mask = ((unsigned __int128)1 << acc_bits) - 1;
    unsigned __int128 u = (unsigned __int128)v & mask;
    if (u > (unsigned __int128)hi) u -= (unsigned __int128)1 << acc_bits; /* sign-extend */
    return (int64_t)(__int128)u;
}

void lpt_ref_igemm(lpt_backend *be, int ta, int tb, int m, int n, int k, const int32_t *a, int lda,
                   const int32_t *b, int ldb, const int64_t *bias, int in_bits, int acc_bits, int wrap, int64_t *c,
                   int ldc, uint64_t *overflows) {
    (void)be;
    (void)in_bits;
    uint64_t overflowed = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            int ovf = 0;
            int64_t acc = acc_reduce(bias ? bias[j] : 0, acc_bits, wrap, &ovf);
            for (int p = 0; p < k; p++) {
                int64_t av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]; /* op(A)[i][p] */
                int64_t bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]; /* op(B)[p][j] */
                acc = acc_reduce((__int128)acc + (__int128)(av * bv), acc_bits, wrap, &ovf);
            }
            c[(size_t)i * ldc + j] = acc;
            overflowed += (uint64_t)ovf;
        }
    *overflows += overflowed;
}
