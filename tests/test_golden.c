/* test_golden.c - golden vectors as an architect uses them: written during a run and
 * from a checkpoint at the same step (the same files), `verify` passing on them and
 * naming the tensor and index of one flipped accumulator bit, the hex files read back by
 * an independent reader (tests/fixtures/golden_read.py, numpy) and equal to the .npy
 * files, and bad requests and corrupt folders refused with one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "tests/testutil.h"

static char *g_dir, g_data[600], g_run[700], g_ckpt[800];

static int setup(void **state) {
    (void)state;
    g_dir = tu_tmpdir_with_data(256, 64, 5, g_data, sizeof g_data);
    snprintf(g_run, sizeof g_run, "%s/in_run", g_dir);
    snprintf(g_ckpt, sizeof g_ckpt, "%s/c.ckpt", g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

/* lpt train with the common options and the ones given */
#define train(out, err, ...)                                                                                    \
    tu_run_lpt(out, err, "train", "--data", g_data, "--precision", "int8-dyn", "--epochs", "1", "--batch", "32", \
               "--test-limit", "64", "--threads", "2", "--quiet", __VA_ARGS__, NULL)

static char *slurp(const char *dir, const char *file, size_t *n) {
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return lpt_file_read(path, 1 << 26, n);
}

static void same_file(const char *d1, const char *d2, const char *file) {
    size_t n1, n2;
    char *a = slurp(d1, file, &n1), *b = slurp(d2, file, &n2);
    assert_non_null(a);
    assert_non_null(b);
    if (n1 != n2 || memcmp(a, b, n1) != 0) fail_msg("%s differs between %s and %s", file, d1, d2);
    free(a), free(b);
}

/* written in a run at global step 5, and from a checkpoint taken at step 5: the same
 * files; verify passes */
static void test_in_run_equals_from_checkpoint(void **state) {
    (void)state;
    char *out = NULL, *err = NULL, ckdir[800];
    assert_int_equal(train(&out, &err, "--golden-layer", "conv2", "--golden-step", "5"), 2); /* no --golden-out */
    assert_non_null(strstr(err, "--golden-layer needs --golden-out"));
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--precision", "int8-dyn", "--epochs", "1",
                                "--batch", "32", "--test-limit", "64", "--quiet", "--max-steps", "7",
                                "--golden-layer", "conv2", "--golden-step", "5", "--golden-out", g_run, NULL),
                     0);
    assert_non_null(strstr(out, "golden vectors of layer conv2 at global step 5 written to"));
    free(out), free(err);
    assert_int_equal(train(&out, &err, "--max-steps", "5", "--checkpoint", g_ckpt), 0);
    free(out), free(err);
    size_t n0, n1;
    char *ck0 = slurp(g_dir, "c.ckpt", &n0);
    snprintf(ckdir, sizeof ckdir, "%s/from_ckpt", g_dir);
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "--checkpoint", g_ckpt, "--layer", "conv2", "--out", ckdir,
                                "--data", g_data, NULL),
                     0);
    free(out), free(err);
    char *ck1 = slurp(g_dir, "c.ckpt", &n1); /* lpt golden writes nothing of the run */
    assert_true(n0 == n1 && memcmp(ck0, ck1, n0) == 0);
    free(ck0), free(ck1);
    const char *files[] = {"manifest.txt", "x.hex", "w.hex", "bias_acc.hex", "y_acc.hex", "y.hex", "dy.hex",
                           "dw_acc.hex", "dw.hex", "dx_acc.hex", "dx.hex", "y_acc.npy", "dx.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) same_file(g_run, ckdir, files[i]);
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "verify", g_run, NULL), 0);
    assert_non_null(strstr(out, "OK: 10 tensors"));
    free(out), free(err);
}

/* 16-bit operands (48-bit accumulators, 12 hex digits): written and verified */
static void test_int16(void **state) {
    (void)state;
    char *out = NULL, *err = NULL, dir[800];
    snprintf(dir, sizeof dir, "%s/int16", g_dir);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--precision", "int16-dyn", "--epochs", "1",
                                "--batch", "32", "--test-limit", "64", "--quiet", "--max-steps", "4", "--golden-layer",
                                "fc1", "--golden-step", "3", "--golden-out", dir, NULL),
                     0);
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "verify", dir, NULL), 0);
    assert_non_null(strstr(out, "OK: 10 tensors"));
    free(out), free(err);
    size_t n;
    char *m = slurp(dir, "manifest.txt", &n), *hex = slurp(dir, "y_acc.hex", &n);
    assert_non_null(strstr(m, "acc_bits 48 48 48\n"));
    assert_non_null(strstr(m, "tensor dx_acc acc 48 "));
    assert_true(n > 13 && hex[12] == '\n');
    free(m), free(hex);
}

/* one flipped bit of one accumulator: verify names the tensor and the index */
static void test_flipped_bit_is_named(void **state) {
    (void)state;
    char flip[800], cmd[2000], *out = NULL, *err = NULL;
    snprintf(flip, sizeof flip, "%s/flipped", g_dir);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", g_run, flip);
    assert_int_equal(system(cmd), 0);
    size_t n;
    char *hex = slurp(flip, "y_acc.hex", &n);
    assert_non_null(hex);
    const size_t line = 1234, at = line * 9 + 7; /* 8 digits and a newline a line: the last digit */
    assert_true(at < n);
    const char *digits = "0123456789abcdef";
    const int v = (int)(strchr(digits, hex[at]) - digits);
    hex[at] = digits[v ^ 1]; /* the accumulator's lowest bit */
    char path[900];
    snprintf(path, sizeof path, "%s/y_acc.hex", flip);
    assert_int_equal(lpt_file_write_atomic(path, hex, n), 0);
    free(hex);
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "verify", flip, NULL), 1);
    assert_non_null(strstr(out, "mismatch: y_acc index 1234 "));
    assert_non_null(strstr(out, "y_acc: 1 of 51200 values differ (first at index 1234)"));
    assert_non_null(strstr(out, "FAIL: 1 of 10 tensors differ"));
    free(out), free(err);
}

/* the hex files read by an independent reader equal the .npy files */
static void test_independent_reader(void **state) {
    (void)state;
    if (system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) {
        print_message("no python3 with numpy here (Debian: python3-numpy): the independent reader is not run\n");
        skip();
    }
    char script[600], *out = NULL, *err = NULL;
    snprintf(script, sizeof script, "%s/tests/fixtures/golden_read.py", LPT_SOURCE_DIR);
    char *argv[] = {"/usr/bin/python3", script, g_run, NULL};
    assert_int_equal(tu_run(argv, &out, &err), 0);
    assert_non_null(strstr(out, "10 tensors: the hex files equal the .npy files"));
    free(out), free(err);
}

/* a corrupt folder: one line naming the file, exit 1 */
static void corrupt(const char *file, const char *text, const char *expect) {
    char dir[800], cmd[2600], path[900], *out = NULL, *err = NULL;
    snprintf(dir, sizeof dir, "%s/corrupt", g_dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dir, g_run, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (text) tu_write_file(path, text, strlen(text));
    else remove(path);
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "verify", dir, NULL), 1);
    if (!strstr(err, expect)) fail_msg("%s: expected '%s' in: %s", file, expect, err);
    assert_int_equal(tu_lines(err), 1);
    free(out), free(err);
}

static void test_corrupt_folders(void **state) {
    (void)state;
    corrupt("x.hex", "7f\n", "x.hex: 1 values, the manifest gives 37632");
    corrupt("w.hex", NULL, "w.hex: cannot open");
    corrupt("manifest.txt", "lpt-golden 1\nlayer conv2\nwhat 3\n", "manifest.txt:3: unknown key 'what'");
    corrupt("manifest.txt", "hello\n", "not a golden-vector manifest");
    corrupt("manifest.txt", "lpt-golden 1\nlayer conv2\n", "incomplete or inconsistent header");
    size_t n;
    char *m = slurp(g_run, "manifest.txt", &n), *bad = lpt_xmalloc(n + 64);
    char *t = strstr(m, "tensor y_acc acc 32");
    assert_non_null(t);
    snprintf(bad, n + 64, "%.*stensor y_acc acc 16%s", (int)(t - m), m, t + strlen("tensor y_acc acc 32"));
    corrupt("manifest.txt", bad, "tensor y_acc: kind acc, width 16");
    char *dy = slurp(g_run, "dy.hex", &n);
    dy[0] = 'g';
    char *dyz = lpt_xmalloc(n + 1);
    memcpy(dyz, dy, n);
    dyz[n] = 0;
    corrupt("dy.hex", dyz, "dy.hex: line 1: 'g");
    free(m), free(bad), free(dy), free(dyz);
    char *out = NULL, *err = NULL;
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "verify", "/nonexistent/golden", NULL), 1);
    assert_int_equal(tu_lines(err), 1);
    free(out), free(err);
}

/* requests that cannot give golden vectors */
static void test_bad_requests(void **state) {
    (void)state;
    char *out = NULL, *err = NULL, dir[800];
    snprintf(dir, sizeof dir, "%s/bad", g_dir);
    assert_int_equal(train(&out, &err, "--golden-layer", "relu1", "--golden-out", dir), 2);
    assert_non_null(strstr(err, "layer relu1 is a relu layer"));
    free(out), free(err);
    assert_int_equal(train(&out, &err, "--golden-layer", "conv9", "--golden-out", dir), 2);
    assert_non_null(strstr(err, "no layer 'conv9' in this network (its conv2d and linear layers: conv1, conv2"));
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--epochs", "1", "--test-limit", "64", "--quiet",
                                "--golden-layer", "conv1", "--golden-out", dir, NULL),
                     2);
    assert_non_null(strstr(err, "this run is fp32"));
    free(out), free(err);
    assert_int_equal(train(&out, &err, "--golden-layer", "conv1", "--golden-out", dir, "--golden-step", "100000"), 1);
    assert_non_null(strstr(err, "without reaching it"));
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "golden", "--layer", "conv1", "--out", dir, NULL), 2);
    assert_non_null(strstr(err, "--checkpoint FILE, --layer NAME and --out DIR are required"));
    free(out), free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_run_equals_from_checkpoint),
        cmocka_unit_test(test_flipped_bit_is_named),
        cmocka_unit_test(test_int16),
        cmocka_unit_test(test_independent_reader),
        cmocka_unit_test(test_corrupt_folders),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
