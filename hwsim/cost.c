/* cost.c - the cost model of cost.h. */
#include "hwsim/cost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

/* name, offset: the table's fields for the file reader */
#define ENERGY_FIELDS(X)                                                                                 \
    X(int8_add) X(int8_mult) X(int16_add) X(int16_mult) X(int32_add) X(int32_mult) X(int64_add) X(fp8_mult) \
    X(fp16_add) X(fp16_mult) X(bf16_mult) X(fp32_add) X(fp32_mult) X(sram_32b) X(dram_32b)

void lpt_energy_default(lpt_energy_table *t) {
    /* Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm, 0.9 V */
    t->int8_add = 0.03, t->int8_mult = 0.2, t->int32_add = 0.1, t->int32_mult = 3.1;
    t->fp16_add = 0.4, t->fp16_mult = 1.1, t->fp32_add = 0.9, t->fp32_mult = 3.7;
    t->sram_32b = 5.0;   /* 32-bit read of a 32-64 KB SRAM (8 KB: 10 pJ per 64 bits) */
    t->dram_32b = 640.0; /* 32-bit DRAM access */
    /* derived (docs/cost-model.md): adders linear in width, multipliers quadratic
     * (int8 0.2 x (16/8)^2 = 0.8; the same law gives int32 3.2 against the paper's 3.1) */
    t->int16_add = 0.05, t->int16_mult = 0.8, t->int64_add = 0.2;
    /* fp8 (3- or 2-bit mantissas): at most an 8-bit integer multiplier; bf16 (8-bit
     * significand): taken as fp16's, an upper bound */
    t->fp8_mult = 0.2, t->bf16_mult = 1.1;
}

int lpt_energy_load(const char *path, lpt_energy_table *t) {
    size_t n;
    char *text = lpt_file_read(path, 1 << 20, &n);
    if (!text) return -1;
    if (strlen(text) != n) {
        lpt_error_set("%s: a NUL byte in a text file", path);
        free(text);
        return -1;
    }
    int line = 0, rc = 0;
    char seen[64][32];
    int nseen = 0;
    for (char *l = text, *next; *l && !rc; l = next) {
        char *eol = strchr(l, '\n');
        next = eol ? eol + 1 : l + strlen(l);
        if (eol) *eol = 0;
        line++;
        char *hash = strchr(l, '#');
        if (hash) *hash = 0;
        char name[32], extra[8];
        double v;
        const int got = sscanf(l, "%31s %lf %7s", name, &v, extra);
        if (got <= 0) continue;
        if (got != 2 || !isfinite(v) || v < 0) {
            lpt_error_set("%s:%d: %s: expected 'name picojoules' with a number >= 0", path, line, name);
            rc = -1;
            break;
        }
        for (int i = 0; i < nseen; i++)
            if (strcmp(seen[i], name) == 0) {
                lpt_error_set("%s:%d: %s given twice", path, line, name);
                rc = -1;
            }
        if (rc) break;
        if (nseen < 64) memcpy(seen[nseen++], name, sizeof name);
        int known = 0;
#define SET(f)                    \
    if (strcmp(name, #f) == 0) { \
        t->f = v;                 \
        known = 1;                \
    }
        ENERGY_FIELDS(SET)
#undef SET
        if (!known) {
            lpt_error_set("%s:%d: unknown entry '%s' (entries: int8_add, int8_mult, int16_add, int16_mult, "
                          "int32_add, int32_mult, int64_add, fp8_mult, fp16_add, fp16_mult, bf16_mult, fp32_add, "
                          "fp32_mult, sram_32b, dram_32b)", path, line, name);
            rc = -1;
        }
    }
    free(text);
    return rc;
}

static int is_fp8(lpt_format f) { return f == LPT_FMT_FP8_E4M3 || f == LPT_FMT_FP8_E5M2; }

double lpt_cost_mac_pj(const lpt_energy_table *t, const lpt_qformat *a, const lpt_qformat *b, int acc_bits,
                       char *what, size_t n) {
    if (a->fmt == LPT_FMT_DFP && b->fmt == LPT_FMT_DFP) {
        const int w = a->width > b->width ? a->width : b->width;
        const int acc = acc_bits > 0 ? acc_bits : w <= 8 ? 32 : 48;
        const int mw = w <= 8 ? 8 : w <= 16 ? 16 : 32, aw = acc <= 8 ? 8 : acc <= 16 ? 16 : acc <= 32 ? 32 : 64;
        const double mult = mw == 8 ? t->int8_mult : mw == 16 ? t->int16_mult : t->int32_mult;
        const double add = aw == 8 ? t->int8_add : aw == 16 ? t->int16_add : aw == 32 ? t->int32_add : t->int64_add;
        snprintf(what, n, "int%d x int%d, int%d acc", mw, mw, aw);
        return mult + add;
    }
    /* float operands multiply in their common 16- or 8-bit format where they share one,
     * else in float32; float32 accumulation */
    const char *m = "fp32";
    double mult = t->fp32_mult;
    if (a->fmt == b->fmt && a->fmt == LPT_FMT_FP16)
        m = "fp16", mult = t->fp16_mult;
    else if (a->fmt == b->fmt && a->fmt == LPT_FMT_BF16)
        m = "bf16", mult = t->bf16_mult;
    else if (is_fp8(a->fmt) && is_fp8(b->fmt))
        m = "fp8", mult = t->fp8_mult;
    snprintf(what, n, "%s x %s, fp32 acc", m, m);
    return mult + t->fp32_add;
}

/* bytes of n elements stored in format q */
static double bytes(const lpt_qformat *q, double n) { return n * lpt_qformat_code_bytes(q); }

/* DRAM bytes of a product with operands p and q and result r: read once each when the
 * three fit in the buffer; otherwise one operand is split into blocks of half the buffer
 * and the other read again for every block, whichever of the two ways moves less */
static double product_dram(double p, double q, double r, size_t buffer) {
    if (p + q + r <= (double)buffer) return p + q + r;
    const double half = (double)buffer / 2;
    const double bp = half > 0 ? fmax(1, ceil(p / half)) : 1, bq = half > 0 ? fmax(1, ceil(q / half)) : 1;
    return fmin(p + q * bp, q + p * bq) + r;
}

void lpt_cost_layer_step(const lpt_cost_setup *s, const lpt_energy_table *t, const lpt_cost_layer *l,
                         lpt_cost *one, lpt_cost *sum) {
    const lpt_precision *pr = l->prec ? l->prec : &s->prec;
    const lpt_qformat *w = &pr->w, *a = &pr->a, *g = &pr->g;
    const lpt_qformat f32 = {.fmt = LPT_FMT_FP32, .width = 32};
    const double N = s->batch, in = N * (double)l->in, out = N * (double)l->out;
    char what[64];
    lpt_cost c = {0};
    double dram = 0;
    if (l->weighted) {
        const double macs = N * (double)l->macs, wb = bytes(w, (double)l->weights);
        c.macs = macs * (l->first ? 2 : 3);
        c.e_mac = macs * lpt_cost_mac_pj(t, a, w, s->acc_bits, what, sizeof what) +
                  macs * lpt_cost_mac_pj(t, g, a, s->acc_bits, what, sizeof what);
        dram += product_dram(wb, bytes(a, in), bytes(a, out), s->buffer_bytes);                       /* Y */
        dram += product_dram(bytes(g, out), bytes(a, in), bytes(&f32, (double)l->weights), s->buffer_bytes); /* dW */
        if (!l->first) {
            c.e_mac += macs * lpt_cost_mac_pj(t, g, w, s->acc_bits, what, sizeof what);
            dram += product_dram(wb, bytes(g, out), bytes(g, in), s->buffer_bytes); /* dX */
        }
        /* the update: read W, dW and momentum, write W and momentum (float32), and the
         * weights' copy in their format */
        dram += 20.0 * (double)l->params + wb;
    } else if (!l->view) {
        dram += bytes(a, in) + bytes(a, out);                       /* forward */
        dram += bytes(g, out) + bytes(a, in) + bytes(g, in);        /* backward: dY, x, dX */
    }
    c.dram_bytes = dram;
    c.sram_bytes = 2 * dram;
    c.e_mem = dram / 4 * t->dram_32b + c.sram_bytes / 4 * t->sram_32b;
    *one = c;
    sum->macs += c.macs, sum->e_mac += c.e_mac, sum->dram_bytes += c.dram_bytes;
    sum->sram_bytes += c.sram_bytes, sum->e_mem += c.e_mem;
}
