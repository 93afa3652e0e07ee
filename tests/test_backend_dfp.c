/* test_backend_dfp.c - the quantization point, the exact products and the dynamic
 * fixed-point entries of every registered backend against the "ref" backend, through
 * each backend's own memory: values, quantizer counters, histograms and products bit
 * for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/ref.h"
#include "quant/quant.h"
#include "src/base/isa.h"
#include "src/base/util.h"
#include "tests/testutil.h"

/* one shape and pair of widths: every backend (2 threads and 1) equals the reference */
static void gemm_exact_case(int m, int n, int k, int ta, int tb, int wa, int wb, uint64_t seed, const char *level) {
    const int lda = ta ? m : k, ldb = tb ? k : n;
    const size_t an = (size_t)m * (k ? k : 1), bn = (size_t)(k ? k : 1) * n, cs = (size_t)m * n * 4;
    float *a = tu_rand(an, 60 + seed, -ldexpf(1, wa - 1), ldexpf(1, wa - 1));
    float *b = tu_rand(bn, 70 + seed, -ldexpf(1, wb - 1), ldexpf(1, wb - 1));
    for (size_t i = 0; i < an; i++) a[i] = ldexpf(floorf(a[i]), -13);
    for (size_t i = 0; i < bn; i++) b[i] = ldexpf(floorf(b[i]), -20);
    float *c0 = lpt_xmalloc(cs), *c1 = lpt_xmalloc(cs);
    tu_ref->gemm_exact(tu_ref, wa, wb, ta, tb, m, n, k, a, lda, b, ldb, c0, n);
    for (int u = 0; u < tu_n_under; u++)
        for (int t = 0; t < 2; t++) {
            lpt_backend *be = t ? tu_under1[u] : tu_under[u];
            if (tu_lacks(be, LPT_OP_IGEMM, LPT_FMT_DFP)) continue;
            tu_dev d = {.be = be};
            float *dc = tu_dnew(&d, cs);
            be->gemm_exact(be, wa, wb, ta, tb, m, n, k, tu_din(&d, a, an * 4), lda, tu_din(&d, b, bn * 4), ldb, dc, n);
            tu_dget(&d, c1, dc, cs);
            tu_dfree(&d);
            if (memcmp(c0, c1, cs))
                fail_msg("%s gemm_exact dfp%d x dfp%d m=%d n=%d k=%d ta=%d tb=%d (%s, %d threads) differs "
                         "from the reference", be->name, wa, wb, m, n, k, ta, tb, level, be->threads);
        }
    free(a), free(b), free(c0), free(c1);
}

/* gemm_exact on dfp grid values (codes times 2^-FL): every partial sum is exact, so each
 * way a backend takes (on the CPU: float GEMM, float chunks summed in double, the
 * AVX-512 and AVX2 kernels that widen in registers, the portable tiled double GEMM; one and two
 * threads, with their column, row and split-K splits) equals the reference bit for bit.
 * The shapes reach every register-tile class of the kernels (rows up to 6, 12, 24 and
 * more, with ragged ends), reductions in several chunks and with tails, and ragged
 * columns. */
static void test_gemm_exact(void **state) {
    (void)state;
    const int shapes[][3] = {{16, 6400, 150}, {150, 6400, 16}, {16, 150, 6400}, {6, 9, 50000}, {7, 5, 3},
                             {64, 120, 400},  {200, 20, 300},  {1, 1, 1},       {3, 4, 0},    {13, 37, 2500},
                             {24, 100, 1100}, {9, 33, 77},     {30, 3, 4099}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const int widths[][2] = {{16, 16}, {8, 8}, {8, 6}, {4, 4}, {12, 8}};
    const char *levels[] = {"x86-64-v4", "x86-64-v3", "base"};
    for (int lv = 0; lv < 3; lv++) {
        if (lpt_isa_set(levels[lv]) != 0) {
            print_message("gemm_exact: this CPU lacks %s, its kernels are not tested here\n", levels[lv]);
            continue;
        }
        for (int si = 0; si < nshapes; si++)
            for (int t = 0; t < 4; t++)
                for (int wi = 0; wi < 5; wi++)
                    gemm_exact_case(shapes[si][0], shapes[si][1], shapes[si][2], t & 1, t >> 1, widths[wi][0],
                                    widths[wi][1], (uint64_t)si, levels[lv]);
    }
    lpt_isa_set("best");
}

/* quant_observe: values, quantizer counters and histograms equal, for sizes that use one
 * block, several, and the threaded split (with a ragged end), in place and not */
/* one format and tensor: the reference against every backend (2 threads; 1 thread in
 * place), values, counters and histograms bit for bit */
static void quant_case(const char *spec, const lpt_qformat *q, size_t n, const float *x) {
    const lpt_rng_key key = {.seed = 3, .stream = 7, .step = 11, .index0 = 0};
    const int fl = 5;
    float *y0 = lpt_xmalloc(n * 4), *y1 = lpt_xmalloc(n * 4);
    lpt_qresult r0, r1;
    memset(&r0, 0, sizeof r0);
    tu_ref->quant_observe(tu_ref, q, fl, &key, n, x, y0, &r0.counts, &r0.hist);
    if (q->fmt == LPT_FMT_DFP && q->width == 8 && q->round == LPT_ROUND_RNE && n > 4096)
        assert_true(r0.counts.out_of_range > 0 && r0.counts.nonfinite > 0 && r0.hist.zeros > 0);
    for (int u = 0; u < tu_n_under; u++)
        for (int t = 0; t < 2; t++) {
            lpt_backend *be = t ? tu_under1[u] : tu_under[u];
            if (tu_lacks(be, LPT_OP_QUANTIZE, q->fmt)) continue;
            tu_dev d = {.be = be};
            memset(&r1, 0, sizeof r1);
            lpt_qresult *dr = tu_din(&d, &r1, sizeof r1);
            float *dx = tu_din(&d, x, n * 4), *dy = t ? dx : tu_dnew(&d, n * 4); /* 1 thread: in place */
            be->quant_observe(be, q, fl, &key, n, dx, dy, &dr->counts, &dr->hist);
            tu_dget(&d, y1, dy, n * 4);
            tu_dget(&d, &r1, dr, sizeof r1);
            if (memcmp(y0, y1, n * 4))
                fail_msg("%s %s n=%zu (%d threads): quantized values differ from the reference", be->name, spec, n,
                         be->threads);
            assert_memory_equal(&r0.counts, &r1.counts, sizeof r0.counts);
            assert_memory_equal(&r0.hist, &r1.hist, sizeof r0.hist);
            char op[48];
            snprintf(op, sizeof op, "quant_observe %s", spec);
            tu_note(be->name, op, 0.0); /* values, counters and histogram equal */
            /* without a histogram: the same values */
            be->quant_observe(be, q, fl, &key, n, tu_din(&d, x, n * 4), dy, &dr->counts, NULL);
            tu_dget(&d, y1, dy, n * 4);
            assert_memory_equal(y0, y1, n * 4);
            tu_dfree(&d);
        }
    free(y0), free(y1);
}

/* quant_observe: values, quantizer counters and histograms equal, for sizes that use one
 * block, several, and the threaded split (with a ragged end), in place and not */
static void test_quant_observe(void **state) {
    (void)state;
    const char *specs[] = {"dfp8", "dfp8:sr", "dfp16:rtz:wrap", "dfp4", "fp16", "bf16:sr", "fp8-e4m3", "fp32", NULL};
    const size_t sizes[] = {1, 4095, 4097, 3 * 65536 + 77};
    for (int f = 0; specs[f]; f++) {
        lpt_qformat q;
        assert_int_equal(lpt_qformat_parse(specs[f], &q), 0);
        for (int z = 0; z < 4; z++) {
            const size_t n = sizes[z];
            float *x = tu_rand(n, 40 + (uint64_t)z, -3, 3);
            for (size_t i = 0; i < n; i += 13) x[i] = 0.0f;     /* zeros, as after ReLU */
            for (size_t i = 5; i < n; i += 101) x[i] *= 1e-30f; /* tiny, some subnormal */
            for (size_t i = 9; i < n; i += 1009) x[i] = i % 2 ? NAN : -INFINITY;
            for (size_t i = 3; i < n; i += 211) x[i] *= 300.0f; /* overflow at FL 5 for dfp8 */
            quant_case(specs[f], &q, n, x);
            free(x);
        }
    }
}

/* dfp products through the table (dfp_gemm, with to_codes, igemm and from_acc when the
 * accumulator is narrow), and the bias in the accumulator's units */
static void test_dfp_entries(void **state) {
    (void)state;
    const int m = 5, n = 7, k = 300;
    float *a = tu_rand((size_t)m * k, 80, -128, 128), *b = tu_rand((size_t)k * n, 81, -128, 128);
    for (int i = 0; i < m * k; i++) a[i] = ldexpf(floorf(a[i]), -3);
    for (int i = 0; i < k * n; i++) b[i] = ldexpf(floorf(b[i]), -6);
    float c0[35], c1[35], bias[7], q0[7], q1[7];
    for (int j = 0; j < n; j++) bias[j] = 0.37f * (float)(j - 3);
    const int fls[2] = {3, 6};
    for (int acc = 16; acc <= 32; acc += 16) { /* 16: overflows, the reference order; 32: exact */
        uint64_t o0 = 0, o1 = 0;
        const lpt_dfp_operand da = {8, &fls[0]}, db = {8, &fls[1]}; /* FLs in host memory: the reference's */
        tu_ref->dfp_gemm(tu_ref, da, db, acc, 0, 0, m, n, k, a, k, b, n, c0, n, &o0);
        assert_true(acc == 16 ? o0 > 0 : o0 == 0);
        tu_ref->bias_to_acc(tu_ref, n, bias, &fls[0], &fls[1], acc, q0);
        TU_EACH_BACKEND(be, d) {
            if (tu_lacks(be, LPT_OP_IGEMM, LPT_FMT_DFP)) continue;
            uint64_t *dov = tu_din(&d, &o1, sizeof o1);
            float *dc = tu_dnew(&d, sizeof c1), *dq = tu_dnew(&d, sizeof q1);
            const int *dfl = tu_din(&d, fls, sizeof fls);
            const lpt_dfp_operand dda = {8, dfl}, ddb = {8, dfl + 1};
            be->dfp_gemm(be, dda, ddb, acc, 0, 0, m, n, k, tu_din(&d, a, (size_t)m * k * 4), k,
                         tu_din(&d, b, (size_t)k * n * 4), n, dc, n, dov);
            tu_dget(&d, c1, dc, sizeof c1);
            tu_dget(&d, &o1, dov, sizeof o1);
            assert_memory_equal(c0, c1, sizeof c0);
            assert_int_equal(o0, o1);
            o1 = 0;
            be->bias_to_acc(be, n, tu_din(&d, bias, sizeof bias), dfl, dfl + 1, acc, dq);
            tu_dget(&d, q1, dq, sizeof q1);
            assert_memory_equal(q0, q1, sizeof q0);
        }
    }
    for (int j = 0; j < n; j++) assert_true(q0[j] == ldexpf(rintf(ldexpf(bias[j], 9)), -9));
    free(a), free(b);
}

/* quantized tensors stored as codes of their format's width: pack and unpack of every
 * backend equal the reference's bytes, and give the grid values back */
static void test_pack_unpack(void **state) {
    (void)state;
    const char *specs[] = {"dfp8", "dfp4", "dfp12", "dfp16", "dfp24", "fp16", "bf16", "fp8-e4m3", "fp8-e5m2", NULL};
    const size_t n = 1001;
    for (int f = 0; specs[f]; f++) {
        lpt_qformat q;
        assert_int_equal(lpt_qformat_parse(specs[f], &q), 0);
        const int fl = q.fmt == LPT_FMT_DFP ? q.width - 3 : 0, cb = lpt_qformat_code_bytes(&q);
        assert_int_equal(cb, q.fmt == LPT_FMT_DFP ? (q.width <= 8 ? 1 : q.width <= 16 ? 2 : 4) : q.width / 8);
        float *x = tu_rand(n, 90 + (uint64_t)f, -5, 5), *g = lpt_xmalloc(n * 4), *back = lpt_xmalloc(n * 4);
        x[3] = 0.0f, x[4] = -1e-3f;
        lpt_qstats st = {0};
        lpt_quantize_ref(&q, fl, NULL, n, x, NULL, g, &st); /* the grid values */
        unsigned char *c0 = lpt_xmalloc(n * (size_t)cb), *c1 = lpt_xmalloc(n * (size_t)cb);
        tu_ref->pack(tu_ref, &q, fl, n, g, c0);
        tu_ref->unpack(tu_ref, &q, fl, n, c0, back);
        assert_memory_equal(g, back, n * 4);
        TU_EACH_BACKEND(be, d) {
            if (tu_lacks(be, LPT_OP_QUANTIZE, q.fmt)) continue;
            void *dc = tu_dnew(&d, n * (size_t)cb);
            float *dy = tu_dnew(&d, n * 4);
            be->pack(be, &q, fl, n, tu_din(&d, g, n * 4), dc);
            tu_dget(&d, c1, dc, n * (size_t)cb);
            if (memcmp(c0, c1, n * (size_t)cb)) fail_msg("%s pack %s differs from the reference", be->name, specs[f]);
            tu_note(be->name, "pack", 0.0);
            be->unpack(be, &q, fl, n, dc, dy);
            tu_dget(&d, back, dy, n * 4);
            TU_SAME(be, "unpack", g, back, n * 4);
        }
        free(x), free(g), free(back), free(c0), free(c1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_exact),
        cmocka_unit_test(test_quant_observe),
        cmocka_unit_test(test_dfp_entries),
        cmocka_unit_test(test_pack_unpack),
    };
    return cmocka_run_group_tests(tests, tu_backends_setup, tu_backends_teardown);
}
