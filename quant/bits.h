/* bits.h - bit-level views of float32 and double, and exact powers of two. */
#ifndef LPT_BITS_H
#define LPT_BITS_H

#include <stdint.h>
#include <string.h>

#include "src/base/hd.h"

static inline LPT_HD uint32_t lpt_f32_bits(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}
static inline LPT_HD float lpt_f32_from(uint32_t b) {
    float x;
    memcpy(&x, &b, 4);
    return x;
}
static inline LPT_HD uint64_t lpt_f64_bits(double x) {
    uint64_t b;
    memcpy(&b, &x, 8);
    return b;
}
static inline LPT_HD double lpt_f64_from(uint64_t b) {
    double x;
    memcpy(&x, &b, 8);
    return x;
}
/* 2^e for |e| <= 1022, built from its bits (no libm call, so loops stay vectorizable) */
static inline LPT_HD double lpt_pow2(int e) { return lpt_f64_from((uint64_t)(1023 + e) << 52); }

#endif
