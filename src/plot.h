/* plot.h - running gnuplot (Debian's gnuplot-nox) on a script written beside its data. */
#ifndef LPT_PLOT_H
#define LPT_PLOT_H

/* Run gnuplot on `script` in folder `dir` (the script names its files relative to it,
 * in single quotes): 0; 1 when gnuplot is not installed (said once on stdout, naming
 * the script kept for later); -1 when it failed (said on stderr). `who` names the
 * command in messages. */
int lpt_gnuplot(const char *who, const char *dir, const char *script);

/* s with every character outside [A-Za-z0-9-] as '_' (a file name part), into buf (s may
 * be buf) */
void lpt_plot_name(const char *s, char *buf, int n);

#endif
