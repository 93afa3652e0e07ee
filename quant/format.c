/* format.c - the format traits table and the --precision parser. */
#include "format.h"

#include <float.h>
#include <string.h>

#include "../src/util.h"

static const lpt_format_traits g_traits[] = {
    [LPT_FMT_FP32] = {.name = "fp32",
                      .bits = 32,
                      .storage_bytes = 4,
                      .kind = LPT_KIND_FLOAT,
                      .max = FLT_MAX,
                      .epsilon = FLT_EPSILON,
                      .precision = 1},
    [LPT_FMT_I32] = {.name = "i32",
                     .bits = 32,
                     .storage_bytes = 4,
                     .kind = LPT_KIND_INDEX,
                     .max = 2147483647.0,
                     .epsilon = 1.0,
                     .precision = 0},
};
_Static_assert(sizeof g_traits / sizeof g_traits[0] == LPT_FMT_COUNT,
               "one traits entry per format");

const lpt_format_traits *lpt_format_traits_of(lpt_format f) {
    return (unsigned)f < LPT_FMT_COUNT ? &g_traits[f] : NULL;
}

const char *lpt_format_available(void) { return "fp32"; }

/* Names DESIGN.md fixes that later work will add to the table. */
static const char *const g_planned[] = {"fp16",     "bf16",      "fp8-e4m3", "fp8-e5m2",
                                        "int8-dyn", "int16-dyn", "auto"};

int lpt_format_parse_precision(const char *s, lpt_format *out) {
    for (int f = 0; f < LPT_FMT_COUNT; f++) {
        if (g_traits[f].precision && strcmp(s, g_traits[f].name) == 0) {
            *out = (lpt_format)f;
            return 0;
        }
    }
    int planned = strncmp(s, "dfp", 3) == 0;
    for (size_t i = 0; i < sizeof g_planned / sizeof g_planned[0]; i++)
        if (strcmp(s, g_planned[i]) == 0) planned = 1;
    if (planned)
        lpt_error_set("precision '%s' is not available in this build yet; available: %s", s,
                      lpt_format_available());
    else
        lpt_error_set("unknown precision '%s'; available: %s", s, lpt_format_available());
    return -1;
}
