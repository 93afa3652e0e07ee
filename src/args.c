/* args.c - strict option parsing: every value fully consumed and range-checked. */
#include "src/args.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lpt_args_usage(const char *cmd, const char *usage, const lpt_opt *opts, int nopts) {
    printf("usage: lpt %s %s\n\n%s", cmd, usage ? usage : "[options]", "options:\n");
    for (int i = 0; i < nopts; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
                 opts[i].metavar ? opts[i].metavar : "");
        printf("  %-26s %s\n", left, opts[i].help);
    }
    printf("  %-26s %s\n", "--help", "show this help");
}

lpt_opt *lpt_args_find(lpt_opt *opts, int nopts, const char *name) {
    for (int i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

static void option_names(const lpt_opt *opts, int nopts, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < nopts && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s--%s", i ? ", " : "", opts[i].name);
}

static int set_value(const char *cmd, lpt_opt *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case LPT_OPT_INT:
    case LPT_OPT_LONG: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || (double)x < o->lo || (double)x > o->hi) {
            fprintf(stderr, "lpt %s: --%s expects an integer in [%.0f, %.0f], got '%s'\n", cmd,
                    o->name, o->lo, o->hi, v);
            return 2;
        }
        if (o->kind == LPT_OPT_INT)
            *(int *)o->dst = (int)x;
        else
            *(long *)o->dst = (long)x;
        return 0;
    }
    case LPT_OPT_U64: {
        if (*v == '-') goto bad_u64;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) goto bad_u64;
        *(uint64_t *)o->dst = (uint64_t)x;
        return 0;
    bad_u64:
        fprintf(stderr, "lpt %s: --%s expects a non-negative integer, got '%s'\n", cmd, o->name, v);
        return 2;
    }
    case LPT_OPT_FLOAT: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x) || x < o->lo || x > o->hi) {
            fprintf(stderr, "lpt %s: --%s expects a number in [%g, %g], got '%s'\n", cmd, o->name,
                    o->lo, o->hi, v);
            return 2;
        }
        *(float *)o->dst = (float)x;
        return 0;
    }
    case LPT_OPT_STR:
        if (strlen(v) >= o->cap || !*v) {
            if (o->metavar && strchr(o->metavar, '|')) /* a choice: name them */
                fprintf(stderr, "lpt %s: --%s: expected %s, got '%s'\n", cmd, o->name, o->metavar, v);
            else
                fprintf(stderr, "lpt %s: --%s expects a value of 1 to %zu characters\n", cmd, o->name, o->cap - 1);
            return 2;
        }
        memcpy(o->dst, v, strlen(v) + 1);
        return 0;
    case LPT_OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    }
    return 2;
}

int lpt_args_parse(const char *cmd, const char *usage, lpt_opt *opts, int nopts, int argc,
                   char **argv, int first, char **pos, int maxpos, int *npos) {
    if (npos) *npos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            lpt_args_usage(cmd, usage, opts, nopts);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            if (npos && *npos < maxpos && a[0] != '-') {
                pos[(*npos)++] = argv[i];
                continue;
            }
            fprintf(stderr, "lpt %s: unexpected argument '%s'; see 'lpt %s --help'\n", cmd, a, cmd);
            return 2;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        lpt_opt *o = lpt_args_find(opts, nopts, name);
        if (!o) {
            char names[1024];
            option_names(opts, nopts, names, sizeof names);
            fprintf(stderr, "lpt %s: unknown option '--%s'; options: %s\n", cmd, name, names);
            return 2;
        }
        if (o->given) {
            fprintf(stderr, "lpt %s: --%s given more than once\n", cmd, name);
            return 2;
        }
        o->given = 1;
        if (o->kind == LPT_OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "lpt %s: --%s takes no value\n", cmd, name);
                return 2;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lpt %s: --%s needs a value (%s)\n", cmd, name,
                        o->metavar ? o->metavar : "VALUE");
                return 2;
            }
            v = argv[++i];
        }
        int rc = set_value(cmd, o, v);
        if (rc) return rc;
    }
    return 0;
}

int lpt_args_parse_one(const char *cmd, const char *usage, lpt_opt *opts, int nopts, int argc, char **argv, int first,
                       const char **arg) {
    char *pos[2];
    int npos = 0;
    const int rc = lpt_args_parse(cmd, usage, opts, nopts, argc, argv, first, pos, 2, &npos);
    if (rc) return rc;
    if (npos != 1) {
        fprintf(stderr, "lpt %s: %s; usage: lpt %s %s\n", cmd, npos ? "one folder at a time" : "which folder?", cmd, usage);
        return 2;
    }
    *arg = pos[0];
    return 0;
}
