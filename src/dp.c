/* dp.c - data parallelism over MPI (dp.h). */
#include "src/dp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    free(g_dp.tab_off), free(g_dp.tab_n);
    g_dp.tab_off = g_dp.tab_n = NULL;
    g_dp.nslices_tab = 0;
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
            return 0;
        }
    lpt_error_set("--grad-exchange: '%s' is not fp32, fp16, bf16, dfp8 or dfp16", format);
    return -1;
}

#ifdef LPT_HAVE_MPI
/* The exchange in a narrow format: every parameter's slice quantized (dfp: at the FL
 * that holds the largest magnitude over every rank, agreed first; stochastic rounding,
 * keyed by seed, slice, step and rank), gathered as codes, and summed: dfp codes as
 * integers (exact, in any order), fp16/bf16 values in the tree over the ranks. */
static int exchange_narrow(lpt_dp *d, float *grads) {
    lpt_qformat f;
    lpt_qformat_parse(!strncmp(d->format, "dfp", 3) ? (d->format[3] == '8' ? "dfp8:sr" : "dfp16:sr") : d->format, &f);
    const int dfp = f.fmt == LPT_FMT_DFP, cb = lpt_qformat_code_bytes(&f), nt = d->nslices_tab;
    size_t total = 0;
    for (int t = 0; t < nt; t++) total += d->tab_n[t];
    double *mx = lpt_xcalloc((size_t)nt + 1, sizeof *mx), *gm = lpt_xcalloc((size_t)nt + 1, sizeof *gm);
    int *fl = lpt_xcalloc((size_t)nt + 1, sizeof *fl);
    for (int t = 0; t < nt; t++) /* one pass: the largest magnitudes, the nonzero values */
        for (size_t i = 0; i < d->tab_n[t]; i++) {
            const float g = grads[d->tab_off[t] + i];
            mx[t] = fmax(mx[t], fabs((double)g));
            d->q_nonzero += g != 0.0f;
        }
    if (dfp) MPI_Allreduce(mx, gm, nt, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    for (int t = 0; t < nt; t++) /* the largest FL whose range holds every rank's largest magnitude */
        fl[t] = gm[t] > 0 ? (f.width - 2) - (int)floor(log2(gm[t])) : f.width - 1;
    unsigned char *mine = lpt_xmalloc(total * (size_t)cb + 1), *all = lpt_xmalloc((size_t)d->size * total * (size_t)cb + 1);
    int32_t *codes = lpt_xmalloc(total * sizeof *codes + 4);
    size_t at = 0;
    for (int t = 0; t < nt; t++) {
        lpt_qstats st = {0};
        const lpt_rng_key key = {.seed = d->seed, .stream = 0xE0000000ULL + (uint64_t)t, .step = (uint64_t)d->step,
                                 .index0 = (uint64_t)d->rank * d->tab_n[t]};
        lpt_quantize_ref(&f, fl[t], &key, d->tab_n[t], grads + d->tab_off[t], codes + at, NULL, &st);
        d->q_underflow += (double)st.underflow, d->q_saturated += (double)st.out_of_range;
        at += d->tab_n[t];
    }
    for (size_t i = 0; i < total; i++) memcpy(mine + i * (size_t)cb, &codes[i], (size_t)cb); /* little-endian */
    int rc = MPI_Allgather(mine, (int)(total * (size_t)cb), MPI_BYTE, all, (int)(total * (size_t)cb), MPI_BYTE,
                           MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
    float *v = dfp ? NULL : lpt_xmalloc((size_t)d->size * total * sizeof *v + 4); /* (fp16/bf16 values) */
    at = 0;
    for (int t = 0; t < nt && !rc; at += d->tab_n[t], t++)
        for (size_t i = 0; i < d->tab_n[t]; i++) {
            int64_t isum = 0;
            for (int r = 0; r < d->size; r++) {
                int32_t c = 0;
                memcpy(&c, all + ((size_t)r * total + at + i) * (size_t)cb, (size_t)cb);
                if (dfp) isum += cb == 1 ? (int8_t)c : cb == 2 ? (int16_t)c : c;
                else v[(size_t)r * total + at + i] = lpt_dequantize_one_ref(&f, 0, c);
            }
            if (dfp) grads[d->tab_off[t] + i] = (float)ldexp((double)isum, -fl[t]);
        }
    if (!dfp && !rc) { /* the tree over the ranks, then back into the slices */
        tree_over_ranks(v, d->size, total);
        at = 0;
        for (int t = 0; t < nt; at += d->tab_n[t], t++) memcpy(grads + d->tab_off[t], v + at, d->tab_n[t] * sizeof(float));
    }
    d->bytes += 2.0 * (double)(d->size - 1) * (double)total * cb;
    free(mx), free(gm), free(fl), free(mine), free(all), free(codes), free(v);
    if (rc) lpt_error_set("the gradient exchange failed (MPI_Allgather of %zu codes)", total);
    return rc;
}
#endif

int lpt_dp_exchange(void *arg, float *grads, size_t count) {
    lpt_dp *d = arg;
    if (d->size == 1) return 0;
#ifdef LPT_HAVE_MPI
    if (d->format[0]) {
        const double t0 = MPI_Wtime();
        const int rc = exchange_narrow(d, grads);
        d->seconds += MPI_Wtime() - t0;
        d->steps++;
        return rc;
    }
    const double t0 = MPI_Wtime();
    float *all = malloc((size_t)d->size * count * sizeof(float) + 4);
    if (!all) {
        lpt_error_set("out of memory for the gradients of %d processes", d->size);
        return -1;
    }
    /* every rank's sum, then the tree over the ranks */
    if (count > (size_t)0x7fffffff ||
        MPI_Allgather(grads, (int)count, MPI_FLOAT, all, (int)count, MPI_FLOAT, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(all);
        lpt_error_set("the gradient exchange failed (MPI_Allgather of %zu floats)", count);
        return -1;
    }
    tree_over_ranks(all, d->size, count);
    memcpy(grads, all, count * sizeof(float));
    free(all);
    d->bytes += 2.0 * (double)(d->size - 1) * (double)count * sizeof(float);
    d->seconds += MPI_Wtime() - t0;
    d->steps++;
    return 0;
#else
    (void)grads, (void)count;
    lpt_error_set("this build has no MPI");
    return -1;
#endif
}

int lpt_dp_slice_start(void *arg, float *slice, size_t count) {
    lpt_dp *d = arg;
#ifdef LPT_HAVE_MPI
    if (d->nslices == 512 || count > (size_t)0x7fffffff) {
        lpt_error_set("more than 512 gradient slices, or one over 2^31 floats, in one exchange");
        return -1;
    }
    const int i = d->nslices++;
    d->slice[i] = slice, d->slice_count[i] = count;
    d->slice_done[i] = 0;
    lpt_dp_mark(d, "slice start", i);
    d->recv[i] = lpt_xmalloc((size_t)d->size * count * sizeof(float) + 4);
    d->req[i] = lpt_xmalloc(sizeof(MPI_Request));
    if (MPI_Iallgather(slice, (int)count, MPI_FLOAT, d->recv[i], (int)count, MPI_FLOAT, MPI_COMM_WORLD,
                       (MPI_Request *)d->req[i]) != MPI_SUCCESS) {
        lpt_error_set("the gradient exchange failed (MPI_Iallgather of %zu floats)", count);
        return -1;
    }
    d->bytes += 2.0 * (double)(d->size - 1) * (double)count * sizeof(float);
    return 0;
#else
    (void)d, (void)slice, (void)count;
    lpt_error_set("this build has no MPI");
    return -1;
#endif
}

void lpt_dp_progress(void *arg) {
#ifdef LPT_HAVE_MPI
    lpt_dp *d = arg;
    for (int i = 0; i < d->nslices; i++) { /* a test lets a non-blocking collective move on */
        int done = 0;
        if (d->slice_done[i]) continue;
        MPI_Test((MPI_Request *)d->req[i], &done, MPI_STATUS_IGNORE);
        if (done) d->slice_done[i] = 1, lpt_dp_mark(d, "slice done", i);
    }
#else
    (void)arg;
#endif
}

int lpt_dp_finish(void *arg) {
    lpt_dp *d = arg;
    int rc = 0;
#ifdef LPT_HAVE_MPI
    const double t0 = MPI_Wtime();
    for (int i = 0; i < d->nslices; i++) {
        if (MPI_Wait((MPI_Request *)d->req[i], MPI_STATUS_IGNORE) != MPI_SUCCESS) rc = -1;
        if (!d->slice_done[i]) d->slice_done[i] = 1, lpt_dp_mark(d, "slice done", i); /* (seen at the wait) */
        tree_over_ranks(d->recv[i], d->size, d->slice_count[i]);
        memcpy(d->slice[i], d->recv[i], d->slice_count[i] * sizeof(float));
        free(d->recv[i]);
        free(d->req[i]);
    }
    d->seconds += MPI_Wtime() - t0;
    d->steps++;
    if (rc) lpt_error_set("the gradient exchange failed (MPI_Wait)");
#endif
    d->nslices = 0;
    return rc;
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

/* a rank's exchange span (the first start to the last completion) and time waited */
static void exchange_times(const lpt_dp_event *ev, int n, double *span, double *waited) {
    double lo = 1e300, hi = -1e300, w0 = 0;
    *waited = 0;
    for (int i = 0; i < n; i++) {
        const char *w = ev[i].what;
        const double t = ev[i].ms;
        if (!strcmp(w, "slice start") || !strcmp(w, "exchange")) lo = t < lo ? t : lo;
        if (!strcmp(w, "slice done") || !strcmp(w, "exchange end")) hi = t > hi ? t : hi;
        if (!strcmp(w, "wait") || !strcmp(w, "exchange")) w0 = t;
        if (!strcmp(w, "wait end") || !strcmp(w, "exchange end")) *waited += t - w0;
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
