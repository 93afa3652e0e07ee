/* test_quant_fast.c - the fast quantizers equal the reference bit for bit: codes,
 * dequantized values and counters, for every format, rounding mode and overflow mode,
 * on random bit patterns (NaN payloads, Inf, subnormals included), ordinary values,
 * and every rounding boundary of each float format; odd lengths and offsets exercise
 * the vector tails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "tests/testutil.h"
#include "kernels/cpu/cpu_quant.h"
#include "src/base/isa.h"

static float *g_x;
static size_t g_n;
static const char *const k_levels[] = {"base", "x86-64-v3", "x86-64-v4"};
static int g_have[3];

static void add(float v) { g_x[g_n++] = v; }

static int setup(void **s) {
    (void)s;
    for (int lv = 0; lv < 3; lv++) {
        g_have[lv] = lpt_isa_set(k_levels[lv]) == 0;
        if (!g_have[lv]) print_message("SKIPPED: instruction-set level %s: this CPU lacks it\n", k_levels[lv]);
    }
    lpt_isa_set("best");
    g_x = lpt_xmalloc(((size_t)3 << 20) * sizeof(float));
    const uint32_t special[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007fffffu,
                                0x00800000u, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u, 0xff800000u,
                                0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff812345u, 0x7fbfffffu,
                                0x7fffffffu, 0x477fe000u, 0x477ff000u, 0x43e80000u, 0x43f00000u};
    for (size_t i = 0; i < sizeof special / 4; i++) {
        float v;
        memcpy(&v, &special[i], 4);
        add(v);
    }
    for (uint64_t i = 0; i < (1u << 18); i++) { /* random bit patterns */
        uint32_t b = (uint32_t)lpt_rng_bits(5, 1, i);
        float v;
        memcpy(&v, &b, 4);
        add(v);
    }
    for (uint64_t i = 0; i < (1u << 18); i++) add(16.0f * lpt_rng_uniform(5, 2, i) - 8.0f);
    /* every rounding boundary of fp16, bf16, e4m3, e5m2: midpoints and neighbours */
    const char *fmts[] = {"fp16", "bf16", "fp8-e4m3", "fp8-e5m2"};
    for (int f = 0; f < 4; f++) {
        lpt_qformat q;
        lpt_qformat_parse(fmts[f], &q);
        int nc = q.width == 16 ? 65536 : 256;
        for (int c = 0; c + 1 < nc / 2; c++) {
            float a = lpt_dequantize_one_ref(&q, 0, c), b = lpt_dequantize_one_ref(&q, 0, c + 1);
            if (!isfinite(a) || !isfinite(b)) continue;
            float m = (float)(((double)a + b) / 2);
            add(m), add(-m), add(nextafterf(m, INFINITY)), add(-nextafterf(m, 0));
        }
    }
    return 0;
}

static int teardown(void **s) {
    (void)s;
    free(g_x);
    return 0;
}

static size_t g_compared;

/* compare the fast kernels of every instruction-set level with the reference on
 * x[off .. off+n) */
static void compare(const lpt_qformat *q, int fl, size_t off, size_t n, uint64_t index0) {
    int32_t *c0 = lpt_xmalloc(n * 4), *c1 = lpt_xmalloc(n * 4);
    float *y0 = lpt_xmalloc(n * 4), *y1 = lpt_xmalloc(n * 4);
    lpt_qstats s0 = {0};
    lpt_rng_key key = {.seed = 11, .stream = 3, .step = 5, .index0 = index0};
    lpt_quantize_ref(q, fl, &key, n, g_x + off, c0, y0, &s0);
    for (int lv = 0; lv < 3; lv++) {
    if (!g_have[lv]) continue;
    assert_int_equal(lpt_isa_set(k_levels[lv]), 0);
    lpt_qstats s1 = {0};
    lpt_quantize(q, fl, &key, n, g_x + off, c1, y1, &s1);
    char name[64];
    lpt_qformat_name(q, name, sizeof name);
    for (size_t i = 0; i < n; i++)
        if (c0[i] != c1[i] || memcmp(&y0[i], &y1[i], 4) != 0)
            fail_msg("%s fl=%d (%s): x = %a: ref code 0x%x value %a, fast code 0x%x value %a", name, fl,
                     lpt_quantize_kernel_name(q), (double)g_x[off + i], c0[i], (double)y0[i], c1[i], (double)y1[i]);
    if (s0.out_of_range != s1.out_of_range || s0.underflow != s1.underflow || s0.nonfinite != s1.nonfinite)
        fail_msg("%s fl=%d counters: ref %llu/%llu/%llu, fast %llu/%llu/%llu", name, fl,
                 (unsigned long long)s0.out_of_range, (unsigned long long)s0.underflow, (unsigned long long)s0.nonfinite,
                 (unsigned long long)s1.out_of_range, (unsigned long long)s1.underflow, (unsigned long long)s1.nonfinite);
    /* codes only and values only give the same */
    lpt_qstats s2 = {0};
    lpt_quantize(q, fl, &key, n, g_x + off, NULL, y1, &s2);
    assert_memory_equal(y0, y1, n * 4);
    lpt_quantize(q, fl, &key, n, g_x + off, c1, NULL, &s2);
    assert_memory_equal(c0, c1, n * 4);
    /* fast dequantize of the codes */
    lpt_dequantize(q, fl, n, c0, y1);
    assert_memory_equal(y0, y1, n * 4);
    g_compared += n;
    }
    lpt_isa_set("best");
    free(c0), free(c1), free(y0), free(y1);
}

static void test_floats(void **s) {
    (void)s;
    const char *fmts[] = {"fp32", "fp16", "bf16", "fp8-e4m3", "fp8-e5m2"};
    for (int f = 0; f < 5; f++)
        for (int r = 0; r < LPT_ROUND_COUNT; r++)
            for (int o = 0; o < 2; o++) {
                lpt_qformat q;
                char spec[64];
                snprintf(spec, sizeof spec, "%s:%s:%s", fmts[f], lpt_rounding_names[r], o ? "sat" : "ieee");
                assert_int_equal(lpt_qformat_parse(spec, &q), 0);
                compare(&q, 0, 0, g_n, 0);
                compare(&q, 0, 1, 1001, 77); /* odd length, unaligned, another index */
            }
    print_message("float formats: %zu values compared (5 formats x 5 roundings x 2 overflow modes x ISA levels)\n", g_compared);
}

static void test_dfp(void **s) {
    (void)s;
    const int widths[] = {2, 3, 4, 7, 8, 12, 16, 24, 31, 32};
    const int fls[] = {-200, -5, 0, 3, 7, 15, 31, 200};
    size_t before = g_compared;
    const size_t n = (size_t)1 << 13; /* random patterns and ordinary values, per case */
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
        for (size_t f = 0; f < sizeof fls / sizeof fls[0]; f++)
            for (int r = 0; r < LPT_ROUND_COUNT; r++)
                for (int o = 0; o < 2; o++) {
                    lpt_qformat q = {.fmt = LPT_FMT_DFP, .width = widths[w], .round = (lpt_rounding)r,
                                     .ovf = o ? LPT_OVF_WRAP : LPT_OVF_SAT};
                    compare(&q, fls[f], 0, 20 + n, 0);
                    compare(&q, fls[f], (1u << 18) + 20, n + 3, 1000); /* ordinary values */
                }
    print_message("dfp: %zu values compared (10 widths x 8 FL x 5 roundings x sat/wrap x ISA levels)\n", g_compared - before);
}

static void test_dequantize_all_codes(void **s) {
    (void)s;
    const char *fmts[] = {"fp16", "bf16", "fp8-e4m3", "fp8-e5m2"};
    int32_t *c = lpt_xmalloc(65536 * 4);
    float *y0 = lpt_xmalloc(65536 * 4), *y1 = lpt_xmalloc(65536 * 4);
    for (int f = 0; f < 4; f++)
        for (int lv = 0; lv < 3; lv++) {
            if (!g_have[lv]) continue;
            lpt_isa_set(k_levels[lv]);
            lpt_qformat q;
            lpt_qformat_parse(fmts[f], &q);
            size_t nc = q.width == 16 ? 65536 : 256;
            for (size_t i = 0; i < nc; i++) c[i] = (int32_t)i;
            lpt_dequantize_ref(&q, 0, nc, c, y0);
            lpt_dequantize(&q, 0, nc, c, y1);
            assert_memory_equal(y0, y1, nc * 4);
        }
    lpt_isa_set("best");
    free(c), free(y0), free(y1);
}

static void test_kernel_names(void **s) {
    (void)s;
    lpt_qformat q;
    lpt_qformat_parse("fp16", &q);
    print_message("fast kernels on this CPU: %s; fp16 rne: %s\n", lpt_isa_name(), lpt_quantize_kernel_name(&q));
    assert_int_equal(lpt_isa_set("x86-64-v9"), -1);
    lpt_qformat_parse("dfp8", &q);
    print_message("dfp8 kernel: %s\n", lpt_quantize_kernel_name(&q));
    assert_non_null(lpt_quantize_kernel_name(&q));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_dfp),
        cmocka_unit_test(test_dequantize_all_codes),
        cmocka_unit_test(test_kernel_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
