/* main.c - the lpt command: train, eval, bench. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/backend.h"
#include "quant/format.h"
#include "src/args.h"
#include "src/bench.h"
#include "src/model.h"
#include "src/net.h"
#include "src/cost_cmd.h"
#include "src/quantize_cmd.h"
#include "src/sweep.h"
#include "src/session.h"
#include "src/dp.h"
#include "src/golden.h"
#include "src/report.h"
#include "src/train.h"
#include "src/base/util.h"

#define LPT_VERSION "0.1.0"

static int check_choices(const char *cmd, lpt_train_cfg *cfg) {
    if (lpt_session_check_switches(cfg) != 0) {
        fprintf(stderr, "lpt %s: %s\n", cmd, lpt_error_get());
        return 2;
    }
    if (lpt_prec_check(cfg) != 0) {
        fprintf(stderr, "lpt %s: --precision: %s\n", cmd, lpt_error_get());
        return 2;
    }
    if (!lpt_backend_known(cfg->backend)) {
        fprintf(stderr, "lpt %s: --backend: %s\n", cmd, lpt_backend_why_unknown(cfg->backend));
        return 2;
    }
    return 0;
}

/* A file named on the command line to be read must exist and be a readable regular file
 * (what is in it is checked when it is read): otherwise an argument error. */
static int check_input_file(const char *cmd, const char *option, const char *path) {
    unsigned long long size;
    int fd = lpt_file_open_regular(path, ~0ull, &size);
    if (fd < 0) {
        fprintf(stderr, "lpt %s: %s: %s\n", cmd, option, lpt_error_get());
        return 2;
    }
    close(fd);
    return 0;
}

/* A model given on the command line is read and built (batch 1, reference backend), so
 * that every mistake in it is an argument error: exit status 2, one line naming the
 * file, the line and the reason. */
static int check_model(const char *cmd, const char *model) {
    lpt_model_spec spec;
    if (lpt_model_spec_load(model, &spec) != 0) {
        fprintf(stderr, "lpt %s: --model: %s\n", cmd, lpt_error_get());
        return 2;
    }
    int rc = lpt_net_check_spec(&spec);
    if (rc) fprintf(stderr, "lpt %s: --model: %s\n", cmd, lpt_error_get());
    lpt_model_spec_free(&spec);
    return rc ? 2 : 0;
}

/* Options of the statistics unit and the quantizers mean nothing to a precision that
 * does not use them: refused rather than silently ignored. */
static int check_lowprec_options(lpt_opt *o, int no, lpt_train_cfg *cfg) {
    lpt_prec p;
    if (lpt_prec_init(&p, cfg) != 0) return 2; /* reported by check_choices */
    const int on = p.active, dfp = on && (p.q.prec.w.fmt == LPT_FMT_DFP || p.q.prec.a.fmt == LPT_FMT_DFP ||
                                          p.q.prec.g.fmt == LPT_FMT_DFP);
    lpt_prec_free(&p);
    const int is_auto = strcmp(cfg->precision, "auto") == 0;
    static const struct {
        const char *name;
        int needs; /* 0: any quantized role, 1: a dfp role, 2: auto */
        int exchange; /* also meaningful to a narrow --grad-exchange (its own statistics) */
    } k[] = {{"rounding", 0, 0},   {"stats-interval", 0, 1}, {"stats-out", 0, 1},      {"overflow-rate", 1, 1},
             {"acc-bits", 1, 0},   {"no-recompute", 1, 0},   {"underflow-rate", 2, 0}};
    const int narrow = strcmp(cfg->grad_exchange, "fp32") != 0;
    static const char *const what[] = {"low-precision training", "dynamic fixed point (dfp) roles",
                                       "--precision auto"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (!lpt_args_find(o, no, k[i].name)->given) continue;
        const int ok = (k[i].needs == 0 ? on : k[i].needs == 1 ? dfp : is_auto) || (narrow && k[i].exchange);
        if (!ok) {
            fprintf(stderr, "lpt train: --%s applies to %s%s only; --precision %s does not use it\n", k[i].name,
                    what[k[i].needs], k[i].exchange ? " and a narrow --grad-exchange" : "", cfg->precision);
            return 2;
        }
    }
    return 0;
}

static int cmd_train(int argc, char **argv) {
    lpt_train_cfg cfg;
    lpt_train_cfg_defaults(&cfg);
    lpt_cfg_cli cli;
    lpt_cfg_cli_init(&cli, &cfg);
    lpt_opt *o = cli.o;
    const int no = cli.n;
    int rc = lpt_args_parse("train", "[options]", o, no, argc, argv, 2, NULL, 0, NULL);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (lpt_cfg_cli_finish(&cli) != 0) {
        fprintf(stderr, "lpt train: %s\n", lpt_error_get());
        return 2;
    }
    if (cfg.resume[0]) {
        const char *fixed = lpt_cfg_cli_fixed_given(&cli);
        if (fixed) {
            fprintf(stderr, "lpt train: --%s cannot be combined with --resume: the checkpoint fixes it\n", fixed);
            return 2;
        }
        if (!lpt_args_find(o, no, "epochs")->given) cfg.epochs = 0;   /* keep the checkpoint's */
        if (!lpt_args_find(o, no, "threads")->given) cfg.threads = 0; /* likewise */
    }
    if ((rc = check_choices("train", &cfg))) return rc;
    if (!cfg.resume[0] && (rc = check_lowprec_options(o, no, &cfg))) return rc;
    if (cfg.resume[0] && (rc = check_input_file("train", "--resume", cfg.resume))) return rc;
    if (!cfg.resume[0] && (rc = check_model("train", cfg.model))) return rc;
    struct stat st;
    if (stat(cfg.data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "lpt train: --data: '%s' is not a directory%s\n", cfg.data,
                strcmp(cfg.data, LPT_DEFAULT_DATA) == 0
                    ? " (install Fashion-MNIST: apt-get install dataset-fashion-mnist)"
                    : "");
        return 2;
    }
    /* under mpirun: one rank of a data-parallel run (src/dp.h) */
    if (lpt_dp_start(&argc, &argv)) return 1;
    rc = lpt_train_run(&cfg);
    lpt_dp_stop();
    return rc;
}

static int cmd_eval(int argc, char **argv) {
    lpt_train_cfg cfg;
    lpt_train_cfg_defaults(&cfg);
    char ckpath[512] = "", data[512] = LPT_DEFAULT_DATA, backend[16] = "cpu", share[4] = "on";
    int threads = 2, batch = 256, limit = 0;
    lpt_opt o[] = {
        {"checkpoint", LPT_OPT_STR, ckpath, sizeof ckpath, 0, 0, "FILE", "checkpoint to evaluate (required)", 0},
        {"data", LPT_OPT_STR, data, sizeof data, 0, 0, "DIR", "directory with the IDX files [" LPT_DEFAULT_DATA "]", 0},
        {"backend", LPT_OPT_STR, backend, sizeof backend, 0, 0, "NAME", "a backend of this build (lpt --help lists them) [cpu]", 0},
        {"threads", LPT_OPT_INT, &threads, 0, 1, 256, "N", "CPU threads [2]", 0},
        {"batch", LPT_OPT_INT, &batch, 0, 1, 65536, "N", "evaluation batch [256]", 0},
        {"test-limit", LPT_OPT_INT, &limit, 0, 1, 1 << 30, "N", "use the first N test images", 0},
        {"share-cores", LPT_OPT_STR, share, sizeof share, 0, 0, "on|off", "CPU: fewer workers while other processes keep cores busy [on]", 0},
    };
    int rc = lpt_args_parse("eval", "--checkpoint FILE [options]", o, 7, argc, argv, 2, NULL, 0, NULL);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (!ckpath[0]) {
        fprintf(stderr, "lpt eval: --checkpoint FILE is required\n");
        return 2;
    }
    if ((rc = check_input_file("eval", "--checkpoint", ckpath))) return rc;
    snprintf(cfg.backend, sizeof cfg.backend, "%s", backend);
    snprintf(cfg.share_cores, sizeof cfg.share_cores, "%s", share);
    if ((rc = check_choices("eval", &cfg))) return rc;
    lpt_checkpoint ck;
    lpt_model_spec spec;
    lpt_train_state st;
    if (lpt_checkpoint_open(ckpath, &ck, &cfg, &spec, &st)) {
        fprintf(stderr, "lpt eval: %s\n", lpt_error_get());
        return 1;
    }
    lpt_dataset train = {0}, test = {0};
    lpt_session s;
    int opened = 0;
    lpt_feed feed = {0};
    rc = 1;
    if (lpt_dataset_load_dir(data, &train, &test)) goto out;
    lpt_dataset_truncate(&test, limit);
    snprintf(cfg.backend, sizeof cfg.backend, "%s", backend);
    cfg.threads = threads;
    snprintf(cfg.share_cores, sizeof cfg.share_cores, "%s", share);
    if (lpt_session_open(&s, &cfg, &spec, batch, 0)) goto out;
    opened = 1;
    /* the test images must have the model's input size and labels below its outputs */
    if (lpt_train_check_data(&spec, s.net.classes, ckpath, data, NULL, &test)) goto out;
    if (lpt_checkpoint_restore(ckpath, &ck, &s.net, NULL)) goto out;
    /* a low-precision run is evaluated as training evaluates it: quantized with the
     * statistics unit's configuration from the checkpoint (without one: FP32) */
    const int quantized = s.prec.active && lpt_prec_text_has_stats(st.stats_text);
    if (quantized && lpt_prec_restore(&s.prec, st.stats_text)) {
        lpt_error_prefix("%s: checkpoint", ckpath);
        goto out;
    }
    double loss, acc;
    if (lpt_feed_open(&feed, s.be, &test, (float)st.mean, (float)st.std)) goto out;
    if (lpt_evaluate(&s.net, quantized ? &s.prec.q : NULL, &feed, &loss, &acc, NULL, NULL)) {
        lpt_error_set("non-finite values in the evaluation");
        goto out;
    }
    printf("{\"checkpoint\": \"%s\", \"model\": \"%s\", \"trained_in\": \"%s\", \"evaluated_in\": "
           "\"%s\", \"images\": %d, \"test_loss\": %.6f, \"test_acc\": %.6f}\n",
           ckpath, cfg.model, cfg.precision, quantized ? cfg.precision : "fp32", test.n, loss, acc);
    rc = 0;
out:
    if (rc) fprintf(stderr, "lpt eval: %s\n", lpt_error_get());
    lpt_feed_close(&feed);
    if (opened) lpt_session_close(&s);
    lpt_dataset_free(&train);
    lpt_dataset_free(&test);
    lpt_model_spec_free(&spec);
    lpt_train_state_free(&st);
    lpt_checkpoint_close(&ck);
    return rc;
}

/* lpt golden: vectors of one layer at the step a checkpoint resumes at; lpt golden verify */
static int cmd_golden(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[2], "verify") == 0) {
        int max_report = 5;
        lpt_opt o[] = {{"max-report", LPT_OPT_INT, &max_report, 0, 0, 1000000, "N", "mismatches listed per tensor [5]", 0}};
        const char *dir = NULL;
        int rc = lpt_args_parse_one("golden verify", "DIR [--max-report N]", o, 1, argc, argv, 3, &dir);
        if (rc) return rc == 1 ? 0 : rc;
        rc = lpt_golden_verify(dir, max_report);
        if (rc < 0) fprintf(stderr, "lpt golden verify: %s\n", lpt_error_get());
        return rc < 0 ? 1 : rc;
    }
    lpt_train_cfg cfg;
    lpt_train_cfg_defaults(&cfg);
    int threads = 0;
    lpt_opt o[] = {
        {"checkpoint", LPT_OPT_STR, cfg.resume, sizeof cfg.resume, 0, 0, "FILE", "the run, at the step to dump (required)", 0},
        {"layer", LPT_OPT_STR, cfg.golden_layer, sizeof cfg.golden_layer, 0, 0, "NAME", "a conv2d or linear layer (required)", 0},
        {"out", LPT_OPT_STR, cfg.golden_out, sizeof cfg.golden_out, 0, 0, "DIR", "where the vectors go (required)", 0},
        {"data", LPT_OPT_STR, cfg.data, sizeof cfg.data, 0, 0, "DIR", "the run's data [" LPT_DEFAULT_DATA "]", 0},
        {"threads", LPT_OPT_INT, &threads, 0, 1, 256, "N", "CPU threads [the checkpoint's]", 0},
    };
    int rc = lpt_args_parse("golden", "--checkpoint FILE --layer NAME --out DIR | verify DIR", o, 5, argc, argv, 2,
                            NULL, 0, NULL);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (!cfg.resume[0] || !cfg.golden_layer[0] || !cfg.golden_out[0]) {
        fprintf(stderr, "lpt golden: --checkpoint FILE, --layer NAME and --out DIR are required "
                        "(or: lpt golden verify DIR)\n");
        return 2;
    }
    if ((rc = check_input_file("golden", "--checkpoint", cfg.resume))) return rc;
    cfg.epochs = 0; /* the checkpoint's */
    cfg.threads = threads;
    cfg.golden_only = 1;
    cfg.quiet = 1;
    cfg.progress = 0;
    cfg.dead_steps = 0;
    return lpt_train_run(&cfg);
}

static void usage(FILE *f) {
    fprintf(f,
            "lpt %s - low-precision training engine\n\n"
            "usage: lpt <command> [options]\n\n"
            "commands:\n"
            "  train   train a model (lpt train --help)\n"
            "  eval    evaluate a checkpoint on the test set\n"
            "  bench   measure training throughput\n"
            "  quantize  apply a number format to a tensor in an .npy file\n"
            "  cost    what a training step costs an accelerator: MACs, bytes, energy\n"
            "  sweep   a grid of training runs in parallel, resumable, with a table over seeds\n"
            "  golden  golden vectors of one layer at one step (and: golden verify DIR)\n"
            "  report  a Markdown and HTML report with plots of a run's or a sweep's folder\n"
            "  info    the backends of this build and the GPUs they see (also --version)\n\n"
            "precisions: fp32, fp16, bf16, int8-dyn, int16-dyn, dfp<W>, auto, w=..,a=..,g=..;\n"
            "backends: %s; models: mlp, lenet5, vgg or a spec file\n",
            LPT_VERSION, lpt_backend_names());
}

/* How long an idle OpenMP worker spins before it sleeps (GNU libgomp; iterations).
 * libgomp's own default, 300000, keeps workers spinning through the gaps between a
 * step's many parallel regions; on a machine whose cores are shared with other busy
 * processes a spinning worker then holds the core that the thread it waits for needs,
 * and a 2-thread run of LeNet-5 beside two `yes` fell to 3-8% of its idle rate in 5 of
 * 17 runs (experiments/RESULTS.md). 3000 kept every run at 34-41% for about 6% of the
 * idle rate. */
#define LPT_GOMP_SPINCOUNT "3000"

/* libgomp reads its wait policy when it loads, before main: set the spin count and run
 * this program again, unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT)
 * or a tool that runs lpt itself would lose it (valgrind preloads its vgpreload
 * libraries). Where that cannot be done, lpt runs on with libgomp's default. */
static void set_spin_policy(char **argv) {
    const char *pre = getenv("LD_PRELOAD");
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || (pre && strstr(pre, "vgpreload"))) return;
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || (size_t)len >= sizeof self - 1) return;
    self[len] = 0;
    if (setenv("GOMP_SPINCOUNT", LPT_GOMP_SPINCOUNT, 1) != 0) return;
    execv(self, argv);
    unsetenv("GOMP_SPINCOUNT");
}

int main(int argc, char **argv) {
    set_spin_policy(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "info") == 0) {
        char buf[4096];
        lpt_backend_describe(buf, sizeof buf);
        printf("lpt %s\n%s", LPT_VERSION, buf);
        return 0;
    }
    if (strcmp(cmd, "train") == 0) return cmd_train(argc, argv);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc, argv);
    if (strcmp(cmd, "bench") == 0) return lpt_bench_main(argc, argv);
    if (strcmp(cmd, "quantize") == 0) return lpt_quantize_main(argc, argv);
    if (strcmp(cmd, "cost") == 0) return lpt_cost_main(argc, argv);
    if (strcmp(cmd, "sweep") == 0) return lpt_sweep_main(argc, argv);
    if (strcmp(cmd, "golden") == 0) return cmd_golden(argc, argv);
    if (strcmp(cmd, "report") == 0) return lpt_report_main(argc, argv);
    fprintf(stderr, "lpt: unknown command '%s'; commands: train, eval, bench, quantize, cost, sweep, golden, report\n",
            cmd);
    return 2;
}
