/* fuzz_spec.c - the model spec parser, and the layer options of every parsed layer (each
 * layer is created from its options, as building a network does, without allocating
 * its tensors: a valid spec may describe a network larger than memory). */
#include "fuzz/fuzz.h"
#include "src/layer.h"
#include "src/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *text = fuzz_text(data, n);
    lpt_model_spec spec;
    if (lpt_model_spec_parse(text, "fuzz.spec", &spec) == 0) {
        for (int i = 0; i < spec.nlayers; i++) {
            lpt_spec_layer *S = &spec.layers[i];
            lpt_layer l;
            memset(&l, 0, sizeof l);
            lpt_layer_args args = {.kv = S->kv, .count = S->nkv, .where = S->where};
            if (lpt_layer_create(S->type, &args, &l) == 0) l.ops->free(&l);
        }
        lpt_model_spec_free(&spec);
    }
    free(text);
    return 0;
}
