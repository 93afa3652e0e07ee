/* sweep_args.c - lpt sweep's options and sweep files (sweep.h, docs/sweep.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/args.h"
#include "src/sweep.h"
#include "src/base/util.h"

/* one `key = value` of a sweep file into its option (a command-line option given too
 * wins: the file is read first and its options are then forgotten as given); 0, or -1
 * with an error naming where */
static int file_option(lpt_opt *o, int no, const char *key, const char *value, const char *where) {
    lpt_opt *opt = strcmp(key, "file") ? lpt_args_find(o, no, key) : NULL;
    if (!opt) {
        char names[1024] = "";
        for (int i = 0; i < no; i++)
            if (strcmp(o[i].name, "file"))
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", o[i].name);
        lpt_error_set("%s: unknown key '%s'; keys: %s", where, key, names);
        return -1;
    }
    if (opt->given) {
        lpt_error_set("%s: '%s' given twice", where, key);
        return -1;
    }
    opt->given = 1;
    char *end;
    errno = 0;
    if (opt->kind == LPT_OPT_STR) {
        if (strlen(value) >= opt->cap) {
            lpt_error_set("%s: %s: the value is longer than %zu characters", where, key, opt->cap - 1);
            return -1;
        }
        snprintf(opt->dst, opt->cap, "%s", value);
    } else if (opt->kind == LPT_OPT_FLAG) {
        const int yes = !strcmp(value, "yes") || !strcmp(value, "1"), no_ = !strcmp(value, "no") || !strcmp(value, "0");
        if (!yes && !no_) {
            lpt_error_set("%s: %s takes yes or no, not '%s'", where, key, value);
            return -1;
        }
        *(int *)opt->dst = yes;
    } else {
        const long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < opt->lo || v > opt->hi) {
            lpt_error_set("%s: %s: '%s' is not a whole number in [%.0f, %.0f]", where, key, value, opt->lo, opt->hi);
            return -1;
        }
        *(int *)opt->dst = (int)v;
    }
    return 0;
}

/* A sweep file: `key = value` lines (the long options without "--"; no-baseline = yes),
 * '#' comments and blank lines. 0, or -1 with an error naming the file and line. */
static int read_file(const char *path, lpt_opt *o, int no) {
    size_t n;
    char *text = lpt_file_read(path, 1 << 20, &n);
    if (!text) return -1;
    int rc = 0, line = 0;
    if (memchr(text, 0, n)) {
        lpt_error_set("%s: holds a NUL byte: not a sweep file", path);
        rc = -1;
    }
    text = realloc(text, n + 1);
    text[n] = 0;
    for (char *l = text, *nl; rc == 0 && l < text + n; l = nl + 1) {
        nl = strchr(l, '\n');
        if (!nl) nl = text + n;
        *nl = 0;
        line++;
        char where[700];
        snprintf(where, sizeof where, "%s:%d", path, line);
        while (*l == ' ' || *l == '\t') l++;
        char *end = l + strlen(l);
        while (end > l && strchr(" \t\r", end[-1])) *--end = 0;
        if (!*l || *l == '#') continue;
        char *eq = strchr(l, '=');
        char *k_end = eq;
        while (eq && k_end > l && (k_end[-1] == ' ' || k_end[-1] == '\t')) k_end--;
        if (!eq || k_end == l || strcspn(l, " \t") < (size_t)(k_end - l)) { /* no key, or a key of two words */
            lpt_error_set("%s: '%.60s' is not KEY = VALUE", where, l);
            rc = -1;
            break;
        }
        *k_end = 0;
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        rc = file_option(o, no, l, v, where);
    }
    free(text);
    return rc;
}

int lpt_sweep_args(int argc, char **argv, lpt_sweep_cfg *c) {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    memset(c, 0, sizeof *c);
    snprintf(c->seeds, sizeof c->seeds, "1"), snprintf(c->models, sizeof c->models, "lenet5");
    c->epochs = 1, c->jobs = (int)cores, c->baseline = 1;
    int no_baseline = 0;
    char file[512] = "";
    lpt_opt o[] = {
        {"file", LPT_OPT_STR, file, sizeof file, 0, 0, "FILE", "a sweep file: KEY = VALUE lines of these options (the command line wins)", 0},
        {"out", LPT_OPT_STR, c->out, sizeof c->out, 0, 0, "DIR", "the sweep's folder (required; a re-run resumes it)", 0},
        {"grid", LPT_OPT_STR, c->grid, sizeof c->grid, 0, 0, "SPEC", "per-role values, e.g. 'w=4,6,8 a=8 g=8,16' (widths or formats)", 0},
        {"precisions", LPT_OPT_STR, c->precisions, sizeof c->precisions, 0, 0, "LIST", "more precisions, '/'-separated", 0},
        {"roundings", LPT_OPT_STR, c->roundings, sizeof c->roundings, 0, 0, "LIST", "an axis: every quantized point with each rounding (rne, rna, rtz, rdn, sr), comma-separated", 0},
        {"overflow-rates", LPT_OPT_STR, c->ovf_rates, sizeof c->ovf_rates, 0, 0, "LIST", "an axis: every quantized point with each --overflow-rate, comma-separated", 0},
        {"models", LPT_OPT_STR, c->models, sizeof c->models, 0, 0, "LIST", "models, comma-separated [lenet5]", 0},
        {"seeds", LPT_OPT_STR, c->seeds, sizeof c->seeds, 0, 0, "LIST", "seeds, comma-separated [1]", 0},
        {"epochs", LPT_OPT_INT, &c->epochs, 0, 1, 100000, "N", "epochs per run [1]", 0},
        {"train-limit", LPT_OPT_INT, &c->train_limit, 0, 1, 1 << 30, "N", "training images per run", 0},
        {"jobs", LPT_OPT_INT, &c->jobs, 0, 1, 1024, "N", "runs at a time [the core count]", 0},
        {"threads", LPT_OPT_INT, &c->threads, 0, 1, 256, "N", "threads per run [cores / jobs, at least 1]", 0},
        {"no-baseline", LPT_OPT_FLAG, &no_baseline, 0, 0, 0, NULL, "no fp32 run per model and seed", 0},
        {"train-args", LPT_OPT_STR, c->extra, sizeof c->extra, 0, 0, "ARGS", "more lpt train options for every run", 0},
    };
    const int no = (int)(sizeof o / sizeof o[0]);
    /* the file first (found on the command line), then the command line over it */
    for (int i = 2; i < argc; i++)
        if (!strncmp(argv[i], "--file", 6) && (argv[i][6] == '=' || (!argv[i][6] && i + 1 < argc))) {
            const char *path = argv[i][6] == '=' ? argv[i] + 7 : argv[i + 1];
            if (read_file(path, o, no)) {
                fprintf(stderr, "lpt sweep: --file: %s\n", lpt_error_get());
                return 2;
            }
            break;
        }
    for (int i = 0; i < no; i++) o[i].given = 0;
    const int rc = lpt_args_parse("sweep", "--out DIR [options] | --file FILE [options]", o, no, argc, argv, 2, NULL,
                                  0, NULL);
    if (rc) return rc;
    if (!c->out[0]) {
        fprintf(stderr, "lpt sweep: --out DIR is required (on the command line or as out = DIR in the file)\n");
        return 2;
    }
    c->baseline = !no_baseline;
    if (c->threads == 0) c->threads = cores / c->jobs > 1 ? (int)(cores / c->jobs) : 1;
    return 0;
}
