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
    lpt_cfg_save(cfg, &conf);
    lpt_buf_printf(&state,
                   "epoch=%d\nstep_in_epoch=%ld\nglobal_step=%ld\nloss_sum=%a\ncorrect=%ld\n"
                   "seen=%ld\nmean=%a\nstd=%a\nrecords=%d\nloss_scale=%a\nskipped=%llu\n",
                   st->epoch, st->step_in_epoch, st->global_step, st->loss_sum, st->correct,
                   st->seen, st->mean, st->std, st->nrecords, (double)st->loss_scale, st->skipped);
    for (int i = 0; i < st->nrecords; i++) {
        const lpt_epoch_record *r = &st->records[i];
        lpt_buf_printf(&state, "record=%d %ld %a %a %a %a %a %a %a %a %a %a\n", r->epoch, r->step, r->lr,
                       r->train_loss, r->train_acc, r->test_loss, r->test_acc, r->images_per_s,
                       r->seconds, r->energy_mj, r->dram_mib, r->energy_ratio);
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

/* The configuration fields of the table (src/config.h), each checked against its range. */
static void load_config_field(fields *f, const lpt_cfg_field *d, lpt_train_cfg *cfg) {
    void *dst = lpt_cfg_at(cfg, d);
    if (!kv_get(f->text, d->key) && d->ckpt != LPT_CK_REQUIRED) {
        if (d->ckpt == LPT_CK_ABSENT_ZERO) *(int *)dst = 0; /* a feature earlier builds lacked */
        return;
    }
    double v = 0;
    switch (d->kind) {
    case LPT_CF_STR:
        field_str(f, d->key, dst, d->cap);
        return;
    case LPT_CF_SCHED: {
        char name[16];
        if (!field_str(f, d->key, name, sizeof name) && lpt_sched_parse(name, dst)) {
            char why[256]; /* the parser's reason, before the message that quotes it is written */
            snprintf(why, sizeof why, "%s", lpt_error_get());
            lpt_error_set("%s: checkpoint configuration field %s='%s': %s", f->path, d->key, name, why);
            f->bad = 1;
        }
        return;
    }
    case LPT_CF_U64: { /* a full 64-bit integer: read as one */
        const char *sv = kv_get(f->text, d->key);
        char *end = NULL;
        errno = 0;
        unsigned long long x = sv && *sv >= '0' && *sv <= '9' ? strtoull(sv, &end, 10) : 0;
        if (!f->bad && (!sv || !end || errno || (*end != '\n' && *end != 0))) {
            lpt_error_set("%s: checkpoint configuration field %s is missing or not a non-negative integer", f->path,
                          d->key);
            f->bad = 1;
        }
        *(uint64_t *)dst = x;
        return;
    }
    default:
        break;
    }
    const int integer = d->kind != LPT_CF_FLOAT;
    field(f, d->key, d->zero_ok ? 0 : d->lo, d->hi, integer, 0, &v);
    if (!f->bad && d->zero_ok && v != 0 && v < d->lo) {
        lpt_error_set("%s: checkpoint configuration field %s=%g is not 0 (default) or in [%g, %g]", f->path, d->key, v,
                      d->lo, d->hi);
        f->bad = 1;
    }
    if (f->bad) return;
    if (d->kind == LPT_CF_FLOAT)
        *(float *)dst = (float)v;
    else if (d->kind == LPT_CF_LONG)
        *(long *)dst = (long)v;
    else
        *(int *)dst = (int)v;
}

/* What a backend or rounding name must mean, checked as soon as it is read. */
static void check_name(fields *f, const lpt_cfg_field *d, const lpt_train_cfg *cfg) {
    if (f->bad) return;
    if (strcmp(d->key, "backend") == 0 && !lpt_backend_known(cfg->backend)) {
        lpt_error_set("%s: checkpoint configuration field backend='%s' is not a backend of this build (%s)", f->path,
                      cfg->backend, lpt_backend_names());
        f->bad = 1;
    }
    if (strcmp(d->key, "rounding") == 0) {
        int known = !cfg->rounding[0];
        for (int i = 0; i < LPT_ROUND_COUNT; i++) known |= strcmp(cfg->rounding, lpt_rounding_names[i]) == 0;
        if (!known) {
            lpt_error_set("%s: checkpoint configuration field rounding='%s' is not a rounding mode", f->path,
                          cfg->rounding);
            f->bad = 1;
        }
    }
}

/* The configuration section: every field of the table, then what the values must mean. */
static int load_config(const char *path, const char *text, lpt_train_cfg *cfg) {
    fields f = {.path = path, .section = "configuration", .text = text};
    for (int i = 0; i < lpt_cfg_nfields && !f.bad; i++)
        if (lpt_cfg_fields[i].key) {
            load_config_field(&f, &lpt_cfg_fields[i], cfg);
            check_name(&f, &lpt_cfg_fields[i], cfg);
        }
    if (f.bad) return -1;
    if (lpt_prec_check(cfg)) { /* the precision as --precision would take it */
        lpt_error_prefix("%s: checkpoint configuration field precision='%s'", path, cfg->precision);
        return -1;
    }
    return 0;
}

/* a record's optional cost fields (checkpoints of earlier builds end before them): 1 when
 * absent or well formed */
static int record_cost(const char *l, int *used, lpt_epoch_record *rec) {
    int more = 0;
    if (l[*used] == '\n' || l[*used] == 0) return 1;
    if (sscanf(l + *used, " %la %la %la%n", &rec->energy_mj, &rec->dram_mib, &rec->energy_ratio, &more) != 3)
        return 0;
    *used += more;
    return rec->energy_mj >= 0 && isfinite(rec->energy_mj) && rec->dram_mib >= 0 && isfinite(rec->dram_mib) &&
           rec->energy_ratio >= 0 && isfinite(rec->energy_ratio);
}

/* The state section: where the run stands, and the per-epoch records. */
static int load_state(const char *path, const char *state, const lpt_train_cfg *cfg, lpt_train_state *st) {
    fields f = {.path = path, .section = "state", .text = state};
    double v;
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
    if (f.bad) return -1;
    st->records = lpt_xcalloc((size_t)st->nrecords + 1, sizeof *st->records);
    const char *l = state;
    for (int i = 0; i < st->nrecords; i++) {
        l = strstr(l, "record=");
        lpt_epoch_record *rec = &st->records[i];
        int used = 0;
        if (!l || sscanf(l, "record=%d %ld %la %la %la %la %la %la %la%n", &rec->epoch, &rec->step, &rec->lr,
                         &rec->train_loss, &rec->train_acc, &rec->test_loss, &rec->test_acc,
                         &rec->images_per_s, &rec->seconds, &used) != 9 ||
            !record_cost(l, &used, rec) || (l[used] != '\n' && l[used] != 0) || rec->epoch < 1 || rec->epoch > cfg->epochs || rec->step < 0 ||
            !isfinite(rec->lr) || !isfinite(rec->train_loss) || !isfinite(rec->test_loss) ||
            !(rec->train_acc >= 0 && rec->train_acc <= 1) || !(rec->test_acc >= 0 && rec->test_acc <= 1) ||
            !(rec->images_per_s >= 0 && isfinite(rec->images_per_s)) || !(rec->seconds >= 0 && isfinite(rec->seconds))) {
            lpt_error_set("%s: checkpoint metrics record %d is malformed or out of range", path, i + 1);
            return -1;
        }
        l += 7;
    }
    if (lpt_stats_check(state) != 0) { /* entries are matched to the model later */
        lpt_error_prefix("%s: checkpoint", path);
        return -1;
    }
    return 0;
}

/* The file: magic, version, length and CRC-32 checked; the three text sections read. */
static int load_sections(const char *path, lpt_checkpoint *ck, char **spectext, char **conf, char **state) {
    const size_t head = 8 + 4 + 8;
    uint32_t version, crc;
    uint64_t body;
    if (ck->len < head + 4 || memcmp(ck->buf, CK_MAGIC, 8) != 0) {
        lpt_error_set("%s: not an lpt checkpoint (bad magic or too short)", path);
        return -1;
    }
    memcpy(&version, ck->buf + 8, 4);
    memcpy(&body, ck->buf + 12, 8);
    if (version != CK_VERSION) {
        lpt_error_set("%s: checkpoint version %u, this build reads version %u", path, version, CK_VERSION);
        return -1;
    }
    if (body != ck->len - head - 4) {
        lpt_error_set("%s: checkpoint is truncated or has trailing data (%zu bytes, header says %llu)",
                      path, ck->len, (unsigned long long)(body + head + 4));
        return -1;
    }
    memcpy(&crc, ck->buf + ck->len - 4, 4);
    if (lpt_crc32(0, ck->buf, ck->len - 4) != crc) {
        lpt_error_set("%s: checkpoint is corrupt (CRC-32 mismatch)", path);
        return -1;
    }
    reader r = {ck->buf + head, body};
    *spectext = rd_text(&r);
    *conf = rd_text(&r);
    *state = rd_text(&r);
    if (!*spectext || !*conf || !*state) {
        lpt_error_set("%s: checkpoint sections are malformed", path);
        return -1;
    }
    ck->tensors_at = (size_t)(r.p - ck->buf);
    return 0;
}

int lpt_checkpoint_open(const char *path, lpt_checkpoint *ck, lpt_train_cfg *cfg,
                        lpt_model_spec *spec, lpt_train_state *st) {
    memset(ck, 0, sizeof *ck);
    memset(st, 0, sizeof *st);
    ck->buf = lpt_file_read(path, LPT_CHECKPOINT_MAX_BYTES, &ck->len);
    if (!ck->buf) return -1;
    char *spectext = NULL, *conf = NULL, *state = NULL;
    if (load_sections(path, ck, &spectext, &conf, &state) || load_config(path, conf, cfg) ||
        load_state(path, state, cfg, st))
        goto fail;
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
