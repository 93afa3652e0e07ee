/* fuzz_format.c - number-format and precision parsing: format specs ("dfp8:sr:wrap"),
 * per-role lists ("w=dfp6,a=dfp8,g=dfp16:sr"), and a training precision as --precision
 * and --rounding take it. */
#include "fuzz/fuzz.h"
#include "quant/format.h"
#include "src/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *s = fuzz_text(data, n);
    lpt_qformat q;
    lpt_precision p;
    if (lpt_qformat_parse(s, &q) == 0) {
        char name[64];
        lpt_qformat_name(&q, name, sizeof name);
    }
    (void)lpt_precision_parse(s, &p);
    lpt_train_cfg cfg;
    lpt_train_cfg_defaults(&cfg);
    char *colon = strchr(s, '|'); /* "PRECISION|ROUNDING" */
    if (colon) *colon = 0;
    snprintf(cfg.precision, sizeof cfg.precision, "%s", s);
    if (colon) snprintf(cfg.rounding, sizeof cfg.rounding, "%s", colon + 1);
    (void)lpt_prec_check(&cfg);
    free(s);
    return 0;
}
