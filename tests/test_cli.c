/* test_cli.c - the lpt command: bad arguments give one clear line on stderr and exit
 * status 2; --help works on every subcommand. Runs the built executable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* run lpt with up to 8 arguments; returns status, fills out/err */
static int lpt(char **out, char **err, const char *a0, const char *a1, const char *a2,
               const char *a3, const char *a4) {
    char *argv[8] = {(char *)LPT_BINARY};
    int n = 1;
    const char *a[] = {a0, a1, a2, a3, a4};
    for (int i = 0; i < 5 && a[i]; i++) argv[n++] = (char *)a[i];
    argv[n] = NULL;
    return tu_run(argv, out, err);
}

static void expect_usage_error(const char *a0, const char *a1, const char *a2, const char *a3,
                               const char *needle) {
    char *out, *err;
    int rc = lpt(&out, &err, a0, a1, a2, a3, NULL);
    if (rc != 2) fail_msg("lpt %s %s %s: exit %d, want 2 (stderr: %s)", a0, a1 ? a1 : "", a2 ? a2 : "", rc, err);
    if (tu_lines(err) != 1) fail_msg("lpt %s %s: want one line on stderr, got:\n%s", a0, a1 ? a1 : "", err);
    if (!strstr(err, needle)) fail_msg("stderr '%s' lacks '%s'", err, needle);
    assert_string_equal(out, "");
    free(out);
    free(err);
}

static void test_bad_arguments(void **s) {
    (void)s;
    expect_usage_error("frobnicate", NULL, NULL, NULL, "commands: train, eval, bench, quantize");
    expect_usage_error("train", "--colour", "red", NULL, "unknown option '--colour'");
    expect_usage_error("train", "--epochs", "ten", NULL, "--epochs expects an integer");
    expect_usage_error("train", "--epochs", "0", NULL, "[1, 100000]");
    expect_usage_error("train", "--batch", "-3", NULL, "--batch");
    expect_usage_error("train", "--lr", "nan", NULL, "--lr expects a number");
    expect_usage_error("train", "--lr", "1e999", NULL, "--lr");
    expect_usage_error("train", "--momentum", "1.5", NULL, "--momentum");
    expect_usage_error("train", "--seed", "-1", NULL, "--seed");
    expect_usage_error("train", "--epochs", NULL, NULL, "needs a value");
    expect_usage_error("train", "--epochs", "2", "--epochs", "more than once");
    expect_usage_error("train", "--precision", "dfp99", NULL, "2..32");
    expect_usage_error("train", "--precision", "w=dfp8,x=dfp8", NULL, "roles w");
    expect_usage_error("train", "--rounding", "up", NULL, "rne, rna, rtz, rdn, sr");
    expect_usage_error("train", "--acc-bits", "65", NULL, "--acc-bits");
    expect_usage_error("train", "--precision", "fp64", NULL, "unknown format 'fp64'");
    expect_usage_error("train", "--backend", "tpu", NULL, "available: cpu, ref");
    expect_usage_error("train", "--schedule", "linear", NULL, "const, step, cosine");
    expect_usage_error("train", "--model", "resnet999", NULL, "mlp, lenet5, vgg");
    expect_usage_error("train", "--data", "/nonexistent/lpt", NULL, "not a directory");
    expect_usage_error("train", "--resume", "/nonexistent/x.ckpt", NULL, "cannot read");
    expect_usage_error("train", "stray", NULL, NULL, "unexpected argument 'stray'");
    expect_usage_error("train", "--quiet=1", NULL, NULL, "takes no value");
    expect_usage_error("eval", NULL, NULL, NULL, "--checkpoint FILE is required");
    expect_usage_error("bench", "--threads", "1,x", NULL, "--threads");
    expect_usage_error("bench", "--backend", "gpu", NULL, "available");
}

static void test_resume_refuses_fixed_flags(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), ck[4200];
    snprintf(ck, sizeof ck, "%s/x.ckpt", dir);
    tu_write_file(ck, "x", 1);
    expect_usage_error("train", "--resume", ck, "--lr=0.1", "cannot be combined with --resume");
    expect_usage_error("train", "--resume", ck, "--overflow-rate=0.01", "cannot be combined with --resume");
    expect_usage_error("train", "--resume", ck, "--no-recompute", "cannot be combined with --resume");
    remove(ck);
    remove(dir);
    free(dir);
}

static void test_unwritable_outputs_fail_early(void **s) {
    (void)s;
    char *out, *err, *dir = tu_tmpdir(), data[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    tu_write_synthetic_mnist(dir, 20, 10, 1);
    int rc = lpt(&out, &err, "train", data, "--metrics-out", "/nonexistent/dir/m.jsonl", "--quiet");
    assert_int_equal(rc, 1);
    assert_int_equal(tu_lines(err), 1);
    assert_non_null(strstr(err, "cannot write '/nonexistent/dir/m.jsonl'"));
    assert_string_equal(out, ""); /* refused before any training */
    free(out);
    free(err);
    tu_rmtree(dir);
}

static void test_help(void **s) {
    (void)s;
    const char *cmds[] = {"train", "eval", "bench"};
    for (int i = 0; i < 3; i++) {
        char *out, *err;
        assert_int_equal(lpt(&out, &err, cmds[i], "--help", NULL, NULL, NULL), 0);
        assert_non_null(strstr(out, "usage: lpt"));
        assert_string_equal(err, "");
        free(out);
        free(err);
    }
    char *out, *err;
    assert_int_equal(lpt(&out, &err, "--help", NULL, NULL, NULL, NULL), 0);
    assert_non_null(strstr(out, "train"));
    free(out);
    free(err);
    assert_int_equal(lpt(&out, &err, NULL, NULL, NULL, NULL, NULL), 2);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_resume_refuses_fixed_flags),
        cmocka_unit_test(test_unwritable_outputs_fail_early),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
