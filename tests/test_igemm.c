/* test_igemm.c - integer GEMM with a bounded accumulator: the fast path equals the
 * reference bit for bit on every registered backend, through its own memory (including
 * overflow counts), and the reference is checked by
 * independent means: wrap equals the exact sum modulo 2^A (wrapping is associative),
 * saturation of monotone sums, a hand-worked order-dependent case, and reduction lengths
 * that overflow a 32-bit accumulator. */
#include <stdlib.h>
#include <string.h>

#include "src/base/rng.h"
#include "src/base/util.h"
#include "tests/testutil.h"

/* The integer GEMM of backend be through its own memory: C (m, n) into c, and the
 * overflow count read back from its result slot. */
static uint64_t igemm_count(lpt_backend *be, int ta, int tb, int m, int n, int k, const int32_t *a, int lda,
                            const int32_t *b, int ldb, const int64_t *bias, int in_bits, int acc_bits, int wrap,
                            int64_t *c, int ldc) {
    tu_dev d = {.be = be};
    const size_t an = (size_t)(ta ? k : m) * lda, bn = (size_t)(tb ? n : k) * ldb, cn = (size_t)m * ldc;
    uint64_t overflows = 0, *dov = tu_din(&d, &overflows, sizeof overflows);
    int64_t *dc = tu_dnew(&d, cn * sizeof *c);
    be->igemm(be, ta, tb, m, n, k, tu_din(&d, a, an * 4), lda, tu_din(&d, b, bn * 4), ldb,
              bias ? tu_din(&d, bias, (size_t)n * 8) : NULL, in_bits, acc_bits, wrap, dc, ldc, dov);
    tu_dget(&d, c, dc, cn * sizeof *c);
    tu_dget(&d, &overflows, dov, sizeof overflows);
    tu_dfree(&d);
    return overflows;
}

static int32_t *codes(size_t n, int bits, uint64_t seed) {
    int32_t *c = lpt_xmalloc(n * 4);
    const int64_t span = (int64_t)1 << bits;
    for (size_t i = 0; i < n; i++) c[i] = (int32_t)((int64_t)(lpt_rng_bits(seed, 3, i) % (uint64_t)span) - span / 2);
    return c;
}

static void compare(int ta, int tb, int m, int n, int k, int bits, int acc, int wrap, int with_bias, uint64_t seed) {
    int lda = ta ? m : k, ldb = tb ? k : n;
    int32_t *a = codes((size_t)m * k, bits, seed), *b = codes((size_t)k * n, bits, seed + 1);
    int64_t *bias = NULL;
    if (with_bias) {
        bias = lpt_xmalloc((size_t)n * 8);
        for (int j = 0; j < n; j++) bias[j] = (int64_t)(lpt_rng_bits(seed, 4, (uint64_t)j) % 100000) - 50000;
    }
    int64_t *c0 = lpt_xmalloc((size_t)m * n * 8), *c1 = lpt_xmalloc((size_t)m * n * 8);
    uint64_t o0 = igemm_count(tu_ref, ta, tb, m, n, k, a, lda, b, ldb, bias, bits, acc, wrap, c0, n);
    for (int u = 0; u < tu_n_under; u++) {
        if (tu_lacks(tu_under[u], LPT_OP_IGEMM, LPT_FMT_DFP)) continue;
        uint64_t o1 = igemm_count(tu_under[u], ta, tb, m, n, k, a, lda, b, ldb, bias, bits, acc, wrap, c1, n);
        if (o0 != o1 || memcmp(c0, c1, (size_t)m * n * 8) != 0)
            fail_msg("%s igemm ta=%d tb=%d %dx%dx%d int%d acc%d %s: differs from the reference", tu_under[u]->name, ta,
                     tb, m, n, k, bits, acc, wrap ? "wrap" : "sat");
    }
    /* wrap: the exact sum modulo 2^A, whatever the order */
    if (wrap) {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                __int128 s = bias ? bias[j] : 0;
                for (int p = 0; p < k; p++)
                    s += (__int128)(ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                         (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
                unsigned __int128 u = (unsigned __int128)s & (((unsigned __int128)1 << acc) - 1);
                if (u >> (acc - 1)) u -= (unsigned __int128)1 << acc;
                assert_true((int64_t)(__int128)u == c0[(size_t)i * n + j]);
            }
    }
    free(a), free(b), free(bias), free(c0), free(c1);
}

static void test_fast_equals_reference(void **s) {
    (void)s;
    const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {6, 784, 25}, {16, 100, 150}, {64, 120, 400}, {33, 17, 1000}};
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 4; t++)
            for (int w = 0; w < 2; w++) {
                /* int8 in 32 bits and int16 in 48 bits: the fast path (the bound holds) */
                compare(t & 1, t >> 1, shapes[i][0], shapes[i][1], shapes[i][2], 8, 32, w, (int)(i & 1), seed++);
                compare(t & 1, t >> 1, shapes[i][0], shapes[i][1], shapes[i][2], 16, 48, w, (int)(i & 1), seed++);
                /* narrow accumulators overflow: the reference order */
                compare(t & 1, t >> 1, shapes[i][0], shapes[i][1], shapes[i][2], 8, 16, w, (int)(i & 1), seed++);
                compare(t & 1, t >> 1, shapes[i][0], shapes[i][1], shapes[i][2], 4, 9, w, 0, seed++);
            }
}

static void test_saturation_order(void **s) {
    (void)s;
    /* A = 8 bits: 100 + 100 saturates to 127, then - 100 gives 27 (the exact sum is 100) */
    int32_t a[3] = {10, 10, -10}, b[3] = {10, 10, 10};
    int64_t c;
    assert_int_equal(igemm_count(tu_ref, 0, 0, 1, 1, 3, a, 3, b, 1, NULL, 5, 8, 0, &c, 1), 1);
    assert_int_equal(c, 27);
    for (int u = 0; u < tu_n_under; u++) {
        if (tu_lacks(tu_under[u], LPT_OP_IGEMM, LPT_FMT_DFP)) continue;
        assert_int_equal(igemm_count(tu_under[u], 0, 0, 1, 1, 3, a, 3, b, 1, NULL, 5, 8, 0, &c, 1), 1);
        assert_int_equal(c, 27);
    }
    /* wrap: 200 - 256 = -56, then - 100 = -156 + 256 = 100: the exact sum */
    assert_int_equal(igemm_count(tu_ref, 0, 0, 1, 1, 3, a, 3, b, 1, NULL, 5, 8, 1, &c, 1), 1);
    assert_int_equal(c, 100);
    /* the bias starts the accumulator, in its domain */
    int64_t bias = 120;
    int32_t one = 1, five = 5;
    assert_int_equal(igemm_count(tu_ref, 0, 0, 1, 1, 1, &one, 1, &five, 1, &bias, 4, 8, 0, &c, 1), 0);
    assert_int_equal(c, 125);
    bias = 200; /* a bias beyond the accumulator saturates at once */
    assert_int_equal(igemm_count(tu_ref, 0, 0, 1, 1, 1, &one, 1, &five, 1, &bias, 4, 8, 0, &c, 1), 1);
    assert_int_equal(c, 127);
}

static void test_long_reductions_overflow_32_bits(void **s) {
    (void)s;
    /* int8 codes -128 * -128 = 16384 each; 140000 of them = 2.29e9 > 2^31 - 1 */
    const int k = 140000;
    int32_t *a = lpt_xmalloc((size_t)k * 4), *b = lpt_xmalloc((size_t)k * 4);
    for (int p = 0; p < k; p++) a[p] = b[p] = -128;
    int64_t c0, c1;
    /* saturation: a monotone sum sticks at the top */
    assert_int_equal(igemm_count(tu_ref, 0, 0, 1, 1, k, a, k, b, 1, NULL, 8, 32, 0, &c0, 1), 1);
    assert_true(c0 == 2147483647);
    for (int u = 0; u < tu_n_under; u++) {
        if (tu_lacks(tu_under[u], LPT_OP_IGEMM, LPT_FMT_DFP)) continue;
        assert_int_equal(igemm_count(tu_under[u], 0, 0, 1, 1, k, a, k, b, 1, NULL, 8, 32, 0, &c1, 1), 1);
        assert_true(c1 == c0);
    }
    /* wrap: the exact sum modulo 2^32 */
    igemm_count(tu_ref, 0, 0, 1, 1, k, a, k, b, 1, NULL, 8, 32, 1, &c0, 1);
    assert_true(c0 == (int64_t)(int32_t)(uint32_t)((uint64_t)k * 16384u));
    /* 48 bits holds it: any order (a backend's fast path) gives the exact sum */
    for (int u = 0; u < tu_n_under; u++) {
        if (tu_lacks(tu_under[u], LPT_OP_IGEMM, LPT_FMT_DFP)) continue;
        assert_int_equal(igemm_count(tu_under[u], 0, 0, 1, 1, k, a, k, b, 1, NULL, 8, 48, 0, &c1, 1), 0);
        assert_true(c1 == (int64_t)k * 16384);
    }
    /* 64-bit accumulators work too */
    assert_int_equal(igemm_count(tu_ref, 0, 0, 1, 1, k, a, k, b, 1, NULL, 8, 64, 1, &c0, 1), 0);
    assert_true(c0 == (int64_t)k * 16384);
    free(a);
    free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_equals_reference),
        cmocka_unit_test(test_saturation_order),
        cmocka_unit_test(test_long_reductions_overflow_32_bits),
    };
    return cmocka_run_group_tests(tests, tu_backends_setup, tu_backends_teardown);
}
