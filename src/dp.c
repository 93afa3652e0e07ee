/* dp.c - data parallelism over MPI (dp.h). */
#include "src/dp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_quant.h"
#include "quant/quant.h"
#include "src/base/util.h"

#ifdef LPT_HAVE_MPI
#include <mpi.h>
#endif

static lpt_dp g_dp = {.rank = 0, .size = 1};

lpt_dp *lpt_dp_self(void) { return &g_dp; }

int lpt_dp_available(void) {
#ifdef LPT_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int lpt_dp_start(int *argc, char ***argv) {
    const int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
#ifdef LPT_HAVE_MPI
    if (!launched) return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "lpt: MPI_Init failed\n");
        return -1;
    }
    g_dp.mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_dp.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_dp.size);
    return 0;
#else
    (void)argc, (void)argv;
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (launched && n && atoi(n) > 1) {
        fprintf(stderr, "lpt: started by mpirun with %s processes, but this build has no MPI (install "
                        "libopenmpi-dev and build again): each would train alone\n", n);
        return -1;
    }
    return 0;
#endif
}

void lpt_dp_abort(int code) {
#ifdef LPT_HAVE_MPI
    if (g_dp.mpi) {
        fflush(stdout), fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#else
    (void)code;
#endif
}

void lpt_dp_stop(void) {
    free(g_dp.p_off), free(g_dp.p_n), free(g_dp.p_entry);
    g_dp.p_off = g_dp.p_n = NULL, g_dp.p_entry = NULL;
    g_dp.np = 0;
    if (g_dp.xu_on) lpt_stats_free(&g_dp.xu), g_dp.xu_on = 0;
#ifdef LPT_HAVE_MPI
    if (g_dp.mpi) MPI_Finalize();
#endif
    g_dp.mpi = 0;
}

#ifdef LPT_HAVE_MPI
/* a[i] += b[i] */
static void add_into(float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

/* all holds `size` ranks' n floats one after the other: their sum into the first, in the
 * pairwise tree over the ranks ((0 + 1) + (2 + 3) ...), the one every process uses */
static void tree_over_ranks(float *all, int size, size_t n) {
    for (int stride = 1; stride < size; stride *= 2)
        for (int r = 0; r + stride < size; r += 2 * stride) add_into(all + (size_t)r * n, all + (size_t)(r + stride) * n, n);
}
#endif

int lpt_dp_set_format(lpt_dp *d, const char *format) {
    static const char *const ok[] = {"fp32", "fp16", "bf16", "dfp8", "dfp16"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(format, ok[i])) {
            snprintf(d->format, sizeof d->format, "%s", i ? format : "");
            if (i) lpt_qformat_parse(i == 3 ? "dfp8:sr" : i == 4 ? "dfp16:sr" : format, &d->qf);
            return 0;
        }
    lpt_error_set("--grad-exchange: '%s' is not fp32, fp16, bf16, dfp8 or dfp16", format);
    return -1;
}

void lpt_dp_set_params(lpt_dp *d, const lpt_net *net, int interval, double overflow_rate) {
    free(d->p_off), free(d->p_n), free(d->p_entry);
    if (d->xu_on) lpt_stats_free(&d->xu), d->xu_on = 0;
    d->np = net->np;
    d->p_off = lpt_xcalloc((size_t)net->np + 1, sizeof *d->p_off);
    d->p_n = lpt_xcalloc((size_t)net->np + 1, sizeof *d->p_n);
    d->p_entry = lpt_xcalloc((size_t)net->np + 1, sizeof *d->p_entry);
    if (d->format[0]) lpt_stats_init(&d->xu, interval, overflow_rate), d->xu_on = 1;
    for (int i = 0; i < net->np; i++) {
        const lpt_param *p = &net->p[i];
        if (!p->grad) continue;
        d->p_off[i] = (size_t)((const char *)p->grad->data - (const char *)net->grads.base) / sizeof(float);
        d->p_n[i] = lpt_tensor_count(p->grad);
        if (!d->xu_on) continue;
        /* entry "<layer> xdw" (xdb, xd<what>): the gradient of <layer>.weight (bias, ...) as exchanged */
        char layer[32], tensor[8];
        const char *dot = strchr(p->name, '.'), *what = dot ? dot + 1 : "?";
        snprintf(layer, sizeof layer, "%.*s", dot ? (int)(dot - p->name) : 31, p->name);
        snprintf(tensor, sizeof tensor, "xd%.4s", !strcmp(what, "weight") ? "w" : !strcmp(what, "bias") ? "b" : what);
        d->p_entry[i] = lpt_stats_register(&d->xu, layer, tensor, LPT_ROLE_G, &d->qf);
    }
}

#ifdef LPT_HAVE_MPI
/* the slice of parameter `param` in flight, or NULL */
static lpt_dp_slice *slice_of(lpt_dp *d, int param) {
    for (int i = 0; i < d->nslices; i++)
        if (d->sl[i].param == param) return &d->sl[i];
    return NULL;
}

/* A narrow format, dfp: the FL of the slice's codes, the entry's (before the exchange's
 * statistics unit has chosen one, the largest FL that holds the largest magnitude over
 * every process, agreed now: the whole slice must be in dst) */
static void slice_fl(lpt_dp *d, lpt_dp_slice *s) {
    lpt_stats_entry *e = &d->xu.e[d->p_entry[s->param]];
    if (d->qf.fmt != LPT_FMT_DFP) return;
    if (!e->configured) {
        double mx = 0, gm = 0;
        for (size_t i = 0; i < s->n; i++) /* (NaN and Inf left out: the quantizer counts them) */
            if (isfinite(s->dst[i])) mx = fmax(mx, fabs((double)s->dst[i]));
        MPI_Allreduce(&mx, &gm, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        const int fl = gm > 0 ? (d->qf.width - 2) - (int)floor(log2(gm)) : d->qf.width - 1;
        e->fl = fl < LPT_FL_MIN ? LPT_FL_MIN : fl > LPT_FL_MAX ? LPT_FL_MAX : fl; /* (the configuration block's range) */
        e->configured = 1;
    }
    s->fl = e->fl;
}

/* A narrow format: values [lo, lo + n) of the slice as codes into s->send, their
 * statistics into the exchange's unit; stochastic rounding keyed by the seed, the
 * parameter, the step and the rank (value i of the slice: counter rank * n + i, however
 * the slice is chunked) */
static void chunk_codes(lpt_dp *d, lpt_dp_slice *s, size_t lo, size_t n) {
    const int id = d->p_entry[s->param];
    lpt_stats_entry *e = &d->xu.e[id];
    const uint64_t nz = lpt_stats_nonzero(&e->cur);
    lpt_msb_hist_add(&e->cur, n, s->dst + lo); /* (the statistics unit's analysis, fast) */
    d->q_nonzero += (double)(lpt_stats_nonzero(&e->cur) - nz);
    int32_t *codes = lpt_xmalloc(n * sizeof *codes + 4);
    lpt_qstats st = {0};
    const lpt_rng_key key = {.seed = d->seed, .stream = 0xE0000000ULL + (uint64_t)s->param, .step = (uint64_t)d->step,
                             .index0 = (uint64_t)d->rank * s->n + lo};
    lpt_quantize(&d->qf, s->fl, &key, n, s->dst + lo, codes, NULL, &st);
    lpt_stats_count(&d->xu, id, &st);
    d->q_underflow += (double)st.underflow, d->q_saturated += (double)st.out_of_range;
    if (s->eb == 1)
        for (size_t i = 0; i < n; i++) ((int8_t *)s->send)[lo + i] = (int8_t)codes[i];
    else
        for (size_t i = 0; i < n; i++) ((int16_t *)s->send)[lo + i] = (int16_t)codes[i];
    free(codes);
}

/* chunk k of a slice, in: its sum over the ranks into dst (fp32: the tree over the
 * ranks; dfp: the codes added as 64-bit integers, exact in any order and for any N;
 * fp16/bf16: the values in the tree) */
static void chunk_sum(lpt_dp *d, lpt_dp_slice *s, int k) {
    const size_t lo = (size_t)k * s->chunk, n = lo + s->chunk < s->n ? s->chunk : s->n - lo;
    unsigned char *in = s->recv + (size_t)d->size * lo * (size_t)s->eb; /* rank r's n elements at in + r n eb */
    if (!d->format[0]) {
        tree_over_ranks((float *)in, d->size, n);
        memcpy(s->dst + lo, in, n * sizeof(float));
        return;
    }
    if (d->qf.fmt == LPT_FMT_DFP) {
        int64_t *sum = lpt_xcalloc(n + 1, sizeof *sum);
        for (int r = 0; r < d->size; r++) {
            const void *c = in + (size_t)r * n * (size_t)s->eb;
            if (s->eb == 1)
                for (size_t i = 0; i < n; i++) sum[i] += ((const int8_t *)c)[i];
            else
                for (size_t i = 0; i < n; i++) sum[i] += ((const int16_t *)c)[i];
        }
        const double unit = ldexp(1.0, -s->fl); /* (a power of two: sum * unit is exact, as ldexp) */
        for (size_t i = 0; i < n; i++) s->dst[lo + i] = (float)((double)sum[i] * unit);
        free(sum);
        return;
    }
    float *v = lpt_xmalloc((size_t)d->size * n * sizeof *v + 4);
    int32_t *codes = lpt_xmalloc(n * sizeof *codes + 4);
    for (int r = 0; r < d->size; r++) {
        const int16_t *c = (const int16_t *)(in + (size_t)r * n * 2);
        for (size_t i = 0; i < n; i++) codes[i] = (uint16_t)c[i];
        lpt_dequantize(&d->qf, 0, n, codes, v + (size_t)r * n);
    }
    tree_over_ranks(v, d->size, n);
    memcpy(s->dst + lo, v, n * sizeof(float));
    free(v), free(codes);
}
#endif

int lpt_dp_slice_start(void *arg, int param, float *dst, size_t count, void (*fill)(void *cb, float *at, size_t n),
                       void *cb) {
    lpt_dp *d = arg;
#ifdef LPT_HAVE_MPI
    if (d->nslices == LPT_DP_SLICES || param < 0 || param >= d->np || count != d->p_n[param]) {
        lpt_error_set("the gradient exchange: parameter %d (%zu values) is not one the exchange knows, or more than "
                      "%d are in flight", param, count, LPT_DP_SLICES);
        return -1;
    }
    lpt_dp_slice *s = &d->sl[d->nslices]; /* (counted once every chunk is on its way) */
    memset(s, 0, sizeof *s);
    s->param = param, s->dst = dst, s->n = count;
    s->eb = d->format[0] ? lpt_qformat_code_bytes(&d->qf) : (int)sizeof(float);
    s->chunk = d->chunk_bytes ? d->chunk_bytes / (size_t)s->eb : count;
    if (s->chunk < 1) s->chunk = 1;
    if (s->chunk > (size_t)0x7fffffff / (size_t)s->eb) s->chunk = (size_t)0x7fffffff / (size_t)s->eb;
    s->nchunks = count ? (int)((count + s->chunk - 1) / s->chunk) : 0;
    lpt_dp_mark(d, "slice start", param);
    s->send = d->format[0] ? lpt_xmalloc(count * (size_t)s->eb + 1) : (unsigned char *)dst;
    s->recv = lpt_xmalloc((size_t)d->size * count * (size_t)s->eb + 1);
    s->req = lpt_xcalloc((size_t)s->nchunks + 1, sizeof(MPI_Request));
    /* a dfp tensor without an FL yet needs all of it first; otherwise each chunk leaves
     * as soon as it is filled */
    const int whole = d->format[0] && d->qf.fmt == LPT_FMT_DFP && !d->xu.e[d->p_entry[param]].configured;
    for (int k = 0; whole && fill && k < s->nchunks; k++) {
        const size_t lo = (size_t)k * s->chunk;
        fill(cb, dst + lo, lo + s->chunk < count ? s->chunk : count - lo);
    }
    if (d->format[0]) slice_fl(d, s);
    for (int k = 0; k < s->nchunks; k++) {
        const size_t lo = (size_t)k * s->chunk, n = lo + s->chunk < count ? s->chunk : count - lo;
        if (!whole && fill) fill(cb, dst + lo, n);
        if (d->format[0]) chunk_codes(d, s, lo, n);
        const int bytes = (int)(n * (size_t)s->eb);
        if (MPI_Iallgather(s->send + lo * (size_t)s->eb, bytes, MPI_BYTE, s->recv + (size_t)d->size * lo * (size_t)s->eb,
                           bytes, MPI_BYTE, MPI_COMM_WORLD, (MPI_Request *)s->req + k) != MPI_SUCCESS) {
            lpt_error_set("the gradient exchange failed (MPI_Iallgather of %d bytes): stopping every process", bytes);
            lpt_dp_abort(1); /* (the chunks already posted cannot be taken back) */
            return -1;
        }
    }
    d->nslices++;
    d->bytes += 2.0 * (double)(d->size - 1) * (double)count * s->eb;
    return 0;
#else
    (void)d, (void)param, (void)dst, (void)count, (void)fill, (void)cb;
    lpt_error_set("this build has no MPI");
    return -1;
#endif
}

void lpt_dp_progress(void *arg) {
#ifdef LPT_HAVE_MPI
    lpt_dp *d = arg;
    for (int i = 0; i < d->nslices; i++) { /* a test lets a non-blocking collective move on */
        lpt_dp_slice *s = &d->sl[i];
        int done = 0;
        if (s->seen) continue;
        MPI_Testall(s->nchunks - s->waited, (MPI_Request *)s->req + s->waited, &done, MPI_STATUSES_IGNORE);
        if (done) s->seen = 1, lpt_dp_mark(d, "slice done", s->param);
    }
#else
    (void)arg;
#endif
}

int lpt_dp_slice_next(void *arg) {
    lpt_dp *d = arg;
    if (!d->nslices) return -1;
    lpt_dp_progress(d);
    for (int i = 0; i < d->nslices; i++)
        if (d->sl[i].seen) return d->sl[i].param;
    return d->sl[0].param;
}

int lpt_dp_slice_wait(void *arg, int param, void (*chunk_done)(void *cb, float *at, size_t n), void *cb) {
    lpt_dp *d = arg;
#ifdef LPT_HAVE_MPI
    lpt_dp_slice *s = slice_of(d, param);
    if (!s) {
        lpt_error_set("the gradient exchange: parameter %d is not in flight", param);
        return -1;
    }
    const double t0 = MPI_Wtime();
    int rc = 0;
    lpt_dp_mark(d, "wait", param);
    for (; s->waited < s->nchunks; s->waited++) { /* chunk by chunk: the next ones still move */
        const int k = s->waited;
        if (MPI_Wait((MPI_Request *)s->req + k, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            lpt_error_set("the gradient exchange failed (MPI_Wait): stopping every process");
            lpt_dp_abort(1); /* (the later chunks are still on their way into recv) */
            rc = -1;
            break;
        }
        chunk_sum(d, s, k);
        if (chunk_done) {
            const size_t lo = (size_t)k * s->chunk;
            chunk_done(cb, s->dst + lo, lo + s->chunk < s->n ? s->chunk : s->n - lo);
        }
    }
    lpt_dp_mark(d, "wait end", param);
    if (!s->seen) s->seen = 1, lpt_dp_mark(d, "slice done", param); /* (seen at the wait) */
    d->seconds += MPI_Wtime() - t0;
    if (s->send != (unsigned char *)s->dst) free(s->send);
    free(s->recv), free(s->req);
    const int i = (int)(s - d->sl); /* out of the list, the order kept */
    memmove(&d->sl[i], &d->sl[i + 1], (size_t)(d->nslices - i - 1) * sizeof *s);
    d->nslices--;
    return rc;
#else
    (void)d, (void)param, (void)chunk_done, (void)cb;
    lpt_error_set("this build has no MPI");
    return -1;
#endif
}

int lpt_dp_exchange(void *arg, float *grads, size_t count) {
    lpt_dp *d = arg;
    (void)count;
    if (d->size == 1) return 0;
    for (int i = 0; i < d->np; i++)
        if (d->p_n[i] && lpt_dp_slice_start(d, i, grads + d->p_off[i], d->p_n[i], NULL, NULL)) return -1;
    for (int i = 0; i < d->np; i++)
        if (d->p_n[i] && lpt_dp_slice_wait(d, i, NULL, NULL)) return -1;
    return 0;
}

/* the exchange's statistics of the interval in progress summed over the processes */
static void merge_exchange_stats(lpt_dp *d) {
    lpt_qresult *r = lpt_xcalloc((size_t)d->xu.n + 1, sizeof *r);
    for (int i = 0; i < d->xu.n; i++) r[i].counts = d->xu.e[i].q, r[i].hist = d->xu.e[i].cur;
    lpt_dp_merge_results(r, d->xu.n);
    for (int i = 0; i < d->xu.n; i++) d->xu.e[i].q = r[i].counts, d->xu.e[i].cur = r[i].hist;
    free(r);
}

int lpt_dp_end(lpt_dp *d, long step, const char *path) {
    if (!d->xu_on || d->size == 1) return 0;
    double q[3] = {d->q_nonzero, d->q_underflow, d->q_saturated};
    lpt_dp_sum(q, 3);
    d->q_nonzero = q[0], d->q_underflow = q[1], d->q_saturated = q[2];
    merge_exchange_stats(d);
    lpt_stats_finish(&d->xu, step);
    if (d->rank == 0 && path && path[0]) return lpt_stats_flush(&d->xu, path);
    d->xu.log.len = 0;
    return 0;
}

int lpt_dp_interval_end(lpt_dp *d, long step, const char *path) {
    if (!d->xu_on) return 0;
    merge_exchange_stats(d);
    lpt_stats_configure(&d->xu, step);
    free(lpt_stats_take_events(&d->xu)); /* (a dead layer's gradients: its own records say so) */
    if (d->rank == 0 && path && path[0]) return lpt_stats_flush(&d->xu, path);
    d->xu.log.len = 0;
    return 0;
}

void lpt_dp_merge_results(lpt_qresult *r, int n) {
    (void)r;
    if (g_dp.size == 1 || n <= 0) return;
#ifdef LPT_HAVE_MPI
    const size_t bytes = (size_t)n * sizeof *r;
    lpt_qresult *all = lpt_xmalloc((size_t)g_dp.size * bytes);
    MPI_Allgather(r, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
        lpt_qresult m = all[i]; /* rank 0's, then the others' in order */
        for (int k = 1; k < g_dp.size; k++) {
            const lpt_qresult *o = &all[(size_t)k * (size_t)n + (size_t)i];
            lpt_qstats_add(&m.counts, &o->counts);
            lpt_msb_hist_merge(&m.hist, &o->hist);
            m.acc_overflows += o->acc_overflows;
        }
        r[i] = m;
    }
    free(all);
#endif
}

void lpt_dp_merge_states(lpt_qpoint_state *st, int *event_shard, int n) {
    (void)st, (void)event_shard;
    if (g_dp.size == 1 || n <= 0) return;
#ifdef LPT_HAVE_MPI
    typedef struct {
        lpt_qpoint_state s;
        int64_t shard;
    } item;
    item *mine = lpt_xmalloc((size_t)n * sizeof *mine), *all = lpt_xmalloc((size_t)g_dp.size * (size_t)n * sizeof *all);
    for (int i = 0; i < n; i++) mine[i].s = st[i], mine[i].shard = event_shard[i];
    const int bytes = (int)((size_t)n * sizeof *mine);
    MPI_Allgather(mine, bytes, MPI_BYTE, all, bytes, MPI_BYTE, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
        lpt_qpoint_state m = all[i].s; /* rank 0's, then the others' in order */
        int shard = (int)all[i].shard;
        for (int r = 1; r < g_dp.size; r++) {
            const item *o = &all[(size_t)r * (size_t)n + (size_t)i];
            m.recomputes += o->s.recomputes, m.collapses += o->s.collapses;
            if (!o->s.event_seq) continue;
            const int earlier = !m.event_seq || o->s.event_step < m.event_step ||
                                (o->s.event_step == m.event_step && o->shard < shard);
            if (!earlier) continue;
            m.event_seq = o->s.event_seq, m.event_step = o->s.event_step, m.event_old_fl = o->s.event_old_fl;
            m.event_new_fl = o->s.event_new_fl, m.event_why = o->s.event_why;
            shard = (int)o->shard;
        }
        st[i] = m, event_shard[i] = shard;
    }
    free(mine), free(all);
#endif
}

void lpt_dp_gather(float *all, size_t n) {
    (void)all, (void)n;
#ifdef LPT_HAVE_MPI
    if (g_dp.size > 1 &&
        MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD) != MPI_SUCCESS) {
        fprintf(stderr, "lpt: gathering the shards' running statistics or FLs failed (MPI_Allgather): stopping "
                        "every process\n");
        lpt_dp_abort(1);
    }
#endif
}

void lpt_dp_sum(double *v, int n) {
    (void)v;
    if (g_dp.size == 1 || n <= 0) return;
#ifdef LPT_HAVE_MPI
    double *all = lpt_xmalloc((size_t)g_dp.size * (size_t)n * sizeof *all);
    MPI_Allgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int r = 0; r < g_dp.size; r++) s += all[(size_t)r * (size_t)n + (size_t)i];
        v[i] = s;
    }
    free(all);
#endif
}

int lpt_dp_max(int x) {
#ifdef LPT_HAVE_MPI
    if (g_dp.size > 1) {
        int m = x;
        MPI_Allreduce(&x, &m, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        return m;
    }
#endif
    return x;
}

void lpt_dp_timeline_arm(lpt_dp *d) {
    d->timeline = 1, d->nev = 0;
    d->t0 = lpt_time_now();
}

void lpt_dp_mark(void *arg, const char *what, int index) {
    lpt_dp *d = arg;
    if (!d->timeline || d->nev == (int)(sizeof d->ev / sizeof d->ev[0])) return;
    snprintf(d->ev[d->nev].what, sizeof d->ev[0].what, "%s", what);
    d->ev[d->nev].index = index;
    d->ev[d->nev++].ms = 1e3 * (lpt_time_now() - d->t0);
}

/* a rank's exchange span (the first start to the last completion) and time waited (a
 * whole exchange after the backward pass is all waiting; overlapped, the waits for
 * each parameter's) */
static void exchange_times(const lpt_dp_event *ev, int n, double *span, double *waited) {
    double lo = 1e300, hi = -1e300, w0 = 0, x0 = 0;
    int whole = 0;
    *waited = 0;
    for (int i = 0; i < n; i++) {
        const char *w = ev[i].what;
        const double t = ev[i].ms;
        if (!strcmp(w, "slice start") || !strcmp(w, "exchange")) lo = t < lo ? t : lo;
        if (!strcmp(w, "slice done") || !strcmp(w, "exchange end")) hi = t > hi ? t : hi;
        if (!strcmp(w, "exchange")) x0 = t, whole = 1;
        if (!strcmp(w, "exchange end")) *waited += t - x0, whole = 0;
        if (!strcmp(w, "wait") && !whole) w0 = t;
        if (!strcmp(w, "wait end") && !whole) *waited += t - w0;
    }
    *span = hi > lo ? hi - lo : 0;
}

int lpt_dp_timeline_write(lpt_dp *d, const char *path) {
    d->timeline = 0;
    const int per = (int)(sizeof d->ev / sizeof d->ev[0]);
    int *counts = lpt_xcalloc((size_t)d->size, sizeof *counts), rc = 0;
    lpt_dp_event *all = lpt_xcalloc((size_t)d->size * (size_t)per, sizeof *all);
#ifdef LPT_HAVE_MPI
    if (d->size > 1) {
        MPI_Gather(&d->nev, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Gather(d->ev, (int)sizeof d->ev, MPI_BYTE, all, (int)sizeof d->ev, MPI_BYTE, 0, MPI_COMM_WORLD);
    } else
#endif
    {
        counts[0] = d->nev;
        memcpy(all, d->ev, sizeof d->ev);
    }
    if (d->rank == 0) {
        lpt_buf b = {0};
        lpt_buf_printf(&b, "rank,event,index,ms\n");
        for (int r = 0; r < d->size; r++) {
            const lpt_dp_event *ev = all + (size_t)r * (size_t)per;
            for (int i = 0; i < counts[r]; i++) lpt_buf_printf(&b, "%d,%s,%d,%.4f\n", r, ev[i].what, ev[i].index, ev[i].ms);
            double span, waited;
            exchange_times(ev, counts[r], &span, &waited);
            printf("timeline, process %d: exchange %.3f ms from its first start to its last completion, %.3f ms "
                   "waited for: %.0f%% hidden behind the backward pass\n", r, span, waited,
                   span > 0 ? 100.0 * (1.0 - waited / span) : 0.0);
        }
        rc = lpt_file_write_atomic(path, b.data, b.len);
        lpt_buf_free(&b);
        if (!rc) printf("timeline of the step written to %s\n", path);
    }
    free(counts);
    free(all);
    return rc;
}
