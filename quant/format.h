/* format.h - number formats: one table of traits indexed by an enum.
 *
 * Only fp32 exists today; fp16, bf16, fp8 and dynamic fixed point join this table
 * (see docs/formats.md). Callers look traits up here instead of switching on the
 * format. */
#ifndef LPT_FORMAT_H
#define LPT_FORMAT_H

#include <stddef.h>

typedef enum {
    LPT_FMT_FP32 = 0,
    LPT_FMT_I32, /* int32 indices and labels: storage only, not a training precision */
    LPT_FMT_COUNT
} lpt_format;

typedef enum {
    LPT_KIND_FLOAT = 0,
    LPT_KIND_FIXED,
    LPT_KIND_INDEX,
} lpt_format_kind;

typedef struct {
    const char *name;     /* as written on the command line */
    int bits;             /* storage width */
    size_t storage_bytes; /* bytes per element in memory */
    lpt_format_kind kind;
    double max;     /* largest finite magnitude */
    double epsilon; /* spacing above 1.0 */
    int precision;  /* accepted by --precision */
} lpt_format_traits;

const lpt_format_traits *lpt_format_traits_of(lpt_format f);

/* Parse a --precision value. Returns 0 and sets *out, or -1 with an error naming the
 * formats that exist (and those that are planned but not yet available). */
int lpt_format_parse_precision(const char *s, lpt_format *out);

/* Comma-separated names of the available precisions, for help texts. */
const char *lpt_format_available(void);

#endif
