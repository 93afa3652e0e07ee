/* golden_ref.c - the reference of golden vectors (golden_ref.h): exact integer sums in
 * int64, requantization by the scalar reference quantizer. */
#include "src/golden_ref.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "src/base/util.h"

size_t lpt_gd_g_x(const geom *g) { return (size_t)g->n * g->c * g->h * g->w; }
size_t lpt_gd_g_w(const geom *g) { return (size_t)g->oc * g->c * g->kh * g->kw; }
size_t lpt_gd_g_y(const geom *g) { return (size_t)g->n * g->oc * g->oh * g->ow; }

/* Y[n][o][oy][ox] = sum over (c, i, j) of W[o][c][i][j] X[n][c][oy*sh-ph+i][ox*sw-pw+j] */
static void ref_fwd(const geom *g, const int32_t *x, const int32_t *w, int64_t *y) {
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->oc; o++)
            for (int oy = 0; oy < g->oh; oy++)
                for (int ox = 0; ox < g->ow; ox++) {
                    int64_t acc = 0;
                    for (int c = 0; c < g->c; c++)
                        for (int i = 0; i < g->kh; i++) {
                            const int yy = oy * g->sh - g->ph + i;
                            if (yy < 0 || yy >= g->h) continue;
                            for (int j = 0; j < g->kw; j++) {
                                const int xx = ox * g->sw - g->pw + j;
                                if (xx < 0 || xx >= g->w) continue;
                                acc += (int64_t)w[((size_t)(o * g->c + c) * g->kh + i) * g->kw + j] *
                                       x[((size_t)(n * g->c + c) * g->h + yy) * g->w + xx];
                            }
                        }
                    y[(((size_t)n * g->oc + o) * g->oh + oy) * g->ow + ox] = acc;
                }
}

/* dW[o][c][i][j] = sum over (n, oy, ox) of dY[n][o][oy][ox] X[n][c][oy*sh-ph+i][ox*sw-pw+j];
 * the columns of dX, col[(c, i, j)][(n, oy, ox)] = sum over o of W[o][c][i][j] dY[n][o][oy][ox]
 * (every position, padding included: the product computes them, col2im drops them) */
static void ref_bwd(const geom *g, const int32_t *x, const int32_t *w, const int32_t *dy, int64_t *dw, int64_t *col) {
    const size_t np = (size_t)g->n * g->oh * g->ow;
    memset(dw, 0, lpt_gd_g_w(g) * sizeof *dw);
    if (col) memset(col, 0, lpt_gd_g_w(g) / (size_t)g->oc * np * sizeof *col);
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->oc; o++)
            for (int oy = 0; oy < g->oh; oy++)
                for (int ox = 0; ox < g->ow; ox++) {
                    const int64_t d = dy[(((size_t)n * g->oc + o) * g->oh + oy) * g->ow + ox];
                    const size_t q = ((size_t)n * g->oh + oy) * g->ow + ox;
                    if (!d) continue;
                    for (int c = 0; c < g->c; c++)
                        for (int i = 0; i < g->kh; i++)
                            for (int j = 0; j < g->kw; j++) {
                                const size_t r = ((size_t)c * g->kh + i) * g->kw + j, wi = (size_t)o * lpt_gd_g_w(g) / (size_t)g->oc + r;
                                if (col) col[r * np + q] += d * w[wi];
                                const int yy = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                                if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) continue;
                                dw[wi] += d * x[((size_t)(n * g->c + c) * g->h + yy) * g->w + xx];
                            }
                }
}

const char *const lpt_gd_kind[3] = {"code", "acc", "float32"};

const char *const lpt_gd_tname[T_COUNT] = {"x", "w", "bias_acc", "y_acc", "y", "dy", "dw_acc", "dw", "dx_acc", "dx"};


void lpt_gd_gset_free(gset *s) {
    for (int i = 0; i < T_COUNT; i++) free(s->t[i].v);
}

static void set_shape(gtensor *t, int ndim, const int *d) {
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < ndim; i++) t->count *= (size_t)(t->dims[i] = (size_t)d[i]);
}

/* the shapes and widths of s's tensors from its geometry */
void lpt_gd_gset_shapes(gset *s, int wa, int ww, int wg) {
    const geom *g = &s->g;
    const int lin = !strcmp(s->type, "linear");
    const int xs[4] = {g->n, g->c, g->h, g->w}, ws[4] = {g->oc, g->c, g->kh, g->kw}, ys[4] = {g->n, g->oc, g->oh, g->ow};
    const int nd = lin ? 2 : 4;
    const int kinds[T_COUNT] = {K_CODE, K_CODE, K_ACC, K_ACC, K_CODE, K_CODE, K_ACC, K_F32, K_ACC, K_CODE};
    const int *shapes[T_COUNT] = {xs, ws, NULL, ys, ys, ys, ws, ws, xs, xs};
    const int *ab = s->acc_bits;
    const int widths[T_COUNT] = {wa, ww, ab[0], ab[0], wa, wg, ab[1], 32, ab[2], wg};
    const int cols[2] = {g->c * g->kh * g->kw, g->n * g->oh * g->ow}; /* dx_acc: the columns of dX */
    for (int i = 0; i < T_COUNT; i++) {
        gtensor *t = &s->t[i];
        t->kind = kinds[i];
        t->width = widths[i];
        if (i == T_DXACC) set_shape(t, 2, cols);
        else if (shapes[i]) set_shape(t, nd, shapes[i]);
        else set_shape(t, 1, &g->oc);
    }
}

int lpt_gd_hex_digits(int width) { return (width + 3) / 4; }

int64_t lpt_gd_sign_extend(uint64_t u, int width) {
    if (width >= 64) return (int64_t)u;
    const uint64_t m = 1ULL << (width - 1);
    u &= (m << 1) - 1;
    return (int64_t)((u ^ m) - m);
}

/* fits a `width`-bit two's-complement word */
int lpt_gd_fits(int64_t v, int width) {
    if (width >= 64) return 1;
    const int64_t lim = (int64_t)1 << (width - 1);
    return v >= -lim && v < lim;
}

/* ---- recomputation (writing and verifying) ---- */

/* the largest bits the products' partial sums need, against the accumulator */
int lpt_gd_check_bound(const gset *s) {
    const geom *g = &s->g;
    const int wa = s->t[T_X].width, ww = s->t[T_W].width, wg = s->t[T_DY].width;
    const long kf = (long)g->c * g->kh * g->kw, kw_ = (long)g->n * g->oh * g->ow, kd = g->oc;
    struct { const char *what; int bits; } p[3] = {{"y = w x", lpt_dfp_sum_bits(ww, wa, kf)},
                                                    {"dw = dy x", lpt_dfp_sum_bits(wg, wa, kw_)},
                                                    {"dx = w dy", lpt_dfp_sum_bits(ww, wg, kd)}};
    for (int i = 0; i < 3; i++)
        if (p[i].bits + 1 > s->acc_bits[i] || p[i].bits > 62) {
            lpt_error_set("layer %s: the product %s needs %d bits, more than the %d-bit accumulator: golden vectors "
                          "cover products that cannot overflow (raise --acc-bits)", s->layer, p[i].what, p[i].bits + 1,
                          s->acc_bits[i]);
            return -1;
        }
    return 0;
}

/* float32(acc * 2^-fl) */
float lpt_gd_acc_value(int64_t acc, int fl) { return (float)ldexp((double)acc, -fl); }

/* requantized codes of the n values v with out's format, FL and key */
static void requant(const float *v, size_t n, const gtensor *out, uint64_t seed, int64_t step, int64_t *codes) {
    lpt_qformat f;
    lpt_qformat_parse(out->format, &f);
    int32_t *c = lpt_xmalloc(n * sizeof *c + 4);
    const lpt_rng_key key = {.seed = seed, .stream = out->stream, .step = (uint64_t)step, .index0 = 0};
    lpt_qstats st = {0};
    lpt_quantize_ref(&f, out->fl, &key, n, v, c, NULL, &st);
    for (size_t i = 0; i < n; i++) codes[i] = c[i];
    free(c);
}

void lpt_gd_pre(const gset *s, const gset *r, float *ypre, float *dxpre) {
    const geom *g = &s->g;
    const gtensor *ya = &r->t[T_YACC], *ba = &s->t[T_BIAS];
    const size_t p = (size_t)g->oh * g->ow;
    for (size_t i = 0; i < ya->count; i++) { /* the product in float32, then the bias, then the ReLU */
        const float b = ba->present ? lpt_gd_acc_value(ba->v[i / p % (size_t)g->oc], ba->fl) : 0.0f;
        const float v = lpt_gd_acc_value(ya->v[i], ya->fl) + b;
        ypre[i] = s->relu_fused && !(v > 0.0f) ? 0.0f : v;
    }
    if (!s->has_dx) return;
    const gtensor *col = &r->t[T_DXACC];
    const size_t np = (size_t)g->n * g->oh * g->ow;
    for (int n = 0; n < g->n; n++) /* col2im: per plane, in the order (i, j, oy, ox), float32 additions */
        for (int c = 0; c < g->c; c++) {
            float *d = dxpre + ((size_t)n * g->c + c) * g->h * g->w;
            memset(d, 0, sizeof(float) * (size_t)g->h * g->w);
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++)
                    for (int oy = 0; oy < g->oh; oy++)
                        for (int ox = 0; ox < g->ow; ox++) {
                            const int yy = oy * g->sh - g->ph + i, xx = ox * g->sw - g->pw + j;
                            if (yy < 0 || yy >= g->h || xx < 0 || xx >= g->w) continue;
                            const size_t r_ = ((size_t)c * g->kh + i) * g->kw + j, q = ((size_t)n * g->oh + oy) * g->ow + ox;
                            d[(size_t)yy * g->w + xx] += lpt_gd_acc_value(col->v[r_ * np + q], col->fl);
                        }
        }
}

/* everything recomputed from x, w, bias_acc and dy into r (same layout as s) */
void lpt_gd_recompute(const gset *s, gset *r) {
    const geom *g = &s->g;
    int32_t *x = lpt_xmalloc(lpt_gd_g_x(g) * 4 + 4), *w = lpt_xmalloc(lpt_gd_g_w(g) * 4 + 4), *dy = lpt_xmalloc(lpt_gd_g_y(g) * 4 + 4);
    for (size_t i = 0; i < lpt_gd_g_x(g); i++) x[i] = (int32_t)s->t[T_X].v[i];
    for (size_t i = 0; i < lpt_gd_g_w(g); i++) w[i] = (int32_t)s->t[T_W].v[i];
    for (size_t i = 0; i < lpt_gd_g_y(g); i++) dy[i] = (int32_t)s->t[T_DY].v[i];
    for (int i = 0; i < T_COUNT; i++) {
        r->t[i] = s->t[i];
        r->t[i].v = lpt_xcalloc(s->t[i].count + 1, sizeof(int64_t));
        if (s->t[i].present && (i == T_X || i == T_W || i == T_BIAS || i == T_DY))
            memcpy(r->t[i].v, s->t[i].v, s->t[i].count * sizeof(int64_t));
    }
    ref_fwd(g, x, w, r->t[T_YACC].v);
    ref_bwd(g, x, w, dy, r->t[T_DWACC].v, s->has_dx ? r->t[T_DXACC].v : NULL);
    float *ypre = lpt_xmalloc(lpt_gd_g_y(g) * sizeof(float) + 4), *dxpre = lpt_xmalloc(lpt_gd_g_x(g) * sizeof(float) + 4);
    lpt_gd_pre(s, r, ypre, dxpre);
    requant(ypre, lpt_gd_g_y(g), &r->t[T_Y], s->seed, s->step, r->t[T_Y].v);
    if (s->has_dx) requant(dxpre, lpt_gd_g_x(g), &r->t[T_DX], s->seed, s->step, r->t[T_DX].v);
    for (size_t i = 0; i < lpt_gd_g_w(g); i++) {
        const float f = lpt_gd_acc_value(r->t[T_DWACC].v[i], r->t[T_DWACC].fl);
        uint32_t u;
        memcpy(&u, &f, 4);
        r->t[T_DW].v[i] = (int64_t)u;
    }
    free(ypre);
    free(dxpre);
    free(x);
    free(w);
    free(dy);
}

/* "[n, c, h, w]" of flat index i */
void lpt_gd_index_text(const gtensor *t, size_t i, char *buf, size_t n) {
    size_t idx[4], rem = i;
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->dims[d] ? rem % t->dims[d] : 0;
        rem = t->dims[d] ? rem / t->dims[d] : 0;
    }
    int k = snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && k > 0 && (size_t)k < n; d++)
        k += snprintf(buf + k, n - (size_t)k, "%zu%s", idx[d], d + 1 < t->ndim ? ", " : "]");
}

void lpt_gd_compare_sets(const gset *a, const gset *b, const char *who, int max_report, long *bad_tensors) {
    *bad_tensors = 0;
    for (int i = 0; i < T_COUNT; i++) {
        const gtensor *t = &a->t[i], *r = &b->t[i];
        if (!t->present) continue;
        size_t bad = 0, first = 0;
        for (size_t k = 0; k < t->count; k++)
            if (t->v[k] != r->v[k]) {
                if (!bad) first = k;
                if ((int)bad < max_report) {
                    char at[64];
                    const int digits = lpt_gd_hex_digits(t->width);
                    const uint64_t mask = t->width >= 64 ? ~0ULL : (1ULL << t->width) - 1;
                    lpt_gd_index_text(t, k, at, sizeof at);
                    printf("mismatch: %s index %zu %s (line %zu of %s.hex): %s %0*" PRIx64 ", reference %0*" PRIx64
                           "\n", lpt_gd_tname[i], k, at, k + 1, lpt_gd_tname[i], who, digits, (uint64_t)t->v[k] & mask, digits,
                           (uint64_t)r->v[k] & mask);
                }
                bad++;
            }
        if (bad) {
            printf("%s: %zu of %zu values differ (first at index %zu)\n", lpt_gd_tname[i], bad, t->count, first);
            (*bad_tensors)++;
        }
    }
}
