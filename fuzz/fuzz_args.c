/* fuzz_args.c - the option parser of the subcommands: the input is split at NUL bytes
 * into arguments and parsed against lpt train's own options (built from the run
 * configuration's table: every kind of option, integer, long, unsigned 64-bit, real,
 * string, flag) and positional arguments, then the values go through the checks lpt
 * train applies (schedule, options --resume refuses, precision). */
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
    lpt_cfg_cli cli; /* lpt train's own options, from the configuration table */
    lpt_cfg_cli_init(&cli, &cfg);
    char *pos[2];
    int npos = 0;
    fuzz_quiet(1); /* the parser prints its messages and the usage */
    const int rc = lpt_args_parse("train", NULL, cli.o, cli.n, argc, argv, 2, pos, 2, &npos);
    if (rc == 0 && lpt_cfg_cli_finish(&cli) == 0) {
        (void)lpt_cfg_cli_fixed_given(&cli);
        (void)lpt_prec_check(&cfg);
    }
    fuzz_quiet(0);
    free(buf);
    return 0;
}
