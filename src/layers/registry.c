/* registry.c - layer types by name, and the option readers layers share. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "src/layers/layers.h"

typedef struct {
    const char *type;
    int (*create)(lpt_layer_args *a, lpt_layer *l);
} layer_entry;

static const layer_entry g_layers[] = {
    {"conv2d", lpt_conv2d_create},       {"linear", lpt_linear_create},
    {"relu", lpt_relu_create},           {"maxpool", lpt_maxpool_create},
    {"avgpool", lpt_avgpool_create},     {"flatten", lpt_flatten_create},
    {"batchnorm", lpt_batchnorm_create}, {"dropout", lpt_dropout_create},
};

const char *lpt_layer_types(void) {
    static char names[256];
    if (!names[0])
        for (size_t i = 0, at = 0; i < sizeof g_layers / sizeof g_layers[0]; i++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", g_layers[i].type);
    return names;
}

int lpt_layer_create(const char *type, lpt_layer_args *args, lpt_layer *l) {
    for (size_t i = 0; i < sizeof g_layers / sizeof g_layers[0]; i++) {
        if (strcmp(type, g_layers[i].type) != 0) continue;
        if (g_layers[i].create(args, l) != 0) return -1;
        for (int k = 0; k < args->count; k++)
            if (!args->kv[k].used) {
                lpt_error_set("%s: %s has no option '%s'", args->where, type, args->kv[k].key);
                l->ops->free(l);
                return -1;
            }
        return 0;
    }
    lpt_error_set("%s: unknown layer type '%s'; known: %s", args->where, type, lpt_layer_types());
    return -1;
}

static lpt_kv *find(lpt_layer_args *a, const char *key) {
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->kv[i].key, key) == 0) {
            a->kv[i].used = 1;
            return &a->kv[i];
        }
    return NULL;
}

int lpt_args_int(lpt_layer_args *a, const char *key, int required, int lo, int hi, int *out) {
    lpt_kv *kv = find(a, key);
    if (!kv) {
        if (required) { /* name what the line gives: a misspelled option shows there */
            char given[256] = "";
            size_t used = 0;
            for (int i = 0; i < a->count && used < sizeof given; i++)
                used += (size_t)snprintf(given + used, sizeof given - used, "%s%s", i ? ", " : "", a->kv[i].key);
            lpt_error_set("%s: missing option %s=N%s%s%s", a->where, key, a->count ? " (the line gives " : "",
                          given, a->count ? ")" : "");
            return -1;
        }
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(kv->value, &end, 10);
    if (errno || end == kv->value || *end || v < lo || v > hi) {
        lpt_error_set("%s: option %s=%s must be an integer in [%d, %d]", a->where, key, kv->value,
                      lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int lpt_args_float(lpt_layer_args *a, const char *key, double lo, double hi, float *out) {
    lpt_kv *kv = find(a, key);
    if (!kv) return 0;
    char *end;
    errno = 0;
    double v = strtod(kv->value, &end);
    if (errno || end == kv->value || *end || !isfinite(v) || v < lo || v > hi) {
        lpt_error_set("%s: option %s=%s must be a number in [%g, %g]", a->where, key, kv->value, lo,
                      hi);
        return -1;
    }
    *out = (float)v;
    return 0;
}

void lpt_param_set(lpt_param *p, const lpt_layer *l, const char *what, lpt_tensor *value,
                   lpt_tensor *grad, int decay, int fan_in, float init_value) {
    snprintf(p->name, sizeof p->name, "%s.%s", l->name, what);
    p->value = value;
    p->grad = grad;
    p->decay = decay;
    p->fan_in = fan_in;
    p->init_value = init_value;
}

lpt_tensor lpt_tensor_make(lpt_format fmt, int ndim, const int *dims) {
    lpt_tensor t = {.shape = lpt_shape_make(ndim, dims), .fmt = fmt, .data = NULL};
    return t;
}

void lpt_layer_reserve(lpt_build *b, const lpt_layer *l, lpt_tensor *t, const char *what, lpt_live live) {
    char name[48];
    snprintf(name, sizeof name, "%s.%s", l->name, what);
    lpt_arena_reserve_live(b->work, t, name, live);
}
