/* sweep.c - `lpt sweep`: a grid of training runs as parallel processes of `lpt train`,
 * one folder per point, resumable, with a table aggregated over seeds (docs/sweep.md). */
#include "src/sweep.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "quant/format.h"
#include "src/args.h"
#include "src/config.h"
#include "src/model.h"
#include "src/base/util.h"

#define MAX_POINTS 4096
#define MAX_LIST LPT_SWEEP_MAX_LIST

typedef struct {
    char model[64], precision[64];
    char rounding[8], ovf[24]; /* the axes' values ("": the precision's own) */
    int seed;
    char dir[600];
    pid_t pid;      /* running: its process */
    int state;      /* 0 waiting, 1 running, 2 done, 3 failed */
    double acc;     /* final test accuracy (done) */
} point;

/* the signal that stops the sweep (SIGINT, SIGTERM, SIGHUP), 0 while it runs */
static volatile sig_atomic_t g_stop;
static void on_stop(int sig) { g_stop = sig; }

int lpt_sweep_split(char *s, const char *seps, char **tok) {
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, seps, &save); t; t = strtok_r(NULL, seps, &save)) {
        if (n == MAX_LIST) {
            lpt_error_set("more than %d values in one list", MAX_LIST);
            return -1;
        }
        tok[n++] = t;
    }
    return n;
}

/* one role's values of the grid: a width (dfp<W>) or a format spec; gradients in dfp
 * round stochastically unless a rounding is given, as the int8-dyn preset */
static int role_value(char role, const char *v, char *out, size_t n) {
    char spec[48];
    if (strspn(v, "0123456789") == strlen(v))
        snprintf(spec, sizeof spec, "dfp%s", v);
    else
        snprintf(spec, sizeof spec, "%s", v);
    lpt_qformat q;
    if (lpt_qformat_parse(spec, &q) != 0) {
        lpt_error_prefix("--grid: %c=%s", role, v);
        return -1;
    }
    if (snprintf(out, n, "%s%s", spec, role == 'g' && q.fmt == LPT_FMT_DFP && !strchr(spec, ':') ? ":sr" : "") >=
        (int)n) {
        lpt_error_set("--grid: %c=%s: too long", role, v);
        return -1;
    }
    return 0;
}

/* the precisions of "w=4,6 a=8 g=8,16" (roles not named: fp32); -1 with an error */
static int grid_precisions(const char *grid, char prec[][64], int max) {
    char g[256], *roles[MAX_LIST], vals[3][MAX_LIST][48];
    int nv[3] = {1, 1, 1};
    snprintf(vals[0][0], 48, "fp32"), snprintf(vals[1][0], 48, "fp32"), snprintf(vals[2][0], 48, "fp32");
    snprintf(g, sizeof g, "%s", grid);
    const int nr = lpt_sweep_split(g, " \t", roles);
    int given[3] = {0, 0, 0};
    if (nr < 0) {
        lpt_error_prefix("--grid");
        return -1;
    }
    for (int r = 0; r < nr; r++) {
        const char *eq = strchr(roles[r], '='), *which = strchr("wag", roles[r][0]);
        if (!eq || eq != roles[r] + 1 || !which || !roles[r][0]) {
            lpt_error_set("--grid: '%s' is not ROLE=V1,V2,... with ROLE w, a or g", roles[r]);
            return -1;
        }
        const int ri = (int)(which - "wag");
        if (given[ri]++) {
            lpt_error_set("--grid: %c= given twice", roles[r][0]);
            return -1;
        }
        char list[128], *v[MAX_LIST];
        snprintf(list, sizeof list, "%s", eq + 1);
        nv[ri] = lpt_sweep_split(list, ",", v);
        if (nv[ri] < 0) {
            lpt_error_prefix("--grid: %c=", roles[r][0]);
            return -1;
        }
        if (nv[ri] == 0) {
            lpt_error_set("--grid: %c= has no values", roles[r][0]);
            return -1;
        }
        for (int i = 0; i < nv[ri]; i++)
            if (role_value(roles[r][0], v[i], vals[ri][i], 48)) return -1;
    }
    int n = 0;
    for (int i = 0; i < nv[0]; i++)
        for (int j = 0; j < nv[1]; j++)
            for (int k = 0; k < nv[2] && n < max; k++, n++)
                if (snprintf(prec[n], 64, "w=%s,a=%s,g=%s", vals[0][i], vals[1][j], vals[2][k]) >= 64) {
                    lpt_error_set("--grid: the precision w=%s,a=%s,g=%s is too long", vals[0][i], vals[1][j], vals[2][k]);
                    return -1;
                }
    return n;
}

/* a point's folder name: model, precision and seed with every odd character as '_';
 * 0, or -1 when the path is too long */
static int point_dir(const lpt_sweep_cfg *c, point *p) {
    char name[200];
    snprintf(name, sizeof name, "%s_%s%s%s%s%s_s%d", p->model, p->precision, p->rounding[0] ? "_r" : "", p->rounding,
             p->ovf[0] ? "_o" : "", p->ovf, p->seed);
    for (char *q = name; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-'))
            *q = '_';
    if (snprintf(p->dir, sizeof p->dir, "%s/points/%s", c->out, name) >= (int)sizeof p->dir) {
        lpt_error_set("--out: %s: the path is too long", c->out);
        return -1;
    }
    return 0;
}

/* the final test accuracy in a point's done file, or -1 */
static double read_done(const point *p) {
    char path[640];
    snprintf(path, sizeof path, "%s/done", p->dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    double acc = -1;
    if (fscanf(f, "test_acc %lf", &acc) != 1) acc = -1;
    fclose(f);
    return acc;
}

/* every model loads, fits a point's name and goes into file names and JSON as it is;
 * -1 with an error */
static int check_models(char **models, int nm) {
    for (int m = 0; m < nm; m++) {
        if (strlen(models[m]) >= sizeof((point *)0)->model || strpbrk(models[m], "\"'\\`$\t\n")) {
            lpt_error_set("--models: '%s': at most 63 characters, no quotes, backslashes, '`' or '$'", models[m]);
            return -1;
        }
        lpt_model_spec spec;
        if (lpt_model_spec_load(models[m], &spec)) {
            lpt_error_prefix("--models");
            return -1;
        }
        lpt_model_spec_free(&spec);
    }
    return 0;
}

/* the precision quantizes some role (a statistics log is written) */
static int quantized(const char *precision) {
    lpt_precision p;
    if (strcmp(precision, "auto") == 0) return 1;
    return lpt_precision_parse(precision, &p) == 0 &&
           (p.w.fmt != LPT_FMT_FP32 || p.a.fmt != LPT_FMT_FP32 || p.g.fmt != LPT_FMT_FP32);
}

/* an axis list (roundings, overflow rates) into vals; an empty list is one "" (the
 * precision's own); the count, or -1 with an error */
static int axis(const char *list, const char *option, char vals[][24]) {
    char buf[128], *v[MAX_LIST];
    snprintf(buf, sizeof buf, "%s", list);
    const int n = lpt_sweep_split(buf, ",", v);
    if (n < 0) {
        lpt_error_prefix("%s", option);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int ok = strlen(v[i]) < 24;
        if (option[2] == 'r') { /* --roundings */
            ok = 0;
            for (int r = 0; r < LPT_ROUND_COUNT; r++) ok |= !strcmp(v[i], lpt_rounding_names[r]);
        } else {
            char *end;
            const double x = strtod(v[i], &end);
            ok = ok && !*end && end != v[i] && x >= 0 && x <= 1;
        }
        if (!ok) {
            lpt_error_set("%s: '%s' is not %s", option, v[i],
                          option[2] == 'r' ? "a rounding (rne, rna, rtz, rdn, sr)" : "a rate in [0, 1]");
            return -1;
        }
        snprintf(vals[i], 24, "%s", v[i]);
    }
    if (n == 0) vals[0][0] = 0;
    return n ? n : 1;
}

/* the points of the sweep, the finished ones marked done, each folder once (a precision
 * or seed given twice is one point); -1 with an error */
static int plan(const lpt_sweep_cfg *c, point *pts) {
    char plist[MAX_POINTS / 8][64], mbuf[256], sbuf[128], pbuf[512], *models[MAX_LIST], *seeds[MAX_LIST], *named[MAX_LIST];
    int np = 0;
    if (c->baseline) snprintf(plist[np++], 64, "fp32");
    snprintf(pbuf, sizeof pbuf, "%s", c->precisions);
    const int nn = lpt_sweep_split(pbuf, "/", named);
    if (nn < 0) {
        lpt_error_prefix("--precisions");
        return -1;
    }
    for (int i = 0; i < nn && np < MAX_POINTS / 8; i++) {
        lpt_precision pr;
        if (strcmp(named[i], "auto") != 0 && lpt_precision_parse(named[i], &pr) != 0) {
            lpt_error_prefix("--precisions");
            return -1;
        }
        if (snprintf(plist[np++], 64, "%s", named[i]) >= 64) {
            lpt_error_set("--precisions: '%s' is too long", named[i]);
            return -1;
        }
    }
    if (c->grid[0]) {
        const int ng = grid_precisions(c->grid, plist + np, MAX_POINTS / 8 - np);
        if (ng < 0) return -1;
        np += ng;
    }
    snprintf(mbuf, sizeof mbuf, "%s", c->models);
    snprintf(sbuf, sizeof sbuf, "%s", c->seeds);
    const int nm = lpt_sweep_split(mbuf, ",", models), ns = lpt_sweep_split(sbuf, ",", seeds);
    if (nm < 0 || ns < 0) {
        lpt_error_prefix(nm < 0 ? "--models" : "--seeds");
        return -1;
    }
    if (check_models(models, nm)) return -1;
    char rl[MAX_LIST][24], ol[MAX_LIST][24];
    const int nrl = axis(c->roundings, "--roundings", rl), nol = axis(c->ovf_rates, "--overflow-rates", ol);
    if (nrl < 0 || nol < 0) return -1;
    int n = 0;
    for (int m = 0; m < nm; m++)
        for (int q = 0; q < np; q++)
            for (int x = 0; x < nrl * nol && (x == 0 || quantized(plist[q])); x++) /* fp32: one */
                for (int s = 0; s < ns; s++) {
                    if (n >= MAX_POINTS) {
                        lpt_error_set("more than %d points", MAX_POINTS);
                        return -1;
                    }
                    char *end;
                    const long seed = strtol(seeds[s], &end, 10);
                    if (*end || seed < 0 || seed > 1000000000) {
                        lpt_error_set("--seeds: '%s' is not a seed", seeds[s]);
                        return -1;
                    }
                    point *p = &pts[n++];
                    memset(p, 0, sizeof *p);
                    snprintf(p->model, sizeof p->model, "%s", models[m]);
                    memcpy(p->precision, plist[q], sizeof p->precision);
                    if (quantized(p->precision)) {
                        snprintf(p->rounding, sizeof p->rounding, "%s", rl[x / nol]);
                        snprintf(p->ovf, sizeof p->ovf, "%s", ol[x % nol]);
                    }
                    p->seed = (int)seed;
                    if (point_dir(c, p)) return -1;
                    int twice = 0;
                    for (int j = 0; j < n - 1 && !twice; j++) twice = strcmp(pts[j].dir, p->dir) == 0;
                    if (twice) {
                        n--;
                        continue;
                    }
                    p->acc = read_done(p);
                    p->state = p->acc >= 0 ? 2 : 0;
                }
    if (n == 0) lpt_error_set("the grid is empty (no model, precision or seed)");
    return n ? n : -1;
}

/* --train-args into argv from a; on resume without the options a checkpoint fixes (they
 * are in it; --resume refuses them). The new count, or -1 with an error. */
static int add_extra(const lpt_sweep_cfg *c, int resume, char **argv, int a, int max, char *buf, size_t n) {
    char *ex[MAX_LIST];
    snprintf(buf, n, "%s", c->extra);
    const int ne = lpt_sweep_split(buf, " \t", ex);
    if (ne < 0 || a + ne > max) {
        lpt_error_set("--train-args: too many arguments");
        return -1;
    }
    for (int i = 0; i < ne; i++) {
        const lpt_cfg_field *f = NULL;
        for (int k = 0; k < lpt_cfg_nfields && !f && ex[i][0] == '-' && ex[i][1] == '-'; k++) {
            const char *o = lpt_cfg_fields[k].option;
            const size_t ol = o ? strlen(o) : 0;
            if (o && strncmp(ex[i] + 2, o, ol) == 0 && (ex[i][2 + ol] == 0 || ex[i][2 + ol] == '=')) f = &lpt_cfg_fields[k];
        }
        if (resume && f && f->fixed) { /* and its value, when separate */
            if (!strchr(ex[i], '=') && f->kind != LPT_CF_FLAG && f->kind != LPT_CF_FLAG_OFF) i++;
            continue;
        }
        argv[a++] = ex[i];
    }
    return a;
}

/* start `lpt train` for a point in its folder (resuming its checkpoint if one is there) */
static int start(const lpt_sweep_cfg *c, point *p, const char *self) {
    char ckpt[640], log[640], metrics[640], stats[640], epochs[16], seed[16], threads[16], limit[16];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", p->dir);
    snprintf(log, sizeof log, "%s/log.txt", p->dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", p->dir);
    snprintf(stats, sizeof stats, "%s/stats.jsonl", p->dir);
    snprintf(epochs, sizeof epochs, "%d", c->epochs), snprintf(seed, sizeof seed, "%d", p->seed);
    snprintf(threads, sizeof threads, "%d", c->threads), snprintf(limit, sizeof limit, "%d", c->train_limit);
    const int resume = access(ckpt, R_OK) == 0;
    char *argv[80], extra[512];
    int a = 0;
    argv[a++] = (char *)self, argv[a++] = "train", argv[a++] = "--no-progress";
    if (resume) {
        argv[a++] = "--resume", argv[a++] = ckpt;
    } else {
        argv[a++] = "--model", argv[a++] = p->model, argv[a++] = "--precision", argv[a++] = p->precision;
        argv[a++] = "--seed", argv[a++] = seed, argv[a++] = "--epochs", argv[a++] = epochs;
        argv[a++] = "--threads", argv[a++] = threads, argv[a++] = "--checkpoint", argv[a++] = ckpt;
        argv[a++] = "--metrics-out", argv[a++] = metrics;
        if (quantized(p->precision)) argv[a++] = "--stats-out", argv[a++] = stats;
        if (c->train_limit > 0) argv[a++] = "--train-limit", argv[a++] = limit;
        if (p->rounding[0]) argv[a++] = "--rounding", argv[a++] = p->rounding;
        if (p->ovf[0]) argv[a++] = "--overflow-rate", argv[a++] = p->ovf;
    }
    if ((a = add_extra(c, resume, argv, a, 79, extra, sizeof extra)) < 0) return -1;
    argv[a] = NULL;
    const pid_t pid = fork();
    if (pid < 0) {
        lpt_error_set("cannot start a run: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        const int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
        signal(SIGINT, SIG_DFL);
        execv(self, argv);
        _exit(127);
    }
    p->pid = pid, p->state = 1;
    return 0;
}

/* the last "test_acc" of a metrics file, or -1 */
static double last_test_acc(const char *path) {
    size_t n;
    char *text = lpt_file_read(path, 64 << 20, &n);
    if (!text) return -1;
    double acc = -1;
    for (const char *q = strstr(text, "\"test_acc\": "); q; q = strstr(q + 1, "\"test_acc\": "))
        acc = strtod(q + 12, NULL);
    free(text);
    return acc;
}

/* a run ended: done (its accuracy recorded atomically), waiting again (interrupted: it
 * resumes from its checkpoint next time) or failed */
static void finish(point *p, int status, int *failed) {
    char path[640], line[64];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        snprintf(path, sizeof path, "%s/metrics.jsonl", p->dir);
        p->acc = last_test_acc(path);
        snprintf(line, sizeof line, "test_acc %.6f\n", p->acc);
        snprintf(path, sizeof path, "%s/done", p->dir);
        if (p->acc >= 0 && lpt_file_write_atomic(path, line, strlen(line)) == 0) {
            p->state = 2;
            return;
        }
    }
    if (g_stop) {
        p->state = 0;
        return;
    }
    p->state = 3;
    (*failed)++;
    if (WIFSIGNALED(status))
        fprintf(stderr, "\nlpt sweep: %s was killed by signal %d (see %s/log.txt)\n", p->dir, WTERMSIG(status), p->dir);
    else
        fprintf(stderr, "\nlpt sweep: %s failed (see %s/log.txt)\n", p->dir, p->dir);
}

static void progress(const point *pts, int n, double t0, int finished_now, int jobs) {
    int done = 0, running = 0, failed = 0;
    for (int i = 0; i < n; i++) done += pts[i].state == 2, running += pts[i].state == 1, failed += pts[i].state == 3;
    const int left = n - done - failed;
    char eta[48] = "";
    if (finished_now > 0 && left > 0) {
        const double per = (lpt_time_now() - t0) / finished_now * (jobs < left ? jobs : left) / jobs;
        snprintf(eta, sizeof eta, ", about %.0f s left", per * left);
    }
    const int tty = isatty(STDOUT_FILENO);
    printf("%slpt sweep: %d of %d points done, %d running, %d failed%s%s", tty ? "\r" : "", done, n, running, failed,
           eta, tty ? "   " : "\n");
    fflush(stdout);
}

/* run every waiting point, `jobs` at a time; the number that failed */
static int run_points(const lpt_sweep_cfg *c, point *pts, int n, const char *self) {
    int failed = 0, finished_now = 0, next = 0, forwarded = 0;
    const double t0 = lpt_time_now();
    for (;;) {
        int running = 0;
        for (int i = 0; i < n; i++) running += pts[i].state == 1;
        while (!g_stop && running < c->jobs && next < n) {
            point *p = &pts[next++];
            if (p->state != 0) continue;
            if (lpt_mkdirs(p->dir) || start(c, p, self)) {
                fprintf(stderr, "\nlpt sweep: %s: %s\n", p->dir, lpt_error_get());
                p->state = 3, failed++;
                continue;
            }
            running++;
        }
        progress(pts, n, t0, finished_now, c->jobs);
        if (running == 0) break;
        if (g_stop && g_stop != SIGINT && !forwarded) { /* Ctrl-C reaches the runs itself; TERM, HUP do not */
            for (int i = 0; i < n; i++)
                if (pts[i].state == 1) kill(pts[i].pid, SIGINT);
            forwarded = 1;
        }
        int status;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) continue; /* a stop signal: the runs checkpoint and end */
        if (pid < 0) {
            fprintf(stderr, "\nlpt sweep: waiting for the runs: %s\n", strerror(errno));
            for (int i = 0; i < n; i++)
                if (pts[i].state == 1) pts[i].state = 3, failed++;
            break;
        }
        for (int i = 0; i < n; i++)
            if (pts[i].state == 1 && pts[i].pid == pid) {
                finish(&pts[i], status, &failed);
                finished_now += pts[i].state == 2;
            }
    }
    if (isatty(STDOUT_FILENO)) printf("\n");
    return failed;
}

/* a precision's format per role ("auto" for auto) */
static void role_names(const char *precision, char names[3][48]) {
    lpt_precision p;
    if (strcmp(precision, "auto") == 0 || lpt_precision_parse(precision, &p) != 0) {
        for (int r = 0; r < 3; r++) snprintf(names[r], 48, "%s", precision);
        return;
    }
    lpt_qformat_name(&p.w, names[0], 48), lpt_qformat_name(&p.a, names[1], 48), lpt_qformat_name(&p.g, names[2], 48);
}

/* two points of one row: all but the seed alike */
static int same_row(const point *a, const point *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->precision, b->precision) && !strcmp(a->rounding, b->rounding) &&
           !strcmp(a->ovf, b->ovf);
}

/* the rows over seeds: one per model, precision and axis values with a finished point;
 * the count */
static int rows_of(const point *pts, int n, lpt_sweep_row *rows) {
    int nr = 0;
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = !same_row(&pts[j], &pts[i]);
        if (!first) continue;
        double sum = 0, sq = 0, lo = 0, hi = 0;
        int k = 0;
        for (int j = i; j < n; j++)
            if (pts[j].state == 2 && same_row(&pts[j], &pts[i])) {
                const double a = 100 * pts[j].acc;
                sum += a, sq += a * a, k++;
                lo = k == 1 || a < lo ? a : lo, hi = k == 1 || a > hi ? a : hi;
            }
        if (k == 0) continue; /* nothing finished yet */
        lpt_sweep_row *r = &rows[nr++];
        r->model = pts[i].model, r->precision = pts[i].precision, r->runs = k;
        r->rounding = pts[i].rounding, r->ovf = pts[i].ovf;
        r->mean = sum / k, r->sd = k > 1 ? sqrt(fmax(0, (sq - k * r->mean * r->mean) / (k - 1))) : 0;
        r->min = lo, r->max = hi;
        char names[3][48];
        role_names(pts[i].precision, names);
        memcpy(r->w, names[0], 48), memcpy(r->a, names[1], 48), memcpy(r->g, names[2], 48);
    }
    return nr;
}

/* the table over seeds (test accuracy of the finished points: count, mean, sd, min,
 * max), as CSV and JSON Lines written atomically, on stdout, and plotted */
static int write_table(const lpt_sweep_cfg *c, const point *pts, int n) {
    lpt_sweep_row *rows = lpt_xcalloc((size_t)n, sizeof *rows);
    const int nr = rows_of(pts, n, rows);
    lpt_buf csv = {0}, jl = {0};
    lpt_buf_printf(&csv, "model,precision,w,a,g,runs,mean,sd,min,max,rounding,overflow_rate\n");
    printf("%-8s %-36s %4s %8s %6s %8s %8s\n", "model", "precision", "runs", "mean %", "sd", "min %", "max %");
    for (int i = 0; i < nr; i++) {
        const lpt_sweep_row *r = &rows[i];
        lpt_buf_printf(&csv, "%s,\"%s\",%s,%s,%s,%d,%.4f,%.4f,%.4f,%.4f,%s,%s\n", r->model, r->precision, r->w, r->a,
                       r->g, r->runs, r->mean, r->sd, r->min, r->max, r->rounding, r->ovf);
        lpt_buf_printf(&jl, "{\"model\": \"%s\", \"precision\": \"%s\", \"w\": \"%s\", \"a\": \"%s\", \"g\": "
                       "\"%s\", \"runs\": %d, \"mean\": %.4f, \"sd\": %.4f, \"min\": %.4f, \"max\": %.4f, "
                       "\"rounding\": \"%s\", \"overflow_rate\": \"%s\"}\n",
                       r->model, r->precision, r->w, r->a, r->g, r->runs, r->mean, r->sd, r->min, r->max, r->rounding,
                       r->ovf);
        char label[120];
        snprintf(label, sizeof label, "%s%s%s%s%s", r->precision, r->rounding[0] ? " r=" : "", r->rounding,
                 r->ovf[0] ? " o=" : "", r->ovf);
        printf("%-8s %-36s %4d %8.2f %6.2f %8.2f %8.2f\n", r->model, label, r->runs, r->mean, r->sd, r->min, r->max);
    }
    char path[640];
    snprintf(path, sizeof path, "%s/table.csv", c->out);
    int rc = lpt_file_write_atomic(path, csv.data ? (void *)csv.data : (void *)"", csv.len);
    snprintf(path, sizeof path, "%s/table.jsonl", c->out);
    if (!rc) rc = lpt_file_write_atomic(path, jl.data ? (void *)jl.data : (void *)"", jl.len);
    if (!rc) lpt_sweep_plot(c->out, rows, nr);
    lpt_buf_free(&csv);
    lpt_buf_free(&jl);
    free(rows);
    return rc;
}

/* The settings every point shares, kept in the sweep's folder: a re-run with other ones
 * would take points finished under the old ones as done. 0, 2 (said) on a mismatch, 1
 * (said) when the file cannot be written. */
static int check_settings(const lpt_sweep_cfg *c) {
    char path[600], now[1024];
    snprintf(path, sizeof path, "%s/settings.txt", c->out);
    snprintf(now, sizeof now, "epochs %d\ntrain-limit %d\ntrain-args %s\n", c->epochs, c->train_limit, c->extra);
    size_t n;
    char *old = access(path, F_OK) == 0 ? lpt_file_read(path, 1 << 16, &n) : NULL;
    if (old) {
        const int same = strcmp(old, now) == 0;
        if (!same) {
            for (char *q = old; *q; q++) *q = *q == '\n' ? ';' : *q;
            fprintf(stderr, "lpt sweep: --out: %s holds a sweep with other settings (%s): use another folder\n", c->out,
                    old);
        }
        free(old);
        return same ? 0 : 2;
    }
    if (lpt_file_write_atomic(path, now, strlen(now))) {
        fprintf(stderr, "lpt sweep: --out: %s\n", lpt_error_get());
        return 1;
    }
    return 0;
}

int lpt_sweep_main(int argc, char **argv) {
    lpt_sweep_cfg c;
    int rc = lpt_sweep_args(argc, argv, &c);
    if (rc) return rc == 1 ? 0 : rc;
    point *pts = lpt_xcalloc(MAX_POINTS, sizeof *pts);
    const int n = plan(&c, pts);
    if (n < 0) {
        fprintf(stderr, "lpt sweep: %s\n", lpt_error_get());
        free(pts);
        return 2;
    }
    char self[512], points[600];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    snprintf(points, sizeof points, "%s/points", c.out);
    if (len <= 0 || lpt_mkdirs(points)) {
        fprintf(stderr, "lpt sweep: --out: %s\n", len <= 0 ? "cannot find the lpt executable" : lpt_error_get());
        free(pts);
        return 1;
    }
    self[len] = 0;
    if ((rc = check_settings(&c))) {
        free(pts);
        return rc;
    }
    struct sigaction sa = {0}; /* no SA_RESTART: a stop signal ends the wait */
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL), sigaction(SIGHUP, &sa, NULL);
    signal(SIGCHLD, SIG_DFL); /* an ignored SIGCHLD would leave no child to wait for */
    printf("lpt sweep: %d points in %s, %d at a time, %d thread%s each\n", n, c.out, c.jobs, c.threads,
           c.threads == 1 ? "" : "s");
    const int failed = run_points(&c, pts, n, self);
    if (write_table(&c, pts, n)) {
        fprintf(stderr, "lpt sweep: %s\n", lpt_error_get());
        rc = 1;
    } else if (g_stop) {
        printf("lpt sweep: interrupted; finished points are kept, the others resume from their checkpoints: run "
               "the same command again\n");
        rc = 130;
    } else
        rc = failed ? 1 : 0;
    free(pts);
    return rc;
}
