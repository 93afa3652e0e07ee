/* isa.c - the instruction-set level of the CPU kernels (isa.h). */
#include "src/base/isa.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define LPT_X86 1
#else
#define LPT_X86 0
#endif

static const char *const k_names[LPT_ISA_COUNT] = {"base", "x86-64-v3", "x86-64-v4"};

static int g_level = -1; /* chosen once from the CPU's features */

#if LPT_X86
#include <cpuid.h>
/* The x86-64 micro-architecture levels from CPUID and XGETBV (compilers disagree on
 * which names __builtin_cpu_supports knows: clang 14 has neither "x86-64-v3" nor
 * "f16c"). v3: the v2 features (SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CMPXCHG16B,
 * LAHF/SAHF), AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE with the OS saving YMM
 * state; v4: v3 and AVX-512 F, BW, CD, DQ, VL with the OS saving the ZMM and mask
 * state. */
static int cpu_level(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned c1 = c;
    const int osxsave = (c1 >> 27) & 1;
    if (!osxsave) return 0;
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    (void)xhi;
    if ((xlo & 0x6) != 0x6) return 0; /* XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned b7 = b;
    unsigned ext_c = 0;
    if (__get_cpuid(0x80000001, &a, &b, &c, &d)) ext_c = c;
    const int v2 = (c1 & 1) /* SSE3 */ && ((c1 >> 9) & 1) /* SSSE3 */ && ((c1 >> 19) & 1) /* SSE4.1 */ &&
                   ((c1 >> 20) & 1) /* SSE4.2 */ && ((c1 >> 23) & 1) /* POPCNT */ && ((c1 >> 13) & 1) /* CX16 */ &&
                   (ext_c & 1) /* LAHF/SAHF */;
    const int v3 = v2 && ((c1 >> 28) & 1) /* AVX */ && ((c1 >> 29) & 1) /* F16C */ && ((c1 >> 12) & 1) /* FMA */ &&
                   ((c1 >> 22) & 1) /* MOVBE */ && ((b7 >> 5) & 1) /* AVX2 */ && ((b7 >> 3) & 1) /* BMI1 */ &&
                   ((b7 >> 8) & 1) /* BMI2 */ && ((ext_c >> 5) & 1) /* LZCNT */;
    if (!v3) return 0;
    const int v4 = ((b7 >> 16) & 1) /* F */ && ((b7 >> 17) & 1) /* DQ */ && ((b7 >> 28) & 1) /* CD */ &&
                   ((b7 >> 30) & 1) /* BW */ && ((b7 >> 31) & 1) /* VL */ && (xlo & 0xe0) == 0xe0;
    return v4 ? 2 : 1;
}
#endif

static int best_level(void) {
#if LPT_X86
    static int level = -1;
    if (level < 0) level = cpu_level();
    return level;
#else
    return 0;
#endif
}

int lpt_isa_level(void) {
    if (g_level < 0) {
        /* LPT_ISA=base|x86-64-v3 runs the kernels of a lower level than the CPU's best
         * (to measure what a CPU without AVX-512 or AVX2 gets); a level the CPU lacks
         * or an unknown name leaves the best */
        const char *want = getenv("LPT_ISA");
        if (!want || lpt_isa_set(want) != 0) g_level = best_level();
    }
    return g_level;
}

int lpt_isa_set(const char *name) {
    int best = best_level();
    for (int i = 0; i < LPT_ISA_COUNT; i++)
        if (strcmp(k_names[i], name) == 0 || (strcmp(name, "best") == 0 && i == best)) {
            if (i > best) return -1;
            g_level = i;
            return 0;
        }
    return -1;
}

const char *lpt_isa_name(void) { return k_names[lpt_isa_level()]; }

int lpt_isa_v4(void) { return lpt_isa_level() == LPT_ISA_V4; }

