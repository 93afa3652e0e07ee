/* golden.c - golden vectors: the capture and the writer (golden.h, docs/golden.md). */
#include "src/golden.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "src/base/util.h"
#include "src/golden_ref.h"
#include "src/npy.h"

/* ---- capture ---- */

static int tensor_slot(const lpt_qconfig *q, int id) {
    static const char *const names[] = {"x", "w", "dy", "y", "dx"};
    static const int slots[] = {LPT_GT_X, LPT_GT_W, LPT_GT_DY, LPT_GT_Y, LPT_GT_DX};
    for (int i = 0; i < 5; i++)
        if (!strcmp(q->stats->e[id].tensor, names[i])) return slots[i];
    return -1;
}

static void on_tap(void *arg, const lpt_ctx *c, const lpt_tap_event *e) {
    lpt_golden *g = arg;
    const lpt_stats_entry *ea = &c->quant->stats->e[e->id];
    if (strcmp(ea->layer, g->net->layers[g->li].name) != 0) return;
    int slot;
    size_t n = e->n;
    if (e->kind == LPT_TAP_PRODUCT) {
        const int a = tensor_slot(c->quant, e->id), b = tensor_slot(c->quant, e->idb);
        if (!(a == LPT_GT_DY && b == LPT_GT_X)) return; /* dW; Y and dX come from their points */
        slot = LPT_GT_DW;
        n = (size_t)e->m * (size_t)e->cols;
        if (e->ld != e->cols) return; /* (dW is dense: its gradient tensor) */
    } else {
        slot = tensor_slot(c->quant, e->id);
        if (slot < 0) return;
        if (e->kind == LPT_TAP_PRE) slot = slot == LPT_GT_Y ? LPT_GT_YPRE : LPT_GT_DXPRE;
    }
    if (slot == LPT_GT_X && g->bias) { /* the bias as this forward pass uses it */
        const lpt_param *p = NULL;
        char name[80];
        snprintf(name, sizeof name, "%s.bias", g->net->layers[g->li].name);
        p = lpt_net_find_param(g->net, name);
        if (p) lpt_backend_read(c->be, g->bias, lpt_tensor_f32(p->value), lpt_tensor_count(p->value) * sizeof(float));
    }
    free(g->t[slot]);
    g->t[slot] = lpt_xmalloc(n * sizeof(float) + 4);
    g->n[slot] = n;
    lpt_backend_read(c->be, g->t[slot], e->data, n * sizeof(float));
    if (e->kind != LPT_TAP_PRODUCT) {
        g->id[slot] = e->id;
        lpt_backend_read(c->be, &g->fl[slot], &c->quant->states[e->id].fl, sizeof(int));
    }
    if (slot == LPT_GT_Y) g->relu_fused = lpt_q_fused_relu(c, e->id, &g->net->layers[g->li]);
    g->seed = c->seed;
    g->step = c->step;
    g->events++;
}

/* the layer's entry for `tensor` */
static const lpt_stats_entry *entry(const lpt_golden *c, const char *tensor) {
    const lpt_stats_unit *u = c->q->stats;
    for (int i = 0; i < u->n; i++)
        if (!strcmp(u->e[i].layer, c->net->layers[c->li].name) && !strcmp(u->e[i].tensor, tensor)) return &u->e[i];
    return NULL;
}

/* s for the layer with a batch of n: its name, geometry, formats' widths, accumulator
 * widths and tensor shapes */
static void layer_set(const lpt_golden *c, gset *s, int n) {
    const lpt_layer *l = &c->net->layers[c->li];
    snprintf(s->layer, sizeof s->layer, "%s", l->name);
    snprintf(s->type, sizeof s->type, "%s", l->ops->type);
    s->has_bias = c->bias != NULL;
    s->has_dx = l->index > 0;
    const int wa = entry(c, "x")->fmt.width, ww = entry(c, "w")->fmt.width, wg = entry(c, "dy")->fmt.width;
    /* as the backend picks them (src/qlayer.c): --acc-bits, or by the wider operand */
    const int pairs[3][2] = {{ww, wa}, {wg, wa}, {ww, wg}};
    for (int i = 0; i < 3; i++)
        s->acc_bits[i] = c->q->acc_bits > 0 ? c->q->acc_bits
                                            : lpt_dfp_acc_bits_default(pairs[i][0] > pairs[i][1] ? pairs[i][0] : pairs[i][1]);
    geom *g = &s->g;
    if (l->ops->window) {
        const lpt_window *w = l->ops->window(l);
        *g = (geom){n, w->c, w->h, w->w, l->out.dim[1], w->oh, w->ow, w->kh, w->kw, w->sh, w->sw, w->ph, w->pw};
    } else {
        *g = (geom){n, l->in.dim[1], 1, 1, l->out.dim[1], 1, 1, 1, 1, 1, 1, 0, 0};
    }
    lpt_gd_gset_shapes(s, wa, ww, wg);
}

int lpt_golden_init(lpt_golden *g, lpt_net *net, const lpt_qconfig *q, const char *name) {
    memset(g, 0, sizeof *g);
    for (int i = 0; i < LPT_GT_COUNT; i++) g->id[i] = -1;
    g->li = -1;
    for (int i = 0; i < net->nlayers; i++)
        if (!strcmp(net->layers[i].name, name)) g->li = i;
    if (g->li < 0) {
        lpt_buf names = {0};
        for (int i = 0; i < net->nlayers; i++)
            if (!strcmp(net->layers[i].ops->type, "conv2d") || !strcmp(net->layers[i].ops->type, "linear"))
                lpt_buf_printf(&names, "%s%s", names.len ? ", " : "", net->layers[i].name);
        lpt_buf_put(&names, "", 1);
        lpt_error_set("--golden-layer: no layer '%s' in this network (its conv2d and linear layers: %s)", name,
                      (const char *)names.data);
        lpt_buf_free(&names);
        return -1;
    }
    const lpt_layer *l = &net->layers[g->li];
    if (strcmp(l->ops->type, "conv2d") && strcmp(l->ops->type, "linear")) {
        lpt_error_set("--golden-layer: layer %s is a %s layer; golden vectors are written for conv2d and linear layers",
                      name, l->ops->type);
        return -1;
    }
    if (!q) {
        lpt_error_set("--golden-layer: this run is fp32: golden vectors need dfp tensors (e.g. --precision int8-dyn)");
        return -1;
    }
    for (int i = 0; i < q->stats->n; i++) {
        const lpt_stats_entry *e = &q->stats->e[i];
        if (!strcmp(e->layer, name) && e->fmt.fmt != LPT_FMT_DFP) {
            char f[32];
            lpt_qformat_name(&e->fmt, f, sizeof f);
            lpt_error_set("--golden-layer: layer %s's %s is %s: golden vectors need every tensor of the layer in dfp",
                          name, e->tensor, f);
            return -1;
        }
    }
    char bname[80];
    snprintf(bname, sizeof bname, "%s.bias", name);
    const lpt_param *bp = lpt_net_find_param(net, bname);
    if (bp) g->bias = lpt_xcalloc(lpt_tensor_count(bp->value) + 1, sizeof(float));
    g->net = net;
    g->q = q;
    g->tap = (lpt_tap){on_tap, g};
    gset s = {0}; /* the products must fit their accumulators: said now, not after the run */
    layer_set(g, &s, net->batch);
    const int rc = lpt_gd_check_bound(&s);
    if (rc) lpt_error_prefix("--golden-layer");
    return rc;
}

void lpt_golden_free(lpt_golden *g) {
    for (int i = 0; i < LPT_GT_COUNT; i++) free(g->t[i]);
    free(g->bias);
    memset(g, 0, sizeof *g);
}

/* the geometry of the captured layer */

/* codes of captured grid values: -1 with an error when one is not on its grid */
static int to_codes(const char *layer, const char *what, const float *v, size_t n, int fl, int width, int64_t *out) {
    for (size_t i = 0; i < n; i++) {
        const double c = ldexp((double)v[i], fl);
        if (c != floor(c) || !lpt_gd_fits((int64_t)c, width)) {
            lpt_error_set("layer %s: the engine's %s at index %zu (%g) is not a dfp%d code at FL %d", layer, what, i,
                          (double)v[i], width, fl);
            return -1;
        }
        out[i] = (int64_t)c;
    }
    return 0;
}

/* the engine's float results against the exact accumulators */
static int cross_check(const char *layer, const char *what, const float *engine, const float *ref,
                       const gtensor *shape) {
    for (size_t i = 0; i < shape->count; i++)
        if (memcmp(&ref[i], &engine[i], 4) != 0 && !(ref[i] == 0.0f && engine[i] == 0.0f)) {
            char at[64];
            lpt_gd_index_text(shape, i, at, sizeof at);
            lpt_error_set("layer %s: the engine's %s at %s is %.9g, the reference gives %.9g: the engine and the "
                          "reference disagree", layer, what, at, (double)engine[i], (double)ref[i]);
            return -1;
        }
    return 0;
}

/* ---- writing ---- */

static int write_tensor(const char *dir, const gtensor *t, const char *name) {
    char path[1024];
    lpt_buf b = {0};
    const int digits = lpt_gd_hex_digits(t->width);
    const uint64_t mask = t->width >= 64 ? ~0ULL : (1ULL << t->width) - 1;
    for (size_t i = 0; i < t->count; i++) lpt_buf_printf(&b, "%0*" PRIx64 "\n", digits, (uint64_t)t->v[i] & mask);
    snprintf(path, sizeof path, "%s/%s.hex", dir, name);
    int rc = lpt_file_write_atomic(path, b.data ? (const void *)b.data : "", b.len);
    lpt_buf_free(&b);
    if (rc) return -1;
    /* .npy: codes as the smallest signed integer type, accumulators int64, float32 as is */
    const char *descr = t->kind == K_F32 ? "<f4" : t->kind == K_ACC ? "<i8" : t->width <= 8 ? "|i1" : t->width <= 16 ? "<i2" : "<i4";
    const size_t eb = t->kind == K_F32 ? 4 : t->kind == K_ACC ? 8 : t->width <= 8 ? 1 : t->width <= 16 ? 2 : 4;
    unsigned char *raw = lpt_xmalloc(t->count * eb + 1);
    for (size_t i = 0; i < t->count; i++) {
        const int64_t v = t->v[i];
        if (eb == 1) raw[i] = (unsigned char)(int8_t)v;
        else if (eb == 2) { const int16_t s = (int16_t)v; memcpy(raw + 2 * i, &s, 2); }
        else if (eb == 4) { const uint32_t s = (uint32_t)v; memcpy(raw + 4 * i, &s, 4); }
        else memcpy(raw + 8 * i, &v, 8);
    }
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    rc = lpt_npy_write(path, descr, t->ndim, t->dims, raw, eb);
    free(raw);
    return rc;
}

static void manifest_text(const gset *s, lpt_buf *b, const char *run) {
    const geom *g = &s->g;
    lpt_buf_printf(b, "# lpt golden vectors: layer %s (%s) at global step %" PRId64 " of %s\n", s->layer, s->type,
                   s->step, run);
    lpt_buf_printf(b,
                   "# Layout: C order. conv2d: x (N, C, H, W), w (OC, C, KH, KW), y and dy (N, OC, OH, OW); linear:\n"
                   "# x (N, IN), w (OUT, IN), y and dy (N, OUT). Every value is one word a line, two's complement,\n"
                   "# in WIDTH bits, as hex digits of fixed width ($readmemh). code: a dfp<WIDTH> code, value =\n"
                   "# code * 2^-FL. acc: an accumulator (acc_bits: of Y, dW, dX) in units of 2^-FL. float32: the bit pattern.\n"
                   "# Products (exact integer sums; no partial sum can overflow the accumulator):\n"
                   "#   y_acc[n][o][p] = sum over (c, i, j) of w[o][c][i][j] x[n][c][p + (i, j)];\n"
                   "#     y = Q_y(relu if relu_fused (float32(y_acc * 2^-FL) + float32(bias_acc * 2^-FL)));\n"
                   "#   dw_acc = sum over (n, oy, ox) of dy x; dw = float32(dw_acc * 2^-FL), the FP32 weight gradient;\n"
                   "#   dx_acc[(c, i, j)][(n, oy, ox)] = sum over o of w[o][c][i][j] dy[n][o][oy][ox] (the columns of dX,\n"
                   "#     padding included); dx = Q_dx(col2im(float32(dx_acc * 2^-FL))), col2im adding in float32 per\n"
                   "#     (n, c) plane in the order (i, j, oy, ox).\n"
                   "# Any summation order gives the same accumulators. Stochastic rounding: element k of a tensor\n"
                   "# draws the 24 bits of lpt_sr_bits(seed, stream, step, k) (quant/quant.h); bias_acc = bias * 2^FL\n"
                   "# rounded to nearest even.\n"
                   "# tensor lines: NAME KIND WIDTH FL FORMAT STREAM SHAPE (file NAME.hex, and NAME.npy for numpy)\n");
    lpt_buf_printf(b, "lpt-golden 1\nlayer %s\ntype %s\nstep %" PRId64 "\nseed %" PRIu64 "\n", s->layer, s->type, s->step,
                   s->seed);
    lpt_buf_printf(b, "input %d %d %d %d\noutput %d %d %d\nkernel %d %d\nstride %d %d\npad %d %d\n", g->n, g->c, g->h,
                   g->w, g->oc, g->oh, g->ow, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw);
    lpt_buf_printf(b, "relu_fused %d\nacc_bits %d %d %d\nacc_overflow saturate\n", s->relu_fused, s->acc_bits[0],
                   s->acc_bits[1], s->acc_bits[2]);
    for (int i = 0; i < T_COUNT; i++) {
        const gtensor *t = &s->t[i];
        if (!t->present) continue;
        lpt_buf_printf(b, "tensor %s %s %d %d %s 0x%016" PRIx64 " ", lpt_gd_tname[i], lpt_gd_kind[t->kind], t->width, t->fl,
                       t->format[0] ? t->format : "-", t->stream);
        for (int d = 0; d < t->ndim; d++) lpt_buf_printf(b, "%zu%s", t->dims[d], d + 1 < t->ndim ? "," : "\n");
    }
}

/* s from the capture: the layer, the operands and outputs as codes with their entries'
 * formats, the bias in accumulator units (the backend's bias_to_acc): 0, or -1 */
static int captured_set(const lpt_golden *c, gset *s) {
    const lpt_layer *l = &c->net->layers[c->li];
    layer_set(c, s, (int)(c->n[LPT_GT_X] / (lpt_shape_count(&l->in) / (size_t)l->in.dim[0])));
    s->step = (int64_t)c->step;
    s->seed = c->seed;
    s->relu_fused = c->relu_fused;
    const lpt_stats_entry *e = c->q->stats->e;
    const int src[T_COUNT] = {LPT_GT_X, LPT_GT_W, -1, -1, LPT_GT_Y, LPT_GT_DY, -1, -1, -1, LPT_GT_DX};
    for (int i = 0; i < T_COUNT; i++) {
        gtensor *t = &s->t[i];
        t->present = i == T_BIAS ? s->has_bias : (i == T_DXACC || i == T_DX) ? s->has_dx : 1;
        t->v = lpt_xcalloc(t->count + 1, sizeof(int64_t));
        if (src[i] < 0 || !t->present) continue;
        const int id = c->id[src[i]];
        lpt_qformat_name(&e[id].fmt, t->format, sizeof t->format);
        t->stream = e[id].stream;
        t->fl = c->fl[src[i]];
        if (c->n[src[i]] != t->count) {
            lpt_error_set("layer %s: the engine's %s holds %zu values, the layer's shape %zu", s->layer,
                          lpt_gd_tname[i], c->n[src[i]], t->count);
            return -1;
        }
        if (to_codes(s->layer, lpt_gd_tname[i], c->t[src[i]], t->count, t->fl, t->width, t->v)) return -1;
    }
    s->t[T_BIAS].fl = s->t[T_YACC].fl = s->t[T_X].fl + s->t[T_W].fl;
    s->t[T_DWACC].fl = s->t[T_DW].fl = s->t[T_DY].fl + s->t[T_X].fl;
    s->t[T_DXACC].fl = s->t[T_W].fl + s->t[T_DY].fl;
    const double lim = ldexp(1.0, s->acc_bits[0] - 1); /* the bias clamped to the accumulator */
    for (size_t i = 0; s->has_bias && i < s->t[T_BIAS].count; i++) {
        const double v = lpt_round_ref(ldexp((double)c->bias[i], s->t[T_BIAS].fl), LPT_ROUND_RNE, 0.0);
        const int64_t top = INT64_MAX >> (64 - s->acc_bits[0]); /* 2^(A-1) - 1 */
        s->t[T_BIAS].v[i] = v >= lim ? top : v < -lim ? -top - 1 : (int64_t)v;
    }
    for (size_t i = 0; i < s->t[T_DW].count; i++) { /* the engine's FP32 weight gradient, as bits */
        uint32_t u;
        memcpy(&u, &c->t[LPT_GT_DW][i], 4);
        s->t[T_DW].v[i] = (int64_t)u;
    }
    return lpt_gd_check_bound(s);
}

int lpt_golden_write(lpt_golden *c, const char *dir, const char *run) {
    const lpt_layer *l = &c->net->layers[c->li];
    const int has_dx = l->index > 0;
    if (!c->t[LPT_GT_X] || !c->t[LPT_GT_W] || !c->t[LPT_GT_Y] || !c->t[LPT_GT_YPRE] || !c->t[LPT_GT_DY] ||
        !c->t[LPT_GT_DW] || (has_dx && (!c->t[LPT_GT_DX] || !c->t[LPT_GT_DXPRE]))) {
        lpt_error_set("layer %s: the step was not seen whole (a calibration step, or a step without the layer's "
                      "backward pass): no golden vectors", l->name);
        return -1;
    }
    int rc = -1;
    gset s = {0}, r = {0};
    if (captured_set(c, &s)) goto done;
    /* the exact accumulators, then the engine's float results against them */
    lpt_gd_recompute(&s, &r);
    memcpy(s.t[T_YACC].v, r.t[T_YACC].v, s.t[T_YACC].count * sizeof(int64_t));
    memcpy(s.t[T_DWACC].v, r.t[T_DWACC].v, s.t[T_DWACC].count * sizeof(int64_t));
    if (has_dx) memcpy(s.t[T_DXACC].v, r.t[T_DXACC].v, s.t[T_DXACC].count * sizeof(int64_t));
    float *ypre = lpt_xmalloc(s.t[T_Y].count * sizeof(float) + 4), *dxpre = lpt_xmalloc(s.t[T_X].count * sizeof(float) + 4),
          *dw = lpt_xmalloc(s.t[T_DW].count * sizeof(float) + 4);
    lpt_gd_pre(&s, &r, ypre, dxpre);
    for (size_t i = 0; i < s.t[T_DW].count; i++) dw[i] = lpt_gd_acc_value(s.t[T_DWACC].v[i], s.t[T_DWACC].fl);
    const int bad_pre = cross_check(s.layer, "Y before requantization", c->t[LPT_GT_YPRE], ypre, &s.t[T_Y]) ||
                        cross_check(s.layer, "weight gradient", c->t[LPT_GT_DW], dw, &s.t[T_DW]) ||
                        (has_dx && cross_check(s.layer, "dX before requantization", c->t[LPT_GT_DXPRE], dxpre, &s.t[T_DX]));
    free(ypre), free(dxpre), free(dw);
    if (bad_pre) goto done;
    long bad = 0;
    lpt_gd_compare_sets(&s, &r, "the engine's", 3, &bad);
    if (bad) {
        lpt_error_set("layer %s: the engine's requantized outputs differ from the reference quantizer (above)", s.layer);
        goto done;
    }
    if (lpt_mkdirs(dir)) goto done;
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    remove(path); /* a folder rewritten: without a manifest until it is whole again */
    for (int i = 0; i < T_COUNT; i++)
        if (s.t[i].present && write_tensor(dir, &s.t[i], lpt_gd_tname[i])) goto done;
    lpt_buf m = {0};
    manifest_text(&s, &m, run);
    rc = lpt_file_write_atomic(path, m.data, m.len); /* last: a folder with a manifest is whole */
    lpt_buf_free(&m);
done:
    lpt_gd_gset_free(&s);
    lpt_gd_gset_free(&r);
    return rc;
}
