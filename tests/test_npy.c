/* test_npy.c - .npy files written by numpy (tests/fixtures/npy/), lpt's writer against
 * numpy's bytes, malformed files, and `lpt quantize` end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/npy.h"
#include "src/base/util.h"
#include "tests/testutil.h"

#define FIX LPT_SOURCE_DIR "/tests/fixtures/npy/"

static void expect_a(const lpt_npy *a, int ndim, const size_t *dims) {
    assert_int_equal(a->ndim, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        assert_int_equal(a->dims[i], dims[i]);
        n *= dims[i];
    }
    assert_int_equal(a->count, n);
    for (size_t i = 0; i < n; i++) assert_true(a->data[i] == (float)i * 0.25f - 1.0f);
}

static void test_read_numpy_files(void **s) {
    (void)s;
    lpt_npy a;
    assert_int_equal(lpt_npy_read_f32(FIX "f4_3x5.npy", &a), 0);
    expect_a(&a, 2, (size_t[]){3, 5});
    lpt_npy_free(&a);
    assert_int_equal(lpt_npy_read_f32(FIX "f4_scalar.npy", &a), 0);
    expect_a(&a, 0, NULL);
    lpt_npy_free(&a);
    assert_int_equal(lpt_npy_read_f32(FIX "f4_7.npy", &a), 0);
    expect_a(&a, 1, (size_t[]){7});
    lpt_npy_free(&a);
    assert_int_equal(lpt_npy_read_f32(FIX "f4_be.npy", &a), 0); /* byte-swapped */
    expect_a(&a, 2, (size_t[]){2, 3});
    lpt_npy_free(&a);
    assert_int_equal(lpt_npy_read_f32(FIX "f4_v2.npy", &a), 0);
    expect_a(&a, 2, (size_t[]){2, 2});
    lpt_npy_free(&a);
}

static void expect_refused(const char *path, const char *needle) {
    lpt_npy a;
    if (lpt_npy_read_f32(path, &a) == 0) fail_msg("%s was accepted", path);
    if (!strstr(lpt_error_get(), needle) || !strstr(lpt_error_get(), path))
        fail_msg("error '%s' lacks '%s' or the path", lpt_error_get(), needle);
}

static void test_refused(void **s) {
    (void)s;
    expect_refused(FIX "f8_2.npy", "dtype '<f8'");
    expect_refused(FIX "f4_fortran.npy", "Fortran");
    char *dir = tu_tmpdir(), p[300];
    size_t n;
    unsigned char *good = lpt_file_read_all(FIX "f4_3x5.npy", &n);
    snprintf(p, sizeof p, "%s/x.npy", dir);
    tu_write_file(p, good, n - 3);
    expect_refused(p, "truncated");
    unsigned char *more = lpt_xmalloc(n + 4);
    memcpy(more, good, n);
    tu_write_file(p, more, n + 4);
    expect_refused(p, "trailing");
    tu_write_file(p, "\x93NUMPZ\x01\x00", 8);
    expect_refused(p, "not a .npy");
    memcpy(more, good, n);
    more[6] = 9;
    tu_write_file(p, more, n);
    expect_refused(p, "version 9");
    memcpy(more, good, n);
    more[8] = 0xff, more[9] = 0x7f; /* header length beyond the file */
    tu_write_file(p, more, n);
    expect_refused(p, "truncated");
    memcpy(more, good, n);
    memcpy(more + 10, "[", 1); /* not a dict */
    tu_write_file(p, more, n);
    expect_refused(p, "malformed");
    memcpy(more, good, n);
    char *sh = strstr((char *)more + 10, "(3, 5)");
    memcpy(sh, "(3, x)", 6);
    tu_write_file(p, more, n);
    expect_refused(p, "shape");
    expect_refused(LPT_SOURCE_DIR "/no/such.npy", "cannot open");
    free(more);
    free(good);
    tu_rmtree(dir);
}

/* lpt's writer produces numpy's bytes */
static void test_writer_matches_numpy(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), p[300];
    snprintf(p, sizeof p, "%s/w.npy", dir);
    float v[15];
    for (int i = 0; i < 15; i++) v[i] = (float)i * 0.25f - 1.0f;
    assert_int_equal(lpt_npy_write(p, "<f4", 2, (size_t[]){3, 5}, v, 4), 0);
    size_t n1, n2;
    unsigned char *a = lpt_file_read_all(p, &n1), *b = lpt_file_read_all(FIX "f4_3x5.npy", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a), free(b);
    int8_t c[15];
    for (int i = 0; i < 15; i++) c[i] = (int8_t)(i - 7);
    assert_int_equal(lpt_npy_write(p, "|i1", 2, (size_t[]){3, 5}, c, 1), 0);
    a = lpt_file_read_all(p, &n1), b = lpt_file_read_all(FIX "i1_3x5.npy", &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a), free(b);
    assert_int_equal(lpt_npy_write(p, "<f4", 1, (size_t[]){7}, v, 4), 0);
    a = lpt_file_read_all(p, &n1), b = lpt_file_read_all(FIX "f4_7.npy", &n2);
    assert_true(n1 == n2 && memcmp(a, b, n1) == 0);
    free(a), free(b);
    tu_rmtree(dir);
}

static int lpt(char **out, char **err, char *const *args) {
    char *argv[16] = {(char *)LPT_BINARY, "quantize"};
    int k = 2;
    for (int i = 0; args[i] && k < 15; i++) argv[k++] = args[i];
    argv[k] = NULL;
    return tu_run(argv, out, err);
}

static void test_quantize_command(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), outp[300], codep[300];
    snprintf(outp, sizeof outp, "%s/q.npy", dir);
    snprintf(codep, sizeof codep, "%s/c.npy", dir);
    char *out, *err;
    /* dfp4 at FL 2: a = i/4 - 1 on the grid of 1/4, codes i - 4 clamped to [-8, 7] */
    int rc = lpt(&out, &err, (char *[]){"--format", "dfp4", "--fl", "2", FIX "f4_3x5.npy", outp, "--codes", codep, NULL});
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "saturated 3 ")); /* codes 8, 9, 10 */
    lpt_npy q;
    assert_int_equal(lpt_npy_read_f32(outp, &q), 0);
    assert_int_equal(q.count, 15);
    for (int i = 0; i < 15; i++) assert_true(q.data[i] == (float)(i - 4 > 7 ? 7 : i - 4) * 0.25f);
    lpt_npy_free(&q);
    size_t n;
    unsigned char *c = lpt_file_read_all(codep, &n);
    assert_int_equal(n, 128 + 15);
    assert_non_null(memmem(c, n, "'descr': '|i1'", 14));
    for (int i = 0; i < 15; i++) assert_int_equal((int8_t)c[128 + i], i - 4 > 7 ? 7 : i - 4);
    free(c), free(out), free(err);
    /* FL chosen by the statistics rule: max |a| = 2.5, msb 1: dfp8 FL = 8 - 2 - 1 = 5 */
    rc = lpt(&out, &err, (char *[]){"--format", "int8-dyn", FIX "f4_3x5.npy", outp, NULL});
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "FL 5 chosen"));
    assert_non_null(strstr(out, "SQNR inf dB"));
    free(out), free(err);
    /* fp16 codes are uint16 */
    rc = lpt(&out, &err, (char *[]){"--format", "fp16", FIX "f4_be.npy", outp, "--codes", codep, NULL});
    assert_int_equal(rc, 0);
    c = lpt_file_read_all(codep, &n);
    assert_non_null(memmem(c, n, "'descr': '<u2'", 14));
    assert_int_equal(c[128] | c[129] << 8, 0xbc00); /* -1.0 */
    free(c), free(out), free(err);
    /* NaN into dfp: counted, flagged, exit 1 */
    float nanv[3] = {1.0f, NAN, -INFINITY};
    char nanp[300];
    snprintf(nanp, sizeof nanp, "%s/nan.npy", dir);
    lpt_npy_write(nanp, "<f4", 1, (size_t[]){3}, nanv, 4);
    rc = lpt(&out, &err, (char *[]){"--format", "dfp8", "--fl", "3", nanp, outp, NULL});
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "NaN/Inf inputs 2"));
    assert_non_null(strstr(err, "2 NaN/Inf values"));
    free(out), free(err);
    /* bad arguments: exit 2, one line */
    char *const bad[][8] = {{FIX "f4_7.npy", outp, NULL},
                            {"--format", "dfp99", FIX "f4_7.npy", outp, NULL},
                            {"--format", "fp16", "--fl", "3", FIX "f4_7.npy", outp, NULL},
                            {"--format", "dfp8", FIX "f4_7.npy", NULL},
                            {"--format", "dfp8", "--fl", "999", FIX "f4_7.npy", outp, NULL}};
    for (int i = 0; i < 5; i++) {
        rc = lpt(&out, &err, bad[i]);
        if (rc != 2 || tu_lines(err) != 1) fail_msg("case %d: exit %d, stderr '%s'", i, rc, err);
        free(out), free(err);
    }
    /* malformed input: exit 1 with the file and reason */
    rc = lpt(&out, &err, (char *[]){"--format", "dfp8", FIX "f8_2.npy", outp, NULL});
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "f8_2.npy"));
    assert_non_null(strstr(err, "float32"));
    free(out), free(err);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_numpy_files),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_writer_matches_numpy),
        cmocka_unit_test(test_quantize_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
