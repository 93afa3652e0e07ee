/* config.c - a run's configuration: its defaults, the table of its fields, the options
 * of lpt train built from it, and its section of a checkpoint. */
#include "src/config.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/data.h"

void lpt_train_cfg_defaults(lpt_train_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "lenet5");
    snprintf(c->data, sizeof c->data, "%s", LPT_DEFAULT_DATA);
    snprintf(c->precision, sizeof c->precision, "fp32");
    snprintf(c->backend, sizeof c->backend, "cpu");
    c->epochs = 10;
    c->batch = 64;
    c->threads = 2;
    snprintf(c->cuda_graph, sizeof c->cuda_graph, "on");
    snprintf(c->share_cores, sizeof c->share_cores, "on");
    snprintf(c->memory_plan, sizeof c->memory_plan, "on");
    snprintf(c->overlap, sizeof c->overlap, "on");
    snprintf(c->grad_exchange, sizeof c->grad_exchange, "fp32");
    c->exchange_chunk = 256;
    c->dp_timeline_step = 20;
    c->sgd = (lpt_sgd_cfg){.lr = 0.05f, .momentum = 0.9f, .wd = 5e-4f, .sched = LPT_SCHED_COSINE,
                           .step_epochs = 5, .gamma = 0.1f, .warmup = 200};
    c->seed = 1;
    c->progress = isatty(STDOUT_FILENO);
    c->overflow_rate = 1e-4f;
    c->underflow_rate = 0.01f;
    c->stats_interval = 50;
    c->recompute = 1;
    c->dead_steps = 200;
}

#define AT(m) offsetof(lpt_train_cfg, m)
#define CAP(m) sizeof(((lpt_train_cfg *)0)->m)
#define STR(opt, key, m, ck, fixed, mv, help) {opt, key, LPT_CF_STR, AT(m), CAP(m), 0, 0, ck, 0, fixed, mv, help}
#define NUM(opt, key, kind, m, lo, hi, ck, zero, fixed, mv, help) {opt, key, kind, AT(m), 0, lo, hi, ck, zero, fixed, mv, help}

/* In checkpoint order (the configuration section lists its keys in this order). */
const lpt_cfg_field lpt_cfg_fields[] = {
    STR("model", "model", model, LPT_CK_REQUIRED, 1, "NAME|FILE", "built-in model (mlp, lenet5, vgg) or spec file [lenet5]"),
    STR("data", NULL, data, LPT_CK_NONE, 0, "DIR", "directory with the four MNIST-layout IDX files [" LPT_DEFAULT_DATA "]"),
    STR("precision", "precision", precision, LPT_CK_REQUIRED, 1, "FMT",
        "fp32, fp16, bf16, int8-dyn, int16-dyn, dfp<W>[:ROUND][:OVF], auto, or w=..,a=..,g=.. [fp32]"),
    STR("backend", "backend", backend, LPT_CK_REQUIRED, 1, "NAME", "a backend of this build (lpt --help lists them) [cpu]"),
    NUM("epochs", "epochs", LPT_CF_INT, epochs, 1, 100000, LPT_CK_REQUIRED, 0, 0, "N", "epochs [10]"),
    NUM("batch", "batch", LPT_CF_INT, batch, 1, 65536, LPT_CK_REQUIRED, 0, 1, "N", "batch size [64]"),
    NUM("threads", "threads", LPT_CF_INT, threads, 1, 256, LPT_CK_REQUIRED, 0, 0, "N",
        "CPU threads [2; on --resume, the checkpoint's]"),
    NUM("device", NULL, LPT_CF_INT, device, 0, 1024, LPT_CK_NONE, 0, 0, "N", "GPU backends: the device to run on [0]"),
    NUM("read-every", NULL, LPT_CF_INT, read_every, 0, 100000, LPT_CK_NONE, 0, 0, "N",
        "read the loss and counts from the backend every N steps (0: the backend's choice, 1 on the CPU, 16 on a GPU) [0]"),
    NUM("tf32", "tf32", LPT_CF_FLAG, tf32, 0, 1, LPT_CK_ABSENT_ZERO, 0, 1, NULL,
        "GPU backends: let fp32 GEMMs use TF32 Tensor Cores (10-bit mantissas; off by default)"),
    STR("share-cores", NULL, share_cores, LPT_CK_NONE, 0, "on|off",
        "CPU: while other processes keep cores busy, fewer threads run the work (split as for --threads: same "
        "results) [on]"),
    STR("memory-plan", NULL, memory_plan, LPT_CK_NONE, 0, "on|off",
        "share memory between the work tensors whose lifetimes in a step do not overlap, ReLU in place, and "
        "conv2d's columns computed again in the backward pass where that lowers the peak (same results, less "
        "memory) [on]"),
    STR("overlap", NULL, overlap, LPT_CK_NONE, 0, "on|off",
        "data parallel: exchange each layer's gradients while the backward pass goes on (same results) [on]"),
    STR("dp-timeline", NULL, dp_timeline, LPT_CK_NONE, 0, "FILE",
        "data parallel: every process's moments of one step (forward, backward, each layer, the exchange) as CSV, "
        "and how much of the exchange the backward pass hid"),
    NUM("dp-timeline-step", NULL, LPT_CF_LONG, dp_timeline_step, 1, 1e15, LPT_CK_NONE, 1, 0, "N",
        "... of global step N [20]"),
    STR("grad-exchange", NULL, grad_exchange, LPT_CK_NONE, 0, "fp32|fp16|bf16|dfp8|dfp16",
        "data parallel: the gradients' format on the wire (dfp: FL from the statistics "
        "unit's histograms merged over the processes, stochastic rounding, integer sums) [fp32]"),
    NUM("exchange-chunk", NULL, LPT_CF_INT, exchange_chunk, 0, 1 << 20, LPT_CK_NONE, 0, 0, "KIB",
        "data parallel: a parameter's exchange in chunks of KIB on the wire, each summed and sent on as it comes "
        "in (0: one chunk) [256]"),
    STR("cuda-graph", NULL, cuda_graph, LPT_CK_NONE, 0, "on|off",
        "GPU backends: record the training step as a CUDA graph and replay it (same results) [on]"),
    NUM("lr", "lr", LPT_CF_FLOAT, sgd.lr, 0, 1e30, LPT_CK_REQUIRED, 0, 1, "X", "learning rate [0.05]"),
    NUM("momentum", "momentum", LPT_CF_FLOAT, sgd.momentum, 0, 0.999999, LPT_CK_REQUIRED, 0, 1, "X", "SGD momentum [0.9]"),
    NUM("weight-decay", "weight_decay", LPT_CF_FLOAT, sgd.wd, 0, 1, LPT_CK_REQUIRED, 0, 1, "X",
        "L2 weight decay on weights [5e-4]"),
    NUM("schedule", "schedule", LPT_CF_SCHED, sgd.sched, 0, 0, LPT_CK_REQUIRED, 0, 1, "S",
        "learning-rate schedule: const, step, cosine [cosine]"),
    NUM("step-epochs", "step_epochs", LPT_CF_INT, sgd.step_epochs, 1, 100000, LPT_CK_REQUIRED, 0, 1, "N",
        "step schedule: decay every N epochs [5]"),
    NUM("gamma", "gamma", LPT_CF_FLOAT, sgd.gamma, 0, 1, LPT_CK_REQUIRED, 0, 1, "X", "step schedule: decay factor [0.1]"),
    NUM("seed", "seed", LPT_CF_U64, seed, 0, 0, LPT_CK_REQUIRED, 0, 1, "N", "seed of initialization, shuffling and dropout [1]"),
    NUM("train-limit", "train_limit", LPT_CF_INT, train_limit, 1, 1 << 30, LPT_CK_REQUIRED, 1, 1, "N",
        "use the first N training images"),
    NUM("test-limit", "test_limit", LPT_CF_INT, test_limit, 1, 1 << 30, LPT_CK_REQUIRED, 1, 1, "N",
        "use the first N test images"),
    STR("rounding", "rounding", rounding, LPT_CK_OPTIONAL, 1, "MODE", "rounding of every quantized tensor: rne, rna, rtz, rdn, sr"),
    NUM("overflow-rate", "overflow_rate", LPT_CF_FLOAT, overflow_rate, 0, 1, LPT_CK_OPTIONAL, 0, 1, "X",
        "statistics unit: largest FL with predicted overflow <= X [1e-4]"),
    NUM("underflow-rate", "underflow_rate", LPT_CF_FLOAT, underflow_rate, 0, 1, LPT_CK_OPTIONAL, 0, 1, "X",
        "auto: smallest width with predicted underflow <= X [0.01]"),
    NUM("stats-interval", "stats_interval", LPT_CF_INT, stats_interval, 1, 1000000, LPT_CK_OPTIONAL, 0, 1, "N",
        "statistics unit: reconfigure every N steps [50]"),
    NUM("acc-bits", "acc_bits", LPT_CF_INT, acc_bits, 2, 64, LPT_CK_OPTIONAL, 1, 1, "N",
        "dfp accumulator width [32 for dfp8, 48 for dfp16]"),
    NUM("no-recompute", "recompute", LPT_CF_FLAG_OFF, recompute, 0, 1, LPT_CK_OPTIONAL, 1, 1, NULL,
        "do not recompute outputs whose overflow beats the prediction 4x (on by default)"),
    STR("metrics-out", "metrics_out", metrics_out, LPT_CK_OPTIONAL, 0, "FILE",
        "per-epoch metrics, JSON Lines (CSV if FILE ends in .csv)"),
    STR("stats-out", "stats_out", stats_out, LPT_CK_OPTIONAL, 0, "FILE", "statistics unit records, JSON Lines"),
    NUM("warmup", "warmup", LPT_CF_INT, sgd.warmup, 0, 1 << 30, LPT_CK_ABSENT_ZERO, 1, 1, "N",
        "linear learning-rate warm-up over the first N steps, at most one epoch (0: none) [200]"),
    STR("checkpoint", NULL, checkpoint, LPT_CK_NONE, 0, "FILE",
        "write a checkpoint after every epoch and on interrupt (without it, an interrupt writes lpt-interrupted.ckpt here)"),
    STR("resume", NULL, resume, LPT_CK_NONE, 0, "FILE",
        "continue the run saved in FILE (and keep writing FILE unless --checkpoint says otherwise)"),
    NUM("max-steps", NULL, LPT_CF_LONG, max_steps, 1, 1e15, LPT_CK_NONE, 0, 0, "N",
        "stop after global step N, writing the checkpoint"),
    NUM("no-progress", NULL, LPT_CF_FLAG_OFF, progress, 0, 1, LPT_CK_NONE, 0, 0, NULL,
        "plain progress lines even on a terminal"),
    NUM("quiet", NULL, LPT_CF_FLAG, quiet, 0, 1, LPT_CK_NONE, 0, 0, NULL, "print only errors and the final result"),
    NUM("dead-steps", NULL, LPT_CF_INT, dead_steps, 0, 1000000, LPT_CK_NONE, 0, 0, "N",
        "warn when train accuracy sits at chance or a layer's weight gradient is zero for N steps (0: off) [200]"),
    NUM("fail-on-dead", NULL, LPT_CF_FLAG, fail_on_dead, 0, 1, LPT_CK_NONE, 0, 0, NULL,
        "stop with exit status 1 when the run is found dead (see docs/training.md)"),
    NUM("shards", "shards", LPT_CF_INT, shards, 1, 4096, LPT_CK_ABSENT_ZERO, 1, 1, "N",
        "run each batch as N shards (micro-batches: less memory; the gradients summed in a fixed pairwise tree, so "
        "that data-parallel runs over a power-of-two number of processes give the same weights) [1]"),
    NUM("shadow-interval", NULL, LPT_CF_INT, shadow_interval, 1, 1 << 30, LPT_CK_NONE, 1, 0, "N",
        "every N steps run the batch through an FP32 copy of the network too and log each layer's error against it "
        "(SQNR, relative L2, cosine, accumulator bits) in the statistics log (0: off)"),
    STR("golden-layer", NULL, golden_layer, LPT_CK_NONE, 0, "NAME",
        "write golden vectors of this conv2d or linear layer (docs/golden.md); needs --golden-out"),
    NUM("golden-step", NULL, LPT_CF_LONG, golden_step, 1, 1e15, LPT_CK_NONE, 1, 0, "N",
        "... at this global step [the run's first step after calibration]"),
    STR("golden-out", NULL, golden_out, LPT_CK_NONE, 0, "DIR", "... into this folder (made if missing)"),
};
const int lpt_cfg_nfields = (int)(sizeof lpt_cfg_fields / sizeof lpt_cfg_fields[0]);
_Static_assert(sizeof lpt_cfg_fields / sizeof lpt_cfg_fields[0] <= LPT_CFG_MAX_FIELDS,
               "lpt_cfg_cli holds LPT_CFG_MAX_FIELDS options: raise it");

static const lpt_opt_kind k_opt_kind[] = {
    [LPT_CF_STR] = LPT_OPT_STR, [LPT_CF_INT] = LPT_OPT_INT,   [LPT_CF_LONG] = LPT_OPT_LONG,
    [LPT_CF_U64] = LPT_OPT_U64, [LPT_CF_FLOAT] = LPT_OPT_FLOAT, [LPT_CF_SCHED] = LPT_OPT_STR,
    [LPT_CF_FLAG] = LPT_OPT_FLAG, [LPT_CF_FLAG_OFF] = LPT_OPT_FLAG,
};

void lpt_cfg_cli_init(lpt_cfg_cli *cli, lpt_train_cfg *cfg) {
    memset(cli, 0, sizeof *cli);
    cli->cfg = cfg;
    snprintf(cli->sched, sizeof cli->sched, "%s", lpt_sched_name(cfg->sgd.sched));
    for (int i = 0; i < lpt_cfg_nfields && cli->n < LPT_CFG_MAX_FIELDS; i++) {
        const lpt_cfg_field *f = &lpt_cfg_fields[i];
        if (!f->option) continue;
        void *dst = f->kind == LPT_CF_SCHED ? (void *)cli->sched
                    : f->kind == LPT_CF_FLAG_OFF ? (void *)&cli->off[cli->n]
                                                 : lpt_cfg_at(cfg, f);
        const size_t cap = f->kind == LPT_CF_SCHED ? sizeof cli->sched : f->cap;
        cli->o[cli->n++] = (lpt_opt){f->option, k_opt_kind[f->kind], dst, cap, f->lo, f->hi, f->metavar, f->help, 0};
    }
}

int lpt_cfg_cli_finish(lpt_cfg_cli *cli) {
    for (int i = 0, k = 0; i < lpt_cfg_nfields; i++) {
        const lpt_cfg_field *f = &lpt_cfg_fields[i];
        if (!f->option) continue;
        if (f->kind == LPT_CF_FLAG_OFF && cli->off[k]) *(int *)lpt_cfg_at(cli->cfg, f) = 0;
        k++;
    }
    if (lpt_sched_parse(cli->sched, &cli->cfg->sgd.sched) != 0) {
        lpt_error_prefix("--schedule");
        return -1;
    }
    return 0;
}

const char *lpt_cfg_cli_fixed_given(const lpt_cfg_cli *cli) {
    for (int i = 0, k = 0; i < lpt_cfg_nfields; i++) {
        const lpt_cfg_field *f = &lpt_cfg_fields[i];
        if (!f->option) continue;
        if (f->fixed && cli->o[k].given) return f->option;
        k++;
    }
    return NULL;
}

void lpt_cfg_save(const lpt_train_cfg *c, lpt_buf *out) {
    for (int i = 0; i < lpt_cfg_nfields; i++) {
        const lpt_cfg_field *f = &lpt_cfg_fields[i];
        const void *v = lpt_cfg_cat(c, f);
        if (!f->key) continue;
        switch (f->kind) {
        case LPT_CF_STR: lpt_buf_printf(out, "%s=%s\n", f->key, (const char *)v); break;
        case LPT_CF_INT:
        case LPT_CF_FLAG:
        case LPT_CF_FLAG_OFF: lpt_buf_printf(out, "%s=%d\n", f->key, *(const int *)v); break;
        case LPT_CF_LONG: lpt_buf_printf(out, "%s=%ld\n", f->key, *(const long *)v); break;
        case LPT_CF_U64: lpt_buf_printf(out, "%s=%" PRIu64 "\n", f->key, *(const uint64_t *)v); break;
        case LPT_CF_FLOAT: lpt_buf_printf(out, "%s=%a\n", f->key, (double)*(const float *)v); break;
        case LPT_CF_SCHED: lpt_buf_printf(out, "%s=%s\n", f->key, lpt_sched_name(*(const lpt_sched *)v)); break;
        }
    }
}
