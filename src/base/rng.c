/* rng.c - counter-based permutation. */
#include "src/base/rng.h"

void lpt_rng_permutation(uint64_t seed, uint64_t stream, uint64_t key, int *perm, int n) {
    for (int i = 0; i < n; i++) perm[i] = i;
    uint64_t s = lpt_rng_bits(seed, stream, key);
    for (int i = n - 1; i > 0; i--) {
        /* unbiased enough for n < 2^32: 64-bit draw reduced by multiply-high */
        uint64_t r = lpt_rng_bits(s, stream, (uint64_t)i);
        int j = (int)(((unsigned __int128)r * (uint64_t)(i + 1)) >> 64);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
