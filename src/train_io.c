/* train_io.c - the files and output of a training run besides checkpoints: the metrics
 * file, the statistics log as a resumed run finds it, the banner and progress line, and
 * a data-parallel run's set-up (train.h, train_run.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/dp.h"
#include "src/train.h"
#include "src/train_run.h"
#include "src/base/isa.h"
#include "src/base/util.h"

/* The statistics log at the start of a run: empty, or on resume (steps > 0) only the
 * records of intervals that ended before global step `steps` (and the events before it);
 * rewritten atomically. */
int lpt_train_stats_cut(const char *path, long steps) {
    lpt_buf keep = {0};
    size_t n = 0;
    char *old = steps > 0 && access(path, F_OK) == 0 ? lpt_file_read_all(path, &n) : NULL;
    for (char *l = old; l && l < old + n;) {
        char *end = memchr(l, '\n', (size_t)(old + n - l));
        const size_t len = end ? (size_t)(end - l) + 1 : (size_t)(old + n - l);
        long long step;
        /* a partial interval's records (written when the earlier run ended) are dropped:
         * the resumed run logs the whole interval */
        const int partial = memmem(l, len, "\"partial\": true", 15) != NULL;
        if (sscanf(l, "{\"step\": %lld", &step) == 1 && step < steps && !partial) lpt_buf_put(&keep, l, len);
        l += len;
    }
    int rc = lpt_file_write_atomic(path, keep.data ? (const char *)keep.data : "", keep.len);
    free(old);
    lpt_buf_free(&keep);
    return rc;
}

int lpt_train_metrics_write(const char *path, const lpt_train_state *st) {
    lpt_buf b = {0};
    size_t len = strlen(path);
    int csv = len > 4 && strcmp(path + len - 4, ".csv") == 0;
    if (csv)
        lpt_buf_printf(&b, "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,images_per_s,seconds,"
                           "energy_mj_per_step,dram_mib_per_step,energy_vs_fp32\n");
    for (int i = 0; i < st->nrecords; i++) {
        const lpt_epoch_record *r = &st->records[i];
        if (csv)
            lpt_buf_printf(&b, "%d,%ld,%.9g,%.9g,%.6f,%.9g,%.6f,%.1f,%.3f,%.6g,%.6g,%.4f\n", r->epoch, r->step, r->lr,
                           r->train_loss, r->train_acc, r->test_loss, r->test_acc, r->images_per_s,
                           r->seconds, r->energy_mj, r->dram_mib, r->energy_ratio);
        else
            lpt_buf_printf(&b,
                           "{\"epoch\": %d, \"step\": %ld, \"lr\": %.9g, \"train_loss\": %.9g, "
                           "\"train_acc\": %.6f, \"test_loss\": %.9g, \"test_acc\": %.6f, "
                           "\"images_per_s\": %.1f, \"seconds\": %.3f, \"energy_mj_per_step\": %.6g, "
                           "\"dram_mib_per_step\": %.6g, \"energy_vs_fp32\": %.4f}\n",
                           r->epoch, r->step, r->lr, r->train_loss, r->train_acc, r->test_loss,
                           r->test_acc, r->images_per_s, r->seconds, r->energy_mj, r->dram_mib, r->energy_ratio);
    }
    int rc = lpt_file_write_atomic(path, b.data ? (void *)b.data : (void *)"", b.len);
    lpt_buf_free(&b);
    return rc;
}

void lpt_train_progress(const lpt_train_cfg *cfg, int epoch, long step, long steps, double loss, double acc, double ips,
                        int final) {
    if (cfg->quiet) return;
    if (cfg->progress)
        printf("\r\033[Kepoch %d/%d  step %ld/%ld  loss %.4f  acc %.2f%%  %.0f img/s%s", epoch + 1,
               cfg->epochs, step, steps, loss, 100.0 * acc, ips, final ? "\n" : "");
    else
        printf("epoch %d/%d  step %ld/%ld  loss %.4f  acc %.2f%%  %.0f img/s\n", epoch + 1,
               cfg->epochs, step, steps, loss, 100.0 * acc, ips);
    fflush(stdout);
}

void lpt_train_banner(const run_t *r) {
    const lpt_train_cfg *cfg = &r->cfg;
    const lpt_backend *be = r->s.be;
    if (cfg->quiet) return;
    printf("lpt train: model %s, precision %s, backend %s (%d thread%s, kernels %s), %d train / %d test "
           "images, batch %d, %d epoch%s\n",
           cfg->model, cfg->precision, be->name, be->threads, be->threads == 1 ? "" : "s", lpt_isa_name(),
           r->train.n, r->test.n, cfg->batch, cfg->epochs, cfg->epochs == 1 ? "" : "s");
    lpt_net_print(&r->s.net, stdout);
    if (cfg->resume[0]) {
        printf("resumed from %s at epoch %d, step %ld, on %d thread%s (%s); checkpoints go to %s", cfg->resume,
               r->st.epoch + 1, r->st.step_in_epoch, cfg->threads, cfg->threads == 1 ? "" : "s",
               r->threads_from_ckpt ? "the checkpoint's count, which resumes bit for bit; --threads changes it"
                                    : "--threads",
               cfg->checkpoint);
        if (cfg->metrics_out[0]) printf(", metrics to %s", cfg->metrics_out);
        if (cfg->stats_out[0]) printf(", statistics to %s", cfg->stats_out);
        printf("\n");
    }
    fflush(stdout);
}

/* A data-parallel run (src/dp.h): the shards (the ranks' count when not given: it is a
 * checkpoint's on resume) split evenly in blocks of a power of two; every output is the
 * first rank's. 0, or -1 with an error. */
int lpt_train_dp_config(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    const lpt_dp *d = lpt_dp_self();
    const int n = d->size;
    r->usage = 1;
    if (cfg->resume[0] && cfg->shards <= 1) {
        lpt_error_set("--resume %s: that run has one shard a batch; a data-parallel run over %d processes needs at "
                      "least %d, fixed when it starts (--shards)", cfg->resume, n, n);
        return -1;
    }
    if (cfg->shards <= 1) cfg->shards = n;
    const int per = cfg->shards / n;
    if ((n & (n - 1)) || cfg->shards % n || (per & (per - 1))) {
        lpt_error_set("data parallel over %d processes: needs a power of two of them and --shards a multiple of it "
                      "by a power of two (--shards %d given)", n, cfg->shards);
        return -1;
    }
    if (lpt_dp_set_format(lpt_dp_self(), cfg->grad_exchange)) return -1;
    r->usage = 0;
    cfg->progress = 0; /* plain lines: when a window of results is read must not depend on a terminal */
    if (d->rank > 0) { /* the first rank writes and prints; the others compute */
        cfg->metrics_out[0] = cfg->stats_out[0] = cfg->checkpoint[0] = 0;
        cfg->quiet = 1;
        if (!freopen("/dev/null", "w", stdout)) return -1;
    }
    return 0;
}

void lpt_train_dp_setup(run_t *r) {
    /* every process configures alike; each parameter a slice of the exchange */
    lpt_dp *d = lpt_dp_self();
    r->s.prec.q.merge = lpt_dp_merge_results;
    r->s.prec.q.merge_states = lpt_dp_merge_states;
    d->seed = r->cfg.seed;
    d->chunk_bytes = (size_t)r->cfg.exchange_chunk << 10;
    lpt_dp_set_params(d, &r->s.net, r->cfg.stats_interval, r->cfg.overflow_rate);
}

int lpt_train_golden_write(run_t *r, long g) {
    const lpt_train_cfg *cfg = &r->cfg;
    char run[700];
    snprintf(run, sizeof run, "a %s run of %s (seed %" PRIu64 ")", cfg->precision, cfg->model, cfg->seed);
    r->golden_done = 1;
    if (lpt_golden_write(&r->golden, cfg->golden_out, run)) {
        if (cfg->golden_only) return -1;
        /* a training run goes on: the vectors are a by-product */
        fprintf(stderr, "%slpt: warning: no golden vectors: %s\n", cfg->progress ? "\n" : "", lpt_error_get());
    } else
        printf("%sgolden vectors of layer %s at global step %ld written to %s (check them with: lpt golden verify "
               "%s)\n", cfg->progress ? "\n" : "", cfg->golden_layer, g, cfg->golden_out, cfg->golden_out);
    fflush(stdout);
    return cfg->golden_only ? 2 : 0;
}

int lpt_train_check_stats_out(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    lpt_prec probe;
    if (lpt_prec_init(&probe, cfg) != 0) return -1;
    const int quantized = probe.active, narrow = strcmp(cfg->grad_exchange, "fp32") != 0;
    lpt_prec_free(&probe);
    if (narrow && lpt_dp_self()->size == 1 && !cfg->quiet)
        fprintf(stderr, "lpt: note: --grad-exchange %s applies under mpirun: one process exchanges nothing\n",
                cfg->grad_exchange);
    if (quantized || !cfg->stats_out[0] || (narrow && lpt_dp_self()->size > 1)) return 0;
    if (r->stats_from_ckpt) { /* (a data-parallel run's narrow exchange logged there; not this one) */
        if (!cfg->quiet) fprintf(stderr, "lpt: note: nothing to log to %s in this resumed run\n", cfg->stats_out);
        cfg->stats_out[0] = 0;
        return 0;
    }
    lpt_error_set("--stats-out: the run in %s is fp32, which quantizes nothing%s: there are no statistics to log",
                  cfg->resume[0] ? cfg->resume : "this configuration",
                  narrow ? ", and one process exchanges no gradients" : "");
    r->usage = 1;
    return -1;
}
