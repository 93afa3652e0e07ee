/* fuzz_idx.c - the IDX reader (raw and gzip) on arbitrary files. The first byte picks
 * images (3 dimensions) or labels (1). */
#include "fuzz/fuzz.h"
#include "src/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    const char *p = fuzz_file(data + 1, n - 1);
    int dims[3];
    uint8_t *out = NULL;
    if (lpt_idx_read(p, data[0] & 1 ? 3 : 1, dims, &out) == 0) free(out);
    return 0;
}
