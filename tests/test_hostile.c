/* test_hostile.c - hostile and mistaken inputs: every one is refused with exit status 1
 * or 2 and one line naming the file and the field, never a crash or a hang.
 *
 * Checkpoints with well-formed framing (valid CRC) but fields out of range, eval of a
 * checkpoint on data that does not fit its model, special files (a FIFO without a
 * writer, /dev/zero) given to every loader, a gzip IDX file with bytes after its
 * stream, an .npy header over the reader's limit, a model spec line with too many
 * options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/data.h"
#include "src/model.h"
#include "src/npy.h"
#include "src/train.h"
#include "src/base/util.h"
#include "tests/testutil.h"

static char *g_dir;
static char g_data[400], g_ckpt[400], g_fifo[400];

static char *path(const char *name) {
    static char p[8][4300];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

/* exit status `want`, one line on stderr holding every needle */
static void expect_refusal(int rc, char *out, char *err, int want, const char *n1, const char *n2) {
    if (rc != want) fail_msg("exit %d, want %d; stderr:\n%s", rc, want, err);
    if (tu_lines(err) != 1) fail_msg("want one line on stderr, got:\n%s", err);
    if (n1 && !strstr(err, n1)) fail_msg("stderr lacks '%s':\n%s", n1, err);
    if (n2 && !strstr(err, n2)) fail_msg("stderr lacks '%s':\n%s", n2, err);
    free(out);
    free(err);
}

static int setup(void **s) {
    (void)s;
    g_dir = tu_tmpdir();
    snprintf(g_data, sizeof g_data, "%s/data", g_dir);
    mkdir(g_data, 0755);
    tu_write_synthetic_mnist(g_data, 64, 32, 4);
    snprintf(g_ckpt, sizeof g_ckpt, "%s/good.ckpt", g_dir);
    snprintf(g_fifo, sizeof g_fifo, "%s/fifo", g_dir);
    if (mkfifo(g_fifo, 0644) != 0) return -1;
    char *out, *err;
    int rc = tu_run_lpt(&out, &err, "train", "--model", "lenet5", "--data", g_data, "--epochs", "1", "--batch", "32",
                 "--precision", "int8-dyn", "--checkpoint", g_ckpt, "--quiet", "--dead-steps", "0", NULL);
    free(out);
    free(err);
    return rc;
}

static int teardown(void **s) {
    (void)s;
    tu_rmtree(g_dir);
    return 0;
}

/* A copy of the good checkpoint with the line `key=...` of its configuration or state
 * section replaced by `line` (or `line` added when the key is absent), framing and CRC
 * made valid again, written to `name`. */
static char *edited_checkpoint(const char *name, const char *key, const char *line) {
    size_t n;
    unsigned char *b = lpt_file_read_all(g_ckpt, &n);
    assert_non_null(b);
    lpt_buf out = {0};
    lpt_buf_put(&out, b, 20); /* magic, version, body length (fixed below) */
    size_t at = 20;
    for (int sec = 0; sec < 3; sec++) {
        uint32_t len;
        memcpy(&len, b + at, 4);
        char *text = lpt_xmalloc(len + 1);
        memcpy(text, b + at + 4, len);
        text[len] = 0;
        at += 4 + len;
        lpt_buf t = {0};
        int done = 0;
        for (char *l = text, *nl; sec > 0 && *l; l = nl + 1) {
            nl = strchr(l, '\n');
            if (!nl) break;
            const size_t kl = strlen(key);
            /* "key=..." lines, or for a key that names a statistics entry ("stats_entry=
             * conv1 x") the line of that entry */
            if (strncmp(l, key, kl) == 0 && (l[kl] == '=' || (strchr(key, '=') && l[kl] == ' '))) {
                lpt_buf_printf(&t, "%s\n", line);
                done = 1;
            } else {
                lpt_buf_put(&t, l, (size_t)(nl - l + 1));
            }
        }
        if (sec == 0) lpt_buf_put(&t, text, len);
        if (sec == 2 && !done) lpt_buf_printf(&t, "%s\n", line);
        uint32_t tl = (uint32_t)t.len;
        lpt_buf_put(&out, &tl, 4);
        lpt_buf_put(&out, t.data, t.len);
        lpt_buf_free(&t);
        free(text);
    }
    lpt_buf_put(&out, b + at, n - 4 - at); /* the tensors */
    uint64_t body = out.len - 20;
    memcpy(out.data + 12, &body, 8);
    uint32_t crc = lpt_crc32(0, out.data, out.len);
    lpt_buf_put(&out, &crc, 4);
    char *p = path(name);
    tu_write_file(p, out.data, out.len);
    lpt_buf_free(&out);
    free(b);
    return p;
}

static void test_checkpoint_fields_out_of_range(void **s) {
    (void)s;
    static const struct {
        const char *key, *line, *needle;
    } cases[] = {
        {"step_in_epoch", "step_in_epoch=-5", "step_in_epoch='-5'"},
        {"epochs", "epochs=1e10", "epochs='1e10'"},
        {"acc_bits", "acc_bits=200", "acc_bits='200'"},
        {"batch", "batch=99999999999", "batch='99999999999'"},
        {"batch", "batch=2.5", "batch='2.5'"},
        {"threads", "threads=0", "threads='0'"},
        {"lr", "lr=nan", "lr='nan'"},
        {"epoch", "epoch=-1", "epoch='-1'"},
        {"seen", "seen=-3", "seen='-3'"},
        {"std", "std=0", "std='0'"},
        {"records", "records=99", "records='99'"},
        {"loss_scale", "loss_scale=inf", "loss_scale='inf'"},
        {"precision", "precision=fp64", "precision='fp64'"},
        {"backend", "backend=tpu", "backend='tpu'"},
        {"seed", "seed=-1", "seed"},
        {"warmup", "warmup=-1", "warmup='-1'"},
        {"stats_entry=conv1 x", "stats_entry=conv1 x 8 99999 1 0x0p+0 0 0 0 0 1", "conv1 x"},
        {"stats_entry=conv1 x", "stats_entry=conv1 x 8 3 1 0x1p+4 0 0 0 0 1", "conv1 x"},
        {"stats_cur=fc1 w", "stats_cur=fc1 w 5 0 0 0x1p+0 p160:3", "fc1 w"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = edited_checkpoint("bad.ckpt", cases[i].key, cases[i].line);
        char *out, *err;
        int rc = tu_run_lpt(&out, &err, "train", "--resume", p, "--data", g_data, "--quiet", NULL);
        if (rc != 1 || !strstr(err, "bad.ckpt") || !strstr(err, cases[i].needle) || tu_lines(err) != 1)
            fail_msg("%s: exit %d, stderr:\n%s", cases[i].line, rc, err);
        free(out);
        free(err);
        rc = tu_run_lpt(&out, &err, "eval", "--checkpoint", p, "--data", g_data, NULL);
        if (rc != 1 || !strstr(err, "bad.ckpt") || tu_lines(err) != 1)
            fail_msg("eval %s: exit %d, stderr:\n%s", cases[i].line, rc, err);
        free(out);
        free(err);
    }
    /* the unedited checkpoint still resumes and evaluates */
    char *p = edited_checkpoint("same.ckpt", "no_such_key", "");
    char *out, *err;
    assert_int_equal(tu_run_lpt(&out, &err, "eval", "--checkpoint", p, "--data", g_data, NULL), 0);
    free(out);
    free(err);
    /* a checkpoint of a build without the warm-up has no warmup= line: it resumes with
     * none (as that run trained), where this build's checkpoint says 200 */
    lpt_train_cfg cfg;
    lpt_model_spec spec;
    lpt_train_state st;
    lpt_checkpoint ck;
    const char *files[] = {g_ckpt, edited_checkpoint("old.ckpt", "warmup", "")};
    for (int i = 0; i < 2; i++) {
        if (lpt_checkpoint_open(files[i], &ck, &cfg, &spec, &st) != 0) fail_msg("%s", lpt_error_get());
        assert_int_equal(cfg.sgd.warmup, i ? 0 : 200);
        lpt_checkpoint_close(&ck);
        lpt_model_spec_free(&spec);
        lpt_train_state_free(&st);
    }
}

static void test_eval_data_must_fit_the_model(void **s) {
    (void)s;
    /* images of another size: 16x16 */
    char d[4300];
    snprintf(d, sizeof d, "%s/small", g_dir);
    mkdir(d, 0755);
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 16};
    unsigned char img[16 + 4 * 256] = {0}, lab[8 + 4] = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4};
    memcpy(img, hdr, 16);
    const char *names[] = {"train", "t10k"};
    for (int i = 0; i < 2; i++) {
        char f[4400];
        snprintf(f, sizeof f, "%s/%s-images-idx3-ubyte", d, names[i]);
        tu_write_file(f, img, sizeof img);
        snprintf(f, sizeof f, "%s/%s-labels-idx1-ubyte", d, names[i]);
        tu_write_file(f, lab, sizeof lab);
    }
    char *out, *err;
    int rc = tu_run_lpt(&out, &err, "eval", "--checkpoint", g_ckpt, "--data", d, NULL);
    expect_refusal(rc, out, err, 1, "expects 1x28x28 inputs", "1x16x16");
    /* 28x28 images, but a label beyond the model's 10 outputs */
    snprintf(d, sizeof d, "%s/labels", g_dir);
    mkdir(d, 0755);
    tu_write_synthetic_mnist(d, 16, 16, 9);
    char f[4400];
    snprintf(f, sizeof f, "%s/t10k-labels-idx1-ubyte", d);
    unsigned char big[8 + 16] = {0, 0, 8, 1, 0, 0, 0, 16};
    big[8 + 5] = 42;
    tu_write_file(f, big, sizeof big);
    rc = tu_run_lpt(&out, &err, "eval", "--checkpoint", g_ckpt, "--data", d, NULL);
    expect_refusal(rc, out, err, 1, "10 outputs", "up to 42");
}

static void test_special_files_refused(void **s) {
    (void)s;
    const char *special[] = {g_fifo, "/dev/zero"};
    for (int i = 0; i < 2; i++) {
        const char *f = special[i];
        char *out, *err;
        /* model spec: an argument error */
        int rc = tu_run_lpt(&out, &err, "train", "--model", f, "--data", g_data, NULL);
        expect_refusal(rc, out, err, 2, f, "not a regular file");
        rc = tu_run_lpt(&out, &err, "train", "--resume", f, "--data", g_data, NULL);
        expect_refusal(rc, out, err, 2, f, "not a regular file");
        rc = tu_run_lpt(&out, &err, "eval", "--checkpoint", f, "--data", g_data, NULL);
        expect_refusal(rc, out, err, 2, f, "not a regular file");
        rc = tu_run_lpt(&out, &err, "quantize", "--format", "dfp8", f, path("q.npy"), NULL);
        expect_refusal(rc, out, err, 1, f, "not a regular file");
        /* an IDX file */
        int dims[3];
        uint8_t *data;
        assert_int_equal(lpt_idx_read(f, 3, dims, &data), -1);
        assert_non_null(strstr(lpt_error_get(), "not a regular file"));
    }
}

static void test_gzip_idx_trailing_bytes(void **s) {
    (void)s;
    /* a valid gzip IDX file: the training labels of the synthetic set, compressed */
    char src[4300], gz[4300], cmd[9000];
    snprintf(src, sizeof src, "%s/train-labels-idx1-ubyte", g_data);
    snprintf(gz, sizeof gz, "%s/l.gz", g_dir);
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", src, gz);
    assert_int_equal(system(cmd), 0);
    int dims[3];
    uint8_t *data;
    assert_int_equal(lpt_idx_read(gz, 1, dims, &data), 0);
    assert_int_equal(dims[0], 64);
    free(data);
    /* the same with garbage after the gzip stream */
    size_t n;
    unsigned char *b = lpt_file_read_all(gz, &n);
    unsigned char *t = lpt_xmalloc(n + 5);
    memcpy(t, b, n);
    memcpy(t + n, "junk!", 5);
    tu_write_file(path("t.gz"), t, n + 5);
    assert_int_equal(lpt_idx_read(path("t.gz"), 1, dims, &data), -1);
    assert_non_null(strstr(lpt_error_get(), "5 trailing bytes after the gzip stream"));
    /* two gzip members are one stream (gzip -c a b): allowed when together they hold the
     * file; a second member holding more data is trailing data */
    memcpy(t, b, n);
    tu_write_file(path("two.gz"), t, n);
    FILE *f = fopen(path("two.gz"), "ab");
    assert_non_null(f);
    fwrite(b, 1, n, f);
    fclose(f);
    assert_int_equal(lpt_idx_read(path("two.gz"), 1, dims, &data), -1);
    assert_non_null(strstr(lpt_error_get(), "trailing bytes after the 64 bytes of data"));
    free(b);
    free(t);
}

static void test_npy_header_limit(void **s) {
    (void)s;
    /* format 2.0 with a 2 MiB header length: refused as over the limit, not "truncated" */
    const size_t hl = 2u << 20;
    unsigned char *b = lpt_xcalloc(12 + hl + 4, 1);
    memcpy(b, "\x93NUMPY\x02\x00", 8);
    b[8] = (unsigned char)(hl & 0xff), b[9] = (unsigned char)(hl >> 8 & 0xff), b[10] = (unsigned char)(hl >> 16 & 0xff);
    memset(b + 12, ' ', hl);
    tu_write_file(path("big.npy"), b, 12 + hl + 4);
    lpt_npy a;
    assert_int_equal(lpt_npy_read_f32(path("big.npy"), &a), -1);
    assert_non_null(strstr(lpt_error_get(), "over the 1 MiB"));
    assert_non_null(strstr(lpt_error_get(), "big.npy"));
    free(b);
}

static void test_spec_option_count(void **s) {
    (void)s;
    lpt_model_spec m;
    /* 13 options without a name: one more than a layer line holds (the line's 14 words
     * pass the tokenizer; the 13th option wrote past kv[12]) */
    const char *bad = "input 1x8x8\nconv2d a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12 m=13\n";
    assert_int_equal(lpt_model_spec_parse(bad, "x.spec", &m), -1);
    assert_non_null(strstr(lpt_error_get(), "x.spec:2: too many options (at most 12 besides name)"));
    /* 12 are parsed (the layer then names the options it does not know) */
    const char *ok = "input 1x8x8\nconv2d name=c a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12\n";
    assert_int_equal(lpt_model_spec_parse(ok, "x.spec", &m), 0);
    assert_int_equal(m.layers[0].nkv, 12);
    lpt_model_spec_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_fields_out_of_range),
        cmocka_unit_test(test_eval_data_must_fit_the_model),
        cmocka_unit_test(test_special_files_refused),
        cmocka_unit_test(test_gzip_idx_trailing_bytes),
        cmocka_unit_test(test_npy_header_limit),
        cmocka_unit_test(test_spec_option_count),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
