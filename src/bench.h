/* bench.h - `lpt bench`: training-step throughput on synthetic data, per-layer profile. */
#ifndef LPT_BENCH_H
#define LPT_BENCH_H

int lpt_bench_main(int argc, char **argv);

#endif
