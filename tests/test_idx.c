/* test_idx.c - the IDX reader: valid raw and gzip files, and every kind of malformed
 * file refused with the file name and the reason, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "src/data.h"
#include "src/base/util.h"
#include "tests/testutil.h"

static char *g_dir;

static int setup(void **s) {
    (void)s;
    g_dir = tu_tmpdir();
    return 0;
}

static int teardown(void **s) {
    (void)s;
    tu_rmtree(g_dir);
    return 0;
}

static char *path_of(const char *name) {
    static char p[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

/* IDX bytes: magic type/rank, dims, then data 0,1,2,... (mod 10 for labels) */
static unsigned char *idx_bytes(int rank, const unsigned *dims, size_t data_bytes, size_t *len) {
    *len = 4 + 4 * (size_t)rank + data_bytes;
    unsigned char *b = lpt_xcalloc(*len, 1);
    b[2] = 0x08;
    b[3] = (unsigned char)rank;
    for (int i = 0; i < rank; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    for (size_t i = 0; i < data_bytes; i++) b[4 + 4 * rank + i] = (unsigned char)(i % 10);
    return b;
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

static void expect_error(const char *path, int rank, const char *needle) {
    int dims[3];
    uint8_t *data = (uint8_t *)1;
    int rc = lpt_idx_read(path, rank, dims, &data);
    if (rc == 0) fail_msg("%s was accepted; expected an error containing '%s'", path, needle);
    assert_null(data);
    const char *e = lpt_error_get();
    if (!strstr(e, needle) || !strstr(e, path))
        fail_msg("error '%s' lacks '%s' or the file name", e, needle);
}

static void test_valid_raw_and_gzip(void **s) {
    (void)s;
    size_t len;
    unsigned char *b = idx_bytes(3, (unsigned[]){3, 2, 4}, 24, &len);
    tu_write_file(path_of("raw.idx"), b, len);
    write_gz(path_of("gz.idx.gz"), b, len);
    for (int k = 0; k < 2; k++) {
        int dims[3];
        uint8_t *data;
        assert_int_equal(lpt_idx_read(path_of(k ? "gz.idx.gz" : "raw.idx"), 3, dims, &data), 0);
        assert_int_equal(dims[0], 3);
        assert_int_equal(dims[1], 2);
        assert_int_equal(dims[2], 4);
        assert_memory_equal(data, b + 16, 24);
        free(data);
    }
    free(b);
}

static void test_truncated(void **s) {
    (void)s;
    size_t len;
    unsigned char *b = idx_bytes(3, (unsigned[]){3, 2, 4}, 24, &len);
    tu_write_file(path_of("trunc.idx"), b, len - 5);
    expect_error(path_of("trunc.idx"), 3, "truncated");
    tu_write_file(path_of("trunc-hdr.idx"), b, 9);
    expect_error(path_of("trunc-hdr.idx"), 3, "truncated");
    tu_write_file(path_of("empty.idx"), b, 0);
    expect_error(path_of("empty.idx"), 3, "truncated");
    write_gz(path_of("trunc.gz"), b, len - 5); /* a valid gzip of too little data */
    expect_error(path_of("trunc.gz"), 3, "truncated");
    free(b);
}

static void test_wrong_magic_type_rank(void **s) {
    (void)s;
    size_t len;
    unsigned char *b = idx_bytes(3, (unsigned[]){3, 2, 4}, 24, &len);
    b[0] = 0x1f;
    b[1] = 0x00;
    tu_write_file(path_of("magic.idx"), b, len);
    expect_error(path_of("magic.idx"), 3, "not an IDX file");
    b[0] = 0;
    b[2] = 0x0d; /* float32 elements */
    tu_write_file(path_of("type.idx"), b, len);
    expect_error(path_of("type.idx"), 3, "element type");
    b[2] = 0x08;
    tu_write_file(path_of("rank.idx"), b, len);
    expect_error(path_of("rank.idx"), 1, "dimensions"); /* images file read as labels */
    free(b);
}

static void test_huge_and_zero_dims(void **s) {
    (void)s;
    size_t len;
    unsigned char *b = idx_bytes(3, (unsigned[]){60000, 60000, 60000}, 16, &len);
    tu_write_file(path_of("huge.idx"), b, len);
    expect_error(path_of("huge.idx"), 3, "2 GiB");
    free(b);
    b = idx_bytes(3, (unsigned[]){0xffffffffu, 1, 1}, 16, &len);
    tu_write_file(path_of("huge1.idx"), b, len);
    expect_error(path_of("huge1.idx"), 3, "dimension 0");
    free(b);
    b = idx_bytes(3, (unsigned[]){5, 0, 3}, 0, &len);
    tu_write_file(path_of("zero.idx"), b, len);
    expect_error(path_of("zero.idx"), 3, "dimension 1");
    free(b);
    /* plausible dims, far more than the file holds: refused before allocating */
    b = idx_bytes(3, (unsigned[]){1000000, 28, 28}, 100, &len);
    tu_write_file(path_of("short.idx"), b, len);
    expect_error(path_of("short.idx"), 3, "truncated");
    free(b);
}

static void test_trailing(void **s) {
    (void)s;
    size_t len;
    unsigned char *b = idx_bytes(1, (unsigned[]){5}, 8, &len);
    tu_write_file(path_of("trail.idx"), b, len);
    expect_error(path_of("trail.idx"), 1, "trailing");
    free(b);
}

static void test_corrupt_gzip(void **s) {
    (void)s;
    size_t len;
    unsigned char *b = idx_bytes(3, (unsigned[]){50, 28, 28}, 50 * 784, &len);
    for (size_t i = 16; i < len; i++) b[i] = (unsigned char)(i * 7919 % 251);
    write_gz(path_of("ok.gz"), b, len);
    size_t glen;
    unsigned char *g = lpt_file_read_all(path_of("ok.gz"), &glen);
    /* flip bytes in the middle of the deflate stream */
    for (size_t i = glen / 2; i < glen / 2 + 16; i++) g[i] ^= 0x5a;
    tu_write_file(path_of("bad.gz"), g, glen);
    expect_error(path_of("bad.gz"), 3, "corrupt");
    /* cut the compressed file in half */
    tu_write_file(path_of("cut.gz"), g, glen / 2);
    int dims[3];
    uint8_t *data;
    assert_int_not_equal(lpt_idx_read(path_of("cut.gz"), 3, dims, &data), 0);
    assert_non_null(strstr(lpt_error_get(), "cut.gz"));
    free(g);
    free(b);
}

static void test_missing_and_directory(void **s) {
    (void)s;
    expect_error(path_of("nope.idx"), 3, "cannot open");
    expect_error(g_dir, 3, "directory");
}

static void write_split(const char *dir, const char *name, int n, int nlab, int gz, int dotted) {
    size_t li, ll;
    unsigned char *img = idx_bytes(3, (unsigned[]){(unsigned)n, 4, 3}, (size_t)n * 12, &li);
    unsigned char *lab = idx_bytes(1, (unsigned[]){(unsigned)nlab}, (size_t)nlab, &ll);
    char p[4300];
    snprintf(p, sizeof p, "%s/%s%s%s", dir, name, dotted ? "-images.idx3-ubyte" : "-images-idx3-ubyte", gz ? ".gz" : "");
    gz ? write_gz(p, img, li) : tu_write_file(p, img, li);
    snprintf(p, sizeof p, "%s/%s%s%s", dir, name, dotted ? "-labels.idx1-ubyte" : "-labels-idx1-ubyte", gz ? ".gz" : "");
    gz ? write_gz(p, lab, ll) : tu_write_file(p, lab, ll);
    free(img);
    free(lab);
}

static void test_directory_layout(void **s) {
    (void)s;
    char d[4200];
    snprintf(d, sizeof d, "%s/set", g_dir);
    mkdir(d, 0755);
    write_split(d, "train", 20, 20, 1, 0);
    write_split(d, "t10k", 7, 7, 0, 1);
    lpt_dataset tr, te;
    assert_int_equal(lpt_dataset_load_dir(d, &tr, &te), 0);
    assert_int_equal(tr.n, 20);
    assert_int_equal(te.n, 7);
    assert_int_equal(tr.h, 4);
    assert_int_equal(tr.w, 3);
    assert_int_equal(tr.classes, 10);
    assert_int_equal(tr.labels[13], 3);
    lpt_dataset_free(&tr);
    lpt_dataset_free(&te);
    /* label/image count mismatch */
    write_split(d, "t10k", 7, 6, 0, 1);
    assert_int_not_equal(lpt_dataset_load_dir(d, &tr, &te), 0);
    assert_non_null(strstr(lpt_error_get(), "7 images"));
    assert_non_null(strstr(lpt_error_get(), "6 labels"));
    /* a missing file is named */
    char p[4300];
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", d);
    unlink(p);
    assert_int_not_equal(lpt_dataset_load_dir(d, &tr, &te), 0);
    assert_non_null(strstr(lpt_error_get(), "train-labels-idx1-ubyte"));
    assert_int_not_equal(lpt_dataset_load_dir("/nonexistent/lpt", &tr, &te), 0);
    assert_non_null(strstr(lpt_error_get(), "does not exist"));
}

static void test_gather_normalizes(void **s) {
    (void)s;
    uint8_t img[2 * 4] = {0, 255, 51, 102, 255, 0, 0, 0};
    int32_t lab[2] = {3, 7};
    lpt_dataset d = {.n = 2, .c = 1, .h = 2, .w = 2, .images = img, .labels = lab, .classes = 8};
    float out[8];
    int32_t ol[2];
    int idx[2] = {1, 0};
    lpt_dataset_gather(&d, idx, 2, 0.5f, 0.25f, out, ol);
    assert_int_equal(ol[0], 7);
    assert_int_equal(ol[1], 3);
    assert_float_equal(out[0], 2.0f, 1e-6);  /* (1 - 0.5) / 0.25 */
    assert_float_equal(out[5], 2.0f, 1e-6);
    assert_float_equal(out[4], -2.0f, 1e-6); /* (0 - 0.5) / 0.25 */
    assert_float_equal(out[6], (0.2f - 0.5f) / 0.25f, 1e-6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_raw_and_gzip), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_wrong_magic_type_rank), cmocka_unit_test(test_huge_and_zero_dims),
        cmocka_unit_test(test_trailing),           cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_missing_and_directory), cmocka_unit_test(test_directory_layout),
        cmocka_unit_test(test_gather_normalizes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
