/* train.c - the training loop: batches, steps, evaluation, metrics, checkpoints,
 * progress, interruption and non-finite detection. */
#include "src/train.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/cost_cmd.h"
#include "src/dp.h"
#include "src/golden.h"
#include "src/shadow.h"
#include "src/health.h"
#include "src/step.h"
#include "src/train_run.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "src/base/isa.h"

static volatile sig_atomic_t g_interrupted;

static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
}

void lpt_train_state_free(lpt_train_state *st) {
    free(st->records);
    free(st->stats_text);
    st->records = NULL;
    st->stats_text = NULL;
}

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

/* The configuration: the command line's, or on --resume the checkpoint's with what a
 * resumed run may change. 0, or -1 with an error. */
static int run_config(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    if (!cfg->resume[0]) return lpt_model_spec_load(cfg->model, &r->spec);
    lpt_train_cfg saved = *cfg;
    if (lpt_checkpoint_open(cfg->resume, &r->ck, cfg, &r->spec, &r->st)) return -1;
    /* the run's trajectory comes from the checkpoint; these may change on resume */
    if (saved.epochs > 0) cfg->epochs = saved.epochs;
    if (saved.threads > 0)
        cfg->threads = saved.threads;
    else
        r->threads_from_ckpt = 1; /* the checkpoint's count keeps the run bit for bit */
    memcpy(cfg->data, saved.data, sizeof cfg->data);
    /* a resumed run goes on writing the checkpoint it came from, and the metrics and
     * statistics files the run wrote, unless told otherwise */
    if (saved.metrics_out[0]) memcpy(cfg->metrics_out, saved.metrics_out, sizeof cfg->metrics_out);
    if (saved.stats_out[0]) memcpy(cfg->stats_out, saved.stats_out, sizeof cfg->stats_out);
    r->stats_from_ckpt = !saved.stats_out[0] && cfg->stats_out[0];
    memcpy(cfg->checkpoint, saved.checkpoint, sizeof cfg->checkpoint);
    memcpy(cfg->resume, saved.resume, sizeof cfg->resume);
    if (!cfg->checkpoint[0]) memcpy(cfg->checkpoint, cfg->resume, sizeof cfg->checkpoint);
    cfg->max_steps = saved.max_steps;
    cfg->progress = saved.progress;
    cfg->quiet = saved.quiet;
    cfg->dead_steps = saved.dead_steps;
    cfg->device = saved.device;
    memcpy(cfg->cuda_graph, saved.cuda_graph, sizeof cfg->cuda_graph);
    memcpy(cfg->share_cores, saved.share_cores, sizeof cfg->share_cores);
    memcpy(cfg->memory_plan, saved.memory_plan, sizeof cfg->memory_plan);
    memcpy(cfg->overlap, saved.overlap, sizeof cfg->overlap);
    memcpy(cfg->grad_exchange, saved.grad_exchange, sizeof cfg->grad_exchange);
    memcpy(cfg->dp_timeline, saved.dp_timeline, sizeof cfg->dp_timeline);
    cfg->dp_timeline_step = saved.dp_timeline_step;
    cfg->exchange_chunk = saved.exchange_chunk;
    cfg->fail_on_dead = saved.fail_on_dead;
    memcpy(cfg->golden_layer, saved.golden_layer, sizeof cfg->golden_layer);
    memcpy(cfg->golden_out, saved.golden_out, sizeof cfg->golden_out);
    cfg->golden_step = saved.golden_step;
    cfg->golden_only = saved.golden_only;
    cfg->shadow_interval = saved.shadow_interval;
    if (cfg->golden_only) { /* lpt golden: one step, and nothing of the run is written */
        cfg->metrics_out[0] = cfg->stats_out[0] = cfg->checkpoint[0] = 0;
        cfg->max_steps = 0;
        if (r->st.epoch >= cfg->epochs) cfg->epochs = r->st.epoch + 1; /* a finished run: the next epoch's first step */
    }
    return 0;
}

/* A resumed run: parameters, momentum, dead-run checks and statistics unit as saved. */
static int run_restore(run_t *r) {
    const lpt_train_cfg *cfg = &r->cfg;
    if (lpt_checkpoint_restore(cfg->resume, &r->ck, &r->s.net, &r->s.opt)) return -1;
    lpt_checkpoint_close(&r->ck);
    if (r->st.step_in_epoch > r->steps) {
        lpt_error_set("%s: the checkpoint is at step %ld of an epoch but the data give %ld steps per epoch "
                      "(different data or --train-limit?)", cfg->resume, r->st.step_in_epoch, r->steps);
        return -1;
    }
    if (r->st.stats_text && lpt_health_load(&r->health, r->st.stats_text)) {
        lpt_error_prefix("%s: checkpoint", cfg->resume);
        return -1;
    }
    /* the statistics unit as it was saved, before anything is quantized (an evaluation
     * may come first: a run interrupted during one resumes there) */
    if (r->s.prec.active && lpt_prec_text_has_stats(r->st.stats_text) &&
        lpt_prec_restore(&r->s.prec, r->st.stats_text)) {
        lpt_error_prefix("%s: checkpoint", cfg->resume);
        return -1;
    }
    return 0;
}

/* Everything before the first step: outputs checked and locked, data, session, state. */
static int run_setup(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    if (lpt_train_check_stats_out(r)) return -1;
    /* every output is checked before any work, and the checkpoint is ours alone */
    if (check_output("checkpoint", cfg->checkpoint) || check_output("metrics-out", cfg->metrics_out) ||
        check_output("stats-out", cfg->stats_out))
        return -1;
    if ((cfg->golden_layer[0] || cfg->shadow_interval > 0) && cfg->shards > 1) {
        lpt_error_set("--%s: not with --shards yet (a shard is a pass of its own)",
                      cfg->golden_layer[0] ? "golden-layer" : "shadow-interval");
        r->usage = 1;
        return -1;
    }
    if (cfg->golden_layer[0] && !cfg->golden_out[0]) {
        lpt_error_set("--golden-layer needs --golden-out DIR: where the vectors go");
        r->usage = 1;
        return -1;
    }
    if (cfg->checkpoint[0] && (r->lock_fd = lpt_file_lock(cfg->checkpoint)) < 0) return -1;
    /* the statistics log starts empty, or on resume keeps the records of the steps the
     * checkpoint holds */
    if (cfg->stats_out[0] && lpt_train_stats_cut(cfg->stats_out, r->st.global_step)) return -1;
    if (lpt_dataset_load_dir(cfg->data, &r->train, &r->test)) return -1;
    lpt_dataset_truncate(&r->train, cfg->train_limit);
    lpt_dataset_truncate(&r->test, cfg->test_limit);
    /* with shards, the network holds one shard at a time */
    const int shards = cfg->shards > 1 ? cfg->shards : 1;
    if (lpt_session_open(&r->s, cfg, &r->spec, (cfg->batch + shards - 1) / shards, 1)) return -1;
    r->opened = 1;
    if (lpt_dp_self()->size > 1) lpt_train_dp_setup(r);
    lpt_net *net = &r->s.net;
    if (lpt_train_check_data(&r->spec, net->classes, cfg->model, cfg->data, &r->train, &r->test)) return -1;
    r->steps = (r->train.n + cfg->batch - 1) / cfg->batch;
    lpt_health_init(&r->health, cfg->dead_steps, lpt_health_chance(r->train.labels, r->train.n, net->classes), net);
    r->health_on = 1;
    r->s.health = &r->health;
    r->st.health = &r->health;
    if (!(r->st.loss_scale > 0)) r->st.loss_scale = lpt_prec_initial_loss_scale(&r->s.prec);
    if (cfg->resume[0]) {
        if (run_restore(r)) return -1;
        if (r->s.prec.calibrated) r->st.stats = &r->s.prec.stats;
    } else {
        lpt_net_init(net, cfg->seed);
        lpt_dataset_stats(&r->train, &r->st.mean, &r->st.std);
    }
    r->dead = (dead_log){.cfg = cfg, .stats = r->s.prec.active && cfg->stats_out[0] ? &r->s.prec.stats : NULL};
    if (lpt_feed_open(&r->ftrain, r->s.be, &r->train, (float)r->st.mean, (float)r->st.std) ||
        lpt_feed_open(&r->ftest, r->s.be, &r->test, (float)r->st.mean, (float)r->st.std))
        return -1;
    r->perm = lpt_xmalloc((size_t)r->train.n * sizeof *r->perm);
    if (cfg->golden_layer[0]) {
        if (lpt_golden_init(&r->golden, net, lpt_prec_q(&r->s.prec), cfg->golden_layer)) {
            r->usage = 1;
            return -1;
        }
        r->golden_on = 1;
        if (!cfg->golden_step) cfg->golden_step = r->st.global_step > 0 ? r->st.global_step : 1;
        if (cfg->golden_step < r->st.global_step) {
            lpt_error_set("--golden-step %ld: the run resumes at global step %ld, after it", cfg->golden_step,
                          r->st.global_step);
            r->usage = 1;
            return -1;
        }
    }
    if (cfg->shadow_interval > 0 && !(r->shadow = lpt_shadow_open(&r->s, &r->spec, cfg->batch))) {
        r->usage = 1;
        return -1;
    }
    return 0;
}

static int report_grads(void *arg, long step, const char *msg) { return dead_report(arg, step, msg, 0, 0); }

/* a shard of the step in progress into the network (lpt_step_args.feed) */
static void feed_shard(void *arg, int first, int n) {
    run_t *r = arg;
    lpt_feed_batch(&r->ftrain, &r->s.net, (int)(r->st.step_in_epoch * r->cfg.batch) + first, n);
}

static lpt_step_args step_args(run_t *r, int n) {
    lpt_train_cfg *cfg = &r->cfg;
    lpt_train_state *st = &r->st;
    return (lpt_step_args){.step = st->global_step, .n = n,
                           .lr = lpt_lr_at(&cfg->sgd, st->global_step, r->steps, cfg->epochs), .sgd = &cfg->sgd,
                           .seed = cfg->seed, .stats_interval = cfg->stats_interval, .loss_scale = &st->loss_scale,
                           .skipped = &st->skipped, .report = report_grads, .report_arg = &r->dead,
                           .shards = cfg->shards, .shard0 = lpt_dp_self()->rank * cfg->shards / lpt_dp_self()->size,
                           .nshards = cfg->shards / lpt_dp_self()->size, .feed = feed_shard, .feed_arg = r,
                           .exchange = lpt_dp_self()->size > 1 ? lpt_dp_exchange : NULL, .exchange_arg = lpt_dp_self(),
                           .sum_results = lpt_dp_self()->size > 1 ? lpt_dp_sum : NULL,
                           .gather = lpt_dp_self()->size > 1 ? lpt_dp_gather : NULL,
                           .overlap = strcmp(cfg->overlap, "on") == 0, .slice_start = lpt_dp_slice_start,
                           .progress = lpt_dp_progress, .slice_next = lpt_dp_slice_next,
                           .slice_wait = lpt_dp_slice_wait, .mark = lpt_dp_mark};
}

/* a step's failure code as the error to report; -1 */
static int step_failed(run_t *r, int rc, const lpt_step_out *o) {
    const lpt_train_state *st = &r->st;
    char where[160];
    if (o->first_step == st->global_step)
        snprintf(where, sizeof where, "at epoch %d, step %ld (global step %ld)", st->epoch + 1,
                 st->step_in_epoch + 1, st->global_step + 1);
    else /* a window of several steps was read at once (step.h) */
        snprintf(where, sizeof where, "in epoch %d, within global steps %ld-%ld", st->epoch + 1, o->first_step + 1,
                 st->global_step + 1);
    if (rc == LPT_STEP_NONFINITE)
        lpt_error_set("non-finite values (NaN or Inf) in the output of layer %s (%s) %s; stopping",
                      r->s.net.layers[o->bad_layer].name, r->s.net.layers[o->bad_layer].ops->type, where);
    if (rc == LPT_STEP_NONFINITE_LOSS) lpt_error_set("non-finite loss %s; stopping", where);
    return -1;
}

/* the numbers of a window of steps that was read, into the epoch's sums and the health
 * check; -1 when the check stops the run */
static int account(run_t *r, const lpt_step_out *o) {
    lpt_train_state *st = &r->st;
    if (o->read) {
        st->loss_sum += o->loss;
        st->correct += o->correct;
        st->seen += o->seen;
    }
    char msg[512];
    if (lpt_health_step(&r->health, st->global_step, o->read ? o->correct : 0, o->read ? o->seen : 0, msg,
                        sizeof msg) &&
        dead_report(&r->dead, st->global_step, msg, 0, 0))
        return -1;
    return 0;
}

/* One step of the epoch in progress: 0, 1 to stop (interrupt or --max-steps), -1 on failure. */
static int run_step(run_t *r, double *t_shown) {
    lpt_train_cfg *cfg = &r->cfg;
    lpt_train_state *st = &r->st;
    lpt_step_out o;
    /* read once, and agreed by every process: they stop at the same step */
    const int stop = lpt_dp_self()->size > 1 ? lpt_dp_max(g_interrupted) : g_interrupted;
    if (stop) g_interrupted = 1;
    if (stop || (cfg->max_steps > 0 && st->global_step >= cfg->max_steps)) {
        if (lpt_step_settle(&r->s)) return -1; /* (the last step's updates, before the checkpoint) */
        if (r->s.window_steps) { /* the steps since the last read, before the checkpoint */
            const lpt_step_args a = step_args(r, 0);
            st->global_step--, st->step_in_epoch--; /* the window's last step, for the messages */
            const int rc = lpt_step_read(&r->s, &a, &o);
            const int bad = rc ? step_failed(r, rc, &o) : account(r, &o);
            st->global_step++, st->step_in_epoch++;
            if (bad) return -1;
        }
        return 1;
    }
    const int at = (int)(st->step_in_epoch * cfg->batch);
    const int n = r->train.n - at < cfg->batch ? r->train.n - at : cfg->batch;
    if (cfg->shards <= 1) lpt_feed_batch(&r->ftrain, &r->s.net, at, n); /* (shards: fed one by one) */
    lpt_step_args a = step_args(r, n);
    const long g = st->global_step;
    const int every = r->s.read_every;
    const int plain_due = !cfg->progress && (st->step_in_epoch + 1) % (r->steps / 5 > 0 ? r->steps / 5 : 1) == 0;
    a.read = every == 1 || (g + 1) % every == 0 || st->step_in_epoch + 1 == r->steps || plain_due ||
             lpt_health_window_end(&r->health, g) || stop || (cfg->max_steps > 0 && g + 1 >= cfg->max_steps);
    lpt_dp_self()->step = g; /* (the exchange's stochastic rounding) */
    const int timeline = cfg->dp_timeline[0] && g == cfg->dp_timeline_step;
    const int golden_now = r->golden_on && !r->golden_done && g == cfg->golden_step;
    const int shadow_now = r->shadow && r->s.prec.calibrated && g % cfg->shadow_interval == 0;
    /* data parallel: this step's updates may wait for the next step's forward pass when
     * nothing else reads the weights before it (the epoch's end, a last step, a
     * timeline, golden vectors and the shadow settle them first) */
    a.defer = !timeline && st->step_in_epoch + 1 < r->steps && !(cfg->max_steps > 0 && g + 1 >= cfg->max_steps);
    if ((timeline || golden_now || shadow_now) && lpt_step_settle(&r->s)) return -1;
    if (timeline) lpt_dp_timeline_arm(lpt_dp_self());
    if (golden_now) r->s.tap = &r->golden.tap;
    if (shadow_now) r->s.tap = lpt_shadow_begin(r->shadow, &r->s, &a, golden_now ? &r->golden.tap : NULL);
    const int rc = lpt_step_train(&r->s, &a, &o);
    r->s.tap = NULL;
    if (rc) return rc > 0 ? step_failed(r, rc, &o) : -1;
    lpt_dp_self()->steps++;
    if (lpt_dp_self()->size > 1 && (g + 1) % cfg->stats_interval == 0 &&
        lpt_dp_interval_end(lpt_dp_self(), g, cfg->stats_out))
        return -1;
    if (shadow_now) lpt_shadow_end(r->shadow, &r->s.prec.stats, g);
    if (timeline && lpt_dp_timeline_write(lpt_dp_self(), cfg->dp_timeline)) return -1;
    if (golden_now) {
        const int grc = lpt_train_golden_write(r, g);
        if (grc) return grc;
    }
    lpt_stats_unit *su = &r->s.prec.stats;
    if (r->s.prec.active) st->stats = su; /* calibrated now: checkpoints carry the unit */
    if (o.interval_end) {
        if (dead_from_stats(&r->dead, st->global_step)) return -1;
        if (cfg->stats_out[0] && lpt_stats_flush(su, cfg->stats_out)) return -1;
        if (!cfg->stats_out[0]) su->log.len = 0; /* no log: the records are not kept */
    }
    if (account(r, &o)) return -1;
    st->global_step++;
    r->img_epoch += n;
    const double now = lpt_time_now();
    if (o.read && st->seen && ((cfg->progress && now - *t_shown > 0.2) || plain_due)) {
        lpt_train_progress(cfg, st->epoch, st->step_in_epoch + 1, r->steps, st->loss_sum / st->seen,
                      (double)st->correct / st->seen, r->img_epoch / (now - r->t_epoch), 0);
        *t_shown = now;
    }
    return 0;
}

/* The end of an epoch: its record, the evaluation, metrics and checkpoint. 0, 1 when
 * interrupted during the evaluation, -1 on failure. */
static int run_epoch_end(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    lpt_train_state *st = &r->st;
    if (lpt_step_settle(&r->s)) return -1; /* (data parallel: the last step's updates) */
    const double secs = lpt_time_now() - r->t_epoch;
    lpt_epoch_record rec = {.epoch = st->epoch + 1,
                            .step = st->global_step,
                            .lr = lpt_lr_at(&cfg->sgd, st->global_step - 1, r->steps, cfg->epochs),
                            .train_loss = st->seen ? st->loss_sum / st->seen : 0.0,
                            .train_acc = st->seen ? (double)st->correct / st->seen : 0.0,
                            .images_per_s = secs > 0 ? r->img_epoch / secs : 0.0,
                            .seconds = secs};
    double cost[4]; /* the step at the formats in use now */
    lpt_train_cost(&r->s.net, &r->s.prec, cfg->batch, cost);
    rec.energy_mj = cost[0], rec.dram_mib = cost[1], rec.energy_ratio = cost[2];
    if (cfg->progress)
        lpt_train_progress(cfg, st->epoch, r->steps, r->steps, rec.train_loss, rec.train_acc, rec.images_per_s, 1);
    char label[64];
    snprintf(label, sizeof label, "epoch %d/%d", st->epoch + 1, cfg->epochs);
    if (!cfg->quiet && !cfg->progress) {
        printf("%s  evaluating %d test images\n", label, r->test.n);
        fflush(stdout);
    }
    /* (data parallel: an evaluation is not cut short; the next step's agreement stops) */
    const int ev = lpt_evaluate(&r->s.net, lpt_prec_q(&r->s.prec), &r->ftest, &rec.test_loss, &rec.test_acc,
                                lpt_dp_self()->size > 1 ? NULL : &g_interrupted, cfg->progress && !cfg->quiet ? label : NULL);
    if (ev > 0) return 1; /* interrupted: the checkpoint holds the finished steps */
    if (ev < 0) {
        lpt_error_set("non-finite values in the evaluation at the end of epoch %d; stopping", st->epoch + 1);
        return -1;
    }
    if (!cfg->quiet)
        printf("epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f img/s  %.1f s\n", rec.epoch,
               cfg->epochs, rec.train_loss, 100 * rec.train_acc, rec.test_loss, 100 * rec.test_acc, rec.images_per_s,
               rec.seconds);
    st->records = realloc(st->records, (size_t)(st->nrecords + 1) * sizeof *st->records);
    if (!st->records) {
        lpt_error_set("out of memory");
        return -1;
    }
    st->records[st->nrecords++] = rec;
    st->step_in_epoch = 0;
    st->loss_sum = 0.0;
    st->correct = st->seen = 0;
    if (cfg->metrics_out[0] && lpt_train_metrics_write(cfg->metrics_out, st)) return -1;
    /* the interval in progress goes into the checkpoint (data parallel: every process
     * takes part in the sync, which merges the processes' statistics) */
    if (cfg->checkpoint[0] || lpt_dp_self()->size > 1) lpt_prec_sync(&r->s.prec);
    if (cfg->checkpoint[0]) {
        lpt_train_state next = *st;
        next.epoch = st->epoch + 1;
        if (lpt_checkpoint_save(cfg->checkpoint, cfg, &r->spec, &next, &r->s.net, &r->s.opt)) return -1;
    }
    fflush(stdout);
    return 0;
}

/* Every epoch: 0 when done, 1 to stop (interrupt, --max-steps), -1 on failure. */
static int run_epochs(run_t *r) {
    lpt_train_state *st = &r->st;
    double t_shown = 0.0;
    for (; st->epoch < r->cfg.epochs; st->epoch++) {
        lpt_rng_permutation(r->cfg.seed, LPT_STREAM_SHUFFLE, (uint64_t)st->epoch, r->perm, r->train.n);
        lpt_feed_order(&r->ftrain, r->perm);
        r->t_epoch = lpt_time_now();
        r->img_epoch = 0;
        for (; st->step_in_epoch < r->steps; st->step_in_epoch++) {
            const int rc = run_step(r, &t_shown);
            if (rc) return rc;
        }
        const int rc = run_epoch_end(r);
        if (rc) return rc;
    }
    return 0;
}

/* After the last epoch: the statistics unit's last records, the summary, the verdict. */
static int run_finish(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    lpt_train_state *st = &r->st;
    if (lpt_step_settle(&r->s) || lpt_dp_end(lpt_dp_self(), st->global_step - 1, cfg->stats_out)) return -1;
    lpt_prec *p = &r->s.prec;
    if (p->active && p->calibrated) {
        lpt_prec_sync(p);
        lpt_stats_finish(&p->stats, st->global_step - 1);
        if (dead_from_stats(&r->dead, st->global_step - 1)) return -1;
        if (cfg->stats_out[0] && lpt_stats_flush(&p->stats, cfg->stats_out)) return -1;
    }
    if (r->golden_on && !r->golden_done) {
        lpt_error_set("--golden-step %ld: the run ended at global step %ld without reaching it", cfg->golden_step,
                      st->global_step);
        return -1;
    }
    if (r->shadow && !cfg->quiet) lpt_shadow_print(r->shadow);
    if (st->nrecords == 0) return 0;
    const lpt_epoch_record *rec = &st->records[st->nrecords - 1];
    if (p->active && !cfg->quiet) {
        lpt_prec_print_summary(p);
        if (p->fp16) printf("fp16 loss scale %g, %llu steps skipped on Inf/NaN\n", (double)st->loss_scale, st->skipped);
    }
    if (!cfg->quiet) lpt_train_print_cost(&r->s.net, p, cfg->precision, cfg->batch);
    const lpt_dp *d = lpt_dp_self();
    if (d->size > 1 && !cfg->quiet && st->global_step > 0)
        printf("data parallel: %d processes, %d shard%s each; %.3f MiB of gradients sent and received per step and "
               "process, %.3f ms per step waiting for the exchange (--overlap %s)\n", d->size, cfg->shards / d->size,
               cfg->shards / d->size == 1 ? "" : "s", d->bytes / (d->steps ? d->steps : 1) / (1 << 20),
               1e3 * d->seconds / (d->steps ? d->steps : 1), cfg->overlap);
    if (d->size > 1 && !cfg->quiet && d->format[0])
        printf("gradient exchange in %s: %.3f%% of the nonzero gradients rounded to zero, %.0f saturated\n", d->format,
               d->q_nonzero > 0 ? 100.0 * d->q_underflow / d->q_nonzero : 0.0, d->q_saturated);
    const double chance = lpt_health_chance(r->test.labels, r->test.n, r->s.net.classes);
    if (cfg->dead_steps > 0 && rec->test_acc < chance + LPT_HEALTH_MARGIN) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "test accuracy %.2f%% is at chance (%.2f%% for always guessing the most frequent "
                 "class): this run did not learn",
                 100 * rec->test_acc, 100 * chance);
        if (dead_report(&r->dead, st->global_step - 1, msg, 0, 1)) return -1;
        if (p->active && cfg->stats_out[0] && lpt_stats_flush(&p->stats, cfg->stats_out)) return -1;
    }
    printf("done: %d epoch%s, test accuracy %.2f%%, test loss %.4f%s\n", st->nrecords, st->nrecords == 1 ? "" : "s",
           100 * rec->test_acc, rec->test_loss, r->dead.count ? " (flagged as dead: see the warnings)" : "");
    if (r->dead.count)
        fprintf(stderr, "lpt: warning: %d dead-run condition%s reported; the first: %s\n", r->dead.count,
                r->dead.count == 1 ? "" : "s", r->dead.first);
    return 0;
}

/* Ctrl-C, SIGTERM or --max-steps: a checkpoint, then the exit status (130 or 0), or -1. */
static int run_stop(run_t *r) {
    lpt_train_cfg *cfg = &r->cfg;
    lpt_train_state *st = &r->st;
    lpt_prec *p = &r->s.prec;
    const char *path = cfg->checkpoint[0] ? cfg->checkpoint : "lpt-interrupted.ckpt";
    if (lpt_dp_end(lpt_dp_self(), st->global_step - 1, cfg->stats_out)) return -1;
    if (lpt_dp_self()->rank > 0) { /* the first rank writes the checkpoint; the syncs are everyone's */
        lpt_prec_sync(p);
        if (p->active && p->calibrated) lpt_prec_sync(p);
        return g_interrupted ? 130 : 0;
    }
    if (!cfg->checkpoint[0]) { /* written here only now: checked and locked now */
        if (lpt_file_check_writable(path) || (r->lock_fd = lpt_file_lock(path)) < 0) return -1;
        snprintf(cfg->checkpoint, sizeof cfg->checkpoint, "%s", path); /* unlocked at the end */
    }
    lpt_prec_sync(p); /* the interval in progress goes into the checkpoint */
    if (lpt_checkpoint_save(path, cfg, &r->spec, st, &r->s.net, &r->s.opt)) return -1;
    if (p->active && p->calibrated) {
        lpt_prec_sync(p);
        lpt_stats_finish(&p->stats, st->global_step - 1);
        if (cfg->stats_out[0] && lpt_stats_flush(&p->stats, cfg->stats_out)) return -1;
        if (!cfg->quiet) {
            if (cfg->progress) printf("\n");
            lpt_prec_print_summary(p);
        }
    }
    char where[96];
    if (st->step_in_epoch == r->steps)
        snprintf(where, sizeof where, "during the evaluation (it runs again on resume)");
    else
        snprintf(where, sizeof where, "step %ld", st->step_in_epoch);
    printf("%s%s at epoch %d, %s; checkpoint written to %s (continue with --resume %s)\n", cfg->progress ? "\n" : "",
           g_interrupted ? "interrupted" : "stopped", st->epoch + 1, where, path, path);
    return g_interrupted ? 130 : 0;
}

/* A failure: what the statistics unit saw (for the post-mortem), one error line. */
static int run_fail(run_t *r) {
    lpt_prec *p = &r->s.prec;
    if (lpt_dp_self()->size > 1) { /* one process alone may fail: no collective now, end them all */
        fprintf(stderr, "lpt train (process %d of %d): %s\n", lpt_dp_self()->rank, lpt_dp_self()->size, lpt_error_get());
        lpt_dp_abort(r->usage ? 2 : 1);
    }
    if (r->opened && p->active && p->calibrated && r->cfg.stats_out[0]) {
        lpt_prec_sync(p);
        lpt_stats_finish(&p->stats, r->st.global_step); /* the step that failed was observed too */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", lpt_error_get());
        lpt_stats_flush(&p->stats, r->cfg.stats_out);
        lpt_error_set("%s", keep);
    }
    fprintf(stderr, "%slpt %s: %s\n", r->cfg.progress ? "\n" : "", r->cfg.golden_only ? "golden" : "train", lpt_error_get());
    return r->usage ? 2 : 1;
}

static void run_close(run_t *r) {
    if (r->lock_fd >= 0) lpt_file_unlock(r->cfg.checkpoint, r->lock_fd);
    if (r->health_on) lpt_health_free(&r->health);
    lpt_checkpoint_close(&r->ck);
    lpt_feed_close(&r->ftrain);
    lpt_feed_close(&r->ftest);
    if (r->golden_on) lpt_golden_free(&r->golden);
    lpt_shadow_close(r->shadow);
    if (r->opened) lpt_session_close(&r->s);
    lpt_dataset_free(&r->train);
    lpt_dataset_free(&r->test);
    lpt_model_spec_free(&r->spec);
    lpt_train_state_free(&r->st);
    free(r->perm);
}

int lpt_train_run(const lpt_train_cfg *cfg_in) {
    run_t *r = lpt_xcalloc(1, sizeof *r);
    r->cfg = *cfg_in;
    r->lock_fd = -1;
    /* Ctrl-C from the start: while the data load, a signal ends the run with a checkpoint
     * at its first step (or with the one it resumed from), never killed half-way */
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    g_interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = -1;
    if (run_config(r) == 0 && (lpt_dp_self()->size == 1 || lpt_train_dp_config(r) == 0) && run_setup(r) == 0) {
        lpt_train_banner(r);
        rc = run_epochs(r);
        if (rc == 0) rc = run_finish(r);
        else if (rc == 1) rc = run_stop(r);
        else if (rc == 2) rc = 0; /* lpt golden: written, nothing else */
    }
    if (rc < 0) rc = run_fail(r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    run_close(r);
    free(r);
    return rc;
}
