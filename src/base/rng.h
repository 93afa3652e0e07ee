/* rng.h - counter-based random numbers.
 *
 * Every random draw in lpt is a pure function of a key (seed, stream, counter): no
 * generator state is carried between steps, so a run resumed from a checkpoint draws
 * exactly what the uninterrupted run would have, and any backend (CPU or GPU) can
 * reproduce any single draw. The mixing function is SplitMix64's finalizer applied to
 * a combination of the three words. */
#ifndef LPT_RNG_H
#define LPT_RNG_H

#include <stdint.h>

#include "src/base/hd.h"

static inline LPT_HD uint64_t lpt_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The key of a stream of draws, for every user (dropout masks, stochastic rounding):
 * who draws (stream), at which step, and the index of a call's first element. */
typedef struct {
    uint64_t seed, stream, step, index0;
} lpt_rng_key;

/* 64 random bits for (seed, stream, counter). */
static inline LPT_HD uint64_t lpt_rng_bits(uint64_t seed, uint64_t stream, uint64_t counter) {
    uint64_t h = lpt_mix64(seed + 0x9e3779b97f4a7c15ULL);
    h = lpt_mix64(h ^ (stream * 0xd1b54a32d192ed03ULL));
    return lpt_mix64(h ^ (counter * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL));
}

/* Uniform float in [0, 1) with 24 random bits. */
static inline LPT_HD float lpt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    return (float)(lpt_rng_bits(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}

/* Streams: who draws. Adding a stream never changes the draws of another. */
enum {
    LPT_STREAM_INIT = 1,    /* parameter initialization: stream + parameter index */
    LPT_STREAM_SHUFFLE = 2, /* epoch permutation: counter = epoch */
    LPT_STREAM_DROPOUT = 3, /* dropout masks: per layer and step */
};

/* Fisher-Yates permutation of 0..n-1 keyed by (seed, stream, key). */
void lpt_rng_permutation(uint64_t seed, uint64_t stream, uint64_t key, int *perm, int n);

#endif
