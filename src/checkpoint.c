/* checkpoint.c - checkpoint files (layout in docs/checkpoint.md).
 *
 *   "LPTCKPT1" | u32 version | u64 body length | body | u32 CRC-32 of all before it
 *   body: u32 len + model spec text | u32 len + config text | u32 len + state text |
 *         u32 count, then per tensor: u16 name length, name, u8 rank, i32 dims[rank],
 *         u64 bytes, data
 * Integers are little-endian; real numbers in the text sections are C99 hex floats, so
 * they round-trip exactly. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/train.h"
#include "src/base/util.h"

#define CK_MAGIC "LPTCKPT1"
#define CK_VERSION 1u

static void put_u32(lpt_buf *b, uint32_t v) { lpt_buf_put(b, &v, 4); }
static void put_u64(lpt_buf *b, uint64_t v) { lpt_buf_put(b, &v, 8); }

static void put_text(lpt_buf *b, const lpt_buf *t) {
    put_u32(b, (uint32_t)t->len);
    lpt_buf_put(b, t->data, t->len);
}

static void put_tensor(lpt_buf *b, lpt_backend *be, const char *name, const lpt_tensor *t) {
    uint16_t nl = (uint16_t)strlen(name);
    lpt_buf_put(b, &nl, 2);
    lpt_buf_put(b, name, nl);
    uint8_t rank = (uint8_t)t->shape.ndim;
    lpt_buf_put(b, &rank, 1);
    for (int i = 0; i < rank; i++) {
        int32_t d = t->shape.dim[i];
        lpt_buf_put(b, &d, 4);
    }
    uint64_t bytes = lpt_tensor_bytes(t);
    put_u64(b, bytes);
    be->to_host(be, lpt_buf_grow(b, bytes), t->data, bytes);
}

int lpt_checkpoint_save(const char *path, const lpt_train_cfg *cfg, const lpt_model_spec *spec,
                        const lpt_train_state *st, lpt_net *net, lpt_sgd *opt) {
    lpt_buf conf = {0}, state = {0}, spectext = {0}, body = {0}, out = {0};
    lpt_buf_printf(&spectext, "%s", spec->text);
    lpt_buf_printf(&conf,
                   "model=%s\nprecision=%s\nbackend=%s\nepochs=%d\nbatch=%d\nthreads=%d\n"
                   "lr=%a\nmomentum=%a\nweight_decay=%a\nschedule=%s\nstep_epochs=%d\n"
                   "gamma=%a\nseed=%" PRIu64 "\ntrain_limit=%d\ntest_limit=%d\n"
                   "rounding=%s\noverflow_rate=%a\nunderflow_rate=%a\nstats_interval=%d\n"
                   "acc_bits=%d\nrecompute=%d\nmetrics_out=%s\nstats_out=%s\nwarmup=%d\n",
                   cfg->model, cfg->precision, cfg->backend, cfg->epochs, cfg->batch,
                   cfg->threads, (double)cfg->sgd.lr, (double)cfg->sgd.momentum,
                   (double)cfg->sgd.wd, lpt_sched_name(cfg->sgd.sched), cfg->sgd.step_epochs,
                   (double)cfg->sgd.gamma, cfg->seed, cfg->train_limit, cfg->test_limit,
                   cfg->rounding, (double)cfg->overflow_rate, (double)cfg->underflow_rate,
                   cfg->stats_interval, cfg->acc_bits, cfg->recompute, cfg->metrics_out, cfg->stats_out,
                   cfg->sgd.warmup);
    lpt_buf_printf(&state,
                   "epoch=%d\nstep_in_epoch=%ld\nglobal_step=%ld\nloss_sum=%a\ncorrect=%ld\n"
                   "seen=%ld\nmean=%a\nstd=%a\nrecords=%d\nloss_scale=%a\nskipped=%llu\n",
                   st->epoch, st->step_in_epoch, st->global_step, st->loss_sum, st->correct,
                   st->seen, st->mean, st->std, st->nrecords, (double)st->loss_scale, st->skipped);
    for (int i = 0; i < st->nrecords; i++) {
        const lpt_epoch_record *r = &st->records[i];
        lpt_buf_printf(&state, "record=%d %ld %a %a %a %a %a %a %a\n", r->epoch, r->step, r->lr,
                       r->train_loss, r->train_acc, r->test_loss, r->test_acc, r->images_per_s,
                       r->seconds);
    }
    if (st->stats && st->stats->n) lpt_stats_save(st->stats, &state);
    if (st->health) lpt_health_save(st->health, &state);
    put_text(&body, &spectext);
    put_text(&body, &conf);
    put_text(&body, &state);
    uint32_t count = 0;
    for (int i = 0; i < net->np; i++) count += 1 + (net->p[i].grad != NULL);
    put_u32(&body, count);
    char name[64];
    for (int i = 0; i < net->np; i++) {
        put_tensor(&body, net->be, net->p[i].name, net->p[i].value);
        if (net->p[i].grad) {
            snprintf(name, sizeof name, "momentum:%s", net->p[i].name);
            put_tensor(&body, net->be, name, &opt->mom[i]);
        }
    }
    lpt_buf_put(&out, CK_MAGIC, 8);
    put_u32(&out, CK_VERSION);
    put_u64(&out, body.len);
    lpt_buf_put(&out, body.data, body.len);
    put_u32(&out, lpt_crc32(0, out.data, out.len));
    int rc = lpt_file_write_atomic(path, out.data, out.len);
    lpt_buf_free(&conf);
    lpt_buf_free(&state);
    lpt_buf_free(&spectext);
    lpt_buf_free(&body);
    lpt_buf_free(&out);
    return rc;
}

typedef struct {
    const unsigned char *p;
    size_t left;
} reader;

static int rd(reader *r, void *dst, size_t n) {
    if (r->left < n) return -1;
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return 0;
}

static char *rd_text(reader *r) {
    uint32_t n;
    if (rd(r, &n, 4) || r->left < n) return NULL;
    char *s = lpt_xmalloc((size_t)n + 1);
    memcpy(s, r->p, n);
    s[n] = 0;
    r->p += n;
    r->left -= n;
    return s;
}

/* value of "key=" in text (first occurrence at a line start), or NULL */
static const char *kv_get(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, kl) == 0 && l[kl] == '=') return l + kl + 1;
    return NULL;
}

static int kv_str(const char *text, const char *key, char *out, size_t n) {
    const char *v = kv_get(text, key);
    if (!v) return -1;
    size_t len = strcspn(v, "\n");
    if (len >= n) return -1;
    memcpy(out, v, len);
    out[len] = 0;
    return 0;
}

static int kv_num(const char *text, const char *key, double *out) {
    const char *v = kv_get(text, key);
    char *end;
    if (!v) return -1;
    *out = strtod(v, &end);
    return end == v || (*end != '\n' && *end != 0) ? -1 : 0;
}

/* Every number of a checkpoint is checked against its range where it is read, so that
 * a damaged or hand-edited file is refused with the field's name instead of failing
 * later, far from the cause. */
typedef struct {
    const char *path, *section, *text;
    int bad; /* an error has been set */
} fields;

/* the value of `key`, a number in [lo, hi] (integral when `integer`); absent and
 * optional: *out keeps its value and 1 is returned; else 0 */
static int field(fields *f, const char *key, double lo, double hi, int integer, int optional, double *out) {
    if (f->bad) return 0;
    double v;
    if (!kv_get(f->text, key)) {
        if (optional) return 1;
        lpt_error_set("%s: checkpoint %s lacks the field '%s'", f->path, f->section, key);
        f->bad = 1;
        return 0;
    }
    if (kv_num(f->text, key, &v) || !isfinite(v) || v < lo || v > hi || (integer && v != floor(v))) {
        const char *raw = kv_get(f->text, key);
        lpt_error_set("%s: checkpoint %s field %s='%.*s' is not %s in [%.17g, %.17g]", f->path, f->section,
                      key, (int)(strcspn(raw, "\n") > 40 ? 40 : strcspn(raw, "\n")), raw,
                      integer ? "an integer" : "a number", lo, hi);
        f->bad = 1;
        return 0;
    }
    *out = v;
    return 0;
}

static int field_int(fields *f, const char *key, double lo, double hi, int *out) {
    double v = *out;
    field(f, key, lo, hi, 1, 0, &v);
    *out = (int)v;
    return f->bad;
}

static int field_long(fields *f, const char *key, double lo, double hi, long *out) {
    double v = (double)*out;
    field(f, key, lo, hi, 1, 0, &v);
    *out = (long)v;
    return f->bad;
}

static int field_str(fields *f, const char *key, char *out, size_t n) {
    if (f->bad) return 1;
    if (kv_str(f->text, key, out, n)) {
        lpt_error_set("%s: checkpoint %s field '%s' is missing or longer than %zu characters", f->path,
                      f->section, key, n - 1);
        f->bad = 1;
    }
    return f->bad;
}

#define LONG_MAX_FIELD 4.5e15 /* steps and counts: far beyond any run, exact in a double */

int lpt_checkpoint_open(const char *path, lpt_checkpoint *ck, lpt_train_cfg *cfg,
                        lpt_model_spec *spec, lpt_train_state *st) {
    memset(ck, 0, sizeof *ck);
    memset(st, 0, sizeof *st);
    ck->buf = lpt_file_read(path, LPT_CHECKPOINT_MAX_BYTES, &ck->len);
    if (!ck->buf) return -1;
    char *spectext = NULL, *conf = NULL, *state = NULL;
    const size_t head = 8 + 4 + 8;
    uint32_t version, crc;
    uint64_t body;
    if (ck->len < head + 4 || memcmp(ck->buf, CK_MAGIC, 8) != 0) {
        lpt_error_set("%s: not an lpt checkpoint (bad magic or too short)", path);
        goto fail;
    }
    memcpy(&version, ck->buf + 8, 4);
    memcpy(&body, ck->buf + 12, 8);
    if (version != CK_VERSION) {
        lpt_error_set("%s: checkpoint version %u, this build reads version %u", path, version, CK_VERSION);
        goto fail;
    }
    if (body != ck->len - head - 4) {
        lpt_error_set("%s: checkpoint is truncated or has trailing data (%zu bytes, header says %llu)",
                      path, ck->len, (unsigned long long)(body + head + 4));
        goto fail;
    }
    memcpy(&crc, ck->buf + ck->len - 4, 4);
    if (lpt_crc32(0, ck->buf, ck->len - 4) != crc) {
        lpt_error_set("%s: checkpoint is corrupt (CRC-32 mismatch)", path);
        goto fail;
    }
    reader r = {ck->buf + head, body};
    spectext = rd_text(&r);
    conf = rd_text(&r);
    state = rd_text(&r);
    if (!spectext || !conf || !state) {
        lpt_error_set("%s: checkpoint sections are malformed", path);
        goto fail;
    }
    ck->tensors_at = (size_t)(r.p - ck->buf);
    /* configuration */
    fields f = {.path = path, .section = "configuration", .text = conf};
    char sched[16];
    double v;
    field_str(&f, "model", cfg->model, sizeof cfg->model);
    field_str(&f, "precision", cfg->precision, sizeof cfg->precision);
    field_str(&f, "backend", cfg->backend, sizeof cfg->backend);
    field_str(&f, "schedule", sched, sizeof sched);
    if (!f.bad && lpt_sched_parse(sched, &cfg->sgd.sched)) {
        lpt_error_set("%s: checkpoint configuration field schedule='%s': %s", path, sched, lpt_error_get());
        f.bad = 1;
    }
    if (!f.bad && !lpt_backend_known(cfg->backend)) {
        lpt_error_set("%s: checkpoint configuration field backend='%s' is not a backend of this build (%s)",
                      path, cfg->backend, lpt_backend_names());
        f.bad = 1;
    }
    field_int(&f, "epochs", 1, 100000, &cfg->epochs);
    field_int(&f, "batch", 1, 65536, &cfg->batch);
    field_int(&f, "threads", 1, 256, &cfg->threads);
    field(&f, "lr", 0, 1e30, 0, 0, &v), cfg->sgd.lr = (float)v;
    field(&f, "momentum", 0, 0.999999, 0, 0, &v), cfg->sgd.momentum = (float)v;
    field(&f, "weight_decay", 0, 1, 0, 0, &v), cfg->sgd.wd = (float)v;
    field_int(&f, "step_epochs", 1, 100000, &cfg->sgd.step_epochs);
    field(&f, "gamma", 0, 1, 0, 0, &v), cfg->sgd.gamma = (float)v;
    /* absent from checkpoints of earlier builds, which had no warm-up */
    cfg->sgd.warmup = 0;
    if (!f.bad && kv_get(conf, "warmup")) field_int(&f, "warmup", 0, 1 << 30, &cfg->sgd.warmup);
    field_int(&f, "train_limit", 0, 1 << 30, &cfg->train_limit);
    field_int(&f, "test_limit", 0, 1 << 30, &cfg->test_limit);
    if (!f.bad) { /* the seed is a full 64-bit integer: read as one */
        const char *sv = kv_get(conf, "seed");
        char *end = NULL;
        errno = 0;
        unsigned long long seed = sv && *sv >= '0' && *sv <= '9' ? strtoull(sv, &end, 10) : 0;
        if (!sv || !end || errno || (*end != '\n' && *end != 0)) {
            lpt_error_set("%s: checkpoint configuration field seed is missing or not a non-negative integer", path);
            f.bad = 1;
        }
        cfg->seed = seed;
    }
    /* low-precision settings (absent from checkpoints of earlier builds: defaults) */
    if (!f.bad && kv_get(conf, "rounding")) {
        field_str(&f, "rounding", cfg->rounding, sizeof cfg->rounding);
        int known = !cfg->rounding[0];
        for (int i = 0; i < LPT_ROUND_COUNT; i++) known |= strcmp(cfg->rounding, lpt_rounding_names[i]) == 0;
        if (!f.bad && !known) {
            lpt_error_set("%s: checkpoint configuration field rounding='%s' is not a rounding mode", path,
                          cfg->rounding);
            f.bad = 1;
        }
    }
    v = cfg->overflow_rate;
    field(&f, "overflow_rate", 0, 1, 0, 1, &v), cfg->overflow_rate = (float)v;
    v = cfg->underflow_rate;
    field(&f, "underflow_rate", 0, 1, 0, 1, &v), cfg->underflow_rate = (float)v;
    v = cfg->stats_interval;
    field(&f, "stats_interval", 1, 1000000, 1, 1, &v), cfg->stats_interval = (int)v;
    v = cfg->acc_bits;
    field(&f, "acc_bits", 0, 64, 1, 1, &v), cfg->acc_bits = (int)v;
    if (!f.bad && cfg->acc_bits == 1) {
        lpt_error_set("%s: checkpoint configuration field acc_bits=1 is not 0 (default) or in [2, 64]", path);
        f.bad = 1;
    }
    v = cfg->recompute;
    field(&f, "recompute", 0, 1, 1, 1, &v), cfg->recompute = (int)v;
    /* where the run wrote its metrics and statistics (absent from earlier checkpoints) */
    if (kv_get(conf, "metrics_out")) field_str(&f, "metrics_out", cfg->metrics_out, sizeof cfg->metrics_out);
    if (kv_get(conf, "stats_out")) field_str(&f, "stats_out", cfg->stats_out, sizeof cfg->stats_out);
    if (!f.bad) { /* the precision as --precision would take it */
        if (lpt_prec_check(cfg)) {
            lpt_error_prefix("%s: checkpoint configuration field precision='%s'", path, cfg->precision);
            f.bad = 1;
        }
    }
    if (f.bad) goto fail;
    /* state */
    f = (fields){.path = path, .section = "state", .text = state};
    field_int(&f, "epoch", 0, cfg->epochs, &st->epoch);
    field_long(&f, "step_in_epoch", 0, LONG_MAX_FIELD, &st->step_in_epoch);
    field_long(&f, "global_step", 0, LONG_MAX_FIELD, &st->global_step);
    field(&f, "loss_sum", 0, 1e300, 0, 0, &st->loss_sum);
    field_long(&f, "seen", 0, LONG_MAX_FIELD, &st->seen);
    field_long(&f, "correct", 0, (double)st->seen, &st->correct);
    field(&f, "mean", 0, 1, 0, 0, &st->mean);
    field(&f, "std", 1e-12, 1, 0, 0, &st->std);
    field_int(&f, "records", 0, st->epoch, &st->nrecords);
    v = 0;
    if (!field(&f, "loss_scale", 0x1p-24, 0x1p24, 0, 1, &v)) st->loss_scale = (float)v;
    v = 0;
    if (!field(&f, "skipped", 0, LONG_MAX_FIELD, 1, 1, &v)) st->skipped = (unsigned long long)v;
    if (f.bad) goto fail;
    st->records = lpt_xcalloc((size_t)st->nrecords + 1, sizeof *st->records);
    const char *l = state;
    for (int i = 0; i < st->nrecords; i++) {
        l = strstr(l, "record=");
        lpt_epoch_record *rec = &st->records[i];
        int used = 0;
        if (!l || sscanf(l, "record=%d %ld %la %la %la %la %la %la %la%n", &rec->epoch, &rec->step, &rec->lr,
                         &rec->train_loss, &rec->train_acc, &rec->test_loss, &rec->test_acc,
                         &rec->images_per_s, &rec->seconds, &used) != 9 ||
            (l[used] != '\n' && l[used] != 0) || rec->epoch < 1 || rec->epoch > cfg->epochs || rec->step < 0 ||
            !isfinite(rec->lr) || !isfinite(rec->train_loss) || !isfinite(rec->test_loss) ||
            !(rec->train_acc >= 0 && rec->train_acc <= 1) || !(rec->test_acc >= 0 && rec->test_acc <= 1) ||
            !(rec->images_per_s >= 0 && isfinite(rec->images_per_s)) || !(rec->seconds >= 0 && isfinite(rec->seconds))) {
            lpt_error_set("%s: checkpoint metrics record %d is malformed or out of range", path, i + 1);
            goto fail;
        }
        l += 7;
    }
    if (lpt_stats_check(state) != 0) { /* entries are matched to the model later */
        lpt_error_prefix("%s: checkpoint", path);
        goto fail;
    }
    if (lpt_model_spec_parse(spectext, cfg->model, spec) != 0) {
        lpt_error_prefix("%s: checkpoint model spec", path);
        goto fail;
    }
    free(spectext);
    free(conf);
    st->stats_text = state; /* the statistics unit's lines, restored once its entries exist */
    return 0;
fail:
    free(spectext);
    free(conf);
    free(state);
    free(st->records);
    st->records = NULL;
    lpt_checkpoint_close(ck);
    return -1;
}

int lpt_checkpoint_restore(const char *path, lpt_checkpoint *ck, lpt_net *net, lpt_sgd *opt) {
    reader r = {ck->buf + ck->tensors_at, ck->len - 4 - ck->tensors_at};
    uint32_t count;
    if (rd(&r, &count, 4)) goto bad;
    int *seen = lpt_xcalloc((size_t)net->np * 2 + 1, sizeof *seen);
    for (uint32_t k = 0; k < count; k++) {
        uint16_t nl;
        char name[80];
        uint8_t rank;
        int32_t dims[LPT_MAX_DIMS];
        uint64_t bytes;
        if (rd(&r, &nl, 2) || nl >= sizeof name || rd(&r, name, nl)) goto bad_free;
        name[nl] = 0;
        if (rd(&r, &rank, 1) || rank > LPT_MAX_DIMS || rd(&r, dims, 4u * rank) || rd(&r, &bytes, 8) ||
            r.left < bytes)
            goto bad_free;
        int mom = strncmp(name, "momentum:", 9) == 0;
        lpt_param *p = lpt_net_find_param(net, mom ? name + 9 : name);
        if (!p || (mom && (!opt || !p->grad))) {
            if (!p) {
                lpt_error_set("%s: tensor '%s' does not belong to this model", path, name);
                free(seen);
                return -1;
            }
        } else {
            int idx = (int)(p - net->p);
            lpt_tensor *t = mom ? &opt->mom[idx] : p->value;
            int same = t->shape.ndim == rank && lpt_tensor_bytes(t) == bytes;
            for (int i = 0; same && i < rank; i++) same = t->shape.dim[i] == dims[i];
            if (!same) {
                lpt_error_set("%s: tensor '%s' has a different shape than the model's", path, name);
                free(seen);
                return -1;
            }
            net->be->to_device(net->be, t->data, r.p, bytes);
            seen[2 * idx + mom] = 1;
        }
        r.p += bytes;
        r.left -= bytes;
    }
    for (int i = 0; i < net->np; i++)
        if (!seen[2 * i] || (opt && net->p[i].grad && !seen[2 * i + 1])) {
            lpt_error_set("%s: checkpoint lacks tensor '%s%s'", path,
                          seen[2 * i] ? "momentum:" : "", net->p[i].name);
            free(seen);
            return -1;
        }
    free(seen);
    return 0;
bad_free:
    free(seen);
bad:
    lpt_error_set("%s: checkpoint tensor section is malformed", path);
    return -1;
}

void lpt_checkpoint_close(lpt_checkpoint *ck) {
    free(ck->buf);
    memset(ck, 0, sizeof *ck);
}
