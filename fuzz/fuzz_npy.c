/* fuzz_npy.c - the .npy reader on arbitrary files. */
#include "fuzz/fuzz.h"
#include "src/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    lpt_npy a;
    if (lpt_npy_read_f32(fuzz_file(data, n), &a) == 0) lpt_npy_free(&a);
    return 0;
}
