/* quantize_cmd.c - `lpt quantize --format SPEC [--fl N] [--seed N] IN.npy OUT.npy
 * [--codes CODES.npy]`: reads float32 values, applies the format (dfp with the given FL,
 * or the FL the statistics rule picks), writes the dequantized float32 values and
 * optionally the integer codes, and reports the counters and the SQNR. */
#include "src/quantize_cmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hwsim/stats.h"
#include "quant/quant.h"
#include "src/args.h"
#include "src/npy.h"
#include "src/base/util.h"
#include "kernels/cpu/cpu_quant.h"

static double pct(uint64_t k, size_t n) { return n ? 100.0 * (double)k / (double)n : 0.0; }

/* The FL of a dfp format: given, or chosen by the statistics rule from the data. */
static int dfp_fl(const lpt_qformat *q, const lpt_npy *in, float rate, int fl_given, int fl) {
    if (q->fmt == LPT_FMT_DFP && !fl_given) {
        lpt_msb_hist h;
        lpt_msb_hist_clear(&h);
        lpt_msb_hist_add(&h, in->count, in->data);
        if (h.count - h.nonfinite - h.zeros == 0) {
            fl = q->width - 1;
            printf("  FL %d (no nonzero finite value: FL = W - 1)\n", fl);
        } else {
            fl = lpt_stats_choose_fl(&h, q->width, rate, LPT_FL_MIN, LPT_FL_MAX);
            printf("  FL %d chosen: largest FL with predicted overflow <= %g (max |x| %g; predicted "
                   "overflow %.4g%%, underflow %.4g%%)\n", fl, (double)rate, h.max_abs,
                   100 * lpt_stats_overflow_at(&h, q->width, fl), 100 * lpt_stats_underflow_at(&h, fl));
        }
    } else if (q->fmt == LPT_FMT_DFP) {
        printf("  FL %d (given)\n", fl);
    }
    return fl;
}

/* The quantizer's counters and the SQNR of y against the input. */
static void report(const lpt_npy *in, const float *y, const lpt_qstats *st) {
    double sig = 0, err = 0;
    for (size_t i = 0; i < in->count; i++) {
        if (!isfinite(in->data[i]) || !isfinite(y[i])) continue;
        double d = (double)in->data[i] - y[i];
        sig += (double)in->data[i] * in->data[i];
        err += d * d;
    }
    printf("  saturated %llu (%.4g%%), underflow to zero %llu (%.4g%%), NaN/Inf inputs %llu\n",
           (unsigned long long)st->out_of_range, pct(st->out_of_range, in->count), (unsigned long long)st->underflow,
           pct(st->underflow, in->count), (unsigned long long)st->nonfinite);
    if (err == 0)
        printf("  SQNR inf dB (exact)\n");
    else
        printf("  SQNR %.2f dB\n", 10.0 * log10(sig / err));
}

/* The integer codes at their stored width (dfp: int8/16/32 by width; fp8: uint8;
 * fp16/bf16: uint16). 0, or 1 with the error printed. */
static int write_codes(const char *path, const lpt_qformat *q, const lpt_npy *in, const int32_t *codes) {
    int rc = 0;
    const int cb = lpt_qformat_code_bytes(q);
    const char *descr = q->fmt == LPT_FMT_DFP ? (cb == 1 ? "|i1" : cb == 2 ? "<i2" : "<i4")
                                             : (cb == 1 ? "|u1" : cb == 2 ? "<u2" : "<u4");
    unsigned char *packed = lpt_xmalloc(in->count * (size_t)cb + 4);
    for (size_t i = 0; i < in->count; i++) memcpy(packed + i * (size_t)cb, &codes[i], (size_t)cb); /* little-endian */
    if (lpt_npy_write(path, descr, in->ndim, in->dims, packed, (size_t)cb) != 0) {
        fprintf(stderr, "lpt quantize: %s\n", lpt_error_get());
        rc = 1;
    } else {
        printf("  wrote %s (%s codes)\n", path, descr);
    }
    free(packed);
    return rc;
}

int lpt_quantize_main(int argc, char **argv) {
    char spec[64] = "", codes_path[512] = "";
    int fl = 0;
    uint64_t seed = 1, tensor = 0, step = 0;
    float rate = 0.0f;
    lpt_opt o[] = {
        {"format", LPT_OPT_STR, spec, sizeof spec, 0, 0, "SPEC", "format: fp16, bf16, fp8-e4m3, fp8-e5m2, dfp<W> (int8-dyn, int16-dyn), with :ROUND (rne rna rtz rdn sr) and :OVERFLOW (sat wrap ieee) (required)", 0},
        {"fl", LPT_OPT_INT, &fl, 0, LPT_FL_MIN, LPT_FL_MAX, "N", "dfp fractional length (default: chosen by the statistics rule)", 0},
        {"overflow-rate", LPT_OPT_FLOAT, &rate, 0, 0, 1, "X", "dfp without --fl: largest FL whose predicted overflow fraction is <= X [0]", 0},
        {"seed", LPT_OPT_U64, &seed, 0, 0, 0, "N", "stochastic rounding: seed [1]", 0},
        {"tensor", LPT_OPT_U64, &tensor, 0, 0, 0, "N", "stochastic rounding: the tensor's stream [0]", 0},
        {"step", LPT_OPT_U64, &step, 0, 0, 0, "N", "stochastic rounding: step [0]", 0},
        {"codes", LPT_OPT_STR, codes_path, sizeof codes_path, 0, 0, "FILE", "also write the integer codes (dfp: int8/16/32 by width; fp8: uint8; fp16/bf16: uint16)", 0},
    };
    const int no = (int)(sizeof o / sizeof o[0]);
    char *pos[2];
    int npos = 0;
    int rc = lpt_args_parse("quantize", "--format SPEC [options] IN.npy OUT.npy", o, no, argc, argv, 2, pos, 2, &npos);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (npos != 2) {
        fprintf(stderr, "lpt quantize: expected IN.npy and OUT.npy; see 'lpt quantize --help'\n");
        return 2;
    }
    if (!spec[0]) {
        fprintf(stderr, "lpt quantize: --format SPEC is required\n");
        return 2;
    }
    lpt_qformat q;
    if (lpt_qformat_parse(spec, &q) != 0) {
        fprintf(stderr, "lpt quantize: --format: %s\n", lpt_error_get());
        return 2;
    }
    const int fl_given = lpt_args_find(o, no, "fl")->given;
    if (fl_given && q.fmt != LPT_FMT_DFP) {
        fprintf(stderr, "lpt quantize: --fl applies to dfp formats only, not %s\n", spec);
        return 2;
    }
    lpt_npy in;
    if (lpt_npy_read_f32(pos[0], &in) != 0) {
        fprintf(stderr, "lpt quantize: %s\n", lpt_error_get());
        return 1;
    }
    char shape[128] = "";
    for (int i = 0, k = 0; i < in.ndim && k < (int)sizeof shape; i++)
        k += snprintf(shape + k, sizeof shape - (size_t)k, i ? "x%zu" : "%zu", in.dims[i]);
    char name[64];
    lpt_qformat_name(&q, name, sizeof name);
    printf("lpt quantize: %s: float32 %s (%zu values) -> %s (rounding %s, overflow %s)\n", pos[0],
           in.ndim ? shape : "scalar", in.count, name, lpt_rounding_names[q.round], lpt_overflow_names[q.ovf]);
    if (q.fmt == LPT_FMT_DFP) fl = dfp_fl(&q, &in, rate, fl_given, fl);
    int32_t *codes = lpt_xmalloc(in.count * 4 + 4);
    float *y = lpt_xmalloc(in.count * 4 + 4);
    lpt_qstats st = {0};
    lpt_rng_key key = {.seed = seed, .stream = tensor, .step = step, .index0 = 0};
    lpt_quantize(&q, fl, &key, in.count, in.data, codes, y, &st);
    report(&in, y, &st);
    rc = 0;
    if (lpt_npy_write(pos[1], "<f4", in.ndim, in.dims, y, 4) != 0) {
        fprintf(stderr, "lpt quantize: %s\n", lpt_error_get());
        rc = 1;
    } else {
        printf("  wrote %s (float32, dequantized)\n", pos[1]);
    }
    if (!rc && codes_path[0]) rc = write_codes(codes_path, &q, &in, codes);
    if (!rc && st.nonfinite && q.fmt == LPT_FMT_DFP) {
        fprintf(stderr, "lpt quantize: %s holds %llu NaN/Inf values, which %s cannot represent "
                "(written as code 0 for NaN and the extreme codes for Inf)\n", pos[0],
                (unsigned long long)st.nonfinite, name);
        rc = 1;
    }
    free(codes);
    free(y);
    lpt_npy_free(&in);
    return rc;
}
