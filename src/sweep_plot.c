/* sweep_plot.c - a sweep's accuracy against the weights' width, through gnuplot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/plot.h"
#include "src/sweep.h"
#include "src/base/util.h"

#define MAX_SERIES 64

/* the weights' dfp width of a row, or 0 */
static int w_width(const lpt_sweep_row *r) {
    return strncmp(r->w, "dfp", 3) == 0 ? atoi(r->w + 3) : 0;
}

/* one line of the plot: the activation and gradient formats and the axes' values */
static int same_series(const lpt_sweep_row *a, const lpt_sweep_row *b) {
    return !strcmp(a->a, b->a) && !strcmp(a->g, b->g) && !strcmp(a->rounding, b->rounding) && !strcmp(a->ovf, b->ovf);
}

/* one model's data (a block per activation and gradient format, rows by width) and script */
static int plot_model(const char *out, const char *model, const lpt_sweep_row *rows, int n) {
    const lpt_sweep_row *series[MAX_SERIES];
    int ns = 0;
    double fp32 = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(rows[i].model, model) != 0) continue;
        if (strcmp(rows[i].precision, "fp32") == 0) fp32 = rows[i].mean;
        if (!w_width(&rows[i])) continue;
        int seen = 0;
        for (int s = 0; s < ns && !seen; s++) seen = same_series(series[s], &rows[i]);
        if (!seen && ns < MAX_SERIES) series[ns++] = &rows[i];
    }
    if (ns == 0) return 0;
    lpt_buf dat = {0}, gp = {0};
    for (int s = 0; s < ns; s++) {
        lpt_buf_printf(&dat, "# a=%s g=%s\n", series[s]->a, series[s]->g);
        for (int w = 2; w <= 32; w++)
            for (int i = 0; i < n; i++)
                if (!strcmp(rows[i].model, model) && w_width(&rows[i]) == w && same_series(series[s], &rows[i]))
                    lpt_buf_printf(&dat, "%d %.4f %.4f\n", w, rows[i].mean, rows[i].sd);
        lpt_buf_printf(&dat, "\n\n");
    }
    /* files in `out` named after the model with every odd character as '_'; gnuplot runs
     * there, and the script's strings are single-quoted (no backquote substitution) */
    char name[64], data[96], script[96], path[800], spath[800];
    lpt_plot_name(model, name, sizeof name);
    snprintf(data, sizeof data, "accuracy_%s.dat", name);
    snprintf(script, sizeof script, "accuracy_%s.gp", name);
    snprintf(path, sizeof path, "%s/%s", out, data);
    snprintf(spath, sizeof spath, "%s/%s", out, script);
    lpt_buf_printf(&gp, "set title '%s: test accuracy against the weights'' width'\n"
                        "set xlabel 'weight width (bits, dynamic fixed point)'\n"
                        "set ylabel 'test accuracy (%%): mean over seeds, sd as bars'\n"
                        "set key bottom right\nset grid\nset xtics 2\nset offsets 0.5, 0.5, 0, 0\n", name);
    for (int t = 0; t < 2; t++) {
        lpt_buf_printf(&gp, "set terminal %s size 900,600\nset output 'accuracy_%s.%s'\nplot ", t ? "svg" : "png", name,
                       t ? "svg" : "png");
        for (int s = 0; s < ns; s++)
            lpt_buf_printf(&gp, "%s'%s' index %d using 1:2:3 with yerrorlines lw 2 title 'a %s, g %s%s%s%s%s'",
                           s ? ", " : "", data, s, series[s]->a, series[s]->g, series[s]->rounding[0] ? ", rounding " : "",
                           series[s]->rounding, series[s]->ovf[0] ? ", overflow rate " : "", series[s]->ovf);
        if (fp32 >= 0) lpt_buf_printf(&gp, ", %.4f with lines dashtype 2 lw 2 title 'fp32'", fp32);
        lpt_buf_printf(&gp, "\n");
    }
    int rc = lpt_file_write_atomic(path, dat.data, dat.len) || lpt_file_write_atomic(spath, gp.data, gp.len);
    lpt_buf_free(&dat);
    lpt_buf_free(&gp);
    if (rc) {
        fprintf(stderr, "lpt sweep: %s\n", lpt_error_get());
        return -1;
    }
    return lpt_gnuplot("sweep", out, script) < 0 ? -1 : 0;
}

void lpt_sweep_plot(const char *out, const lpt_sweep_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++) first = strcmp(rows[j].model, rows[i].model) != 0;
        if (first) plot_model(out, rows[i].model, rows, n); /* said; the next model may still plot */
    }
}
