/* args.h - strict command-line option parsing for the subcommands. */
#ifndef LPT_ARGS_H
#define LPT_ARGS_H

#include <stddef.h>

typedef enum { LPT_OPT_INT, LPT_OPT_LONG, LPT_OPT_U64, LPT_OPT_FLOAT, LPT_OPT_STR, LPT_OPT_FLAG } lpt_opt_kind;

typedef struct {
    const char *name; /* without the leading "--" */
    lpt_opt_kind kind;
    void *dst;        /* int*, long*, uint64_t*, float*, char[cap], int* (flag) */
    size_t cap;       /* string capacity */
    double lo, hi;    /* numeric range */
    const char *metavar, *help;
    int given;        /* set when the option appeared */
} lpt_opt;

/* Parse argv[first..argc) against opts. Returns 0 on success; 1 when --help was asked
 * (usage printed to stdout); 2 after printing one line naming the bad argument and the
 * valid choices to stderr. Positional arguments go to pos[0..*npos) (at most maxpos). */
int lpt_args_parse(const char *cmd, const char *usage, lpt_opt *opts, int nopts, int argc,
                   char **argv, int first, char **pos, int maxpos, int *npos);
/* lpt_args_parse for a command that takes exactly one positional argument (a folder):
 * 0 with *arg set; 1 (--help); 2 after one line naming what is wrong. */
int lpt_args_parse_one(const char *cmd, const char *usage, lpt_opt *opts, int nopts, int argc, char **argv, int first,
                       const char **arg);
void lpt_args_usage(const char *cmd, const char *usage, const lpt_opt *opts, int nopts);
lpt_opt *lpt_args_find(lpt_opt *opts, int nopts, const char *name);

#endif
