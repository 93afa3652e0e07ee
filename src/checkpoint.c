/* checkpoint.c - checkpoint files (layout in docs/checkpoint.md).
 *
 *   "LPTCKPT1" | u32 version | u64 body length | body | u32 CRC-32 of all before it
 *   body: u32 len + model spec text | u32 len + config text | u32 len + state text |
 *         u32 count, then per tensor: u16 name length, name, u8 rank, i32 dims[rank],
 *         u64 bytes, data
 * Integers are little-endian; real numbers in the text sections are C99 hex floats, so
 * they round-trip exactly. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"
#include "util.h"

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
                   "acc_bits=%d\nrecompute=%d\n",
                   cfg->model, cfg->precision, cfg->backend, cfg->epochs, cfg->batch,
                   cfg->threads, (double)cfg->sgd.lr, (double)cfg->sgd.momentum,
                   (double)cfg->sgd.wd, lpt_sched_name(cfg->sgd.sched), cfg->sgd.step_epochs,
                   (double)cfg->sgd.gamma, cfg->seed, cfg->train_limit, cfg->test_limit,
                   cfg->rounding, (double)cfg->overflow_rate, (double)cfg->underflow_rate,
                   cfg->stats_interval, cfg->acc_bits, cfg->recompute);
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
    if (st->stats) lpt_stats_save(st->stats, &state);
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

int lpt_checkpoint_open(const char *path, lpt_checkpoint *ck, lpt_train_cfg *cfg,
                        lpt_model_spec *spec, lpt_train_state *st) {
    memset(ck, 0, sizeof *ck);
    memset(st, 0, sizeof *st);
    ck->buf = lpt_file_read_all(path, &ck->len);
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
    double v[16];
    char sched[16];
    if (kv_str(conf, "model", cfg->model, sizeof cfg->model) ||
        kv_str(conf, "precision", cfg->precision, sizeof cfg->precision) ||
        kv_str(conf, "backend", cfg->backend, sizeof cfg->backend) ||
        kv_str(conf, "schedule", sched, sizeof sched) || lpt_sched_parse(sched, &cfg->sgd.sched) ||
        kv_num(conf, "epochs", &v[0]) || kv_num(conf, "batch", &v[1]) ||
        kv_num(conf, "threads", &v[2]) || kv_num(conf, "lr", &v[3]) ||
        kv_num(conf, "momentum", &v[4]) || kv_num(conf, "weight_decay", &v[5]) ||
        kv_num(conf, "step_epochs", &v[6]) || kv_num(conf, "gamma", &v[7]) ||
        kv_num(conf, "seed", &v[8]) || kv_num(conf, "train_limit", &v[9]) ||
        kv_num(conf, "test_limit", &v[10])) {
        lpt_error_set("%s: checkpoint configuration is malformed", path);
        goto fail;
    }
    cfg->epochs = (int)v[0];
    cfg->batch = (int)v[1];
    cfg->threads = (int)v[2];
    cfg->sgd.lr = (float)v[3];
    cfg->sgd.momentum = (float)v[4];
    cfg->sgd.wd = (float)v[5];
    cfg->sgd.step_epochs = (int)v[6];
    cfg->sgd.gamma = (float)v[7];
    const char *sv = kv_get(conf, "seed");
    cfg->seed = strtoull(sv, NULL, 10);
    cfg->train_limit = (int)v[9];
    cfg->test_limit = (int)v[10];
    /* low-precision settings (absent from checkpoints of earlier builds: defaults) */
    if (kv_get(conf, "rounding") && kv_str(conf, "rounding", cfg->rounding, sizeof cfg->rounding)) cfg->rounding[0] = 0;
    if (!kv_num(conf, "overflow_rate", &v[11])) cfg->overflow_rate = (float)v[11];
    if (!kv_num(conf, "underflow_rate", &v[12])) cfg->underflow_rate = (float)v[12];
    if (!kv_num(conf, "stats_interval", &v[13]) && v[13] >= 1) cfg->stats_interval = (int)v[13];
    if (!kv_num(conf, "acc_bits", &v[14])) cfg->acc_bits = (int)v[14];
    if (!kv_num(conf, "recompute", &v[15])) cfg->recompute = (int)v[15];
    if (kv_num(state, "epoch", &v[0]) || kv_num(state, "step_in_epoch", &v[1]) ||
        kv_num(state, "global_step", &v[2]) || kv_num(state, "loss_sum", &st->loss_sum) ||
        kv_num(state, "correct", &v[3]) || kv_num(state, "seen", &v[4]) ||
        kv_num(state, "mean", &st->mean) || kv_num(state, "std", &st->std) ||
        kv_num(state, "records", &v[5]) || v[5] < 0 || v[5] > 1e6 || cfg->batch < 1) {
        lpt_error_set("%s: checkpoint state is malformed", path);
        goto fail;
    }
    st->epoch = (int)v[0];
    st->step_in_epoch = (long)v[1];
    st->global_step = (long)v[2];
    st->correct = (long)v[3];
    st->seen = (long)v[4];
    st->nrecords = (int)v[5];
    if (!kv_num(state, "loss_scale", &v[6])) st->loss_scale = (float)v[6];
    if (!kv_num(state, "skipped", &v[7])) st->skipped = (unsigned long long)v[7];
    st->records = lpt_xcalloc((size_t)st->nrecords + 1, sizeof *st->records);
    const char *l = state;
    for (int i = 0; i < st->nrecords; i++) {
        l = strstr(l, "record=");
        lpt_epoch_record *rec = &st->records[i];
        if (!l || sscanf(l, "record=%d %ld %la %la %la %la %la %la %la", &rec->epoch, &rec->step,
                         &rec->lr, &rec->train_loss, &rec->train_acc, &rec->test_loss,
                         &rec->test_acc, &rec->images_per_s, &rec->seconds) != 9) {
            lpt_error_set("%s: checkpoint metrics records are malformed", path);
            goto fail;
        }
        l += 7;
    }
    if (lpt_model_spec_parse(spectext, cfg->model, spec) != 0) goto fail;
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
