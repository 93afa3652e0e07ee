/* sweep.h - `lpt sweep`: a grid of training runs (docs/sweep.md). */
#ifndef LPT_SWEEP_H
#define LPT_SWEEP_H

/* one row of a sweep's table: a model and precision over its finished seeds (test
 * accuracy in %) */
typedef struct {
    const char *model, *precision;
    char w[48], a[48], g[48]; /* the format of each role ("auto" for auto) */
    int runs;
    double mean, sd, min, max;
} lpt_sweep_row;

int lpt_sweep_main(int argc, char **argv);
/* Plots of a sweep's rows in folder `out` (src/sweep_plot.c): per model, accuracy
 * against the weights' width, a line per activation and gradient format with the seeds'
 * sd as error bars, and the fp32 mean; PNG and SVG through gnuplot. Says why and does
 * nothing else where gnuplot is missing or nothing has a dfp weight width. */
void lpt_sweep_plot(const char *out, const lpt_sweep_row *rows, int n);

#endif
