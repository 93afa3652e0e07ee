/* format.h - number formats: one table of traits indexed by an enum, and format specs.
 *
 * A format spec is a kind (fp32, fp16, bf16, fp8-e4m3, fp8-e5m2, dfp<W>) with a rounding
 * mode and an overflow mode, written on the command line as NAME[:ROUND][:OVERFLOW],
 * for example `dfp8:sr:wrap` or `fp8-e4m3:rtz`. Callers look traits up in the table;
 * they do not switch on the format. Semantics: docs/formats.md. */
#ifndef LPT_FORMAT_H
#define LPT_FORMAT_H

#include <stddef.h>

typedef enum {
    LPT_FMT_FP32 = 0,
    LPT_FMT_FP16,
    LPT_FMT_BF16,
    LPT_FMT_FP8_E4M3,
    LPT_FMT_FP8_E5M2,
    LPT_FMT_DFP, /* dynamic fixed point, width W in the spec, FL per tensor */
    LPT_FMT_I32, /* int32 indices and labels: storage only, not a training precision */
    LPT_FMT_COUNT
} lpt_format;

typedef enum {
    LPT_KIND_FLOAT = 0,
    LPT_KIND_FIXED,
    LPT_KIND_INDEX,
} lpt_format_kind;

typedef enum {
    LPT_ROUND_RNE = 0, /* to nearest, ties to even (default) */
    LPT_ROUND_RNA,     /* to nearest, ties away from zero */
    LPT_ROUND_RTZ,     /* toward zero */
    LPT_ROUND_RDN,     /* down (floor) */
    LPT_ROUND_SR,      /* stochastic: floor(v + u), u from the counter-based generator */
    LPT_ROUND_COUNT
} lpt_rounding;

typedef enum {
    LPT_OVF_DEFAULT = 0, /* the format's own: sat for dfp and fp8-e4m3, ieee for the rest */
    LPT_OVF_SAT,         /* clamp to the largest magnitude (and count) */
    LPT_OVF_WRAP,        /* dfp only: two's-complement wrap (and count) */
    LPT_OVF_IEEE,        /* floats only: overflow to Inf (e4m3, which has none: NaN) */
    LPT_OVF_COUNT
} lpt_overflow;

typedef struct {
    const char *name;     /* as written on the command line ("dfp" for the family) */
    int bits;             /* storage width (dfp: 0, the spec gives W) */
    size_t storage_bytes; /* bytes per element in memory (dfp: by W) */
    lpt_format_kind kind;
    int ebits, mbits, bias; /* floats: exponent and mantissa bits, exponent bias */
    int has_inf;            /* floats: an infinity encoding exists */
    double max;             /* largest finite magnitude (dfp: 0, depends on W and FL) */
    double min_subnormal;   /* smallest positive magnitude */
    double epsilon;         /* spacing above 1.0 */
    lpt_overflow default_overflow;
    int precision;          /* accepted by --precision */
} lpt_format_traits;

const lpt_format_traits *lpt_format_traits_of(lpt_format f);

/* A format with its modes: what a tensor is quantized to. */
typedef struct {
    lpt_format fmt;
    int width; /* dfp: W in [2, 32]; floats: the storage bits */
    lpt_rounding round;
    lpt_overflow ovf; /* never LPT_OVF_DEFAULT after parsing */
} lpt_qformat;

/* Parse NAME[:ROUND][:OVERFLOW] (aliases: int8-dyn = dfp8, int16-dyn = dfp16). Returns
 * 0, or -1 with an error naming what exists. */
int lpt_qformat_parse(const char *s, lpt_qformat *out);
/* "dfp8:sr:wrap" style name; defaults are left out. */
void lpt_qformat_name(const lpt_qformat *q, char *buf, size_t n);
/* Codes of dfp<W> lie in [qmin, qmax] = [-2^(W-1), 2^(W-1) - 1]. */
long long lpt_qformat_qmax(const lpt_qformat *q);
/* bytes of one integer code as stored in .npy and golden vectors: dfp 1/2/4 by width,
 * fp8 1, fp16/bf16 2, fp32 4 */
int lpt_qformat_code_bytes(const lpt_qformat *q);

/* Per-role precision: weights, activations, gradients. */
typedef struct {
    lpt_qformat w, a, g;
} lpt_precision;

/* A single format for every role, or a list "w=dfp6,a=dfp8,g=dfp16" (roles not named
 * keep fp32). */
int lpt_precision_parse(const char *s, lpt_precision *out);

extern const char *const lpt_rounding_names[LPT_ROUND_COUNT];
extern const char *const lpt_overflow_names[LPT_OVF_COUNT];

#endif
