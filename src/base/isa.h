/* isa.h - the instruction-set level the CPU kernels run at.
 *
 * Levels: 0 "base" (portable C), 1 "x86-64-v3" (AVX2, FMA, F16C), 2 "x86-64-v4"
 * (AVX-512 F, BW, CD, DQ, VL). The best level the CPU supports is used unless set
 * lower: tests and benchmarks compare every level, and the environment variable LPT_ISA
 * sets the level a process starts with (a level the CPU lacks, or an unknown name,
 * leaves the best). */
#ifndef LPT_ISA_H
#define LPT_ISA_H

enum { LPT_ISA_BASE = 0, LPT_ISA_V3 = 1, LPT_ISA_V4 = 2, LPT_ISA_COUNT };

/* The level in use (LPT_ISA_*). */
int lpt_isa_level(void);
/* "base", "x86-64-v3" or "x86-64-v4". */
const char *lpt_isa_name(void);
/* Set the level by name ("best" restores the default): 0, or -1 for a level the CPU
 * lacks or an unknown name. */
int lpt_isa_set(const char *name);
/* 1 at x86-64-v4: the AVX-512 kernels (quantizers, histograms, exact products). */
int lpt_isa_v4(void);

#endif
