/* train.c - the training loop: batches, steps, evaluation, metrics, checkpoints,
 * progress, interruption and non-finite detection. */
#include "src/train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/health.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "src/base/isa.h"

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
}

void lpt_train_cfg_defaults(lpt_train_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "lenet5");
    snprintf(c->data, sizeof c->data, "%s", LPT_DEFAULT_DATA);
    snprintf(c->precision, sizeof c->precision, "fp32");
    snprintf(c->backend, sizeof c->backend, "cpu");
    c->epochs = 10;
    c->batch = 64;
    c->threads = 2;
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

int lpt_train_qconfig(const lpt_train_cfg *cfg, lpt_qconfig *q, lpt_stats_unit *u, int *active) {
    memset(q, 0, sizeof *q);
    *active = 0;
    lpt_precision p;
    const int is_auto = strcmp(cfg->precision, "auto") == 0;
    if (is_auto) {
        lpt_qformat d16 = {.fmt = LPT_FMT_DFP, .width = 16, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_SAT};
        p.w = p.a = p.g = d16;
        p.g.round = LPT_ROUND_SR; /* as the int8-dyn preset */
    } else if (lpt_precision_parse(cfg->precision, &p) != 0) {
        if (!strchr(cfg->precision, '=')) { /* one format: say what else a precision may be */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s; also auto, or one format per role: w=FMT,a=FMT,g=FMT", lpt_error_get());
            lpt_error_set("%s", msg);
        }
        return -1;
    }
    if (cfg->rounding[0]) {
        int r = -1;
        for (int i = 0; i < LPT_ROUND_COUNT; i++)
            if (strcmp(cfg->rounding, lpt_rounding_names[i]) == 0) r = i;
        if (r < 0) {
            lpt_error_set("unknown rounding '%s'; rounding: rne, rna, rtz, rdn, sr", cfg->rounding);
            return -1;
        }
        p.w.round = p.a.round = p.g.round = (lpt_rounding)r;
    }
    if (p.w.fmt == LPT_FMT_FP32 && p.a.fmt == LPT_FMT_FP32 && p.g.fmt == LPT_FMT_FP32) return 0;
    lpt_stats_init(u, cfg->stats_interval, cfg->overflow_rate);
    if (is_auto) {
        /* weights and activations: the smallest of 4, 6, 8 bits meeting the targets;
         * gradients: 8 bits (their small values underflow at any width that fits the
         * large ones, and 8 bits train as well as 16: see experiments/RESULTS.md) */
        static const int wa[] = {4, 6, 8}, g[] = {8};
        lpt_stats_set_auto(u, wa, 3, cfg->underflow_rate);
        lpt_stats_set_auto_role(u, LPT_ROLE_G, g, 1);
    }
    q->prec = p;
    q->acc_bits = cfg->acc_bits;
    q->recompute = cfg->recompute;
    q->recompute_factor = 4.0;
    q->stats = u;
    *active = 1;
    return 0;
}

int lpt_train_check_precision(const lpt_train_cfg *cfg) {
    lpt_qconfig q;
    lpt_stats_unit u;
    int on;
    if (lpt_train_qconfig(cfg, &q, &u, &on) != 0) return -1;
    if (on) lpt_stats_free(&u);
    return 0;
}

void lpt_train_calibrate(lpt_net *net, const lpt_ctx *c, lpt_qconfig *q, const int32_t *labels) {
    q->calibrating = 1;
    lpt_net_forward(net, c, 0);
    lpt_net_loss(net, c, labels, NULL);
    lpt_net_backward(net, c);
    lpt_stats_calibrate(q->stats);
    q->calibrating = 0;
}

int lpt_train_restore_stats(lpt_net *net, const lpt_ctx *c, lpt_qconfig *q, const char *text) {
    /* one forward pass that only registers the quantization points: evaluation mode
     * (batch-norm statistics and dropout untouched), values passed through, zero input */
    lpt_ctx e = *c;
    e.train = 0;
    c->be->fill(c->be, (size_t)c->n * lpt_shape_item_count(&net->act[0].shape), lpt_tensor_f32(&net->act[0]), 0.0f);
    q->calibrating = 1;
    lpt_net_forward(net, &e, 0);
    q->calibrating = 0;
    return lpt_stats_load(q->stats, text);
}

int lpt_train_state_has_stats(const lpt_train_state *st) {
    return st->stats_text && strstr(st->stats_text, "stats_entry=") != NULL;
}

void lpt_train_state_free(lpt_train_state *st) {
    free(st->records);
    free(st->stats_text);
    st->records = NULL;
    st->stats_text = NULL;
}

/* fp16 loss scale from the gradient statistics: the largest scaled |dy| seen in the
 * interval is brought to about 2^13 (fp16 max 65504 ~ 2^16: 3 bits of headroom) */
static float loss_scale_update(const lpt_stats_unit *u, float scale) {
    double mx = 0;
    for (int i = 0; i < u->n; i++)
        if (u->e[i].role == LPT_ROLE_G && u->e[i].nhist > 0)
            mx = fmax(mx, u->e[i].hist[(u->e[i].nhist - 1) % LPT_STATS_HISTORY].max_abs);
    if (mx <= 0) return scale;
    double s = scale * ldexp(1.0, 13 - ilogb(mx));
    return (float)fmin(fmax(s, 1.0), 16777216.0);
}

/* the per-layer summary printed at the end of a low-precision run */
static void print_stats_summary(const lpt_stats_unit *u, int fp16) {
    int intervals = 0, ndfp = 0;
    for (int i = 0; i < u->n; i++) {
        if (u->e[i].nhist > intervals) intervals = u->e[i].nhist;
        ndfp += u->e[i].fmt.fmt == LPT_FMT_DFP;
    }
    if (intervals > LPT_STATS_HISTORY) intervals = LPT_STATS_HISTORY;
    printf("statistics unit: %d tensors (%d dfp), last configuration; rates averaged over the last %d "
           "interval%s, as fractions of the nonzero values%s\n", u->n, ndfp, intervals,
           intervals == 1 ? "" : "s", fp16 ? "; fp16 gradients are loss-scaled" : "");
    printf("  %-10s %-3s %-10s %5s %4s %10s %10s %10s %6s\n", "layer", "t", "format", "width", "FL",
           "overflow", "underflow", "max|v|", "recomp");
    double wsum = 0;
    int wn = 0;
    for (int i = 0; i < u->n; i++) {
        const lpt_stats_entry *e = &u->e[i];
        double ov = 0, un = 0, mx = 0;
        int k = e->nhist < LPT_STATS_HISTORY ? e->nhist : LPT_STATS_HISTORY;
        for (int j = 0; j < k; j++) {
            ov += e->hist[j].overflow;
            un += e->hist[j].underflow;
            mx = fmax(mx, e->hist[j].max_abs);
        }
        char name[48], fl[8] = "-"; /* FL means something for dfp only */
        lpt_qformat_name(&e->fmt, name, sizeof name);
        if (e->fmt.fmt == LPT_FMT_DFP) snprintf(fl, sizeof fl, "%d", e->fl);
        printf("  %-10s %-3s %-10s %5d %4s %9.4f%% %9.4f%% %10.4g %6llu\n", e->layer, e->tensor, name,
               e->fmt.width, fl, k ? 100 * ov / k : 0.0, k ? 100 * un / k : 0.0, mx,
               (unsigned long long)e->recomputes);
        if (e->fmt.fmt == LPT_FMT_DFP && e->configured) wsum += e->fmt.width, wn++;
    }
    /* dfp tensors never configured (no statistics yet) keep their initial width and do not count */
    if (wn) printf("  mean dfp width over the %d dfp tensors: %.2f bits\n", wn, wsum / wn);
}

int lpt_evaluate(lpt_net *net, const lpt_qconfig *q, const lpt_dataset *d, float mean, float std,
                 double *loss, double *acc, const volatile sig_atomic_t *stop, const char *label) {
    lpt_qconfig frozen;
    if (q) {
        frozen = *q;
        frozen.frozen = 1;
        frozen.calibrating = 0;
        q = &frozen;
    }
    lpt_backend *be = net->be;
    const size_t item = lpt_shape_item_count(&net->act[0].shape);
    float *x = lpt_xmalloc((size_t)net->batch * item * sizeof *x);
    int32_t *y = lpt_xmalloc((size_t)net->batch * sizeof *y);
    int *idx = lpt_xmalloc((size_t)net->batch * sizeof *idx);
    double sum = 0.0, shown = lpt_time_now();
    long correct = 0;
    int rc = 0;
    for (int at = 0; at < d->n; at += net->batch) {
        if (stop && *stop) {
            rc = 1;
            break;
        }
        int n = d->n - at < net->batch ? d->n - at : net->batch;
        for (int i = 0; i < n; i++) idx[i] = at + i;
        lpt_dataset_gather(d, idx, n, mean, std, x, y);
        be->to_device(be, net->act[0].data, x, (size_t)n * item * sizeof *x);
        lpt_ctx c = {.be = be, .q = q, .n = n, .train = 0};
        if (lpt_net_forward(net, &c, 1) >= 0) {
            rc = -1;
            break;
        }
        int ok = 0;
        sum += lpt_net_loss(net, &c, y, &ok);
        correct += ok;
        const double now = lpt_time_now();
        if (label && now - shown > 0.2) {
            printf("\r\033[K%s  evaluating %d/%d", label, at + n, d->n);
            fflush(stdout);
            shown = now;
        }
    }
    if (label) {
        printf("\r\033[K");
        fflush(stdout);
    }
    free(x);
    free(y);
    free(idx);
    *loss = d->n ? sum / d->n : 0.0;
    *acc = d->n ? (double)correct / d->n : 0.0;
    return rc;
}

int lpt_train_check_data(const lpt_model_spec *spec, int classes, const char *model, const char *data,
                         const lpt_dataset *train, const lpt_dataset *test) {
    const lpt_dataset *sets[2] = {train, test};
    for (int i = 0; i < 2; i++) {
        const lpt_dataset *d = sets[i];
        if (!d || !d->n) continue;
        if (d->c != spec->in_c || d->h != spec->in_h || d->w != spec->in_w) {
            lpt_error_set("model %s expects %dx%dx%d inputs but the %s images in %s are %dx%dx%d", model,
                          spec->in_c, spec->in_h, spec->in_w, i ? "test" : "training", data, d->c, d->h, d->w);
            return -1;
        }
        if (classes < d->classes) {
            lpt_error_set("model %s has %d outputs but the %s labels in %s go up to %d", model, classes,
                          i ? "test" : "training", data, d->classes - 1);
            return -1;
        }
    }
    return 0;
}

/* The statistics log at the start of a run: empty, or on resume (steps > 0) only the
 * records of intervals that ended before global step `steps` (and the events before it);
 * rewritten atomically. */
static int stats_log_cut(const char *path, long steps) {
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

static int write_metrics(const char *path, const lpt_train_state *st) {
    lpt_buf b = {0};
    size_t len = strlen(path);
    int csv = len > 4 && strcmp(path + len - 4, ".csv") == 0;
    if (csv)
        lpt_buf_printf(&b, "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,images_per_s,seconds\n");
    for (int i = 0; i < st->nrecords; i++) {
        const lpt_epoch_record *r = &st->records[i];
        if (csv)
            lpt_buf_printf(&b, "%d,%ld,%.9g,%.9g,%.6f,%.9g,%.6f,%.1f,%.3f\n", r->epoch, r->step, r->lr,
                           r->train_loss, r->train_acc, r->test_loss, r->test_acc, r->images_per_s,
                           r->seconds);
        else
            lpt_buf_printf(&b,
                           "{\"epoch\": %d, \"step\": %ld, \"lr\": %.9g, \"train_loss\": %.9g, "
                           "\"train_acc\": %.6f, \"test_loss\": %.9g, \"test_acc\": %.6f, "
                           "\"images_per_s\": %.1f, \"seconds\": %.3f}\n",
                           r->epoch, r->step, r->lr, r->train_loss, r->train_acc, r->test_loss,
                           r->test_acc, r->images_per_s, r->seconds);
    }
    int rc = lpt_file_write_atomic(path, b.data ? (void *)b.data : (void *)"", b.len);
    lpt_buf_free(&b);
    return rc;
}

static void progress_line(const lpt_train_cfg *cfg, int epoch, long step, long steps, double loss,
                          double acc, double ips, int final) {
    if (cfg->quiet) return;
    if (cfg->progress)
        printf("\r\033[Kepoch %d/%d  step %ld/%ld  loss %.4f  acc %.2f%%  %.0f img/s%s", epoch + 1,
               cfg->epochs, step, steps, loss, 100.0 * acc, ips, final ? "\n" : "");
    else
        printf("epoch %d/%d  step %ld/%ld  loss %.4f  acc %.2f%%  %.0f img/s\n", epoch + 1,
               cfg->epochs, step, steps, loss, 100.0 * acc, ips);
    fflush(stdout);
}

/* Dead-run reports: a warning on stderr (and an event record in the statistics log), or
 * with --fail-on-dead the error that stops the run. */
typedef struct {
    const lpt_train_cfg *cfg;
    lpt_stats_unit *stats; /* NULL: no statistics log */
    int count;             /* conditions reported */
    char first[512];       /* the first of them */
} dead_log;

/* -1 when the run must stop (error set), else 0 */
/* from_stats: the statistics unit logged it already; at_end: an end-of-run report,
 * logged so that a resumed (longer) run drops it */
static int dead_report(dead_log *d, long step, const char *msg, int from_stats, int at_end) {
    if (!d->count) snprintf(d->first, sizeof d->first, "%s", msg);
    d->count++;
    if (d->stats && !from_stats) lpt_stats_log_event(d->stats, step, "dead", NULL, NULL, msg, at_end);
    if (d->cfg->fail_on_dead) {
        lpt_error_set("dead run at global step %ld: %s; stopping (--fail-on-dead)", step + 1, msg);
        return -1;
    }
    fprintf(stderr, "%slpt: warning: %s (global step %ld)\n", d->cfg->progress ? "\n" : "", msg, step + 1);
    fflush(stderr);
    return 0;
}

/* the statistics unit's dead tensors since the last call, one report each */
static int dead_from_stats(dead_log *d, long step) {
    char *ev = d->stats ? lpt_stats_take_events(d->stats) : NULL;
    int rc = 0;
    for (char *l = ev, *nl; l && *l && !rc; l = nl + 1) {
        nl = strchr(l, '\n');
        *nl = 0;
        rc = dead_report(d, step, l, 1, 0);
    }
    free(ev);
    return rc;
}

/* Where a run is written, refused before any training: not a directory or another
 * non-regular file, in a writable directory. */
static int check_output(const char *option, const char *path) {
    if (!path[0]) return 0;
    if (lpt_file_check_writable(path)) {
        lpt_error_prefix("--%s", option);
        return -1;
    }
    return 0;
}

int lpt_train_run(const lpt_train_cfg *cfg_in) {
    lpt_train_cfg cfg = *cfg_in;
    lpt_model_spec spec = {0};
    lpt_train_state st = {0};
    lpt_checkpoint ck = {0};
    lpt_dataset train = {0}, test = {0};
    lpt_backend *be = NULL;
    lpt_net net = {0};
    lpt_sgd opt = {0};
    lpt_health health = {0};
    int built = 0, rc = 1, sig_on = 0, qon = 0, lock_fd = -1, health_on = 0, usage = 0;
    lpt_qconfig qc;
    lpt_stats_unit su = {0};
    struct sigaction old_int, old_term;
    float *x = NULL;
    int32_t *y = NULL;
    int *perm = NULL;
    int threads_from_ckpt = 0;

    /* Ctrl-C from the start: while the data load, a signal ends the run with a checkpoint
     * at its first step (or with the one it resumed from), never killed half-way */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sig_on = 1;

    if (cfg.resume[0]) {
        lpt_train_cfg saved = cfg;
        if (lpt_checkpoint_open(cfg.resume, &ck, &cfg, &spec, &st)) goto fail;
        /* the run's trajectory comes from the checkpoint; these may change on resume */
        if (saved.epochs > 0) cfg.epochs = saved.epochs;
        if (saved.threads > 0)
            cfg.threads = saved.threads;
        else
            threads_from_ckpt = 1; /* the checkpoint's count keeps the run bit for bit */
        memcpy(cfg.data, saved.data, sizeof cfg.data);
        /* a resumed run goes on writing the checkpoint it came from, and the metrics and
         * statistics files the run wrote, unless told otherwise */
        if (saved.metrics_out[0]) memcpy(cfg.metrics_out, saved.metrics_out, sizeof cfg.metrics_out);
        if (saved.stats_out[0]) memcpy(cfg.stats_out, saved.stats_out, sizeof cfg.stats_out);
        memcpy(cfg.checkpoint, saved.checkpoint, sizeof cfg.checkpoint);
        memcpy(cfg.resume, saved.resume, sizeof cfg.resume);
        if (!cfg.checkpoint[0]) memcpy(cfg.checkpoint, cfg.resume, sizeof cfg.checkpoint);
        cfg.max_steps = saved.max_steps;
        cfg.progress = saved.progress;
        cfg.quiet = saved.quiet;
        cfg.dead_steps = saved.dead_steps;
        cfg.fail_on_dead = saved.fail_on_dead;
    } else if (lpt_model_spec_load(cfg.model, &spec)) {
        goto fail;
    }
    if (lpt_train_qconfig(&cfg, &qc, &su, &qon) != 0) goto fail;
    if (!qon && cfg.stats_out[0]) { /* a new run's options are checked by the command line */
        lpt_error_set("--stats-out: the run in %s is fp32, which quantizes nothing: there are no "
                      "statistics to log", cfg.resume[0] ? cfg.resume : "this configuration");
        usage = 1;
        goto fail;
    }
    const int fp16 = qon && qc.prec.g.fmt == LPT_FMT_FP16;
    if (!(st.loss_scale > 0)) st.loss_scale = fp16 ? 4096.0f : 1.0f;
    if (qon) st.stats = &su;
    /* every output is checked before any work, and the checkpoint is ours alone */
    if (check_output("checkpoint", cfg.checkpoint) || check_output("metrics-out", cfg.metrics_out) ||
        check_output("stats-out", cfg.stats_out))
        goto fail;
    if (cfg.checkpoint[0] && (lock_fd = lpt_file_lock(cfg.checkpoint)) < 0) goto fail;
    /* the statistics log starts empty, or on resume keeps the records of the steps the
     * checkpoint holds */
    if (cfg.stats_out[0] && stats_log_cut(cfg.stats_out, st.global_step)) goto fail;
    if (lpt_dataset_load_dir(cfg.data, &train, &test)) goto fail;
    lpt_dataset_truncate(&train, cfg.train_limit);
    lpt_dataset_truncate(&test, cfg.test_limit);
    if (!(be = lpt_backend_create(cfg.backend, cfg.threads))) goto fail;
    if (lpt_net_build(&net, be, &spec, cfg.batch)) goto fail;
    built = 1;
    if (lpt_train_check_data(&spec, net.classes, cfg.model, cfg.data, &train, &test)) goto fail;
    if (lpt_sgd_init(&opt, &net)) goto fail;
    const long steps = (train.n + cfg.batch - 1) / cfg.batch;
    lpt_health_init(&health, cfg.dead_steps, lpt_health_chance(train.labels, train.n, net.classes), &net);
    health_on = 1;
    st.health = &health;
    if (cfg.resume[0]) {
        if (lpt_checkpoint_restore(cfg.resume, &ck, &net, &opt)) goto fail;
        lpt_checkpoint_close(&ck);
        if (st.step_in_epoch > steps) {
            lpt_error_set("%s: the checkpoint is at step %ld of an epoch but the data give %ld steps per epoch "
                          "(different data or --train-limit?)", cfg.resume, st.step_in_epoch, steps);
            goto fail;
        }
        if (st.stats_text && lpt_health_load(&health, st.stats_text)) {
            lpt_error_prefix("%s: checkpoint", cfg.resume);
            goto fail;
        }
        /* the statistics unit as it was saved, before anything is quantized (an
         * evaluation may come first: a run interrupted during one resumes there) */
        if (qon && lpt_train_state_has_stats(&st)) {
            lpt_ctx c = {.be = be, .q = &qc, .n = cfg.batch, .train = 1, .seed = cfg.seed,
                         .step = (uint64_t)st.global_step, .loss_scale = st.loss_scale};
            if (lpt_train_restore_stats(&net, &c, &qc, st.stats_text)) {
                lpt_error_prefix("%s: checkpoint", cfg.resume);
                goto fail;
            }
        }
    } else {
        lpt_net_init(&net, cfg.seed);
        lpt_dataset_stats(&train, &st.mean, &st.std);
    }
    dead_log dead = {.cfg = &cfg, .stats = qon && cfg.stats_out[0] ? &su : NULL};

    const size_t item = lpt_shape_item_count(&net.act[0].shape);
    x = lpt_xmalloc((size_t)cfg.batch * item * sizeof *x);
    y = lpt_xmalloc((size_t)cfg.batch * sizeof *y);
    perm = lpt_xmalloc((size_t)train.n * sizeof *perm);
    if (!cfg.quiet) {
        printf("lpt train: model %s, precision %s, backend %s (%d thread%s, kernels %s), %d train / %d test "
               "images, batch %d, %d epochs\n",
               cfg.model, cfg.precision, be->name, be->threads, be->threads == 1 ? "" : "s", lpt_isa_name(),
               train.n, test.n, cfg.batch, cfg.epochs);
        lpt_net_print(&net, stdout);
        if (cfg.resume[0]) {
            printf("resumed from %s at epoch %d, step %ld, on %d thread%s (%s); checkpoints go to %s",
                   cfg.resume, st.epoch + 1, st.step_in_epoch, cfg.threads, cfg.threads == 1 ? "" : "s",
                   threads_from_ckpt ? "the checkpoint's count, which resumes bit for bit; --threads changes it"
                                     : "--threads",
                   cfg.checkpoint);
            if (cfg.metrics_out[0]) printf(", metrics to %s", cfg.metrics_out);
            if (cfg.stats_out[0]) printf(", statistics to %s", cfg.stats_out);
            printf("\n");
        }
        fflush(stdout);
    }

    const float mean = (float)st.mean, stdv = (float)st.std;
    double t_epoch = lpt_time_now(), t_shown = 0.0;
    long img_epoch = 0;
    char msg[512];
    for (; st.epoch < cfg.epochs; st.epoch++) {
        lpt_rng_permutation(cfg.seed, LPT_STREAM_SHUFFLE, (uint64_t)st.epoch, perm, train.n);
        t_epoch = lpt_time_now();
        img_epoch = 0;
        for (; st.step_in_epoch < steps; st.step_in_epoch++) {
            if (g_interrupted || (cfg.max_steps > 0 && st.global_step >= cfg.max_steps)) goto stop;
            const int at = (int)(st.step_in_epoch * cfg.batch);
            const int n = train.n - at < cfg.batch ? train.n - at : cfg.batch;
            lpt_dataset_gather(&train, perm + at, n, mean, stdv, x, y);
            be->to_device(be, net.act[0].data, x, (size_t)n * item * sizeof *x);
            lpt_ctx c = {.be = be, .q = qon ? &qc : NULL, .n = n, .train = 1, .seed = cfg.seed,
                         .step = (uint64_t)st.global_step, .loss_scale = st.loss_scale};
            if (qon && !su.e) lpt_train_calibrate(&net, &c, &qc, y); /* a new run's first step */
            int bad = lpt_net_forward(&net, &c, 1);
            if (bad >= 0) {
                lpt_error_set("non-finite values (NaN or Inf) in the output of layer %s (%s) at "
                              "epoch %d, step %ld (global step %ld); stopping",
                              net.layers[bad].name, net.layers[bad].ops->type, st.epoch + 1,
                              st.step_in_epoch + 1, st.global_step + 1);
                goto fail;
            }
            int ok = 0;
            double loss = lpt_net_loss(&net, &c, y, &ok);
            if (!isfinite(loss)) {
                lpt_error_set("non-finite loss at epoch %d, step %ld (global step %ld); stopping",
                              st.epoch + 1, st.step_in_epoch + 1, st.global_step + 1);
                goto fail;
            }
            lpt_net_backward(&net, &c);
            while (lpt_health_grads(&health, &net, st.global_step, msg, sizeof msg)) /* one per layer */
                if (dead_report(&dead, st.global_step, msg, 0, 0)) goto fail;
            float lr = lpt_lr_at(&cfg.sgd, st.global_step, steps, cfg.epochs);
            int step_ok = 1;
            if (fp16) { /* unscale; on Inf/NaN skip the step and halve the scale */
                for (int i = 0; i < net.np && step_ok; i++)
                    if (net.p[i].grad &&
                        be->count_nonfinite(be, lpt_tensor_count(net.p[i].grad), lpt_tensor_f32(net.p[i].grad)))
                        step_ok = 0;
                if (step_ok) {
                    for (int i = 0; i < net.np; i++) /* S is a power of two: 1/S exact */
                        if (net.p[i].grad)
                            be->scale(be, lpt_tensor_count(net.p[i].grad), lpt_tensor_f32(net.p[i].grad),
                                      1.0f / st.loss_scale);
                } else {
                    st.loss_scale = fmaxf(st.loss_scale / 2, 1.0f);
                    st.skipped++;
                }
            }
            if (step_ok) lpt_sgd_step(&opt, &net, &cfg.sgd, lr);
            if (qon && (st.global_step + 1) % cfg.stats_interval == 0) {
                lpt_stats_configure(&su, st.global_step);
                if (fp16) st.loss_scale = loss_scale_update(&su, st.loss_scale);
                if (dead_from_stats(&dead, st.global_step)) goto fail;
                if (cfg.stats_out[0] && lpt_stats_flush(&su, cfg.stats_out)) goto fail;
                if (!cfg.stats_out[0]) su.log.len = 0; /* no log: the records are not kept */
            }
            st.loss_sum += loss;
            st.correct += ok;
            st.seen += n;
            if (lpt_health_step(&health, st.global_step, ok, n, msg, sizeof msg) &&
                dead_report(&dead, st.global_step, msg, 0, 0))
                goto fail;
            st.global_step++;
            img_epoch += n;
            double now = lpt_time_now();
            int plain_due = !cfg.progress && (st.step_in_epoch + 1) % (steps / 5 > 0 ? steps / 5 : 1) == 0;
            if ((cfg.progress && now - t_shown > 0.2) || plain_due) {
                progress_line(&cfg, st.epoch, st.step_in_epoch + 1, steps, st.loss_sum / st.seen,
                              (double)st.correct / st.seen, img_epoch / (now - t_epoch), 0);
                t_shown = now;
            }
        }
        double secs = lpt_time_now() - t_epoch;
        lpt_epoch_record r = {.epoch = st.epoch + 1,
                              .step = st.global_step,
                              .lr = lpt_lr_at(&cfg.sgd, st.global_step - 1, steps, cfg.epochs),
                              .train_loss = st.seen ? st.loss_sum / st.seen : 0.0,
                              .train_acc = st.seen ? (double)st.correct / st.seen : 0.0,
                              .images_per_s = secs > 0 ? img_epoch / secs : 0.0,
                              .seconds = secs};
        if (cfg.progress)
            progress_line(&cfg, st.epoch, steps, steps, r.train_loss, r.train_acc, r.images_per_s, 1);
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", st.epoch + 1, cfg.epochs);
        if (!cfg.quiet && !cfg.progress) {
            printf("%s  evaluating %d test images\n", label, test.n);
            fflush(stdout);
        }
        int ev = lpt_evaluate(&net, qon ? &qc : NULL, &test, mean, stdv, &r.test_loss, &r.test_acc,
                              &g_interrupted, cfg.progress && !cfg.quiet ? label : NULL);
        if (ev > 0) goto stop; /* interrupted: the checkpoint holds the finished steps */
        if (ev < 0) {
            lpt_error_set("non-finite values in the evaluation at the end of epoch %d; stopping",
                          st.epoch + 1);
            goto fail;
        }
        if (!cfg.quiet)
            printf("epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f img/s  %.1f s\n",
                   r.epoch, cfg.epochs, r.train_loss, 100 * r.train_acc, r.test_loss,
                   100 * r.test_acc, r.images_per_s, r.seconds);
        st.records = realloc(st.records, (size_t)(st.nrecords + 1) * sizeof *st.records);
        if (!st.records) {
            lpt_error_set("out of memory");
            goto fail;
        }
        st.records[st.nrecords++] = r;
        st.step_in_epoch = 0;
        st.loss_sum = 0.0;
        st.correct = st.seen = 0;
        if (cfg.metrics_out[0] && write_metrics(cfg.metrics_out, &st)) goto fail;
        if (cfg.checkpoint[0]) {
            lpt_train_state next = st;
            next.epoch = st.epoch + 1;
            if (lpt_checkpoint_save(cfg.checkpoint, &cfg, &spec, &next, &net, &opt)) goto fail;
        }
        fflush(stdout);
    }
    if (qon) {
        lpt_stats_finish(&su, st.global_step - 1);
        if (dead_from_stats(&dead, st.global_step - 1)) goto fail;
        if (cfg.stats_out[0] && lpt_stats_flush(&su, cfg.stats_out)) goto fail;
    }
    if (st.nrecords > 0) {
        const lpt_epoch_record *r = &st.records[st.nrecords - 1];
        if (qon && !cfg.quiet) {
            print_stats_summary(&su, fp16);
            if (fp16) printf("fp16 loss scale %g, %llu steps skipped on Inf/NaN\n", (double)st.loss_scale,
                             st.skipped);
        }
        const double chance = lpt_health_chance(test.labels, test.n, net.classes);
        if (cfg.dead_steps > 0 && r->test_acc < chance + LPT_HEALTH_MARGIN) {
            snprintf(msg, sizeof msg,
                     "test accuracy %.2f%% is at chance (%.2f%% for always guessing the most frequent "
                     "class): this run did not learn",
                     100 * r->test_acc, 100 * chance);
            if (dead_report(&dead, st.global_step - 1, msg, 0, 1)) goto fail;
            if (qon && cfg.stats_out[0] && lpt_stats_flush(&su, cfg.stats_out)) goto fail;
        }
        printf("done: %d epoch%s, test accuracy %.2f%%, test loss %.4f%s\n", st.nrecords,
               st.nrecords == 1 ? "" : "s", 100 * r->test_acc, r->test_loss,
               dead.count ? " (flagged as dead: see the warnings)" : "");
        if (dead.count)
            fprintf(stderr, "lpt: warning: %d dead-run condition%s reported; the first: %s\n", dead.count,
                    dead.count == 1 ? "" : "s", dead.first);
    }
    rc = 0;
    goto done;
stop: { /* Ctrl-C, SIGTERM or --max-steps: a checkpoint, then exit */
    const char *path = cfg.checkpoint[0] ? cfg.checkpoint : "lpt-interrupted.ckpt";
    if (!cfg.checkpoint[0]) { /* written here only now: checked and locked now */
        if (lpt_file_check_writable(path) || (lock_fd = lpt_file_lock(path)) < 0) goto fail;
        snprintf(cfg.checkpoint, sizeof cfg.checkpoint, "%s", path); /* unlocked at the end */
    }
    if (lpt_checkpoint_save(path, &cfg, &spec, &st, &net, &opt)) goto fail;
    if (qon) {
        lpt_stats_finish(&su, st.global_step - 1);
        if (cfg.stats_out[0] && lpt_stats_flush(&su, cfg.stats_out)) goto fail;
        if (!cfg.quiet && su.n) {
            if (cfg.progress) printf("\n");
            print_stats_summary(&su, fp16);
        }
    }
    char where[96];
    if (st.step_in_epoch == steps)
        snprintf(where, sizeof where, "during the evaluation (it runs again on resume)");
    else
        snprintf(where, sizeof where, "step %ld", st.step_in_epoch);
    printf("%s%s at epoch %d, %s; checkpoint written to %s (continue with --resume %s)\n",
           cfg.progress ? "\n" : "", g_interrupted ? "interrupted" : "stopped", st.epoch + 1, where, path, path);
    rc = g_interrupted ? 130 : 0;
    goto done;
}
fail:
    if (qon && su.e && cfg.stats_out[0]) { /* what the statistics unit saw, for the post-mortem */
        lpt_stats_finish(&su, st.global_step); /* the step that failed was observed in part */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", lpt_error_get());
        lpt_stats_flush(&su, cfg.stats_out);
        lpt_error_set("%s", keep);
    }
    fprintf(stderr, "%slpt train: %s\n", cfg.progress ? "\n" : "", lpt_error_get());
    rc = usage ? 2 : 1;
done:
    if (sig_on) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (lock_fd >= 0) lpt_file_unlock(cfg.checkpoint, lock_fd);
    if (health_on) lpt_health_free(&health);
    lpt_checkpoint_close(&ck);
    if (built) {
        lpt_sgd_free(&opt);
        lpt_net_free(&net);
    }
    if (be) lpt_backend_destroy(be);
    lpt_dataset_free(&train);
    lpt_dataset_free(&test);
    lpt_model_spec_free(&spec);
    if (qon) lpt_stats_free(&su);
    lpt_train_state_free(&st);
    free(x);
    free(y);
    free(perm);
    return rc;
}
