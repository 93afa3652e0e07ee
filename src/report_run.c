/* report_run.c - the report of one training run (report.h): its files read, plots drawn
 * through gnuplot, the document written. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/plot.h"
#include "src/report.h"

#define MSB_LO (-96) /* heat-map rows: MSB positions MSB_LO..MSB_HI */
#define MSB_HI 63
#define NBINS (MSB_HI - MSB_LO + 1)

typedef struct {
    long step;
    int fl, width, partial;
    double ovf, unf, max_abs, nonzero;
    float hist[NBINS]; /* nonzero values by MSB, both signs */
} interval;

typedef struct {
    char layer[32], tensor[8], role[4], format[24];
    interval *iv;
    int n, cap;
    double recomputes;
} series;

typedef struct {
    long step;
    char layer[32], tensor[8], format[24];
    double sqnr, rel, cosine, acc_bits, acc_bound;
} shadow_rec;

typedef struct {
    series *s;
    int ns, cap;
    shadow_rec *sh;
    int nsh, capsh;
    lpt_buf events; /* lines */
    double (*epochs)[6]; /* epoch, train loss, train acc, test loss, test acc, images/s */
    int nepochs;
    char banner[512], done[512], cost[512];
    lpt_buf made; /* the plots drawn: "NAME.png" lines */
} run_data;

/* ---- reading our own JSON Lines ---- */

static const char *after_key(const char *l, const char *key) {
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(l, pat);
    return p ? p + strlen(pat) : NULL;
}

static double jnum(const char *l, const char *key) {
    const char *p = after_key(l, key);
    if (!p || !strncmp(p, "null", 4)) return NAN;
    return strtod(p, NULL);
}

static void jstr(const char *l, const char *key, char *buf, size_t n) {
    const char *p = after_key(l, key);
    buf[0] = 0;
    if (!p || *p != '"') return;
    size_t k = 0;
    for (p++; *p && *p != '"' && k + 1 < n; p++) buf[k++] = *p == '\\' && p[1] ? *++p : *p;
    buf[k] = 0;
}

/* a histogram {"msb_min": M, "counts": [...]} added into h */
static void jhist(const char *l, const char *key, float *h, double *total) {
    const char *p = after_key(l, key);
    if (!p) return;
    const char *m = after_key(p, "msb_min"), *c = after_key(p, "counts");
    if (!m || !c || *c != '[') return;
    int msb = (int)strtol(m, NULL, 10);
    for (c++; *c && *c != ']'; msb++) {
        char *end;
        const double v = strtod(c, &end);
        if (end == c) break;
        if (msb >= MSB_LO && msb <= MSB_HI) h[msb - MSB_LO] += (float)v;
        *total += v;
        c = end;
        while (*c == ',' || *c == ' ') c++;
    }
}

static series *series_of(run_data *r, const char *layer, const char *tensor) {
    for (int i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].layer, layer) && !strcmp(r->s[i].tensor, tensor)) return &r->s[i];
    if (r->ns == r->cap) r->s = realloc(r->s, (size_t)(r->cap = r->cap ? 2 * r->cap : 32) * sizeof *r->s);
    series *s = &r->s[r->ns++];
    memset(s, 0, sizeof *s);
    snprintf(s->layer, sizeof s->layer, "%s", layer);
    snprintf(s->tensor, sizeof s->tensor, "%s", tensor);
    return s;
}

static void stats_line(run_data *r, const char *l) {
    char layer[32], tensor[8];
    const long step = (long)jnum(l, "step");
    if (strstr(l, "\"shadow\": true")) {
        if (r->nsh == r->capsh) r->sh = realloc(r->sh, (size_t)(r->capsh = r->capsh ? 2 * r->capsh : 64) * sizeof *r->sh);
        shadow_rec *x = &r->sh[r->nsh++];
        x->step = step;
        jstr(l, "layer", x->layer, sizeof x->layer);
        jstr(l, "tensor", x->tensor, sizeof x->tensor);
        jstr(l, "format", x->format, sizeof x->format);
        x->sqnr = jnum(l, "sqnr_db"), x->rel = jnum(l, "rel_l2"), x->cosine = jnum(l, "cosine");
        x->acc_bits = jnum(l, "acc_bits"), x->acc_bound = jnum(l, "acc_bound");
        return;
    }
    if (after_key(l, "event")) {
        char ev[32], msg[400];
        jstr(l, "event", ev, sizeof ev);
        jstr(l, "message", msg, sizeof msg);
        lpt_buf_printf(&r->events, "step %ld: %s: %s\n", step + 1, ev, msg);
        return;
    }
    jstr(l, "layer", layer, sizeof layer);
    jstr(l, "tensor", tensor, sizeof tensor);
    if (!layer[0] || !after_key(l, "fl")) return;
    series *s = series_of(r, layer, tensor);
    jstr(l, "role", s->role, sizeof s->role);
    jstr(l, "format", s->format, sizeof s->format);
    if (s->n == s->cap) s->iv = realloc(s->iv, (size_t)(s->cap = s->cap ? 2 * s->cap : 64) * sizeof *s->iv);
    interval *v = &s->iv[s->n++];
    memset(v, 0, sizeof *v);
    v->step = step;
    const double fl = jnum(l, "fl"), width = jnum(l, "width");
    if (!(fabs(fl) < 1e6 && width > 0 && width < 1e6)) { /* not a record of the unit's */
        s->n--;
        return;
    }
    v->fl = (int)fl, v->width = (int)width;
    v->partial = strstr(l, "\"partial\": true") != NULL;
    v->ovf = jnum(l, "overflow_rate"), v->unf = jnum(l, "underflow_rate"), v->max_abs = jnum(l, "max_abs");
    jhist(l, "pos_hist", v->hist, &v->nonzero);
    jhist(l, "neg_hist", v->hist, &v->nonzero);
    const double rc = jnum(l, "recomputes");
    if (rc == rc) s->recomputes += rc;
}

static void metrics_line(run_data *r, const char *l) {
    r->epochs = realloc(r->epochs, (size_t)(r->nepochs + 1) * sizeof *r->epochs);
    double *e = r->epochs[r->nepochs++];
    e[0] = jnum(l, "epoch"), e[1] = jnum(l, "train_loss"), e[2] = jnum(l, "train_acc");
    e[3] = jnum(l, "test_loss"), e[4] = jnum(l, "test_acc"), e[5] = jnum(l, "images_per_s");
}

/* every .jsonl in dir by what its first line is, and log.txt: 0, or 1 when none is a run's */
static int load(const char *dir, run_data *r) {
    DIR *dd = opendir(dir);
    int found = 0;
    for (struct dirent *e; dd && (e = readdir(dd));) {
        const size_t len = strlen(e->d_name);
        const int jsonl = len > 6 && !strcmp(e->d_name + len - 6, ".jsonl"), log = !strcmp(e->d_name, "log.txt");
        if (!jsonl && !log) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        char *text = lpt_file_read(path, 1ULL << 31, &n);
        if (!text) continue;
        const int stats = jsonl && strstr(text, "\"layer\": ") && !strncmp(text, "{\"step\": ", 9);
        const int metrics = jsonl && !strncmp(text, "{\"epoch\": ", 10);
        for (char *l = text, *nl; l < text + n; l = nl + 1) {
            nl = strchr(l, '\n');
            if (!nl) nl = text + n;
            *nl = 0;
            if (stats) stats_line(r, l);
            else if (metrics) metrics_line(r, l);
            else if (log && !strncmp(l, "lpt train: ", 11)) snprintf(r->banner, sizeof r->banner, "%s", l);
            else if (log && !strncmp(l, "done: ", 6)) snprintf(r->done, sizeof r->done, "%s", l);
            else if (log && !strncmp(l, "cost model", 10)) snprintf(r->cost, sizeof r->cost, "%s", l);
        }
        found |= stats || metrics;
        free(text);
    }
    if (dd) closedir(dd);
    return found ? 0 : 1;
}

/* ---- plots ---- */

static int put(const char *out, const char *file, const lpt_buf *b) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", out, file);
    return lpt_file_write_atomic(path, b->data ? (const void *)b->data : "", b->len);
}

/* a plot into NAME.png (or .svg), remembered for the document */
static void terminal(run_data *r, lpt_buf *gp, const char *name, int svg) {
    lpt_buf_printf(gp, "set terminal %s size 900,500 noenhanced\nset output '%s.%s'\n", svg ? "svg" : "pngcairo", name,
                   svg ? "svg" : "png");
    if (!svg) lpt_buf_printf(&r->made, "%s.png\n", name);
}

/* text from the run's files inside a single-quoted gnuplot string: a quote doubled,
 * control characters left out */
static const char *gp_text(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 2 < n; s++) {
        if ((unsigned char)*s < 0x20) continue;
        if (*s == '\'') buf[k++] = '\'';
        buf[k++] = *s;
    }
    buf[k] = 0;
    return buf;
}

static int was_made(const run_data *r, const char *png) {
    char pat[128];
    snprintf(pat, sizeof pat, "%s\n", png);
    return r->made.data && memmem(r->made.data, r->made.len, pat, strlen(pat)) != NULL;
}

/* FL and the overflow and underflow rates over the run, one line per tensor of a role */
static void plot_lines(run_data *r, lpt_buf *gp, lpt_buf *dat) {
    for (int i = 0; i < r->ns; i++) {
        lpt_buf_printf(dat, "# %s %s\n", r->s[i].layer, r->s[i].tensor);
        for (int k = 0; k < r->s[i].n; k++) {
            const interval *v = &r->s[i].iv[k];
            if (!v->partial) lpt_buf_printf(dat, "%ld %d %.6g %.6g\n", v->step + 1, v->fl, 100 * v->ovf, 100 * v->unf);
        }
        lpt_buf_printf(dat, "\n\n");
    }
    static const char *const roles[] = {"w", "a", "g"}, *const role_names[] = {"weights", "activations", "gradients"};
    static const char *const what[] = {"fl", "overflow", "underflow"};
    static const char *const label[] = {"fractional length FL", "overflow rate (% of nonzero values)",
                                        "underflow rate (% of nonzero values)"};
    for (int w = 0; w < 3; w++)
        for (int ro = 0; ro < 3; ro++)
            for (int svg = 0; svg < 2; svg++) {
                int points = 0; /* gnuplot stops the script at a plot without any */
                for (int i = 0; i < r->ns; i++)
                    for (int k = 0; k < r->s[i].n && !strcmp(r->s[i].role, roles[ro]); k++) points += !r->s[i].iv[k].partial;
                if (!points) continue;
                char name[48], t1[64], t2[16];
                snprintf(name, sizeof name, "%s_%s", what[w], roles[ro]);
                terminal(r, gp, name, svg);
                lpt_buf_printf(gp, "set title '%s of the %s over the run'\nset xlabel 'global step'\nset ylabel '%s'\n"
                                   "set key outside right\nset grid\nset ytics %s\nplot ", label[w], role_names[ro], label[w],
                               w == 0 ? "1" : "autofreq");
                int first = 1;
                for (int i = 0; i < r->ns; i++)
                    if (!strcmp(r->s[i].role, roles[ro])) {
                        lpt_buf_printf(gp, "%s'lines.dat' index %d using 1:%d with %s lw 2 title '%s %s'",
                                       first ? "" : ", ", i, w + 2, w == 0 ? "steps" : "lines",
                                       gp_text(r->s[i].layer, t1, sizeof t1), gp_text(r->s[i].tensor, t2, sizeof t2));
                        first = 0;
                    }
                lpt_buf_printf(gp, "\nset ytics autofreq\n");
            }
}

/* each tensor's MSB histogram over the run as a heat map, with its format's range */
static void plot_heat(run_data *r, const char *out, lpt_buf *gp) {
    for (int i = 0; i < r->ns; i++) {
        const series *s = &r->s[i];
        lpt_buf dat = {0}, rng = {0};
        int lo = MSB_HI, hi = MSB_LO;
        for (int k = 0; k < s->n; k++)
            for (int b = 0; b < NBINS; b++)
                if (s->iv[k].hist[b] > 0) lo = b + MSB_LO < lo ? b + MSB_LO : lo, hi = b + MSB_LO > hi ? b + MSB_LO : hi;
        if (lo > hi) continue;
        for (int k = 0; k < s->n; k++) {
            const interval *v = &s->iv[k];
            if (v->partial || v->nonzero <= 0) continue;
            for (int m = lo; m <= hi; m++)
                lpt_buf_printf(&dat, "%ld %d %.6g\n", v->step + 1, m, 100.0 * v->hist[m - MSB_LO] / v->nonzero);
            lpt_buf_printf(&dat, "\n");
            /* values with MSB >= W-1-FL overflow; below -FL they round to zero (or up) */
            lpt_buf_printf(&rng, "%ld %d %d\n", v->step + 1, v->width - 1 - v->fl, -v->fl);
        }
        char name[80], file[100], t[3][64];
        snprintf(name, sizeof name, "msb_%s_%s", s->layer, s->tensor);
        lpt_plot_name(name, name, sizeof name);
        snprintf(file, sizeof file, "%s.dat", name);
        put(out, file, &dat);
        snprintf(file, sizeof file, "%s_range.dat", name);
        put(out, file, &rng);
        if (!rng.len) { /* no whole interval */
            lpt_buf_free(&dat), lpt_buf_free(&rng);
            continue;
        }
        terminal(r, gp, name, 0);
        lpt_buf_printf(gp, "set title '%s %s (%s): share of nonzero values by MSB position (%%)'\n"
                           "set xlabel 'global step'\nset ylabel 'MSB = floor(log2|v|)'\nset key outside right\n"
                           "set cblabel '%% of nonzero values'\nset palette rgbformulae 21,22,23\nunset grid\n"
                           "plot '%s.dat' using 1:2:3 with image notitle, '%s_range.dat' using 1:2 with lines lw 2 "
                           "lc rgb 'red' title 'overflows at or above', '' using 1:3 with lines lw 2 lc rgb 'blue' "
                           "title 'lowest bit'\n", gp_text(s->layer, t[0], 64), gp_text(s->tensor, t[1], 64),
                       gp_text(s->format, t[2], 64), name, name);
        lpt_buf_free(&dat);
        lpt_buf_free(&rng);
    }
}

/* per-layer SQNR at the last shadow step, and Y's SQNR over the run */
static long plot_shadow(run_data *r, lpt_buf *gp, lpt_buf *dat) {
    if (!r->nsh) return -1;
    const long last = r->sh[r->nsh - 1].step;
    static const char *const tensors[] = {"x", "w", "y", "dy", "dx", "dw"};
    lpt_buf xt = {0};
    char t1[80];
    int nl = 0;
    const char *layers[64];
    for (int i = 0; i < r->nsh && nl < 64; i++) {
        int seen = 0;
        for (int k = 0; k < nl; k++) seen |= !strcmp(layers[k], r->sh[i].layer);
        if (!seen) layers[nl++] = r->sh[i].layer;
    }
    for (int k = 0; k < nl; k++) lpt_buf_printf(&xt, "%s'%s' %d", k ? ", " : "", gp_text(layers[k], t1, sizeof t1), k);
    lpt_buf_put(&xt, "", 1);
    for (int t = 0; t < 6; t++) {
        lpt_buf_printf(dat, "# %s at step %ld\n", tensors[t], last + 1);
        for (int k = 0; k < nl; k++)
            for (int i = 0; i < r->nsh; i++)
                if (r->sh[i].step == last && !strcmp(r->sh[i].layer, layers[k]) && !strcmp(r->sh[i].tensor, tensors[t]))
                    lpt_buf_printf(dat, "%d %.6g\n", k, r->sh[i].sqnr);
        lpt_buf_printf(dat, "\n\n");
    }
    for (int k = 0; k < nl; k++) {
        lpt_buf_printf(dat, "# y of %s over the run\n", layers[k]);
        for (int i = 0; i < r->nsh; i++)
            if (!strcmp(r->sh[i].layer, layers[k]) && !strcmp(r->sh[i].tensor, "y"))
                lpt_buf_printf(dat, "%ld %.6g\n", r->sh[i].step + 1, r->sh[i].sqnr);
        lpt_buf_printf(dat, "\n\n");
    }
    for (int svg = 0; svg < 2; svg++) {
        terminal(r, gp, "sqnr", svg);
        lpt_buf_printf(gp, "set title 'SQNR against the FP32 shadow at global step %ld'\nset xlabel 'layer'\n"
                           "set ylabel 'SQNR (dB)'\nset xtics (%s)\nset key outside right\nset grid\nplot ", last + 1,
                       (const char *)xt.data);
        for (int t = 0; t < 6; t++)
            lpt_buf_printf(gp, "%s'shadow.dat' index %d using 1:2 with linespoints lw 2 title '%s'", t ? ", " : "", t,
                           tensors[t]);
        lpt_buf_printf(gp, "\nset xtics autofreq\n");
        terminal(r, gp, "sqnr_y", svg);
        lpt_buf_printf(gp, "set title 'SQNR of each layer''s output Y against the FP32 shadow'\n"
                           "set xlabel 'global step'\nplot ");
        for (int k = 0; k < nl; k++)
            lpt_buf_printf(gp, "%s'shadow.dat' index %d using 1:2 with linespoints lw 2 title '%s'", k ? ", " : "", 6 + k,
                           gp_text(layers[k], t1, sizeof t1));
        lpt_buf_printf(gp, "\n");
    }
    lpt_buf_free(&xt);
    return last;
}

static void plot_metrics(run_data *r, lpt_buf *gp, lpt_buf *dat) {
    for (int i = 0; i < r->nepochs; i++)
        lpt_buf_printf(dat, "%g %.6g %.6g\n", r->epochs[i][0], 100 * r->epochs[i][2], 100 * r->epochs[i][4]);
    for (int svg = 0; svg < 2; svg++) {
        terminal(r, gp, "accuracy", svg);
        lpt_buf_printf(gp, "set title 'accuracy per epoch'\nset xlabel 'epoch'\nset ylabel 'accuracy (%%)'\n"
                           "set xrange [0.5:%d.5]\nset key bottom right\nset grid\nplot 'metrics.dat' using 1:2 with linespoints lw 2 title "
                           "'train', '' using 1:3 with linespoints lw 2 title 'test'\nset xrange [*:*]\n",
                       r->nepochs);
    }
}

/* ---- the document ---- */

static void tables(const run_data *r, lpt_doc *d, long last_shadow) {
    char c[10][48];
    const char *cells[10];
    for (int i = 0; i < 10; i++) cells[i] = c[i];
    if (r->nepochs) {
        lpt_doc_heading(d, 2, "Training");
        const char *h[] = {"epoch", "train loss", "train acc %", "test loss", "test acc %", "images/s"};
        lpt_doc_row(d, 6, h, 1);
        for (int i = 0; i < r->nepochs; i++) {
            for (int k = 0; k < 6; k++)
                snprintf(c[k], sizeof c[k], k == 2 || k == 4 ? "%.2f" : k == 0 || k == 5 ? "%.0f" : "%.4f",
                         (k == 2 || k == 4 ? 100 : 1) * r->epochs[i][k]);
            lpt_doc_row(d, 6, cells, 0);
        }
        lpt_doc_table_end(d);
        lpt_doc_image(d, "accuracy.png", "accuracy per epoch");
    }
    if (r->ns) {
        lpt_doc_heading(d, 2, "Statistics unit: the last interval of every tensor");
        const char *h[] = {"layer", "tensor", "format", "width", "FL", "overflow %", "underflow %", "max |v|", "recomputes"};
        lpt_doc_row(d, 9, h, 1);
        for (int i = 0; i < r->ns; i++) {
            const series *s = &r->s[i];
            const interval *v = &s->iv[s->n - 1];
            snprintf(c[0], 48, "%s", s->layer), snprintf(c[1], 48, "%s", s->tensor), snprintf(c[2], 48, "%s", s->format);
            snprintf(c[3], 48, "%d", v->width), snprintf(c[4], 48, "%d", v->fl), snprintf(c[5], 48, "%.4f", 100 * v->ovf);
            snprintf(c[6], 48, "%.4f", 100 * v->unf), snprintf(c[7], 48, "%.4g", v->max_abs);
            snprintf(c[8], 48, "%.0f", s->recomputes);
            lpt_doc_row(d, 9, cells, 0);
        }
        lpt_doc_table_end(d);
    }
    if (last_shadow >= 0) {
        snprintf(c[9], 48, "FP32 shadow at global step %ld", last_shadow + 1);
        lpt_doc_heading(d, 2, c[9]);
        lpt_doc_para(d, "Each tensor of the quantized step against the same tensor of an FP32 copy of the network "
                        "with the same weights and batch (SQNR 999: no error; acc: the largest accumulator in bits "
                        "beside the worst-case bound).");
        const char *h[] = {"layer", "tensor", "format", "SQNR dB", "rel L2", "cosine", "acc bits", "bound"};
        lpt_doc_row(d, 8, h, 1);
        for (int i = 0; i < r->nsh; i++) {
            const shadow_rec *x = &r->sh[i];
            if (x->step != last_shadow) continue;
            snprintf(c[0], 48, "%s", x->layer), snprintf(c[1], 48, "%s", x->tensor), snprintf(c[2], 48, "%s", x->format);
            snprintf(c[3], 48, "%.2f", x->sqnr), snprintf(c[4], 48, "%.3g", x->rel), snprintf(c[5], 48, "%.6f", x->cosine);
            snprintf(c[6], 48, x->acc_bits == x->acc_bits ? "%.0f" : "-", x->acc_bits);
            snprintf(c[7], 48, x->acc_bound == x->acc_bound ? "%.0f" : "-", x->acc_bound);
            lpt_doc_row(d, 8, cells, 0);
        }
        lpt_doc_table_end(d);
        lpt_doc_image(d, "sqnr.png", "SQNR per layer");
        lpt_doc_image(d, "sqnr_y.png", "SQNR of Y over the run");
    }
}

static void images(const run_data *r, lpt_doc *d) {
    if (!r->ns) return;
    lpt_doc_heading(d, 2, "Fractional lengths and rates over the run");
    static const char *const what[] = {"fl", "overflow", "underflow"}, *const roles[] = {"w", "a", "g"};
    for (int w = 0; w < 3; w++)
        for (int ro = 0; ro < 3; ro++) {
            char f[40];
            snprintf(f, sizeof f, "%s_%s.png", what[w], roles[ro]);
            if (was_made(r, f)) lpt_doc_image(d, f, f);
        }
    lpt_doc_heading(d, 2, "MSB histograms over the run");
    lpt_doc_para(d, "Per tensor: the share of its nonzero values at each MSB position per interval; red: values at "
                    "or above this MSB overflow the format, blue: the lowest bit it represents.");
    for (int i = 0; i < r->ns; i++) {
        char name[80], f[100];
        snprintf(name, sizeof name, "msb_%s_%s", r->s[i].layer, r->s[i].tensor);
        lpt_plot_name(name, name, sizeof name);
        snprintf(f, sizeof f, "%s.png", name);
        if (was_made(r, f)) lpt_doc_image(d, f, name);
    }
}

int lpt_report_run(const char *dir, const char *out) {
    run_data r = {0};
    int rc = load(dir, &r);
    if (rc) goto done;
    if (lpt_mkdirs(out)) {
        rc = -1;
        goto done;
    }
    lpt_buf gp = {0}, lines = {0}, sh = {0}, met = {0};
    plot_lines(&r, &gp, &lines);
    plot_heat(&r, out, &gp);
    const long last = plot_shadow(&r, &gp, &sh);
    if (r.nepochs) plot_metrics(&r, &gp, &met);
    rc = put(out, "lines.dat", &lines) || put(out, "shadow.dat", &sh) || put(out, "metrics.dat", &met) ||
         put(out, "report.gp", &gp) ? -1 : 0;
    lpt_buf_free(&gp), lpt_buf_free(&lines), lpt_buf_free(&sh), lpt_buf_free(&met);
    if (rc) goto done;
    lpt_gnuplot("report", out, "report.gp"); /* said when it fails; the report is written regardless */
    lpt_doc d;
    lpt_doc_begin(&d, "lpt run report");
    char line[1400];
    snprintf(line, sizeof line, "Run folder: %s.", dir);
    lpt_doc_para(&d, line);
    if (r.banner[0]) lpt_doc_para(&d, r.banner);
    if (r.done[0]) lpt_doc_para(&d, r.done);
    if (r.cost[0]) lpt_doc_para(&d, r.cost);
    tables(&r, &d, last);
    if (r.events.len) {
        lpt_doc_heading(&d, 2, "Events");
        lpt_buf_put(&r.events, "", 1);
        lpt_doc_code(&d, (const char *)r.events.data);
    }
    images(&r, &d);
    rc = lpt_doc_write(&d, out);
done:
    for (int i = 0; i < r.ns; i++) free(r.s[i].iv);
    free(r.s), free(r.sh), free(r.epochs);
    lpt_buf_free(&r.events);
    lpt_buf_free(&r.made);
    return rc;
}
