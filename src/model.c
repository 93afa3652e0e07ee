/* model.c - built-in models and the model spec parser. */
#include "src/model.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/base/util.h"

static const char k_mlp[] =
    "# MLP 784-256-128-10\n"
    "input 1x28x28\n"
    "flatten\n"
    "linear name=fc1 out=256\n"
    "relu\n"
    "linear name=fc2 out=128\n"
    "relu\n"
    "linear name=fc3 out=10\n";

static const char k_lenet5[] =
    "# LeNet-5 for 28x28 inputs\n"
    "input 1x28x28\n"
    "conv2d name=conv1 out=6 k=5 pad=2\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv2 out=16 k=5\n"
    "relu\n"
    "maxpool k=2\n"
    "flatten\n"
    "linear name=fc1 out=120\n"
    "relu\n"
    "linear name=fc2 out=84\n"
    "relu\n"
    "linear name=fc3 out=10\n";

static const char k_vgg[] =
    "# VGG-style CNN with batch norm for 28x28 inputs\n"
    "input 1x28x28\n"
    "conv2d name=conv1 out=32 k=3 pad=1 bias=0\n"
    "batchnorm name=bn1\n"
    "relu\n"
    "conv2d name=conv2 out=32 k=3 pad=1 bias=0\n"
    "batchnorm name=bn2\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv3 out=64 k=3 pad=1 bias=0\n"
    "batchnorm name=bn3\n"
    "relu\n"
    "conv2d name=conv4 out=64 k=3 pad=1 bias=0\n"
    "batchnorm name=bn4\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv5 out=128 k=3 pad=1 bias=0\n"
    "batchnorm name=bn5\n"
    "relu\n"
    "maxpool k=2\n"
    "flatten\n"
    "linear name=fc1 out=256 bias=0\n"
    "batchnorm name=bn6\n"
    "relu\n"
    "dropout p=0.3\n"
    "linear name=fc2 out=10\n";

static const char k_alexnet[] =
    "# AlexNet-style network for 3x224x224 inputs (memory and speed studies: it builds and\n"
    "# runs; Fashion-MNIST is 1x28x28, so only lpt bench, with synthetic data, runs it)\n"
    "input 3x224x224\n"
    "conv2d name=conv1 out=64 k=11 stride=4 pad=2\n"
    "relu\n"
    "maxpool k=3 stride=2\n"
    "conv2d name=conv2 out=192 k=5 pad=2\n"
    "relu\n"
    "maxpool k=3 stride=2\n"
    "conv2d name=conv3 out=384 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv4 out=256 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv5 out=256 k=3 pad=1\n"
    "relu\n"
    "maxpool k=3 stride=2\n"
    "flatten\n"
    "dropout p=0.5\n"
    "linear name=fc1 out=4096\n"
    "relu\n"
    "dropout p=0.5\n"
    "linear name=fc2 out=4096\n"
    "relu\n"
    "linear name=fc3 out=10\n";

static const char k_vgg16[] =
    "# VGG-16-style network for 3x224x224 inputs (memory and speed studies: it builds and\n"
    "# runs; Fashion-MNIST is 1x28x28, so only lpt bench, with synthetic data, runs it)\n"
    "input 3x224x224\n"
    "conv2d name=conv1 out=64 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv2 out=64 k=3 pad=1\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv3 out=128 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv4 out=128 k=3 pad=1\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv5 out=256 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv6 out=256 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv7 out=256 k=3 pad=1\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv8 out=512 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv9 out=512 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv10 out=512 k=3 pad=1\n"
    "relu\n"
    "maxpool k=2\n"
    "conv2d name=conv11 out=512 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv12 out=512 k=3 pad=1\n"
    "relu\n"
    "conv2d name=conv13 out=512 k=3 pad=1\n"
    "relu\n"
    "maxpool k=2\n"
    "flatten\n"
    "linear name=fc1 out=4096\n"
    "relu\n"
    "dropout p=0.5\n"
    "linear name=fc2 out=4096\n"
    "relu\n"
    "dropout p=0.5\n"
    "linear name=fc3 out=10\n";

static const struct {
    const char *name, *text;
} g_builtin[] = {{"mlp", k_mlp}, {"lenet5", k_lenet5}, {"vgg", k_vgg}, {"alexnet", k_alexnet}, {"vgg16", k_vgg16}};

const char *lpt_model_builtin(const char *name) {
    for (size_t i = 0; i < sizeof g_builtin / sizeof g_builtin[0]; i++)
        if (strcmp(name, g_builtin[i].name) == 0) return g_builtin[i].text;
    return NULL;
}

const char *lpt_model_builtin_names(void) { return "mlp, lenet5, vgg, alexnet, vgg16"; }

static int parse_input(const char *v, lpt_model_spec *s, const char *where) {
    int c, h, w, used = 0;
    if (sscanf(v, "%dx%dx%d%n", &c, &h, &w, &used) != 3 || v[used] || c < 1 || h < 1 || w < 1 ||
        c > 4096 || h > 4096 || w > 4096) {
        lpt_error_set("%s: input must be CxHxW with each in [1, 4096], got '%s'", where, v);
        return -1;
    }
    s->in_c = c;
    s->in_h = h;
    s->in_w = w;
    return 0;
}

/* Split a line into at most LPT_SPEC_MAX_KV + 2 tokens: their count, or -1. */
static int split_tokens(char *line, char **tok, const char *where) {
    int nt = 0;
    char *tsave = NULL;
    for (char *t = strtok_r(line, " \t\r", &tsave); t; t = strtok_r(NULL, " \t\r", &tsave)) {
        if (nt == LPT_SPEC_MAX_KV + 2) {
            lpt_error_set("%s: too many options (at most %d)", where, LPT_SPEC_MAX_KV);
            return -1;
        }
        tok[nt++] = t;
    }
    return nt;
}

/* The key=value options of one layer line (name= names the layer). */
static int parse_options(lpt_spec_layer *L, char **tok, int nt, const char *where) {
    for (int i = 1; i < nt; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq || eq == tok[i] || !eq[1]) {
            lpt_error_set("%s: expected key=value, got '%s'", where, tok[i]);
            return -1;
        }
        *eq = 0;
        const char *key = tok[i], *val = eq + 1;
        if (strlen(key) >= sizeof L->kv[0].key || strlen(val) >= sizeof L->kv[0].value) {
            lpt_error_set("%s: option '%.40s' is too long", where, key);
            return -1;
        }
        if (strcmp(key, "name") == 0) {
            if (strlen(val) >= sizeof L->name) {
                lpt_error_set("%s: name '%s' is longer than %zu characters", where, val,
                              sizeof L->name - 1);
                return -1;
            }
            for (const char *c = val; *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
                    lpt_error_set("%s: name '%s' may hold letters, digits, '_' and '-' only",
                                  where, val);
                    return -1;
                }
            snprintf(L->name, sizeof L->name, "%s", val);
            continue;
        }
        for (int k = 0; k < L->nkv; k++)
            if (strcmp(L->kv[k].key, key) == 0) {
                lpt_error_set("%s: option '%s' given twice", where, key);
                return -1;
            }
        if (L->nkv == LPT_SPEC_MAX_KV) {
            lpt_error_set("%s: too many options (at most %d besides name)", where, LPT_SPEC_MAX_KV);
            return -1;
        }
        snprintf(L->kv[L->nkv].key, sizeof L->kv[0].key, "%s", key);
        snprintf(L->kv[L->nkv].value, sizeof L->kv[0].value, "%s", val);
        L->nkv++;
    }
    return 0;
}

int lpt_model_spec_parse(const char *text, const char *origin, lpt_model_spec *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->origin, sizeof out->origin, "%s", origin);
    out->text = lpt_xstrdup(text);
    int cap = 0, lineno = 0, have_input = 0;
    char *copy = lpt_xstrdup(text), *save = NULL;
    int rc = -1;
    for (char *line = copy; line; line = save) {
        save = strchr(line, '\n');
        if (save) *save++ = 0;
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char where[128];
        snprintf(where, sizeof where, "%s:%d", origin, lineno);
        char *tok[LPT_SPEC_MAX_KV + 2];
        const int nt = split_tokens(line, tok, where);
        if (nt < 0) goto done;
        if (nt == 0) continue;
        if (strcmp(tok[0], "input") == 0) {
            if (have_input || out->nlayers) {
                lpt_error_set("%s: 'input' must come once, before the layers", where);
                goto done;
            }
            if (nt != 2) {
                lpt_error_set("%s: expected 'input CxHxW'", where);
                goto done;
            }
            if (parse_input(tok[1], out, where)) goto done;
            have_input = 1;
            continue;
        }
        if (!have_input) {
            lpt_error_set("%s: the spec must start with 'input CxHxW'", where);
            goto done;
        }
        if (strlen(tok[0]) >= sizeof out->layers[0].type) {
            lpt_error_set("%s: unknown layer type '%.40s'; known: %s", where, tok[0], lpt_layer_types());
            goto done;
        }
        if (out->nlayers == cap) {
            cap = cap ? 2 * cap : 16;
            lpt_spec_layer *nl = realloc(out->layers, (size_t)cap * sizeof *nl);
            if (!nl) {
                lpt_error_set("out of memory parsing %s", origin);
                goto done;
            }
            out->layers = nl;
        }
        lpt_spec_layer *L = &out->layers[out->nlayers];
        memset(L, 0, sizeof *L);
        snprintf(L->type, sizeof L->type, "%s", tok[0]);
        snprintf(L->where, sizeof L->where, "%s", where);
        if (parse_options(L, tok, nt, where)) goto done;
        out->nlayers++;
    }
    if (!have_input) {
        lpt_error_set("%s: empty spec: expected 'input CxHxW' and layers", origin);
        goto done;
    }
    if (out->nlayers == 0) {
        lpt_error_set("%s: the spec has no layers", origin);
        goto done;
    }
    rc = 0;
done:
    free(copy);
    if (rc) lpt_model_spec_free(out);
    return rc;
}

int lpt_model_spec_load(const char *name_or_path, lpt_model_spec *out) {
    const char *text = lpt_model_builtin(name_or_path);
    if (text) return lpt_model_spec_parse(text, name_or_path, out);
    size_t n;
    if (access(name_or_path, F_OK) != 0) {
        lpt_error_set("model '%s' is neither a built-in (%s) nor a spec file: %s", name_or_path,
                      lpt_model_builtin_names(), strerror(errno));
        return -1;
    }
    char *data = lpt_file_read(name_or_path, 1u << 20, &n); /* a spec is a few lines */
    if (!data) return -1;
    if (memchr(data, 0, n)) {
        lpt_error_set("%s: not a model spec (binary data)", name_or_path);
        free(data);
        return -1;
    }
    int rc = lpt_model_spec_parse(data, name_or_path, out);
    free(data);
    return rc;
}

void lpt_model_spec_free(lpt_model_spec *s) {
    free(s->layers);
    free(s->text);
    s->layers = NULL;
    s->text = NULL;
    s->nlayers = 0;
}
