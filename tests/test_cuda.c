/* test_cuda.c - end to end on the GPU: LeNet-5 trains on Fashion-MNIST with --backend
 * cuda in fp32, fp16 and bf16; a run replayed from CUDA graphs gives what the same run
 * queued op by op gives; the checkpoint it writes evaluates the same with lpt eval on the
 * GPU and on the CPU. The operations themselves are checked against the reference in
 * test_backend_ops and test_backend_dfp, the gradients in test_gradcheck (every backend
 * that starts). Without a GPU (or without the data) the test says why and is skipped
 * (exit status 77, ctest's SKIP_RETURN_CODE). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static void run(const char *dir, const char *precision, const char *graph, const char *tag) {
    lpt_train_cfg c;
    lpt_train_cfg_defaults(&c);
    snprintf(c.backend, sizeof c.backend, "cuda");
    snprintf(c.precision, sizeof c.precision, "%s", precision);
    snprintf(c.cuda_graph, sizeof c.cuda_graph, "%s", graph);
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
    run(dir, "fp32", "on", "g");
    run(dir, "fp32", "off", "e");
    snprintf(path, sizeof path, "%s/g.jsonl", dir);
    const double acc_g = metric(path, "test_acc"), loss_g = metric(path, "test_loss");
    snprintf(path, sizeof path, "%s/e.jsonl", dir);
    /* the same kernels in the same order: the same weights; the loss sums (double atomics)
     * may differ in their last bits */
    assert_true(acc_g == metric(path, "test_acc"));
    assert_true(fabs(loss_g - metric(path, "test_loss")) <= 1e-9 * fabs(loss_g));
    snprintf(path, sizeof path, "%s/g.ckpt", dir);
    assert_true(fabs(eval_acc(path, "cuda") - acc_g) < 1e-9);
    /* the checkpoint is portable: the CPU computes the same network to float32 rounding */
    assert_true(fabs(eval_acc(path, "cpu") - acc_g) <= 0.002);
    tu_rmtree(dir);
}

static void test_fp16_bf16(void **s) {
    (void)s;
    char *dir = tu_tmpdir();
    run(dir, "fp16", "on", "h");
    run(dir, "bf16", "on", "b");
    tu_rmtree(dir);
}

int main(void) {
    lpt_backend *be = lpt_backend_create("cuda", 1);
    if (!be) {
        printf("SKIPPED: the cuda backend cannot start here: %s\n", lpt_error_get());
        return 77;
    }
    lpt_backend_destroy(be);
    if (!tu_have_fashion_mnist()) {
        printf("SKIPPED: %s is missing (apt-get install dataset-fashion-mnist)\n", LPT_DEFAULT_DATA);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp32_graphs_and_eval),
        cmocka_unit_test(test_fp16_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
