/* test_formats.c - the number formats' reference quantizers against independent
 * methods: exhaustive code round trips, table search at every rounding boundary, the
 * OCP fp8 tables, exhaustive dynamic fixed point, stochastic rounding statistics, and
 * bit-exact agreement with numpy/ml_dtypes (tests/fixtures/make_quant_fixture.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "quant/bits.h"
#include "quant/quant.h"
#include "src/base/util.h"
#include "tests/testutil.h"

static lpt_qformat qf(const char *spec) {
    lpt_qformat q;
    if (lpt_qformat_parse(spec, &q) != 0) fail_msg("%s: %s", spec, lpt_error_get());
    return q;
}


/* ---- parsing ---- */

static void test_parse(void **s) {
    (void)s;
    lpt_qformat q = qf("dfp8:sr:wrap");
    assert_int_equal(q.fmt, LPT_FMT_DFP);
    assert_int_equal(q.width, 8);
    assert_int_equal(q.round, LPT_ROUND_SR);
    assert_int_equal(q.ovf, LPT_OVF_WRAP);
    q = qf("int8-dyn");
    assert_true(q.fmt == LPT_FMT_DFP && q.width == 8 && q.round == LPT_ROUND_RNE && q.ovf == LPT_OVF_SAT);
    q = qf("int16-dyn:rtz");
    assert_true(q.width == 16 && q.round == LPT_ROUND_RTZ);
    assert_int_equal(qf("fp8-e4m3").ovf, LPT_OVF_SAT);
    assert_int_equal(qf("fp8-e5m2").ovf, LPT_OVF_IEEE);
    assert_int_equal(qf("fp16").ovf, LPT_OVF_IEEE);
    assert_int_equal(qf("bf16:sat:rdn").round, LPT_ROUND_RDN);
    assert_int_equal(qf("dfp2").width, 2);
    assert_int_equal(qf("dfp32").width, 32);
    char name[64];
    q = qf("dfp6:rna:wrap");
    lpt_qformat_name(&q, name, sizeof name);
    assert_string_equal(name, "dfp6:rna:wrap");
    q = qf("fp8-e4m3:ieee");
    lpt_qformat_name(&q, name, sizeof name);
    assert_string_equal(name, "fp8-e4m3:ieee");
    const char *bad[][2] = {{"fp64", "formats: fp32, fp16"}, {"dfp1", "2..32"}, {"dfp33", "2..32"},
                            {"dfp", "formats"},        {"dfp8x", "2..32"},    {"dfp8:rnd", "unknown mode 'rnd'"},
                            {"fp16:wrap", "dfp only"}, {"dfp8:ieee", "floats only"},
                            {"dfp8:sr:rtz", "twice"},  {"", "empty"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(lpt_qformat_parse(bad[i][0], &q), 0);
        if (!strstr(lpt_error_get(), bad[i][1])) fail_msg("'%s': error '%s' lacks '%s'", bad[i][0], lpt_error_get(), bad[i][1]);
    }
    lpt_precision p;
    assert_int_equal(lpt_precision_parse("w=dfp6,a=dfp8,g=dfp16", &p), 0);
    assert_true(p.w.width == 6 && p.a.width == 8 && p.g.width == 16);
    assert_int_equal(lpt_precision_parse("a=fp16", &p), 0);
    assert_true(p.w.fmt == LPT_FMT_FP32 && p.a.fmt == LPT_FMT_FP16 && p.g.fmt == LPT_FMT_FP32);
    assert_int_equal(lpt_precision_parse("bf16", &p), 0);
    assert_true(p.w.fmt == LPT_FMT_BF16 && p.g.fmt == LPT_FMT_BF16);
    /* the training presets: gradients stochastically rounded; the plain formats: RNE */
    assert_int_equal(lpt_precision_parse("int8-dyn", &p), 0);
    assert_true(p.w.width == 8 && p.w.round == LPT_ROUND_RNE && p.a.round == LPT_ROUND_RNE && p.g.round == LPT_ROUND_SR);
    assert_int_equal(lpt_precision_parse("int16-dyn", &p), 0);
    assert_true(p.g.width == 16 && p.g.round == LPT_ROUND_SR && p.w.round == LPT_ROUND_RNE);
    assert_int_equal(lpt_precision_parse("dfp8", &p), 0);
    assert_true(p.g.round == LPT_ROUND_RNE);
    assert_int_not_equal(lpt_precision_parse("x=dfp8", &p), 0);
    assert_int_not_equal(lpt_precision_parse("w=dfp8,w=dfp4", &p), 0);
    assert_int_not_equal(lpt_precision_parse("w=", &p), 0);
    assert_int_not_equal(lpt_precision_parse("w=dfp99", &p), 0);
}

/* ---- fp16 and bf16: every code round-trips ---- */

static void roundtrip_16(const char *spec) {
    lpt_qformat q = qf(spec);
    size_t nan_codes = 0;
    for (uint32_t c = 0; c < 65536; c++) {
        float v = lpt_dequantize_one_ref(&q, 0, (int32_t)c);
        int32_t back;
        lpt_qstats st = {0};
        lpt_quantize_ref(&q, 0, NULL, 1, &v, &back, NULL, &st);
        if (isnan(v)) { /* NaN codes come back quiet, with sign and payload kept */
            uint32_t quiet = q.fmt == LPT_FMT_FP16 ? 0x200u : 0x40u;
            assert_int_equal((uint32_t)back, c | quiet);
            assert_int_equal(st.nonfinite, 1);
            nan_codes++;
        } else if ((uint32_t)back != c) {
            fail_msg("%s: code 0x%04x -> %g -> 0x%04x", spec, c, (double)v, (uint32_t)back);
        }
    }
    /* fp16: 2 * (2^10 - 1) NaN codes; bf16: 2 * (2^7 - 1) */
    assert_int_equal(nan_codes, q.fmt == LPT_FMT_FP16 ? 2046 : 254);
}

static void test_fp16_bf16_roundtrip(void **s) {
    (void)s;
    roundtrip_16("fp16");
    roundtrip_16("bf16");
    /* a few values by definition */
    lpt_qformat h = qf("fp16");
    assert_true(lpt_dequantize_one_ref(&h, 0, 0x3c00) == 1.0f);
    assert_true(lpt_dequantize_one_ref(&h, 0, 0x7bff) == 65504.0f);
    assert_true(lpt_dequantize_one_ref(&h, 0, 0x0001) == 0x1p-24f);
    assert_true(lpt_dequantize_one_ref(&h, 0, 0x0400) == 0x1p-14f);
    assert_true(lpt_dequantize_one_ref(&h, 0, 0xfc00) == -INFINITY);
    lpt_qformat b = qf("bf16");
    assert_true(lpt_dequantize_one_ref(&b, 0, 0x3f80) == 1.0f);
    assert_true(lpt_dequantize_one_ref(&b, 0, 0x7f7f) == 0x1.FEp127f);
    assert_true(lpt_dequantize_one_ref(&b, 0, 0x0001) == 0x1p-133f);
}

/* ---- every rounding boundary against a table search ---- */

typedef struct {
    double *v; /* sorted finite values of the format (each once; -0 folded into +0) */
    int32_t *code;
    int n;
} table;

static int cmp_entry(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static table make_table(const lpt_qformat *q, int ncodes) {
    table t = {lpt_xmalloc((size_t)ncodes * 16), lpt_xmalloc((size_t)ncodes * 4), 0};
    double *pairs = lpt_xmalloc((size_t)ncodes * 2 * sizeof(double));
    int k = 0;
    for (int c = 0; c < ncodes; c++) {
        float v = lpt_dequantize_one_ref(q, 0, c);
        if (!isfinite(v) || (v == 0 && signbit(v))) continue;
        pairs[2 * k] = v;
        pairs[2 * k + 1] = c;
        k++;
    }
    qsort(pairs, (size_t)k, 2 * sizeof(double), cmp_entry);
    for (int i = 0; i < k; i++) t.v[i] = pairs[2 * i], t.code[i] = (int32_t)pairs[2 * i + 1];
    t.n = k;
    free(pairs);
    return t;
}

/* expected value for x by searching the table (finite results only; overflow is
 * signalled by returning +-INFINITY) */
static double table_round(const table *t, double x, lpt_rounding r) {
    int lo = 0, hi = t->n - 1;
    if (x > t->v[hi] || x < t->v[0]) { /* beyond the largest finite value */
        double mx = t->v[hi];
        double beyond = x > 0 ? INFINITY : -INFINITY;
        if (r == LPT_ROUND_RTZ || (r == LPT_ROUND_RDN && x > 0)) return x > 0 ? mx : -mx;
        if (r == LPT_ROUND_RDN) return beyond;
        /* nearest: overflow unless below max + half of the last spacing */
        double half = (t->v[hi] - t->v[hi - 1]) / 2;
        if (fabs(x) < mx + half) return x > 0 ? mx : -mx;
        if (fabs(x) == mx + half && r == LPT_ROUND_RNE) /* tie: to max if its code is even */
            return (t->code[hi] & 1) == 0 ? (x > 0 ? mx : -mx) : beyond;
        return beyond;
    }
    while (hi - lo > 1) { /* v[lo] <= x <= v[hi] */
        int mid = (lo + hi) / 2;
        if (t->v[mid] <= x) lo = mid;
        else hi = mid;
    }
    double a = t->v[lo], b = t->v[hi];
    if (x == a) return a;
    if (x == b) return b;
    switch (r) {
    case LPT_ROUND_RDN: return a;
    case LPT_ROUND_RTZ: return x > 0 ? a : b;
    default: {
        double da = x - a, db = b - x;
        if (da < db) return a;
        if (db < da) return b;
        if (r == LPT_ROUND_RNA) return x > 0 ? b : a;
        /* even: the code with a zero last mantissa bit */
        return (t->code[lo] & 1) == 0 ? a : b;
    }
    }
}

static size_t boundary_checks(const char *spec, int ncodes) {
    lpt_qformat q = qf(spec);
    table t = make_table(&q, ncodes);
    const lpt_rounding modes[] = {LPT_ROUND_RNE, LPT_ROUND_RNA, LPT_ROUND_RTZ, LPT_ROUND_RDN};
    size_t checked = 0;
    for (int i = 0; i + 1 < t.n; i++) {
        float mid = (float)((t.v[i] + t.v[i + 1]) / 2); /* exact: one more bit */
        float xs[6] = {mid, nextafterf(mid, INFINITY), nextafterf(mid, -INFINITY),
                       (float)t.v[i], nextafterf((float)t.v[i], INFINITY), nextafterf((float)t.v[i], -INFINITY)};
        for (int k = 0; k < 6; k++)
            for (int m = 0; m < 4; m++) {
                lpt_qformat qm = q;
                qm.round = modes[m];
                qm.ovf = LPT_OVF_IEEE;
                if (!t.code) continue;
                int32_t c;
                lpt_qstats st = {0};
                lpt_quantize_ref(&qm, 0, NULL, 1, &xs[k], &c, NULL, &st);
                double want = table_round(&t, xs[k], modes[m]);
                float got = lpt_dequantize_one_ref(&qm, 0, c);
                int ok = (isinf(want) && q.fmt == LPT_FMT_FP8_E4M3) ? isnan(got) : (double)got == want;
                if (want == 0 && ok) ok = signbit(got) == signbit(xs[k]); /* zero keeps the sign */
                if (!ok) fail_msg("%s %s: x = %a: got %a (code 0x%x), table says %a", spec,
                                  lpt_rounding_names[modes[m]], (double)xs[k], (double)got, c, want);
                checked++;
            }
    }
    /* the overflow boundary: max + half spacing, and its neighbours, both signs */
    double mx = t.v[t.n - 1], half = (t.v[t.n - 1] - t.v[t.n - 2]) / 2;
    float ob[4] = {(float)(mx + half), nextafterf((float)(mx + half), -INFINITY),
                   nextafterf((float)(mx + half), INFINITY), (float)(mx * 4 < 3e38 ? mx * 4 : 3e38)};
    for (int k = 0; k < 8; k++) {
        float x = k < 4 ? ob[k] : -ob[k - 4];
        for (int m = 0; m < 4; m++) {
            lpt_qformat qm = q;
            qm.round = modes[m];
            qm.ovf = LPT_OVF_IEEE;
            int32_t c;
            lpt_qstats st = {0};
            lpt_quantize_ref(&qm, 0, NULL, 1, &x, &c, NULL, &st);
            double want = table_round(&t, x, modes[m]);
            float got = lpt_dequantize_one_ref(&qm, 0, c);
            int ok = isinf(want) ? (q.fmt == LPT_FMT_FP8_E4M3 ? isnan(got) : (double)got == want)
                                 : (double)got == want;
            if (!ok) fail_msg("%s %s overflow boundary: x = %a: got %a", spec, lpt_rounding_names[m], (double)x, (double)got);
            /* an overflow is counted when the value rounded with an unbounded exponent
             * exceeds max: always from max + 2 * half on, else when the table says Inf */
            uint64_t want_sat = fabs((double)x) >= mx + 2 * half || isinf(want);
            assert_int_equal(st.out_of_range, want_sat);
            checked++;
        }
    }
    free(t.v);
    free(t.code);
    return checked;
}

static void test_rounding_boundaries(void **s) {
    (void)s;
    size_t n = boundary_checks("fp16", 65536) + boundary_checks("bf16", 65536) +
               boundary_checks("fp8-e4m3", 256) + boundary_checks("fp8-e5m2", 256);
    print_message("rounding boundaries checked against table search: %zu\n", n);
    assert_true(n > 1000000);
}

/* ---- fp8 code tables against the OCP definitions ---- */

static double ocp_value(int e4m3, uint32_t c) {
    /* OCP 8-bit floating point v1.0: E4M3 bias 7, S.1111.111 is NaN, no infinities;
     * E5M2 bias 15, IEEE-like: exponent 31 is Inf (mantissa 0) or NaN */
    int s = c >> 7, e = e4m3 ? (c >> 3) & 15 : (c >> 2) & 31, m = e4m3 ? c & 7 : c & 3;
    int mb = e4m3 ? 3 : 2, bias = e4m3 ? 7 : 15;
    if (e4m3 && e == 15 && m == 7) return NAN;
    if (!e4m3 && e == 31) return m ? NAN : (s ? -INFINITY : INFINITY);
    double v = e == 0 ? m * pow(2, 1 - bias - mb) : (1 + m / pow(2, mb)) * pow(2, e - bias);
    return s ? -v : v;
}

static void test_fp8_tables(void **s) {
    (void)s;
    for (int k = 0; k < 2; k++) {
        lpt_qformat q = qf(k ? "fp8-e4m3" : "fp8-e5m2");
        int nans = 0;
        for (uint32_t c = 0; c < 256; c++) {
            double want = ocp_value(k, c);
            float got = lpt_dequantize_one_ref(&q, 0, (int32_t)c);
            if (isnan(want)) {
                assert_true(isnan(got));
                nans++;
            } else if ((double)got != want || !signbit(got) != !signbit(want)) {
                fail_msg("%s code 0x%02x: %g, OCP %g", k ? "e4m3" : "e5m2", c, (double)got, want);
            }
            /* every non-NaN code round-trips */
            if (!isnan(want)) {
                int32_t back;
                lpt_qstats st = {0};
                lpt_qformat qi = q;
                qi.ovf = LPT_OVF_IEEE;
                lpt_quantize_ref(&qi, 0, NULL, 1, &got, &back, NULL, &st);
                assert_int_equal((uint32_t)back, c);
            }
        }
        assert_int_equal(nans, k ? 2 : 6);
    }
    lpt_qformat e4 = qf("fp8-e4m3"), e5 = qf("fp8-e5m2");
    assert_true(lpt_dequantize_one_ref(&e4, 0, 0x7e) == 448.0f);
    assert_true(lpt_dequantize_one_ref(&e4, 0, 0x01) == 0x1p-9f);
    assert_true(lpt_dequantize_one_ref(&e5, 0, 0x7b) == 57344.0f);
    assert_true(lpt_dequantize_one_ref(&e5, 0, 0x7c) == INFINITY);
    assert_true(lpt_dequantize_one_ref(&e5, 0, 0x01) == 0x1p-16f);
    /* overflow: e4m3 saturates by default (and maps Inf to max); ieee gives NaN; e5m2 Inf */
    float big[3] = {1e5f, INFINITY, -1e6f};
    int32_t c[3];
    lpt_qstats st = {0};
    lpt_quantize_ref(&e4, 0, NULL, 3, big, c, NULL, &st);
    assert_true(c[0] == 0x7e && c[1] == 0x7e && c[2] == 0xfe);
    assert_true(st.out_of_range == 2 && st.nonfinite == 1);
    lpt_qformat e4i = qf("fp8-e4m3:ieee");
    lpt_quantize_ref(&e4i, 0, NULL, 3, big, c, NULL, &st);
    assert_true(c[0] == 0x7f && c[1] == 0x7f && c[2] == 0xff);
    lpt_quantize_ref(&e5, 0, NULL, 3, big, c, NULL, &st);
    assert_true(c[0] == 0x7c && c[1] == 0x7c && c[2] == 0xfc); /* overflow to +-Inf */
}

/* ---- dynamic fixed point, exhaustively over the grid and the half-way points ---- */

/* independent: t = x * 2^FL * 4 is an integer; round t/4 with integer arithmetic */
static long long dfp_expect(long long t4, lpt_rounding r) {
    long long f = t4 >= 0 ? t4 / 4 : -((-t4 + 3) / 4); /* floor(t4 / 4) */
    long long rem = t4 - 4 * f;                         /* 0..3 quarters */
    switch (r) {
    case LPT_ROUND_RDN: return f;
    case LPT_ROUND_RTZ: return t4 >= 0 ? f : (rem ? f + 1 : f);
    case LPT_ROUND_RNA: return rem > 2 || (rem == 2 && t4 > 0) ? f + 1 : f;
    default: return rem > 2 || (rem == 2 && (f & 1)) ? f + 1 : f;
    }
}

static void test_dfp_exhaustive(void **s) {
    (void)s;
    size_t checked = 0;
    const lpt_rounding modes[] = {LPT_ROUND_RNE, LPT_ROUND_RNA, LPT_ROUND_RTZ, LPT_ROUND_RDN};
    for (int w = 2; w <= 16; w++)
        for (int fl = -4; fl <= w + 4; fl++)
            for (int m = 0; m < 4; m++)
                for (int wrap = 0; wrap < 2; wrap++) {
                    lpt_qformat q = {.fmt = LPT_FMT_DFP, .width = w, .round = modes[m],
                                     .ovf = wrap ? LPT_OVF_WRAP : LPT_OVF_SAT};
                    long long qmax = (1LL << (w - 1)) - 1, qmin = -(1LL << (w - 1));
                    /* every quarter step from 2 codes below qmin to 2 above qmax */
                    size_t n = (size_t)(4 * (qmax - qmin + 4) + 1);
                    float *x = lpt_xmalloc(n * 4);
                    int32_t *c = lpt_xmalloc(n * 4);
                    for (size_t i = 0; i < n; i++) x[i] = ldexpf((float)(4 * (qmin - 2) + (long long)i), -fl - 2);
                    lpt_qstats st = {0};
                    lpt_quantize_ref(&q, fl, NULL, n, x, c, NULL, &st);
                    uint64_t sat = 0, und = 0;
                    for (size_t i = 0; i < n; i++) {
                        long long t4 = 4 * (qmin - 2) + (long long)i;
                        long long r = dfp_expect(t4, modes[m]);
                        if (r > qmax || r < qmin) {
                            sat++;
                            r = wrap ? ((r - qmin) % (1LL << w) + (1LL << w)) % (1LL << w) + qmin : (r > qmax ? qmax : qmin);
                        }
                        und += r == 0 && t4 != 0;
                        if (c[i] != r)
                            fail_msg("dfp%d fl=%d %s %s: x=%a -> %d, want %lld", w, fl, lpt_rounding_names[m],
                                     wrap ? "wrap" : "sat", (double)x[i], c[i], r);
                        float v = lpt_dequantize_one_ref(&q, fl, c[i]);
                        assert_true(v == ldexpf((float)r, -fl));
                    }
                    assert_int_equal(st.out_of_range, sat);
                    assert_int_equal(st.underflow, und);
                    assert_int_equal(st.nonfinite, 0);
                    checked += n;
                    free(x);
                    free(c);
                }
    print_message("dfp values checked (W 2..16, FL -4..W+4, 4 modes, sat and wrap): %zu\n", checked);
    /* NaN and Inf are counted and flagged, never silently numbers */
    lpt_qformat q = qf("dfp8");
    float sp[4] = {NAN, INFINITY, -INFINITY, 1.0f};
    int32_t c[4];
    lpt_qstats st = {0};
    lpt_quantize_ref(&q, 4, NULL, 4, sp, c, NULL, &st);
    assert_int_equal(st.nonfinite, 3);
    assert_true(c[0] == 0 && c[1] == 127 && c[2] == -128 && c[3] == 16);
    /* widths up to 32 and far FL: wrap stays exact for huge scaled values */
    lpt_qformat q32 = qf("dfp32:wrap");
    float big = 0x1.fffffep100f;
    lpt_quantize_ref(&q32, 200, NULL, 1, &big, c, NULL, &st);
    assert_int_equal(c[0], 0); /* 2^300-scale multiple of 2^32 */
}

/* ---- stochastic rounding ---- */

static void test_stochastic_rounding(void **s) {
    (void)s;
    lpt_qformat q = qf("dfp8:sr");
    const size_t n = 4096;
    float *x = tu_rand(n, 3, -4, 4);
    int32_t *a = lpt_xmalloc(n * 4), *b = lpt_xmalloc(n * 4);
    lpt_rng_key key = {.seed = 42, .stream = 7, .step = 100, .index0 = 0};
    lpt_qstats st = {0};
    lpt_quantize_ref(&q, 4, &key, n, x, a, NULL, &st);
    lpt_quantize_ref(&q, 4, &key, n, x, b, NULL, &st);
    assert_memory_equal(a, b, n * 4); /* same key, same bits */
    /* any element alone: index0 = i, n = 1 */
    for (size_t i = 0; i < n; i += 97) {
        lpt_rng_key k1 = key;
        k1.index0 = i;
        int32_t one;
        lpt_quantize_ref(&q, 4, &k1, 1, &x[i], &one, NULL, &st);
        assert_int_equal(one, a[i]);
    }
    key.step = 101; /* another step, other bits */
    lpt_quantize_ref(&q, 4, &key, n, x, b, NULL, &st);
    assert_true(memcmp(a, b, n * 4) != 0);
    /* the mean converges to the value, for either sign: v = +-0.3 code units and an
     * off-grid value; N = 200000 draws, sd of the mean sqrt(p(1-p)/N) <= 1.12e-3; a
     * 6 sd bound fails by chance with probability < 2e-9 per check */
    const double vals[] = {0.3, -0.3, 5.0 + 1.0 / 3.0, -7.75};
    for (int k = 0; k < 4; k++) {
        const size_t N = 200000;
        float *v = lpt_xmalloc(N * 4);
        int32_t *c = lpt_xmalloc(N * 4);
        for (size_t i = 0; i < N; i++) v[i] = (float)(vals[k] / 16.0);
        lpt_rng_key kk = {.seed = 9, .stream = (uint64_t)k, .step = 0};
        lpt_quantize_ref(&q, 4, &kk, N, v, c, NULL, &st);
        double mean = 0;
        for (size_t i = 0; i < N; i++) mean += c[i];
        mean /= (double)N;
        double want = (double)v[0] * 16.0;
        if (fabs(mean - want) > 6 * 1.12e-3) fail_msg("sr mean %.5f for %.5f", mean, want);
        free(v);
        free(c);
    }
    /* sr on floats: between neighbours only */
    lpt_qformat h = qf("fp16:sr");
    float one_third = 1.0f / 3.0f;
    int32_t lo = 0x3555, hi = 0x3556; /* fp16 neighbours of 1/3 */
    int seen_lo = 0, seen_hi = 0;
    for (uint64_t step = 0; step < 64; step++) {
        lpt_rng_key kk = {.seed = 1, .stream = 1, .step = step};
        int32_t c;
        lpt_quantize_ref(&h, 0, &kk, 1, &one_third, &c, NULL, &st);
        assert_true(c == lo || c == hi);
        seen_lo |= c == lo, seen_hi |= c == hi;
    }
    assert_true(seen_lo && seen_hi);
    free(x);
    free(a);
    free(b);
}

/* ---- numpy / ml_dtypes ---- */

static void test_numpy_ml_dtypes(void **s) {
    (void)s;
    gzFile f = gzopen(LPT_SOURCE_DIR "/tests/fixtures/quant_numpy.bin.gz", "rb");
    assert_non_null(f);
    char magic[8];
    uint32_t counts[2];
    assert_int_equal(gzread(f, magic, 8), 8);
    assert_memory_equal(magic, "LPTQFX1", 8);
    assert_int_equal(gzread(f, counts, 8), 8);
    const size_t ns = counts[0], ne = counts[1], n = ns + ne;
    float *x = lpt_xmalloc(n * 4);
    for (size_t i = 0; i < ns; i++) {
        uint64_t b = ((uint64_t)i * 4096 + ((((uint64_t)i * 2654435761u) & 0xffffffffu) >> 20)) & 0xffffffffu;
        x[i] = lpt_f32_from((uint32_t)b);
    }
    assert_int_equal(gzread(f, x + ns, (unsigned)(ne * 4)), (int)(ne * 4));
    const struct {
        const char *spec;
        int fl, bytes;
    } outs[] = {{"fp16", 0, 2},    {"bf16", 0, 2},     {"fp8-e4m3:ieee", 0, 1}, {"fp8-e5m2", 0, 1},
                {"dfp8", 4, 1},    {"dfp8", -3, 1},    {"dfp16", 10, 2}};
    int32_t *c = lpt_xmalloc(n * 4);
    unsigned char *want = lpt_xmalloc(n * 2);
    size_t compared = 0;
    for (int k = 0; k < 7; k++) {
        assert_int_equal(gzread(f, want, (unsigned)(n * (size_t)outs[k].bytes)), (int)(n * (size_t)outs[k].bytes));
        lpt_qformat q = qf(outs[k].spec);
        lpt_qstats st = {0};
        lpt_quantize_ref(&q, outs[k].fl, NULL, n, x, c, NULL, &st);
        for (size_t i = 0; i < n; i++) {
            int32_t w = outs[k].bytes == 2 ? (q.fmt == LPT_FMT_DFP ? ((int16_t *)want)[i] : ((uint16_t *)want)[i])
                                           : (q.fmt == LPT_FMT_DFP ? ((int8_t *)want)[i] : want[i]);
            if (isnan(x[i])) { /* NaN payload conventions differ: both must be NaN */
                if (q.fmt != LPT_FMT_DFP) {
                    assert_true(isnan(lpt_dequantize_one_ref(&q, 0, c[i])));
                    assert_true(isnan(lpt_dequantize_one_ref(&q, 0, w)));
                }
                continue;
            }
            if (q.fmt == LPT_FMT_DFP && isinf(x[i])) continue; /* numpy cannot say */
            if (c[i] != w)
                fail_msg("%s (FL %d): x = %a (0x%08x): lpt 0x%x, numpy/ml_dtypes 0x%x", outs[k].spec, outs[k].fl,
                         (double)x[i], lpt_f32_bits(x[i]), c[i], w);
            compared++;
        }
    }
    gzclose(f);
    print_message("values compared bit for bit with numpy/ml_dtypes: %zu (%zu inputs x 7 formats)\n", compared, n);
    assert_true(compared > 7000000);
    free(x);
    free(c);
    free(want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_fp16_bf16_roundtrip),
        cmocka_unit_test(test_rounding_boundaries),
        cmocka_unit_test(test_fp8_tables),
        cmocka_unit_test(test_dfp_exhaustive),
        cmocka_unit_test(test_stochastic_rounding),
        cmocka_unit_test(test_numpy_ml_dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
