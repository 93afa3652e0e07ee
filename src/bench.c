/* bench.c - `lpt bench`: images/s of full training steps (forward, loss, backward, SGD)
 * on synthetic data, for each thread count asked, and optionally where the time goes
 * layer by layer. Benchmarks live here, never in the test suite. */
#include "src/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "src/args.h"
#include "src/net.h"
#include "src/optim.h"
#include "src/step.h"
#include "src/train.h"
#include "src/base/rng.h"
#include "src/base/util.h"

typedef struct {
    double images_per_s, ms_per_step, stats_share;
    double syncs_per_step; /* host reads of backend results per step */
    int has_stats;   /* a statistics unit ran (low precision) */
    int min_workers; /* fewest threads that ran a timed step (--share-cores) */
    /* profiled (--profile, --scaling): ms per step of each layer's passes and of the rest
     * (input, loss, update); the caller frees */
    double *fwd_ms, *bwd_ms, rest_ms;
    int nlayers;
} bench_result;

/* a profiled run's per-layer times in res as ms per step (the scaling model), taken
 * from *tf and *tb (seconds over n steps; freed when not kept) */
static void keep_profile(bench_result *res, int nlayers, double **tf, double **tb, double total, int n) {
    res->nlayers = 0, res->fwd_ms = res->bwd_ms = NULL;
    if (nlayers > 0 && n > 0) {
        double layers = 0;
        for (int i = 0; i < nlayers; i++) {
            layers += (*tf)[i] + (*tb)[i];
            (*tf)[i] *= 1e3 / n, (*tb)[i] *= 1e3 / n;
        }
        res->fwd_ms = *tf, res->bwd_ms = *tb, res->nlayers = nlayers;
        res->rest_ms = 1e3 * (total - layers) / n;
        *tf = *tb = NULL;
    }
    free(*tf);
    free(*tb);
}

/* the per-layer time table of a profiled run */
static void print_profile(const lpt_session *s, int threads, int batch, const double *tf, const double *tb,
                          double t_in, double total, int steps) {
    const lpt_net *net = &s->net;
    double sum_layers = 0;
    for (int i = 0; i < net->nlayers; i++) sum_layers += tf[i] + tb[i];
    const double t_rest = total - sum_layers - t_in;
    printf("profile (%s, %d thread%s, batch %d): ms per step and share of the step\n", s->be->name, threads,
           threads == 1 ? "" : "s", batch);
    printf("  %-10s %-10s %10s %10s %7s\n", "layer", "type", "fwd ms", "bwd ms", "share");
    for (int i = 0; i < net->nlayers; i++)
        printf("  %-10s %-10s %10.3f %10.3f %6.1f%%\n", net->layers[i].name, net->layers[i].ops->type,
               1e3 * tf[i] / steps, 1e3 * tb[i] / steps, 100 * (tf[i] + tb[i]) / total);
    printf("  %-21s %10.3f %17.1f%%\n", "input copy", 1e3 * t_in / steps, 100 * t_in / total);
    printf("  %-21s %10.3f %17.1f%%\n", "loss, update, rest", 1e3 * t_rest / steps, 100 * t_rest / total);
}

/* Full training steps (lpt_step_train, as `lpt train` runs them) on synthetic data. */
/* what every run of one `lpt bench` shares */
typedef struct {
    const char *backend, *cuda_graph, *share_cores, *memory_plan;
    int batch, steps, warmup, profile, no_recompute, device, tf32;
    float lr;
    int quiet_profile; /* profile for the scaling model, without the table */
} bench_setup;

enum { BENCH_BATCHES = 8 }; /* distinct batches of the synthetic dataset, cycled */

/* A synthetic dataset of BENCH_BATCHES batches in the model's input shape, for a feed
 * in backend memory: the benchmark's data path is the training's (gather per step). */
static void synthetic_data(const lpt_net *net, int batch, lpt_dataset *d) {
    const lpt_shape *in = &net->act[0].shape;
    *d = (lpt_dataset){.n = batch * BENCH_BATCHES, .c = in->dim[1], .h = in->ndim > 2 ? in->dim[2] : 1,
                       .w = in->ndim > 3 ? in->dim[3] : 1, .classes = net->classes};
    const size_t item = lpt_shape_item_count(in);
    d->images = lpt_xmalloc((size_t)d->n * item);
    d->labels = lpt_xmalloc((size_t)d->n * sizeof *d->labels);
    for (size_t i = 0; i < (size_t)d->n * item; i++) d->images[i] = (uint8_t)(lpt_rng_bits(7, 0, i) >> 56);
    for (int i = 0; i < d->n; i++) d->labels[i] = (int32_t)(lpt_rng_bits(7, 1, (uint64_t)i) % (uint64_t)net->classes);
}

/* the run configuration of one benchmark */
static void bench_cfg(const bench_setup *bs, const char *precision, int threads, lpt_train_cfg *tc) {
    lpt_train_cfg_defaults(tc);
    snprintf(tc->precision, sizeof tc->precision, "%s", precision);
    snprintf(tc->backend, sizeof tc->backend, "%s", bs->backend);
    tc->threads = threads;
    tc->recompute = !bs->no_recompute;
    tc->device = bs->device;
    tc->tf32 = bs->tf32;
    snprintf(tc->cuda_graph, sizeof tc->cuda_graph, "%s", bs->cuda_graph);
    snprintf(tc->share_cores, sizeof tc->share_cores, "%s", bs->share_cores);
    snprintf(tc->memory_plan, sizeof tc->memory_plan, "%s", bs->memory_plan);
}

static int bench_one(const lpt_model_spec *spec, const bench_setup *bs, const char *precision, int threads,
                     bench_result *res) {
    const int batch = bs->batch, steps = bs->steps, warmup = bs->warmup, profile = bs->profile;
    lpt_train_cfg tc;
    bench_cfg(bs, precision, threads, &tc);
    lpt_session s;
    if (lpt_session_open(&s, &tc, spec, batch, 1)) return -1;
    lpt_net *net = &s.net;
    lpt_backend *be = s.be;
    lpt_net_init(net, 1);
    lpt_dataset data;
    synthetic_data(net, batch, &data);
    lpt_feed feed;
    if (lpt_feed_open(&feed, be, &data, 0.5f, 0.5f)) {
        lpt_dataset_free(&data);
        lpt_session_close(&s);
        return -1;
    }
    lpt_sgd_cfg sc = {.lr = bs->lr, .momentum = 0.9f, .wd = 5e-4f};
    float loss_scale = lpt_prec_initial_loss_scale(&s.prec);
    unsigned long long skipped = 0;
    double *tf = lpt_xcalloc((size_t)net->nlayers, sizeof *tf), *tb = lpt_xcalloc((size_t)net->nlayers, sizeof *tb);
    double t_in = 0, total = 0, total_off = 0;
    const int qon = s.prec.active;
    /* With a statistics unit, its cost is measured as a difference: blocks of steps with
     * the analysis on alternate with blocks that quantize at the current FLs without it
     * (same work otherwise), `steps` of each; short blocks, so that the machine's drift
     * over a run falls on both alike. */
    const int blk = 5, all = qon ? 2 * steps : steps;
    int n_on = 0, n_off = 0, rc = 0;
    const int every = s.read_every;
    uint64_t syncs = 0; /* host reads of backend results in the counted steps */
    res->min_workers = be->threads;
    for (int i = 0; i < warmup + all && !rc; i++) {
        const int timed = i >= warmup, off = qon && timed && ((i - warmup) / blk) % 2 == 1;
        const int counted = timed && !off && n_on < steps;
        s.prec.q.no_analysis = off;
        net->t_fwd = profile && counted ? tf : NULL;
        net->t_bwd = profile && counted ? tb : NULL;
        const uint64_t syncs_before = be->syncs;
        double a = lpt_time_now();
        lpt_feed_batch(&feed, net, (i % BENCH_BATCHES) * batch, batch);
        double b = lpt_time_now();
        /* results read as training reads them, and at the ends of the warm-up, of each
         * block and of the run, so that each timed span holds its own work */
        const int read = (i + 1) % every == 0 || i == warmup - 1 || i == warmup + all - 1 ||
                         (qon && timed && (i - warmup + 1) % blk == 0);
        const lpt_step_args sa = {.step = i, .n = batch, .lr = bs->lr, .sgd = &sc, .seed = 1,
                                  .stats_interval = tc.stats_interval, .loss_scale = &loss_scale, .skipped = &skipped,
                                  .read = read};
        lpt_step_out o;
        rc = lpt_step_train(&s, &sa, &o) == LPT_STEP_OK ? 0 : -1;
        if (o.interval_end) s.prec.stats.log.len = 0; /* records are not kept in a benchmark */
        double f = lpt_time_now();
        if (off) {
            total_off += f - a, n_off++;
        } else if (counted) {
            syncs += be->syncs - syncs_before;
            if (be->workers < res->min_workers) res->min_workers = be->workers;
            total += f - a, n_on++;
            t_in += b - a;
        }
    }
    if (rc) lpt_error_set("the benchmark's training step produced non-finite values (precision %s)", precision);
    res->images_per_s = (double)batch * n_on / total;
    res->ms_per_step = 1e3 * total / n_on;
    res->stats_share = qon && n_off ? 1.0 - (total_off / n_off) / (total / n_on) : 0;
    res->has_stats = qon;
    res->syncs_per_step = n_on ? (double)syncs / n_on : 0;
    if (profile && !rc && !bs->quiet_profile) print_profile(&s, threads, batch, tf, tb, t_in, total, n_on);
    keep_profile(res, profile && !rc ? net->nlayers : 0, &tf, &tb, total, n_on);
    lpt_feed_close(&feed);
    lpt_dataset_free(&data);
    lpt_session_close(&s);
    return rc;
}

/* --threads: up to 16 counts; their number, or -1 after an error line. */
static int parse_threads(char *threads, int *tlist) {
    int nt = 0;
    for (char *save = NULL, *t = strtok_r(threads, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < 1 || v > 256 || nt == 16) {
            fprintf(stderr, "lpt bench: --threads expects up to 16 counts in [1, 256], got '%s'\n", t);
            return -1;
        }
        tlist[nt++] = (int)v;
    }
    return nt;
}

/* One result line (or JSON record); base_ms: the first precision's step time. */
static void print_result(const char *model, const char *backend, const char *p, int threads, int batch,
                         const bench_result *rr, double base_ms, int json) {
    const bench_result r = *rr;
    char share_json[32] = "null"; /* no statistics unit in the run */
    if (r.has_stats) snprintf(share_json, sizeof share_json, "%.4f", r.stats_share);
    if (json)
        printf("{\"engine\": \"lpt\", \"model\": \"%s\", \"backend\": \"%s\", \"precision\": "
               "\"%s\", \"threads\": %d, \"batch\": %d, \"images_per_s\": %.1f, "
               "\"ms_per_step\": %.3f, \"step_time_ratio\": %.3f, \"stats_share\": %s, "
               "\"syncs_per_step\": %.2f, \"min_workers\": %d}\n",
               model, backend, p, threads, batch, r.images_per_s, r.ms_per_step,
               r.ms_per_step / base_ms, share_json, r.syncs_per_step, r.min_workers);
    else {
        char share[160] = "";
        if (r.has_stats && r.stats_share >= 0)
            snprintf(share, sizeof share, "; statistics unit %.1f%% of the step, against the same steps "
                     "without it", 100 * r.stats_share);
        else if (r.has_stats) /* the on/off difference is a noisy measure */
            snprintf(share, sizeof share, "; statistics unit below the noise of the measure (%.1f%%)",
                     100 * r.stats_share);
        char workers[96] = "";
        if (r.min_workers < threads)
            snprintf(workers, sizeof workers, "; down to %d worker%s while other processes kept cores busy",
                     r.min_workers, r.min_workers == 1 ? "" : "s");
        printf("lpt bench: %s %s %s, %d thread%s, batch %d: %.0f images/s (%.3f ms/step, %.2fx the "
               "first precision%s; %.2f host syncs per step%s)\n",
               model, p, backend, threads, threads == 1 ? "" : "s", batch, r.images_per_s,
               r.ms_per_step, r.ms_per_step / base_ms, share, r.syncs_per_step, workers);
    }
}

/* every precision of a '/'-separated list parses, and the switches are on or off; -1
 * (said) when not */
static int check_choices(const char *precisions, const bench_setup *bs) {
    lpt_train_cfg sw;
    bench_cfg(bs, "fp32", 1, &sw);
    if (lpt_session_check_switches(&sw) != 0) {
        fprintf(stderr, "lpt bench: %s\n", lpt_error_get());
        return -1;
    }
    char plist[256];
    snprintf(plist, sizeof plist, "%s", precisions);
    for (char *ps = NULL, *p = strtok_r(plist, "/", &ps); p; p = strtok_r(NULL, "/", &ps)) {
        lpt_train_cfg tc;
        lpt_train_cfg_defaults(&tc);
        snprintf(tc.precision, sizeof tc.precision, "%s", p);
        if (lpt_prec_check(&tc) != 0) {
            fprintf(stderr, "lpt bench: --precision: %s\n", lpt_error_get());
            return -1;
        }
    }
    return 0;
}

/* --scaling: one profiled fp32 run, each layer's gradient bytes, the model's table */
static int run_scaling(const lpt_model_spec *spec, const bench_setup *bs, const char *model, int threads,
                       const char *link, float latency, float bandwidth, int json) {
    lpt_link k;
    if (!strcmp(link, "loopback")) /* fitted to mpirun -np 2 here: 0.247 MB gathered in 0.100 ms */
        k = (lpt_link){"loopback: OpenMPI shared memory, fitted on this machine", 1.0, 2.5};
    else if (!strcmp(link, "ib100")) /* 100 Gb/s line rate; about 1 us MPI latency (EDR) */
        k = (lpt_link){"100 Gb/s InfiniBand EDR: line rate, ~1 us MPI latency", 1.0, 12.5};
    else {
        fprintf(stderr, "lpt bench: --link: '%s' is not loopback or ib100\n", link);
        return 2;
    }
    if (latency >= 0) k.latency_us = latency, k.name = "given";
    if (bandwidth > 0) k.bandwidth_gbs = bandwidth, k.name = "given";
    bench_result r;
    lpt_net net;
    if (bench_one(spec, bs, "fp32", threads, &r) || !r.fwd_ms ||
        lpt_net_build_plan(&net, NULL, spec, bs->batch, LPT_NET_DRY)) {
        fprintf(stderr, "lpt bench: --scaling: %s\n", lpt_error_get());
        free(r.fwd_ms), free(r.bwd_ms);
        return 1;
    }
    double *gb = lpt_xcalloc((size_t)net.nlayers + 1, sizeof *gb), total = 0;
    for (int i = 0; i < net.nlayers; i++) {
        lpt_param ps[LPT_LAYER_MAX_PARAMS];
        const int np = net.layers[i].ops->params(&net.layers[i], ps);
        for (int j = 0; j < np; j++)
            if (ps[j].grad) gb[i] += (double)lpt_tensor_count(ps[j].grad) * sizeof(float);
        total += gb[i];
    }
    const lpt_scaling_in in = {model, bs->batch, net.nlayers, r.fwd_ms, r.bwd_ms, gb, r.rest_ms, total};
    const int rc = lpt_bench_scaling(&in, &k, json);
    free(gb), free(r.fwd_ms), free(r.bwd_ms);
    lpt_net_free(&net);
    return rc;
}

/* every precision (plist, '/'-separated, modified) at every thread count; 0 or 1 (said) */
static int run_all(const lpt_model_spec *spec, const bench_setup *bs, const char *model, char *plist, const int *tlist,
                   int nt, int json) {
    double base_ms[16] = {0};
    for (char *ps = NULL, *p = strtok_r(plist, "/", &ps); p; p = strtok_r(NULL, "/", &ps))
        for (int i = 0; i < nt; i++) {
            bench_result r;
            if (bench_one(spec, bs, p, tlist[i], &r)) {
                fprintf(stderr, "lpt bench: %s\n", lpt_error_get());
                return 1;
            }
            if (base_ms[i] == 0) base_ms[i] = r.ms_per_step; /* the first precision is the baseline */
            print_result(model, bs->backend, p, tlist[i], bs->batch, &r, base_ms[i], json);
            free(r.fwd_ms), free(r.bwd_ms);
            fflush(stdout);
        }
    return 0;
}

/* the model spec, built once to check it: 0, or -1 (said) */
static int load_model(const char *model, lpt_model_spec *spec) {
    if (lpt_model_spec_load(model, spec)) {
        fprintf(stderr, "lpt bench: --model: %s\n", lpt_error_get());
        return -1;
    }
    if (lpt_net_check_spec(spec)) {
        fprintf(stderr, "lpt bench: --model: %s\n", lpt_error_get());
        lpt_model_spec_free(spec);
        return -1;
    }
    return 0;
}

int lpt_bench_main(int argc, char **argv) {
    char model[512] = "lenet5", backend[16] = "cpu", threads[64] = "1,2", precisions[256] = "fp32", graph[4] = "on",
         share[4] = "on", plan[4] = "on";
    int batch = 64, steps = 200, warmup = 20, profile = 0, json = 0, quantize = 0, mib = 64, reps = 5, no_recompute = 0;
    int device = 0, tf32 = 0, memory = 0, budget = 0, scaling = 0;
    float lr = 0.01f, latency = -1, bandwidth = -1;
    char link[16] = "loopback";
    char formats[512] = "fp16,bf16,fp8-e4m3,fp8-e5m2,dfp8,dfp16,fp16:sr,dfp8:sr,dfp8:rtz:wrap,fp8-e4m3:rdn",
         isa[32] = "", gemm[512] = "";
    lpt_opt o[] = {
        {"model", LPT_OPT_STR, model, sizeof model, 0, 0, "NAME|FILE", "model [lenet5]", 0},
        {"backend", LPT_OPT_STR, backend, sizeof backend, 0, 0, "NAME", "a backend of this build (lpt --help lists them) [cpu]", 0},
        {"batch", LPT_OPT_INT, &batch, 0, 1, 65536, "N", "batch size [64]", 0},
        {"precision", LPT_OPT_STR, precisions, sizeof precisions, 0, 0, "LIST", "training precisions, separated by '/' (e.g. fp32/int8-dyn/int16-dyn) [fp32]", 0},
        {"threads", LPT_OPT_STR, threads, sizeof threads, 0, 0, "LIST", "thread counts, comma-separated [1,2]", 0},
        {"steps", LPT_OPT_INT, &steps, 0, 1, 1000000, "N", "timed steps [200]", 0},
        {"warmup", LPT_OPT_INT, &warmup, 0, 0, 1000000, "N", "untimed steps first [20]", 0},
        {"device", LPT_OPT_INT, &device, 0, 0, 1024, "N", "GPU backends: the device to run on [0]", 0},
        {"tf32", LPT_OPT_FLAG, &tf32, 0, 0, 0, NULL, "GPU backends: fp32 GEMMs may use TF32 Tensor Cores", 0},
        {"cuda-graph", LPT_OPT_STR, graph, sizeof graph, 0, 0, "on|off", "GPU backends: replay the recorded step [on]", 0},
        {"share-cores", LPT_OPT_STR, share, sizeof share, 0, 0, "on|off", "CPU: fewer workers while other processes keep cores busy [on]", 0},
        {"lr", LPT_OPT_FLOAT, &lr, 0, 0, 10, "X", "learning rate of the timed steps [0.01]", 0},
        {"scaling", LPT_OPT_FLAG, &scaling, 0, 0, 0, NULL, "instead: the data-parallel scaling model to 512 processes from a profiled step", 0},
        {"link", LPT_OPT_STR, link, sizeof link, 0, 0, "NAME", "--scaling: loopback (fitted here) or ib100 (100 Gb/s InfiniBand) [loopback]", 0},
        {"latency-us", LPT_OPT_FLOAT, &latency, 0, 0, 1e6, "X", "--scaling: the link's latency, over --link's", 0},
        {"bandwidth-gbs", LPT_OPT_FLOAT, &bandwidth, 0, 1e-6, 1e6, "X", "--scaling: the link's bandwidth in GB/s, over --link's", 0},
        {"memory-plan", LPT_OPT_STR, plan, sizeof plan, 0, 0, "on|off", "the memory planner for the timed runs (as lpt train --memory-plan) [on]", 0},
        {"memory", LPT_OPT_FLAG, &memory, 0, 0, 0, NULL, "instead: the work tensors with their sizes and lifetimes, peak bytes planned and unplanned", 0},
        {"memory-budget", LPT_OPT_INT, &budget, 0, 1, 1 << 24, "MIB", "--memory: also the largest batch whose memory fits MIB, planned and unplanned", 0},
        {"no-recompute", LPT_OPT_FLAG, &no_recompute, 0, 0, 0, NULL, "dfp: without the recompute rule (as lpt train --no-recompute)", 0},
        {"profile", LPT_OPT_FLAG, &profile, 0, 0, 0, NULL, "per-layer time table", 0},
        {"json", LPT_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON line per result", 0},
        {"quantize", LPT_OPT_FLAG, &quantize, 0, 0, 0, NULL, "benchmark the quantizers instead (one core, vs memcpy)", 0},
        {"formats", LPT_OPT_STR, formats, sizeof formats, 0, 0, "LIST", "--quantize: format specs, comma-separated", 0},
        {"size-mib", LPT_OPT_INT, &mib, 0, 1, 16384, "N", "--quantize: tensor size [64]", 0},
        {"reps", LPT_OPT_INT, &reps, 0, 1, 1000, "N", "--quantize: repetitions, best kept [5]", 0},
        {"isa", LPT_OPT_STR, isa, sizeof isa, 0, 0, "LEVEL", "--quantize: force base, x86-64-v3 or x86-64-v4 kernels", 0},
        {"gemm", LPT_OPT_STR, gemm, sizeof gemm, 0, 0, "M,N,K[/...]", "benchmark the backend's matrix products instead (fp32, fp16, bf16)", 0},
    };
    int rc = lpt_args_parse("bench", "[options]", o, (int)(sizeof o / sizeof o[0]), argc, argv, 2, NULL, 0, NULL);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (quantize) return lpt_bench_quantize(mib, formats, reps, isa, json);
    int tlist[16];
    const int nt = parse_threads(threads, tlist);
    if (nt < 0) return 2;
    if (!lpt_backend_known(backend)) {
        fprintf(stderr, "lpt bench: --backend: %s\n", lpt_backend_why_unknown(backend));
        return 2;
    }
    const bench_setup bs = {backend, graph, share, plan, batch, steps, warmup, profile || scaling, no_recompute, device,
                            tf32, lr, scaling};
    if (check_choices(precisions, &bs)) return 2;
    if (gemm[0]) {
        const lpt_backend_opts bo = {.threads = tlist[0], .device = device, .tf32 = tf32};
        return lpt_bench_gemm(backend, &bo, gemm, json);
    }
    char plist[256];
    lpt_model_spec spec;
    if (load_model(model, &spec)) return 2;
    if (memory || scaling) {
        rc = memory ? lpt_bench_memory(&spec, batch, budget, json)
                    : run_scaling(&spec, &bs, model, tlist[0], link, latency, bandwidth, json);
        lpt_model_spec_free(&spec);
        return rc;
    }
    snprintf(plist, sizeof plist, "%s", precisions);
    rc = run_all(&spec, &bs, model, plist, tlist, nt, json);
    lpt_model_spec_free(&spec);
    return rc;
}
