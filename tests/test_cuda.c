/* test_cuda.c - end to end on the GPU: LeNet-5 trains on Fashion-MNIST with --backend
 * cuda in fp32, fp16 and bf16; a run replayed from CUDA graphs gives what the same run
 * queued op by op gives, and reading the loss every 16 steps what reading it every step gives; the checkpoint it writes evaluates the same with lpt eval on the
 * GPU and on the CPU; 16-bit products too large for one pass through the backend's 16-bit
 * workspace, split into blocks of columns, agree with the float32 product. The operations themselves are checked against the reference in
 * test_backend_ops and test_backend_dfp, the gradients in test_gradcheck (every backend
 * that starts). Without a GPU (or without the data) the test says why and is skipped
 * (exit status 77, ctest's SKIP_RETURN_CODE). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "src/base/rng.h"
#include "src/base/util.h"
#include "src/train.h"
#include "tests/testutil.h"

static double metric(const char *metrics, const char *key) {
    size_t n;
    char *m = lpt_file_read_all(metrics, &n);
    assert_non_null(m);
    char pat[64], *last = NULL;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    for (char *p = strstr(m, pat); p; p = strstr(p + 1, pat)) last = p;
    assert_non_null(last);
    const double v = strtod(last + strlen(pat), NULL);
    free(m);
    return v;
}

/* 2 epochs on 6000 images: chance is 10%, the CPU reaches about 78% */
static void run(const char *dir, const char *precision, const char *graph, int read_every, const char *tag) {
    lpt_train_cfg c;
    lpt_train_cfg_defaults(&c);
    snprintf(c.backend, sizeof c.backend, "cuda");
    snprintf(c.precision, sizeof c.precision, "%s", precision);
    snprintf(c.cuda_graph, sizeof c.cuda_graph, "%s", graph);
    c.read_every = read_every;
    c.epochs = 2;
    c.train_limit = 6000;
    c.test_limit = 2000;
    c.quiet = 1;
    c.progress = 0;
    snprintf(c.metrics_out, sizeof c.metrics_out, "%s/%s.jsonl", dir, tag);
    snprintf(c.checkpoint, sizeof c.checkpoint, "%s/%s.ckpt", dir, tag);
    assert_int_equal(lpt_train_run(&c), 0);
    const double acc = metric(c.metrics_out, "test_acc");
    print_message("cuda %s (graphs %s): test accuracy %.4f\n", precision, graph, acc);
    if (!(acc >= 0.70)) fail_msg("LeNet-5 %s on cuda: test accuracy %.4f after 2 epochs on 6000 images", precision, acc);
}

static double eval_acc(const char *ckpt, const char *backend) {
    char *out, *err;
    char *argv[] = {LPT_BINARY, "eval", "--checkpoint", (char *)ckpt, "--test-limit", "2000", "--backend", (char *)backend,
                    NULL};
    if (tu_run(argv, &out, &err) != 0) fail_msg("lpt eval --backend %s: %s", backend, err);
    char *p = strstr(out, "\"test_acc\": ");
    assert_non_null(p);
    const double acc = strtod(p + 12, NULL);
    free(out);
    free(err);
    return acc;
}

static void test_fp32_graphs_and_eval(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), path[600];
    run(dir, "fp32", "on", 0, "g");
    run(dir, "fp32", "off", 0, "e");
    run(dir, "fp32", "on", 1, "r"); /* the loss read after every step, not every 16 */
    snprintf(path, sizeof path, "%s/g.jsonl", dir);
    const double acc_g = metric(path, "test_acc"), loss_g = metric(path, "test_loss");
    snprintf(path, sizeof path, "%s/e.jsonl", dir);
    /* the same kernels in the same order, reductions in a fixed order: the same numbers */
    assert_true(acc_g == metric(path, "test_acc"));
    assert_true(loss_g == metric(path, "test_loss"));
    snprintf(path, sizeof path, "%s/r.jsonl", dir);
    assert_true(acc_g == metric(path, "test_acc"));
    assert_true(loss_g == metric(path, "test_loss"));
    snprintf(path, sizeof path, "%s/g.ckpt", dir);
    assert_true(fabs(eval_acc(path, "cuda") - acc_g) < 1e-9);
    /* the checkpoint is portable: the CPU computes the same network to float32 rounding */
    assert_true(fabs(eval_acc(path, "cpu") - acc_g) <= 0.002);
    tu_rmtree(dir);
}

static void test_fp16_bf16(void **s) {
    (void)s;
    char *dir = tu_tmpdir();
    run(dir, "fp16", "on", 0, "h");
    run(dir, "bf16", "on", 0, "b");
    tu_rmtree(dir);
}

/* gemm_lp of operands larger than the 16-bit workspace (64 Mi values): op(A) whole and B
 * in blocks of columns, then both in blocks; the same exact products as the float32 GEMM,
 * added in another order */
static void gemm_lp_blocks(lpt_backend *be, int m, int n, int k) {
    const size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *host = lpt_xmalloc((na + nb) * sizeof *host), *c0 = lpt_xmalloc(nc * 4), *c1 = lpt_xmalloc(nc * 4);
    for (size_t i = 0; i < na + nb; i++) host[i] = (float)((int)(lpt_rng_bits(5, 0, i) >> 56) - 128) / 128.0f;
    float *a = be->alloc(be, na * 4), *b = be->alloc(be, nb * 4), *c = be->alloc(be, nc * 4);
    assert_true(a && b && c);
    be->to_device(be, a, host, na * 4);
    be->to_device(be, b, host + na, nb * 4);
    for (int t = 0; t < 4; t++) {
        const int ta = t & 1, tb = t >> 1;
        be->gemm(be, ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n);
        be->to_host(be, c0, c, nc * 4);
        for (int f = 0; f < 2; f++) {
            const lpt_format fmt = f ? LPT_FMT_BF16 : LPT_FMT_FP16;
            be->gemm_lp(be, fmt, ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n);
            be->to_host(be, c1, c, nc * 4);
            const double e = tu_norm_err(c1, c0, nc);
            print_message("gemm_lp %s %dx%dx%d ta=%d tb=%d: error %.3g vs float32\n", f ? "bf16" : "fp16", m, n, k,
                          ta, tb, e);
            if (!(e <= 1e-5)) fail_msg("gemm_lp in blocks: error %g", e);
        }
    }
    be->free(be, a), be->free(be, b), be->free(be, c);
    free(host), free(c0), free(c1);
}

static void test_gemm_lp_blocks(void **s) {
    (void)s;
    lpt_backend *be = lpt_backend_create("cuda", 1);
    assert_non_null(be);
    gemm_lp_blocks(be, 64, 1000, 131072); /* A whole, B in 3 blocks */
    gemm_lp_blocks(be, 600, 300, 131072); /* A in 3 blocks of rows, B in 2 */
    gemm_lp_blocks(be, 5, 7, 3);          /* one block each, narrow */
    lpt_backend_destroy(be);
}

int main(void) {
    lpt_backend *be = lpt_backend_create("cuda", 1);
    if (!be) {
        printf("SKIPPED: the cuda backend cannot start here: %s\n", lpt_error_get());
        return 77;
    }
    lpt_backend_destroy(be);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_lp_blocks),
    };
    const struct CMUnitTest training[] = {
        cmocka_unit_test(test_fp32_graphs_and_eval),
        cmocka_unit_test(test_fp16_bf16),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (!tu_have_fashion_mnist()) {
        printf("SKIPPED: %s is missing (apt-get install dataset-fashion-mnist)\n", LPT_DEFAULT_DATA);
        return failed;
    }
    return failed + cmocka_run_group_tests(training, NULL, NULL);
}
