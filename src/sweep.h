/* sweep.h - `lpt sweep`: a grid of training runs (docs/sweep.md). */
#ifndef LPT_SWEEP_H
#define LPT_SWEEP_H

/* one row of a sweep's table: a model and precision over its finished seeds (test
 * accuracy in %) */
typedef struct {
    const char *model, *precision;
    const char *rounding, *ovf; /* the axes' values ("": the precision's own) */
    char w[48], a[48], g[48]; /* the format of each role ("auto" for auto) */
    int runs;
    double mean, sd, min, max;
} lpt_sweep_row;

int lpt_sweep_main(int argc, char **argv);

/* ---- internal to src/sweep*.c ---- */

#define LPT_SWEEP_MAX_LIST 32

/* what a sweep runs: the command line, over a sweep file (--file) */
typedef struct {
    char out[512], grid[256], precisions[512], seeds[128], models[256], extra[512];
    char roundings[128], ovf_rates[128]; /* axes of the quantized points ("": the precision's own) */
    int epochs, train_limit, jobs, threads, baseline;
} lpt_sweep_cfg;

/* The options (and the sweep file they name): 0; 1 when --help was asked; 2 after one
 * line on stderr naming the bad option, or the file and line. */
int lpt_sweep_args(int argc, char **argv, lpt_sweep_cfg *c);
/* split s at any of `seps` into at most LPT_SWEEP_MAX_LIST tokens (s is modified); -1
 * with an error when there are more */
int lpt_sweep_split(char *s, const char *seps, char **tok);
/* Plots of a sweep's rows in folder `out` (src/sweep_plot.c): per model, accuracy
 * against the weights' width, a line per activation and gradient format with the seeds'
 * sd as error bars, and the fp32 mean; PNG and SVG through gnuplot. Says why and does
 * nothing else where gnuplot is missing or nothing has a dfp weight width. */
void lpt_sweep_plot(const char *out, const lpt_sweep_row *rows, int n);

#endif
