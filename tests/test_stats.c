/* test_stats.c - the statistics unit: MSB histograms against a brute-force count, the
 * FL and width rules on synthetic distributions (all zeros, one huge outlier,
 * denormal-scale values, wide dynamic range), agreement of the predicted overflow with
 * the quantizer's own count, the JSON Lines records against the documented schema, and
 * the bounded history. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hwsim/stats_unit.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "tests/testutil.h"
#include "kernels/cpu/cpu_quant.h"
#include "src/base/isa.h"

/* the histogram of x counted here from the bits, independently of both versions */
static void brute_hist(size_t n, const float *x, lpt_msb_hist *h, uint64_t *subnormals) {
    lpt_msb_hist_clear(h);
    *subnormals = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        const uint32_t e = (b >> 23) & 0xff, m = b & 0x7fffff;
        if (e == 0xff) {
            h->nonfinite++;
            continue;
        }
        if (e == 0 && m == 0) {
            h->zeros++;
            continue;
        }
        /* msb from the bits: normal 2^(e-127) * 1.m, subnormal 2^-149 * m */
        int msb = e ? (int)e - 127 : -149;
        for (uint32_t v = m; !e && v > 1; v >>= 1) msb++;
        *subnormals += e == 0;
        ((b >> 31) ? h->neg : h->pos)[msb - LPT_MSB_MIN]++;
        h->max_abs = fmax(h->max_abs, fabs((double)x[i]));
    }
    h->count = n;
}

static void assert_hist_equal(const lpt_msb_hist *got, const lpt_msb_hist *want) {
    assert_memory_equal(got->pos, want->pos, sizeof want->pos);
    assert_memory_equal(got->neg, want->neg, sizeof want->neg);
    assert_int_equal(got->zeros, want->zeros);
    assert_int_equal(got->nonfinite, want->nonfinite);
    assert_int_equal(got->count, want->count);
    assert_true(got->max_abs == want->max_abs);
}

static void test_histogram_brute_force(void **s) {
    (void)s;
    const size_t n = 200000;
    float *x = lpt_xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        uint32_t b = (uint32_t)lpt_rng_bits(4, 1, i); /* every exponent, subnormals, NaN, Inf */
        memcpy(&x[i], &b, 4);
        if (i % 7 == 0) x[i] = 0.0f;
        if (i % 11 == 0) x[i] = -0.0f;
    }
    /* the fast version (in two calls, one odd-sized) at every instruction-set level this
     * CPU has, and the reference, against a count written here */
    static const char *const levels[] = {"base", "x86-64-v3", "x86-64-v4"};
    lpt_msb_hist h, r, lv[3], want;
    int nlv = 0;
    for (int l = 0; l < 3; l++) {
        if (lpt_isa_set(levels[l]) != 0) continue;
        lpt_msb_hist_clear(&lv[nlv]);
        lpt_msb_hist_add(&lv[nlv], n / 2 + 3, x);
        lpt_msb_hist_add(&lv[nlv], n - n / 2 - 3, x + n / 2 + 3);
        nlv++;
    }
    lpt_isa_set("best");
    assert_true(nlv >= 1);
    for (int l = 1; l < nlv; l++) assert_memory_equal(&lv[l], &lv[0], sizeof h);
    h = lv[0];
    lpt_msb_hist_clear(&r);
    lpt_msb_hist_add_ref(&r, n, x);
    uint64_t sub;
    brute_hist(n, x, &want, &sub);
    assert_true(sub > 0); /* the data exercise the subnormal path */
    assert_hist_equal(&h, &want);
    assert_hist_equal(&r, &want);
    lpt_msb_hist m2; /* merge of two halves: the same */
    lpt_msb_hist_clear(&m2);
    lpt_msb_hist_clear(&r);
    lpt_msb_hist_add(&r, n / 3, x);
    lpt_msb_hist_merge(&m2, &r);
    lpt_msb_hist_clear(&r);
    lpt_msb_hist_add(&r, n - n / 3, x + n / 3);
    lpt_msb_hist_merge(&m2, &r);
    assert_memory_equal(&m2, &h, sizeof h);
    free(x);
}

/* Tensors like the ones training observes: most values within a few binades of the
 * largest, where the AVX-512 path counts them in pairs (LPT_PAIR_SPAN binades below the
 * largest magnitude so far). Every way out of that path: values just inside and just
 * outside the window, a largest magnitude that grows along the tensor (the window moves),
 * tiny values, subnormals, NaN and Inf, a window that would reach exponent 0, zero
 * densities on both sides of the pairing threshold, one binade only, and tensors one
 * after the other through one accumulator, in blocks of several sizes. */
static float windowed_value(int kind, size_t i) {
    const float u = lpt_rng_uniform(11, (uint64_t)kind, i), sign = lpt_rng_bits(12, (uint64_t)kind, i) & 1 ? -1.0f : 1.0f;
    const int spread = (int)(lpt_rng_bits(13, (uint64_t)kind, i) % 12); /* 12 binades */
    const float v = sign * ldexpf(1.0f + u, -spread);
    switch (kind) {
    case 0: return v; /* dense */
    case 1: return u < 0.3f ? 0.0f : v; /* 30% zeros */
    case 2: return u < 0.6f ? 0.0f : v; /* 60% zeros */
    case 3: return u < 0.95f ? 0.0f : v; /* 95% zeros */
    case 4: return ldexpf(v, (int)(i / 5000)); /* the largest magnitude grows */
    case 5: /* window edges below a largest magnitude of 1.5 (msb 0) */
        if (i == 0) return 1.5f;
        if (i % 97 == 0) return sign * ldexpf(1.0f + u, -15); /* distance 15: inside */
        if (i % 101 == 0) return sign * ldexpf(1.0f + u, -16); /* distance 16: outside */
        if (i % 997 == 0) return ldexpf(v, -40);
        return v;
    case 6: { /* NaN, Inf, subnormals, here and there */
        static const uint32_t odd[] = {0x7fc00000u, 0xff800000u, 0x7f800000u, 0x00000001u, 0x807fffffu, 0x00012345u};
        if (i % 1009 == 0) {
            float f;
            memcpy(&f, &odd[(i / 1009) % 6], 4);
            return f;
        }
        return v;
    }
    case 7: return ldexpf(v, -118); /* largest magnitude 2^-117: a window would reach exponent 0 */
    case 8: return (i % 3 == 0 ? -1.0f : 1.0f) * (1.0f + u); /* one binade */
    default: return i % 2 ? ldexpf(v, -3) : 0.0f; /* half zeros, alternating */
    }
}

static void test_histogram_windowed(void **s) {
    (void)s;
    enum { KINDS = 10 };
    const size_t sizes[KINDS] = {50000, 40000, 40000, 60000, 60000, 50000, 50000, 20000, 30000, 9000};
    const size_t blocks[] = {4096, 1000, 100000, 33};
    static const char *const levels[] = {"base", "x86-64-v3", "x86-64-v4"};
    float *x[KINDS];
    lpt_msb_hist want[KINDS];
    for (int k = 0; k < KINDS; k++) {
        x[k] = lpt_xmalloc(sizes[k] * 4);
        for (size_t i = 0; i < sizes[k]; i++) x[k][i] = windowed_value(k, i);
        uint64_t sub;
        brute_hist(sizes[k], x[k], &want[k], &sub);
    }
    int tested = 0;
    for (int l = 0; l < 3; l++) {
        if (lpt_isa_set(levels[l]) != 0) continue;
        tested++;
        lpt_msb_acc *acc = lpt_msb_acc_thread();
        for (size_t bl = 0; bl < sizeof blocks / sizeof *blocks; bl++)
            for (int k = 0; k < KINDS; k++) { /* one tensor after another */
                lpt_msb_hist h;
                lpt_msb_hist_clear(&h);
                for (size_t i = 0; i < sizes[k]; i += blocks[bl])
                    lpt_msb_acc_add(acc, sizes[k] - i < blocks[bl] ? sizes[k] - i : blocks[bl], x[k] + i);
                lpt_msb_acc_end(acc, &h);
                assert_hist_equal(&h, &want[k]);
            }
    }
    lpt_isa_set("best");
    assert_true(tested >= 1);
    for (int k = 0; k < KINDS; k++) free(x[k]);
}

static lpt_qformat dfp(int w) {
    lpt_qformat q = {.fmt = LPT_FMT_DFP, .width = w, .round = LPT_ROUND_RNE, .ovf = LPT_OVF_SAT};
    return q;
}

/* quantizer's overflow count for x at fl */
static uint64_t overflows(int w, int fl, size_t n, const float *x) {
    lpt_qformat q = dfp(w);
    lpt_qstats st = {0};
    float *y = lpt_xmalloc(n * 4);
    lpt_quantize_ref(&q, fl, NULL, n, x, NULL, y, &st);
    free(y);
    return st.out_of_range;
}

static void test_fl_rule(void **s) {
    (void)s;
    const size_t n = 10000;
    float *x = tu_rand(n, 5, -1, 1); /* msb <= -1: dfp8 FL = 8 - 2 + 1 = 7 */
    lpt_msb_hist h;
    lpt_msb_hist_clear(&h);
    lpt_msb_hist_add(&h, n, x);
    int fl = lpt_stats_choose_fl(&h, 8, 0.0, LPT_FL_MIN, LPT_FL_MAX);
    assert_int_equal(fl, 7);
    /* the prediction counts MSB positions; what it cannot see is the rounding carry:
     * values within half a step of 2^(W-1) (x >= 127.5 / 128 here) round into overflow.
     * The quantizer counts exactly those (the recompute rule exists for this gap). */
    uint64_t carry = 0;
    for (size_t i = 0; i < n; i++) carry += x[i] >= 127.5f / 128.0f;
    assert_true(carry > 0);
    assert_int_equal(overflows(8, fl, n, x), carry);
    assert_true(overflows(8, fl + 1, n, x) > n / 4); /* one more bit: half the values */
    /* one huge outlier: with rate 0 it sets FL; with rate 1e-3 the bulk does */
    x[1234] = 1000.0f; /* msb 9 */
    lpt_msb_hist_clear(&h);
    lpt_msb_hist_add(&h, n, x);
    assert_int_equal(lpt_stats_choose_fl(&h, 8, 0.0, LPT_FL_MIN, LPT_FL_MAX), 8 - 2 - 9);
    assert_int_equal(lpt_stats_choose_fl(&h, 8, 1e-3, LPT_FL_MIN, LPT_FL_MAX), 7);
    uint64_t over7 = 0; /* the outlier and the rounding carries */
    for (size_t i = 0; i < n; i++) over7 += x[i] >= 127.5f / 128.0f;
    assert_int_equal(overflows(8, 7, n, x), over7);
    assert_true(fabs(lpt_stats_overflow_at(&h, 8, 7) - 1e-4) < 1e-12);
    /* denormal-scale values: FL far above W, no overflow, not all flushed to zero */
    for (size_t i = 0; i < n; i++) x[i] = (float)(1e-40 * (2.0 * lpt_rng_uniform(6, 1, i) - 1.0));
    lpt_msb_hist_clear(&h);
    lpt_msb_hist_add(&h, n, x);
    fl = lpt_stats_choose_fl(&h, 8, 0.0, LPT_FL_MIN, LPT_FL_MAX);
    assert_true(fl > 130 && fl < 150);
    assert_int_equal(overflows(8, fl, n, x), 0);
    assert_true(lpt_stats_underflow_at(&h, fl) < 0.05);
    /* the rule equals its definition (the largest FL whose predicted overflow is at most
     * the rate) on random histograms, widths, rates and FL ranges */
    for (int t = 0; t < 200; t++) {
        lpt_msb_hist_clear(&h);
        for (int b = 0; b < LPT_MSB_BINS; b++)
            if (lpt_rng_bits(9, 1, (uint64_t)(t * 1000 + b)) % 7 == 0) {
                h.pos[b] = lpt_rng_bits(9, 2, (uint64_t)(t * 1000 + b)) % 1000;
                h.neg[b] = lpt_rng_bits(9, 3, (uint64_t)(t * 1000 + b)) % 1000;
                h.count += h.pos[b] + h.neg[b];
            }
        h.nonfinite = t % 3, h.count += h.nonfinite;
        const int w = 2 + t % 15, lo = -40 + t % 30, hi = lo + 60 + t % 200;
        const double rate = t % 4 == 0 ? 0.0 : ldexp(1.0, -(t % 20));
        int want = lo;
        for (int f = hi; f >= lo; f--)
            if (lpt_stats_overflow_at(&h, w, f) <= rate) {
                want = f;
                break;
            }
        assert_int_equal(lpt_stats_choose_fl(&h, w, rate, lo, hi), want);
    }
    free(x);
}

static void test_unit_all_zeros_and_auto_width(void **s) {
    (void)s;
    lpt_stats_unit u;
    lpt_stats_init(&u, 10, 0.0);
    lpt_qformat q8 = dfp(8);
    int id = lpt_stats_register(&u, "conv1", "y", LPT_ROLE_A, &q8);
    assert_int_equal(u.e[id].fl, 7); /* W - 1 before any statistics */
    float zeros[100] = {0};
    lpt_stats_observe(&u, id, 100, zeros);
    lpt_stats_configure(&u, 9);
    assert_int_equal(u.e[id].fl, 7); /* all zeros: the configuration stays */
    assert_false(u.e[id].configured);
    lpt_stats_free(&u);
    /* auto: the smallest width meeting the overflow and underflow targets */
    const int widths[] = {4, 6, 8, 12, 16};
    lpt_stats_init(&u, 1, 0.0);
    lpt_stats_set_auto(&u, widths, 5, 0.01);
    int narrow = lpt_stats_register(&u, "fc1", "w", LPT_ROLE_W, &q8), wide = lpt_stats_register(&u, "fc1", "dy", LPT_ROLE_G, &q8);
    const size_t n = 10000;
    float *a = lpt_xmalloc(n * 4), *b = lpt_xmalloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        a[i] = 0.5f + 0.49f * lpt_rng_uniform(7, 1, i);                                 /* msb -1 only */
        b[i] = (i & 1 ? -1.0f : 1.0f) * ldexpf(1.0f + lpt_rng_uniform(7, 2, i), -(int)(i % 10) - 1); /* msb -10..-1 */
    }
    lpt_stats_observe(&u, narrow, n, a);
    lpt_stats_observe(&u, wide, n, b);
    lpt_stats_configure(&u, 0);
    assert_int_equal(u.e[narrow].fmt.width, 4);
    assert_int_equal(u.e[narrow].fl, 3);
    assert_int_equal(u.e[wide].fmt.width, 12); /* dfp8 would flush msb -10, -9: 20% */
    assert_int_equal(u.e[wide].fl, 11);
    lpt_stats_free(&u);
    free(a);
    free(b);
}

/* the documented schema: every field present; histogram counts add up */
static void test_jsonl_schema_and_history(void **s) {
    (void)s;
    lpt_stats_unit u;
    lpt_stats_init(&u, 5, 0.0);
    lpt_qformat q8 = dfp(8);
    int id = lpt_stats_register(&u, "fc2", "dy", LPT_ROLE_G, &q8);
    float x[6] = {0.5f, -0.25f, 3.0f, 0.0f, NAN, -0.75f};
    lpt_stats_observe(&u, id, 6, x);
    /* rates are fractions of the 4 nonzero finite values */
    lpt_qstats q = {.out_of_range = 3, .underflow = 1, .nonfinite = 1};
    lpt_stats_count(&u, id, &q);
    lpt_stats_configure(&u, 4);
    char *rec = (char *)u.log.data;
    assert_non_null(rec);
    lpt_buf_put(&u.log, "", 1);
    const char *fields[] = {"\"step\": 4,", "\"layer\": \"fc2\"", "\"tensor\": \"dy\"", "\"role\": \"g\"", "\"format\": \"dfp8\"",
                            "\"width\": 8,", "\"fl\": 7,", "\"next_width\": 8,", "\"next_fl\": 5,",
                            "\"count\": 6,", "\"zeros\": 1,", "\"nonfinite\": 1,", "\"max_abs\": 3,",
                            "\"pos_hist\": {\"msb_min\": -1, \"counts\": [1, 0, 1]}",
                            "\"neg_hist\": {\"msb_min\": -2, \"counts\": [1, 1]}", "\"overflow_rate\": 0.75,",
                            "\"underflow_rate\": 0.25,", "\"saturation_rate\": 0.75,",
                            "\"predicted_overflow\": 0,", "\"predicted_underflow\": 0,", "\"recomputes\": 0,",
                            "\"collapses\": 0}"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strstr(rec, fields[i])) fail_msg("record lacks %s:\n%s", fields[i], rec);
    assert_int_equal(tu_lines(rec), 1);
    u.log.len = 0;
    /* history is bounded and keeps the latest intervals */
    for (int k = 0; k < 20; k++) {
        lpt_stats_observe(&u, id, 6, x);
        lpt_stats_configure(&u, 9 + 5 * k);
    }
    assert_int_equal(u.e[id].nsummary, 21);
    assert_int_equal(u.e[id].summary[20 % LPT_STATS_HISTORY].step, 9 + 5 * 19);
    lpt_buf_put(&u.log, "", 1); /* NUL for counting, then off again */
    u.log.len--;
    assert_int_equal(tu_lines((char *)u.log.data), 20);
    /* an unwritable path fails and keeps the records */
    assert_int_equal(lpt_stats_flush(&u, "/nonexistent/dir/s.jsonl"), -1);
    assert_non_null(strstr(lpt_error_get(), "/nonexistent/dir/s.jsonl"));
    assert_true(u.log.len > 0);
    char *dir = tu_tmpdir(), path[300];
    snprintf(path, sizeof path, "%s/stats.jsonl", dir);
    assert_int_equal(lpt_stats_flush(&u, path), 0);
    size_t n;
    char *f = lpt_file_read_all(path, &n);
    assert_int_equal(tu_lines(f), 20);
    free(f);
    assert_int_equal(u.log.len, 0);
    tu_rmtree(dir);
    lpt_stats_free(&u);
}


/* The death of LeNet-5 int8-dyn (2 epochs, 1 thread): after ReLU and pooling, fc1's input
 * held 38 nonzero values among 1,280,000 (max 4). Counted over all values, an overflow
 * budget of 1e-4 let every nonzero value overflow and chose FL 256, where every value
 * saturates to about 2^-249 and the network never trains again. Over the nonzero values
 * the budget is below one value: the largest magnitude must fit. */
static void test_sparse_tensor_keeps_its_range(void **s) {
    (void)s;
    lpt_msb_hist h;
    lpt_msb_hist_clear(&h);
    const size_t n = 1280000;
    float *x = lpt_xcalloc(n, sizeof *x);
    for (int i = 0; i < 38; i++) x[(size_t)i * 33331] = i % 3 == 0 ? 4.0f : 0.25f * (float)(1 + i % 7);
    lpt_msb_hist_add(&h, n, x);
    assert_int_equal(lpt_stats_nonzero(&h), 38);
    const int fl = lpt_stats_choose_fl(&h, 8, 1e-4, LPT_FL_MIN, LPT_FL_MAX);
    assert_int_equal(fl, 4); /* 4 = 2^2 fits dfp8 (max 127 * 2^-FL) at FL 8 - 2 - 2 */
    assert_int_equal(overflows(8, fl, n, x), 0);
    assert_true(lpt_stats_overflow_at(&h, 8, fl) == 0.0);
    /* the old denominator would have allowed FL 256: the budget of all values */
    assert_true(38.0 / (double)n <= 1e-4);
    assert_true(lpt_stats_overflow_at(&h, 8, LPT_FL_MAX) == 1.0); /* every nonzero value */
    /* a dense tensor still gets its outlier budget: 1e-4 of 10^6 nonzero values */
    float *d = tu_rand(1000000, 8, 0.5f, 1.0f); /* msb -1 */
    for (int i = 0; i < 100; i++) d[i * 9973] = 100.0f; /* msb 6, exactly the budget */
    lpt_msb_hist_clear(&h);
    lpt_msb_hist_add(&h, 1000000, d);
    assert_int_equal(lpt_stats_choose_fl(&h, 8, 1e-4, LPT_FL_MIN, LPT_FL_MAX), 7);
    d[5] = 100.0f; /* one more: the budget is exceeded, the outliers set FL */
    lpt_msb_hist_clear(&h);
    lpt_msb_hist_add(&h, 1000000, d);
    assert_int_equal(lpt_stats_choose_fl(&h, 8, 1e-4, LPT_FL_MIN, LPT_FL_MAX), 8 - 2 - 6);
    free(d);
    /* the unit: an interval without nonzero values keeps the last FL */
    lpt_stats_unit u;
    lpt_stats_init(&u, 10, 1e-4);
    lpt_qformat q8 = dfp(8);
    int id = lpt_stats_register(&u, "fc1", "x", LPT_ROLE_A, &q8);
    lpt_stats_observe(&u, id, n, x);
    lpt_stats_configure(&u, 9);
    assert_int_equal(u.e[id].fl, 4);
    memset(x, 0, n * sizeof *x);
    lpt_stats_observe(&u, id, n, x);
    lpt_stats_configure(&u, 19);
    assert_int_equal(u.e[id].fl, 4);
    lpt_stats_free(&u);
    free(x);
}

/* dead tensors: an interval in which every value was zero (nonzero before), every nonzero
 * value saturated, or every nonzero value was quantized to zero gives an event record
 * and a message naming the layer and the tensor */
static void test_dead_tensor_events(void **s) {
    (void)s;
    lpt_stats_unit u;
    lpt_stats_init(&u, 10, 1e-4);
    lpt_qformat q8 = dfp(8);
    const int a = lpt_stats_register(&u, "fc1", "x", LPT_ROLE_A, &q8);
    const int b = lpt_stats_register(&u, "conv2", "dy", LPT_ROLE_G, &q8);
    const int c = lpt_stats_register(&u, "fc2", "y", LPT_ROLE_A, &q8);
    float v[4] = {1.0f, -2.0f, 0.0f, 0.5f}, z[4] = {0};
    lpt_stats_observe(&u, a, 4, v);
    lpt_stats_observe(&u, b, 4, v);
    lpt_stats_observe(&u, c, 4, v);
    lpt_stats_configure(&u, 9);
    assert_null(lpt_stats_take_events(&u)); /* healthy */
    lpt_stats_observe(&u, a, 4, z);       /* fc1 x: all zero now */
    lpt_stats_observe(&u, b, 4, v);       /* conv2 dy: every nonzero value saturated */
    lpt_qstats all_sat = {.out_of_range = 3};
    lpt_stats_count(&u, b, &all_sat);
    lpt_stats_observe(&u, c, 4, v); /* fc2 y: every nonzero value became zero */
    lpt_qstats all_under = {.underflow = 3};
    lpt_stats_count(&u, c, &all_under);
    u.log.len = 0;
    lpt_stats_configure(&u, 19);
    char *ev = lpt_stats_take_events(&u);
    assert_non_null(ev);
    assert_int_equal(tu_lines(ev), 3);
    assert_non_null(strstr(ev, "layer fc1 tensor x (dfp8): every value was zero over global steps 11-20 (nonzero before)"));
    assert_non_null(strstr(ev, "layer conv2 tensor dy (dfp8): every nonzero value saturated"));
    assert_non_null(strstr(ev, "layer fc2 tensor y (dfp8): every nonzero value was quantized to zero"));
    free(ev);
    assert_null(lpt_stats_take_events(&u));
    lpt_buf_put(&u.log, "", 1);
    const char *log = (const char *)u.log.data;
    assert_non_null(strstr(log, "{\"step\": 19, \"event\": \"all_zero\", \"layer\": \"fc1\", \"tensor\": \"x\""));
    assert_non_null(strstr(log, "\"event\": \"all_saturated\", \"layer\": \"conv2\""));
    assert_non_null(strstr(log, "\"event\": \"all_underflow\", \"layer\": \"fc2\""));
    assert_int_equal(tu_lines(log), 6); /* three records and three events */
    u.log.len = 0;
    /* a run that ends inside an interval logs it, marked partial; nothing when empty */
    lpt_stats_observe(&u, a, 4, v);
    lpt_stats_finish(&u, 23);
    lpt_buf_put(&u.log, "", 1);
    assert_non_null(strstr((const char *)u.log.data, "\"step\": 23,"));
    assert_non_null(strstr((const char *)u.log.data, "\"partial\": true}"));
    u.log.len = 0;
    lpt_stats_finish(&u, 24);
    assert_int_equal(u.log.len, 0);
    lpt_stats_free(&u);
}

/* a checkpoint of an earlier build: stats_entry lines without the later fields (they take
 * their defaults), and the first layer's dx entry that build registered (skipped) */
static void test_state_of_earlier_builds(void **s) {
    (void)s;
    lpt_stats_unit u;
    lpt_stats_init(&u, 50, 1e-4);
    lpt_qformat q8 = dfp(8);
    const char *t[] = {"x", "w", "y", "dy"};
    for (int i = 0; i < 4; i++) lpt_stats_register(&u, "conv1", t[i], i == 1 ? LPT_ROLE_W : i == 3 ? LPT_ROLE_G : LPT_ROLE_A, &q8);
    const int dx2 = lpt_stats_register(&u, "conv2", "dx", LPT_ROLE_G, &q8);
    const char *old = "epoch=1\n"
                      "stats_entry=conv1 x 8 5 1 0x1p-10 3 1 2 0 4\n"
                      "stats_cur=conv1 x 3 1 0 0x1p+1 p161:2\n"
                      "stats_hist=conv1 x 0 49 5 8 100 10 0 0x1p+1 0x0p+0 0x1p-4\n"
                      "stats_entry=conv1 dx 8 7 0 0x0p+0 0 0 0 0 0\n"
                      "stats_cur=conv1 dx 0 0 0 0x0p+0\n"
                      "stats_entry=conv2 dx 8 13 1 0x0p+0 0 0 0 0 2\n";
    assert_int_equal(lpt_stats_check(old), 0);
    assert_int_equal(lpt_stats_load(&u, old), 0);
    assert_int_equal(u.e[0].fl, 5);
    assert_int_equal(u.e[0].recomputes, 3);
    assert_int_equal(u.e[0].nsummary, 4);
    assert_int_equal(u.e[0].collapses, 0);
    assert_true(u.e[0].ever_nonzero); /* unknown: taken as seen */
    assert_int_equal(u.e[0].cur.count, 3);
    assert_int_equal(u.e[0].summary[0].step, 49);
    assert_int_equal(u.e[dx2].fl, 13);
    /* but an entry this model does not have, other than such a dx, is an error */
    assert_int_equal(lpt_stats_load(&u, "stats_entry=fc9 x 8 5 1 0x0p+0 0 0 0 0 1\n"), -1);
    assert_non_null(strstr(lpt_error_get(), "stats_entry=fc9 x"));
    /* and a history count that would wrap the ring index negative is refused */
    assert_int_equal(lpt_stats_check("stats_entry=conv1 x 8 5 1 0x0p+0 0 0 0 0 2147483647\n"), -1);
    lpt_stats_free(&u);
}

/* a quantization point's stochastic-rounding stream comes from its layer name and
 * tensor, not from the order of registration */
static void test_sr_stream_by_name(void **state) {
    (void)state;
    const lpt_qformat d8 = {.fmt = LPT_FMT_DFP, .width = 8, .round = LPT_ROUND_SR, .ovf = LPT_OVF_SAT};
    lpt_stats_unit a, b;
    lpt_stats_init(&a, 10, 1e-4), lpt_stats_init(&b, 10, 1e-4);
    const char *names[][2] = {{"conv1", "x"}, {"conv1", "dy"}, {"fc1", "x"}, {"fc1", "w"}, {"conv1x", ""}};
    int ia[5], ib[5];
    for (int i = 0; i < 5; i++) ia[i] = lpt_stats_register(&a, names[i][0], names[i][1], LPT_ROLE_A, &d8);
    for (int i = 4; i >= 0; i--) ib[i] = lpt_stats_register(&b, names[i][0], names[i][1], LPT_ROLE_A, &d8);
    for (int i = 0; i < 5; i++) {
        assert_true(ia[i] != ib[i] || i == 2); /* other ids ... */
        assert_true(a.e[ia[i]].stream == b.e[ib[i]].stream); /* ... the same stream */
        for (int j = 0; j < i; j++) assert_true(a.e[ia[i]].stream != a.e[ia[j]].stream);
    }
    /* "conv1" + "x" and "conv1x" + "" differ: the names are separated */
    assert_true(lpt_stats_stream("conv1", "x") != lpt_stats_stream("conv1x", ""));
    lpt_stats_free(&a), lpt_stats_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_of_earlier_builds),
        cmocka_unit_test(test_sparse_tensor_keeps_its_range),
        cmocka_unit_test(test_dead_tensor_events),
        cmocka_unit_test(test_histogram_brute_force),
        cmocka_unit_test(test_histogram_windowed),
        cmocka_unit_test(test_fl_rule),
        cmocka_unit_test(test_unit_all_zeros_and_auto_width),
        cmocka_unit_test(test_jsonl_schema_and_history),
        cmocka_unit_test(test_sr_stream_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
