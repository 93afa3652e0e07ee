/* fuzz_args.c - the option parser of the subcommands: the input is split at NUL bytes
 * into arguments and parsed against a table with every kind of option (integer, long,
 * unsigned 64-bit, real, string, flag) and positional arguments, then the values go
 * through the checks lpt train applies (schedule, precision). */
#include "fuzz/fuzz.h"
#include "src/args.h"
#include "src/optim.h"
#include "src/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *buf = fuzz_text(data, n);
    char *argv[64] = {"lpt", "train"};
    int argc = 2;
    for (size_t i = 0; i < n && argc < 63;) { /* NUL-separated arguments */
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    lpt_train_cfg cfg;
    lpt_train_cfg_defaults(&cfg);
    char sched[16] = "cosine";
    int flag = 0;
    char *pos[2];
    int npos = 0;
    lpt_opt o[] = {
        {"epochs", LPT_OPT_INT, &cfg.epochs, 0, 1, 100000, "N", "", 0},
        {"max-steps", LPT_OPT_LONG, &cfg.max_steps, 0, 1, 1e15, "N", "", 0},
        {"seed", LPT_OPT_U64, &cfg.seed, 0, 0, 0, "N", "", 0},
        {"lr", LPT_OPT_FLOAT, &cfg.sgd.lr, 0, 0, 1e30, "X", "", 0},
        {"precision", LPT_OPT_STR, cfg.precision, sizeof cfg.precision, 0, 0, "FMT", "", 0},
        {"rounding", LPT_OPT_STR, cfg.rounding, sizeof cfg.rounding, 0, 0, "MODE", "", 0},
        {"schedule", LPT_OPT_STR, sched, sizeof sched, 0, 0, "S", "", 0},
        {"quiet", LPT_OPT_FLAG, &flag, 0, 0, 0, NULL, "", 0},
    };
    fuzz_quiet(1); /* the parser prints its messages and the usage */
    const int rc = lpt_args_parse("train", NULL, o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, pos, 2, &npos);
    fuzz_quiet(0);
    if (rc == 0) {
        lpt_sched s;
        (void)lpt_sched_parse(sched, &s);
        (void)lpt_prec_check(&cfg);
    }
    free(buf);
    return 0;
}
