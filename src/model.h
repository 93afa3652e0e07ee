/* model.h - model specs: built-in models and the text format read from files
 * (docs/model-spec.md). A spec is parsed once and kept as text in checkpoints. */
#ifndef LPT_MODEL_H
#define LPT_MODEL_H

#include "src/layer.h"

#define LPT_SPEC_MAX_KV 12

typedef struct {
    char type[32];
    char name[32];
    lpt_kv kv[LPT_SPEC_MAX_KV];
    int nkv;
    char where[128]; /* "origin:line" */
} lpt_spec_layer;

typedef struct {
    char origin[256]; /* built-in name or file path */
    int in_c, in_h, in_w;
    lpt_spec_layer *layers;
    int nlayers;
    char *text; /* the spec text itself */
} lpt_model_spec;

/* Parse spec text; `origin` names it in messages. 0, or -1 with "origin:line: reason". */
int lpt_model_spec_parse(const char *text, const char *origin, lpt_model_spec *out);
/* A built-in name (mlp, lenet5, vgg) or a spec file path. */
int lpt_model_spec_load(const char *name_or_path, lpt_model_spec *out);
void lpt_model_spec_free(lpt_model_spec *s);
/* Spec text of a built-in model, or NULL. */
const char *lpt_model_builtin(const char *name);
const char *lpt_model_builtin_names(void);

#endif
