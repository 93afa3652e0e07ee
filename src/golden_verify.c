/* golden_verify.c - lpt golden verify (golden.h): a folder's manifest and hex files read
 * strictly and every tensor recomputed from the operands. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "src/base/util.h"
#include "src/golden.h"
#include "src/golden_ref.h"

/* ---- reading and verifying ---- */

/* a tensor line: NAME KIND WIDTH FL FORMAT STREAM SHAPE; 0 or -1 with an error */
static int parse_tensor(gset *s, const char *rest, const char *where, const char *line) {
    char name[64], kind_s[64], f[32], shape[128];
    int width, fl, ti = -1, kind = -1;
    uint64_t stream;
    if (sscanf(rest, "%63s %63s %d %d %31s %" SCNx64 " %127s", name, kind_s, &width, &fl, f, &stream, shape) != 7) {
        lpt_error_set("%s: malformed tensor line (NAME KIND WIDTH FL FORMAT STREAM SHAPE): %.80s", where, line);
        return -1;
    }
    for (int t = 0; t < T_COUNT; t++) ti = !strcmp(name, lpt_gd_tname[t]) ? t : ti;
    for (int t = 0; t < 3; t++) kind = !strcmp(kind_s, lpt_gd_kind[t]) ? t : kind;
    if (ti < 0 || kind < 0 || width < 2 || width > 64 || fl < 2 * LPT_FL_MIN || fl > 2 * LPT_FL_MAX || s->t[ti].present) {
        lpt_error_set("%s: bad tensor line (an unknown name or kind, a width outside 2..64, an FL outside "
                      "-512..512, or a tensor named twice): %.80s", where, line);
        return -1;
    }
    gtensor *t = &s->t[ti];
    *t = (gtensor){.present = 1, .kind = kind, .width = width, .fl = fl, .stream = stream, .count = 1};
    snprintf(t->format, sizeof t->format, "%s", f);
    size_t d[4] = {0};
    t->ndim = sscanf(shape, "%zu,%zu,%zu,%zu", &d[0], &d[1], &d[2], &d[3]);
    int ok = t->ndim > 0;
    for (int q = 0; ok && q < t->ndim; q++) {
        ok = d[q] > 0 && d[q] <= (1u << 28);
        t->count *= (t->dims[q] = d[q]);
        ok = ok && t->count <= (1u << 28);
    }
    lpt_qformat qf;
    if (ok && kind == K_CODE) ok = lpt_qformat_parse(f, &qf) == 0 && qf.fmt == LPT_FMT_DFP && qf.width == width;
    if (!ok) lpt_error_set("%s: bad shape or format (a code needs dfp<WIDTH>): %.80s", where, line);
    return ok ? 0 : -1;
}

/* n whole numbers in [lo, hi] and nothing after them; 1 when so */
static int ints(const char *p, int n, long lo, long hi, int *out) {
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        const long v = strtol(p, &end, 10);
        if (end == p || errno || v < lo || v > hi) return 0;
        out[i] = (int)v;
        p = end;
    }
    return *p == 0;
}

/* one line of the manifest into s; *seen collects the keys given (bits); 0 or -1 */
static int parse_line(gset *s, char *l, const char *where, unsigned *seen) {
    char key[32], word[64], tail[2];
    int k = 0, v = 0, ok = 1;
    if (sscanf(l, "%31s%n", key, &k) != 1) return 0;
    const char *rest = l + k;
    geom *g = &s->g;
    static const char *const keys[] = {"lpt-golden", "layer", "type", "step", "seed", "input", "output",
                                       "kernel", "stride", "pad", "relu_fused", "acc_bits", "acc_overflow"};
    int ki = -1;
    for (int i = 0; i < 13; i++) ki = !strcmp(key, keys[i]) ? i : ki;
    if (!strcmp(key, "tensor")) return parse_tensor(s, rest, where, l);
    if (ki < 0) {
        lpt_error_set("%s: unknown key '%s'", where, key);
        return -1;
    }
    if (*seen & (1u << ki)) {
        lpt_error_set("%s: '%s' given twice", where, key);
        return -1;
    }
    *seen |= 1u << ki;
    const long big = 1 << 16;
    int a[4] = {0};
    switch (ki) { /* numbers in range, one word where a word goes, nothing after them */
    case 0: ok = ints(rest, 1, 1, 1, &v); break;
    case 1: ok = sscanf(rest, "%31s %1s", s->layer, tail) == 1; break;
    case 2:
        ok = sscanf(rest, "%15s %1s", s->type, tail) == 1 && (!strcmp(s->type, "conv2d") || !strcmp(s->type, "linear"));
        break;
    case 3: ok = sscanf(rest, "%" SCNd64 " %1s", &s->step, tail) == 1 && s->step >= 0 && s->step < (1LL << 50); break;
    case 4: ok = sscanf(rest, " %1[0-9]", tail) == 1 && sscanf(rest, "%" SCNu64 " %1s", &s->seed, tail) == 1; break;
    case 5: ok = ints(rest, 4, 1, big, a), g->n = a[0], g->c = a[1], g->h = a[2], g->w = a[3]; break;
    case 6: ok = ints(rest, 3, 1, big, a), g->oc = a[0], g->oh = a[1], g->ow = a[2]; break;
    case 7: ok = ints(rest, 2, 1, big, a), g->kh = a[0], g->kw = a[1]; break;
    case 8: ok = ints(rest, 2, 1, big, a), g->sh = a[0], g->sw = a[1]; break;
    case 9: ok = ints(rest, 2, 0, big, a), g->ph = a[0], g->pw = a[1]; break;
    case 10: ok = ints(rest, 1, 0, 1, &s->relu_fused); break;
    case 11: ok = ints(rest, 3, 2, 64, s->acc_bits); break;
    default: ok = sscanf(rest, "%63s %1s", word, tail) == 1 && !strcmp(word, "saturate"); break;
    }
    if (!ok) lpt_error_set("%s: malformed '%s' line: %.80s", where, key, l);
    return ok ? 0 : -1;
}

/* the geometry in range and consistent, every tensor present with the shape it gives */
static int check_manifest(gset *s, const char *path, unsigned seen) {
    const geom *g = &s->g;
    /* (the ranges of every number: parse_line) a window that fits, a linear layer as a 1x1 one */
    int ok = seen == (1u << 13) - 1 && g->h + 2 * g->ph >= g->kh && g->w + 2 * g->pw >= g->kw &&
             (g->h + 2 * g->ph - g->kh) / g->sh + 1 == g->oh && (g->w + 2 * g->pw - g->kw) / g->sw + 1 == g->ow &&
             lpt_gd_g_x(g) <= (1u << 28) && lpt_gd_g_y(g) <= (1u << 28) && lpt_gd_g_w(g) <= (1u << 28);
    if (ok && !strcmp(s->type, "linear"))
        ok = g->h == 1 && g->w == 1 && g->kh == 1 && g->kw == 1 && g->oh == 1 && g->ow == 1 && g->sh == 1 &&
             g->sw == 1 && g->ph == 0 && g->pw == 0;
    if (!ok) {
        lpt_error_set("%s: incomplete or inconsistent header (lpt-golden, layer, type, step, seed, input, output, "
                      "kernel, stride, pad, relu_fused, acc_bits, acc_overflow; a window that fits its padded input; a linear "
                      "layer 1x1 with stride 1 and no padding)", path);
        return -1;
    }
    s->has_dx = s->t[T_DX].present;
    s->has_bias = s->t[T_BIAS].present;
    const int need[] = {T_X, T_W, T_YACC, T_Y, T_DY, T_DWACC, T_DW};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!s->t[need[i]].present) {
            lpt_error_set("%s: no tensor line for %s", path, lpt_gd_tname[need[i]]);
            return -1;
        }
    if (s->t[T_DX].present != s->t[T_DXACC].present) {
        lpt_error_set("%s: dx and dx_acc go together", path);
        return -1;
    }
    gset want = *s; /* the shapes the geometry gives */
    memset(want.t, 0, sizeof want.t);
    lpt_gd_gset_shapes(&want, s->t[T_X].width, s->t[T_W].width, s->t[T_DY].width);
    for (int i = 0; i < T_COUNT; i++) {
        const gtensor *t = &s->t[i], *w = &want.t[i];
        int same_dims = t->ndim == w->ndim;
        for (int d = 0; same_dims && d < t->ndim; d++) same_dims = t->dims[d] == w->dims[d];
        if (t->present && (!same_dims || t->kind != w->kind || t->width != w->width)) {
            lpt_error_set("%s: tensor %s: kind %s, width %d, %zu values; the layer's geometry gives %s, %d, %zu", path,
                          lpt_gd_tname[i], lpt_gd_kind[t->kind], t->width, t->count, lpt_gd_kind[w->kind], w->width,
                          w->count);
            return -1;
        }
    }
    /* the accumulators' FLs are the sums of their operands' */
    const int fx = s->t[T_X].fl, fw = s->t[T_W].fl, fdy = s->t[T_DY].fl;
    const struct { int t, fl; } acc[] = {{T_BIAS, fx + fw}, {T_YACC, fx + fw}, {T_DWACC, fdy + fx}, {T_DW, fdy + fx},
                                         {T_DXACC, fw + fdy}};
    for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++)
        if (s->t[acc[i].t].present && s->t[acc[i].t].fl != acc[i].fl) {
            lpt_error_set("%s: tensor %s: FL %d, its operands' FLs give %d", path, lpt_gd_tname[acc[i].t],
                          s->t[acc[i].t].fl, acc[i].fl);
            return -1;
        }
    return lpt_gd_check_bound(s);
}

static int parse_manifest(const char *dir, gset *s) {
    char path[1024], where[1100];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    size_t len;
    char *text = lpt_file_read(path, 1 << 20, &len);
    if (!text) return -1;
    if (memchr(text, 0, len)) {
        lpt_error_set("%s: holds a NUL byte: not a golden-vector manifest", path);
        free(text);
        return -1;
    }
    unsigned seen = 0;
    int rc = 0, line = 0;
    for (char *l = text, *nl; rc == 0 && l < text + len; l = nl + 1) {
        nl = strchr(l, '\n');
        if (!nl) nl = text + len;
        *nl = 0;
        line++;
        if (nl > l && nl[-1] == '\r') nl[-1] = 0;
        if (l[0] == '#' || !l[0]) continue;
        snprintf(where, sizeof where, "%s:%d", path, line);
        if (!(seen & 1)) { /* the first line that is not a comment names the format */
            if (strncmp(l, "lpt-golden", 10) != 0) {
                lpt_error_set("%s: not a golden-vector manifest (it starts with 'lpt-golden 1')", where);
                rc = -1;
                break;
            }
        }
        rc = parse_line(s, l, where, &seen);
    }
    if (rc == 0) rc = check_manifest(s, path, seen);
    free(text);
    return rc;
}

static int read_hex(const char *dir, const char *name, gtensor *t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.hex", dir, name);
    const int digits = lpt_gd_hex_digits(t->width);
    size_t len;
    char *text = lpt_file_read(path, (unsigned long long)t->count * (digits + 2) + 16, &len);
    if (!text) return -1;
    t->v = lpt_xcalloc(t->count + 1, sizeof *t->v);
    size_t i = 0, at = 0;
    int rc = -1;
    while (at < len) {
        size_t e = at;
        while (e < len && text[e] != '\n') e++;
        size_t w = e - at;
        if (w && text[at + w - 1] == '\r') w--;
        if (i == t->count) {
            lpt_error_set("%s: line %zu: more than the %zu values the manifest gives", path, i + 1, t->count);
            goto done;
        }
        uint64_t u = 0;
        int ok = (int)w == digits;
        for (size_t k = 0; ok && k < w; k++) {
            const char ch = text[at + k];
            const int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                          : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
            ok = d >= 0;
            u = u << 4 | (uint64_t)(d < 0 ? 0 : d);
        }
        if (ok && t->width < 64 && (u >> t->width)) ok = 0;
        if (!ok) {
            lpt_error_set("%s: line %zu: '%.*s' is not a %d-digit hex word of %d bits", path, i + 1,
                          (int)(w > 40 ? 40 : w), text + at, digits, t->width);
            goto done;
        }
        t->v[i++] = t->kind == K_F32 ? (int64_t)u : lpt_gd_sign_extend(u, t->width);
        at = e + 1;
    }
    if (i != t->count) {
        lpt_error_set("%s: %zu values, the manifest gives %zu", path, i, t->count);
        goto done;
    }
    rc = 0;
done:
    free(text);
    return rc;
}

int lpt_golden_verify(const char *dir, int max_report) {
    gset s = {0}, r = {0};
    int rc = -1;
    if (parse_manifest(dir, &s)) goto done;
    size_t values = 0;
    int tensors = 0;
    for (int i = 0; i < T_COUNT; i++)
        if (s.t[i].present) {
            if (read_hex(dir, lpt_gd_tname[i], &s.t[i])) goto done;
            values += s.t[i].count;
            tensors++;
        }
    /* operands within their widths are guaranteed by the hex reader; the products now */
    lpt_gd_recompute(&s, &r);
    long bad = 0;
    lpt_gd_compare_sets(&s, &r, "file", max_report, &bad);
    if (bad)
        printf("golden %s: FAIL: %ld of %d tensors differ from the reference (layer %s, step %" PRId64 ")\n", dir, bad,
               tensors, s.layer, s.step);
    else
        printf("golden %s: OK: %d tensors, %zu values equal the reference (layer %s, step %" PRId64 ")\n", dir, tensors,
               values, s.layer, s.step);
    rc = bad ? 1 : 0;
done:
    lpt_gd_gset_free(&s);
    lpt_gd_gset_free(&r);
    return rc;
}
