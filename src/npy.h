/* npy.h - NumPy .npy files (format versions 1.0, 2.0, 3.0): float32 arrays in C order
 * in, float32 or integer arrays out. */
#ifndef LPT_NPY_H
#define LPT_NPY_H

#include <stddef.h>
#include <stdint.h>

#define LPT_NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    size_t dims[LPT_NPY_MAX_DIMS];
    size_t count;
    float *data; /* native float32 */
} lpt_npy;

/* Read a float32 array ('<f4', '>f4' is byte-swapped) in C order; any other dtype,
 * Fortran order, a malformed header, truncated or trailing data is refused with the
 * file name and the reason. */
int lpt_npy_read_f32(const char *path, lpt_npy *out);
void lpt_npy_free(lpt_npy *a);

/* Write an array atomically. descr is the NumPy type string: "<f4", "|i1", "<i2",
 * "<i4", "|u1", "<u2"; data holds count elements of that type, little-endian. */
int lpt_npy_write(const char *path, const char *descr, int ndim, const size_t *dims,
                  const void *data, size_t elem_bytes);

#endif
