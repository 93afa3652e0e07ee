/* format.c - the format traits table and the format-spec parsers. */
#include "quant/format.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"

static const lpt_format_traits g_traits[] = {
    [LPT_FMT_FP32] = {.name = "fp32", .bits = 32, .storage_bytes = 4, .kind = LPT_KIND_FLOAT,
                      .ebits = 8, .mbits = 23, .bias = 127, .has_inf = 1, .max = FLT_MAX,
                      .min_subnormal = 0x1p-149, .epsilon = FLT_EPSILON,
                      .default_overflow = LPT_OVF_IEEE, .precision = 1},
    [LPT_FMT_FP16] = {.name = "fp16", .bits = 16, .storage_bytes = 2, .kind = LPT_KIND_FLOAT,
                      .ebits = 5, .mbits = 10, .bias = 15, .has_inf = 1, .max = 65504.0,
                      .min_subnormal = 0x1p-24, .epsilon = 0x1p-10,
                      .default_overflow = LPT_OVF_IEEE, .precision = 0},
    [LPT_FMT_BF16] = {.name = "bf16", .bits = 16, .storage_bytes = 2, .kind = LPT_KIND_FLOAT,
                      .ebits = 8, .mbits = 7, .bias = 127, .has_inf = 1, .max = 0x1.FEp127,
                      .min_subnormal = 0x1p-133, .epsilon = 0x1p-7,
                      .default_overflow = LPT_OVF_IEEE, .precision = 0},
    [LPT_FMT_FP8_E4M3] = {.name = "fp8-e4m3", .bits = 8, .storage_bytes = 1,
                          .kind = LPT_KIND_FLOAT, .ebits = 4, .mbits = 3, .bias = 7,
                          .has_inf = 0, .max = 448.0, .min_subnormal = 0x1p-9,
                          .epsilon = 0x1p-3, .default_overflow = LPT_OVF_SAT, .precision = 0},
    [LPT_FMT_FP8_E5M2] = {.name = "fp8-e5m2", .bits = 8, .storage_bytes = 1,
                          .kind = LPT_KIND_FLOAT, .ebits = 5, .mbits = 2, .bias = 15,
                          .has_inf = 1, .max = 57344.0, .min_subnormal = 0x1p-16,
                          .epsilon = 0x1p-2, .default_overflow = LPT_OVF_IEEE, .precision = 0},
    [LPT_FMT_DFP] = {.name = "dfp", .bits = 0, .storage_bytes = 4, .kind = LPT_KIND_FIXED,
                     .epsilon = 1.0, .default_overflow = LPT_OVF_SAT, .precision = 0},
    [LPT_FMT_I32] = {.name = "i32", .bits = 32, .storage_bytes = 4, .kind = LPT_KIND_INDEX,
                     .max = 2147483647.0, .epsilon = 1.0, .precision = 0},
};
_Static_assert(sizeof g_traits / sizeof g_traits[0] == LPT_FMT_COUNT,
               "one traits entry per format");

const char *const lpt_rounding_names[LPT_ROUND_COUNT] = {"rne", "rna", "rtz", "rdn", "sr"};
const char *const lpt_overflow_names[LPT_OVF_COUNT] = {"default", "sat", "wrap", "ieee"};

const lpt_format_traits *lpt_format_traits_of(lpt_format f) {
    return (unsigned)f < LPT_FMT_COUNT ? &g_traits[f] : NULL;
}

#define KNOWN_FORMATS "fp32, fp16, bf16, fp8-e4m3, fp8-e5m2, dfp<W> (W = 2..32), int8-dyn, int16-dyn"

static int parse_kind(const char *s, lpt_qformat *q) {
    if (strcmp(s, "int8-dyn") == 0) s = "dfp8";
    if (strcmp(s, "int16-dyn") == 0) s = "dfp16";
    if (strncmp(s, "dfp", 3) == 0 && s[3]) {
        char *end;
        errno = 0;
        long w = strtol(s + 3, &end, 10);
        if (errno || *end || s[3] == '+' || s[3] == '-' || w < 2 || w > 32) {
            lpt_error_set("dynamic fixed point '%s' needs a width W in 2..32 (dfp<W>)", s);
            return -1;
        }
        q->fmt = LPT_FMT_DFP;
        q->width = (int)w;
        return 0;
    }
    for (int f = 0; f < LPT_FMT_COUNT; f++) {
        if (g_traits[f].kind != LPT_KIND_FLOAT || strcmp(s, g_traits[f].name) != 0) continue;
        q->fmt = (lpt_format)f;
        q->width = g_traits[f].bits;
        return 0;
    }
    lpt_error_set("unknown format '%s'; formats: %s", s, KNOWN_FORMATS);
    return -1;
}

int lpt_qformat_parse(const char *s, lpt_qformat *out) {
    char buf[64];
    if (strlen(s) >= sizeof buf || !*s) {
        lpt_error_set("format '%.40s' is empty or too long; formats: %s", s, KNOWN_FORMATS);
        return -1;
    }
    memcpy(buf, s, strlen(s) + 1);
    lpt_qformat q = {.round = LPT_ROUND_RNE, .ovf = LPT_OVF_DEFAULT};
    char *save = NULL, *tok = strtok_r(buf, ":", &save);
    if (!tok || parse_kind(tok, &q)) {
        if (!tok) lpt_error_set("format '%s' has no name; formats: %s", s, KNOWN_FORMATS);
        return -1;
    }
    int have_round = 0, have_ovf = 0;
    for (tok = strtok_r(NULL, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        int found = 0;
        for (int r = 0; r < LPT_ROUND_COUNT && !found; r++)
            if (strcmp(tok, lpt_rounding_names[r]) == 0) {
                if (have_round++) goto twice;
                q.round = (lpt_rounding)r;
                found = 1;
            }
        for (int o = LPT_OVF_SAT; o < LPT_OVF_COUNT && !found; o++)
            if (strcmp(tok, lpt_overflow_names[o]) == 0) {
                if (have_ovf++) goto twice;
                q.ovf = (lpt_overflow)o;
                found = 1;
            }
        if (!found) {
            lpt_error_set("format '%s': unknown mode '%s'; rounding: rne, rna, rtz, rdn, sr; "
                          "overflow: sat, wrap (dfp), ieee (floats)", s, tok);
            return -1;
        }
    }
    const lpt_format_traits *t = &g_traits[q.fmt];
    if (q.ovf == LPT_OVF_DEFAULT) q.ovf = t->default_overflow;
    if (q.ovf == LPT_OVF_WRAP && t->kind != LPT_KIND_FIXED) {
        lpt_error_set("format '%s': wrap applies to dfp only (floats: sat or ieee)", s);
        return -1;
    }
    if (q.ovf == LPT_OVF_IEEE && t->kind != LPT_KIND_FLOAT) {
        lpt_error_set("format '%s': ieee overflow applies to floats only (dfp: sat or wrap)", s);
        return -1;
    }
    *out = q;
    return 0;
twice:
    lpt_error_set("format '%s' gives the %s mode twice", s, have_round > 1 ? "rounding" : "overflow");
    return -1;
}

void lpt_qformat_name(const lpt_qformat *q, char *buf, size_t n) {
    const lpt_format_traits *t = &g_traits[q->fmt];
    int k = q->fmt == LPT_FMT_DFP ? snprintf(buf, n, "dfp%d", q->width) : snprintf(buf, n, "%s", t->name);
    if (k < 0 || (size_t)k >= n) return;
    if (q->round != LPT_ROUND_RNE) k += snprintf(buf + k, n - (size_t)k, ":%s", lpt_rounding_names[q->round]);
    if (k >= 0 && (size_t)k < n && q->ovf != t->default_overflow)
        snprintf(buf + k, n - (size_t)k, ":%s", lpt_overflow_names[q->ovf]);
}

long long lpt_qformat_qmax(const lpt_qformat *q) { return (1LL << (q->width - 1)) - 1; }

int lpt_qformat_code_bytes(const lpt_qformat *q) {
    if (q->fmt == LPT_FMT_DFP) return q->width <= 8 ? 1 : q->width <= 16 ? 2 : 4;
    return g_traits[q->fmt].bits / 8;
}

int lpt_precision_parse(const char *s, lpt_precision *out) {
    lpt_qformat fp32 = {.fmt = LPT_FMT_FP32, .width = 32, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_IEEE};
    lpt_precision p = {fp32, fp32, fp32};
    if (!strchr(s, '=')) {
        if (lpt_qformat_parse(s, &p.w)) return -1;
        p.a = p.g = p.w;
        /* the training presets round gradients stochastically: RNE sends the many small
         * gradient values below half a step to zero, a biased loss of signal (batch-norm
         * networks lose their mean-correction terms that way); dfp8/dfp16 stay RNE */
        if (strcmp(s, "int8-dyn") == 0 || strcmp(s, "int16-dyn") == 0) p.g.round = LPT_ROUND_SR;
        *out = p;
        return 0;
    }
    char buf[256];
    if (strlen(s) >= sizeof buf) {
        lpt_error_set("precision list '%.40s...' is too long", s);
        return -1;
    }
    memcpy(buf, s, strlen(s) + 1);
    int seen[3] = {0, 0, 0};
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        int role = -1;
        if (eq && eq - item == 1) role = item[0] == 'w' ? 0 : item[0] == 'a' ? 1 : item[0] == 'g' ? 2 : -1;
        if (role < 0 || !eq[1]) {
            lpt_error_set("precision list '%s': expected ROLE=FORMAT items with roles w "
                          "(weights), a (activations), g (gradients), got '%s'", s, item);
            return -1;
        }
        if (seen[role]++) {
            lpt_error_set("precision list '%s' names role '%c' twice", s, item[0]);
            return -1;
        }
        lpt_qformat *dst = role == 0 ? &p.w : role == 1 ? &p.a : &p.g;
        if (lpt_qformat_parse(eq + 1, dst)) return -1;
    }
    *out = p;
    return 0;
}
