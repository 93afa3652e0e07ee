/* fuzz_checkpoint.c - the checkpoint reader: framing, CRC, the configuration and state
 * sections with every field's range, the statistics unit's state and the model spec.
 * The CRC would stop almost every mutation at the door, so the harness rewrites it: the
 * input is a checkpoint whose last four bytes are ignored and recomputed. */
#include "fuzz/fuzz.h"
#include "src/train.h"
#include "src/base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    uint8_t *copy = malloc(n + 4);
    if (!copy) abort();
    memcpy(copy, data, n);
    if (n >= 4) {
        uint32_t crc = lpt_crc32(0, copy, n - 4);
        memcpy(copy + n - 4, &crc, 4);
    }
    lpt_checkpoint ck;
    lpt_train_cfg cfg;
    lpt_model_spec spec;
    lpt_train_state st;
    lpt_train_cfg_defaults(&cfg);
    if (lpt_checkpoint_open(fuzz_file(copy, n), &ck, &cfg, &spec, &st) == 0) {
        lpt_checkpoint_close(&ck);
        lpt_model_spec_free(&spec);
        lpt_train_state_free(&st);
    }
    free(copy);
    return 0;
}
