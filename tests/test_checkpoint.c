/* test_checkpoint.c - checkpoints: round trip, corruption detected, a resumed run equal
 * bit for bit to the uninterrupted one, SIGINT writes a checkpoint, NaN stops a run
 * naming the layer and the step. Uses a small synthetic MNIST-layout data set. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/train.h"
#include "src/base/util.h"
#include "tests/testutil.h"

static char *g_dir;
static char g_data[400], g_spec[400], g_linear[400];

/* conv + batch norm + dropout + linear: every kind of state a checkpoint must carry */
static const char k_spec[] = "input 1x28x28\nconv2d out=4 k=5 stride=2\nbatchnorm\nrelu\n"
                             "maxpool k=2\nflatten\ndropout p=0.25\nlinear out=10\n";

static int setup(void **s) {
    (void)s;
    g_dir = tu_tmpdir();
    snprintf(g_data, sizeof g_data, "%s/data", g_dir);
    snprintf(g_spec, sizeof g_spec, "%s/net.spec", g_dir);
    snprintf(g_linear, sizeof g_linear, "%s/linear.spec", g_dir);
    const char *lin = "input 1x28x28\nflatten\nlinear name=fc out=10\n";
    tu_write_file(g_linear, lin, strlen(lin));
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_data);
    if (system(cmd) != 0) return -1;
    tu_write_synthetic_mnist(g_data, 250, 60, 3);
    tu_write_file(g_spec, k_spec, strlen(k_spec));
    return 0;
}

static int teardown(void **s) {
    (void)s;
    tu_rmtree(g_dir);
    return 0;
}

static char *tmp(const char *name) {
    static char p[8][4300];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static void base_cfg(lpt_train_cfg *c) {
    lpt_train_cfg_defaults(c);
    snprintf(c->model, sizeof c->model, "%s", g_spec);
    snprintf(c->data, sizeof c->data, "%s", g_data);
    c->epochs = 2;
    c->batch = 32; /* 250 images: 7 full batches and one of 26 per epoch */
    c->threads = 2;
    c->quiet = 1;
    c->progress = 0;
    c->sgd.lr = 0.05f;
}

/* the tensor section of a checkpoint (parameters, buffers, momentum) */
static unsigned char *tensors_of(const char *path, size_t *n) {
    lpt_train_cfg cfg;
    lpt_model_spec spec;
    lpt_train_state st;
    lpt_checkpoint ck;
    if (lpt_checkpoint_open(path, &ck, &cfg, &spec, &st) != 0) fail_msg("%s", lpt_error_get());
    *n = ck.len - 4 - ck.tensors_at;
    unsigned char *t = lpt_xmalloc(*n);
    memcpy(t, ck.buf + ck.tensors_at, *n);
    lpt_checkpoint_close(&ck);
    lpt_model_spec_free(&spec);
    lpt_train_state_free(&st);
    return t;
}

/* metrics lines with the timing fields cut off (they differ between runs) */
static char *metrics_without_timing(const char *path) {
    size_t n;
    char *m = lpt_file_read_all(path, &n);
    assert_non_null(m);
    lpt_buf out = {0};
    for (char *l = m; l < m + n;) {
        char *end = memchr(l, '\n', (size_t)(m + n - l));
        char *cut = strstr(l, ", \"images_per_s\"");
        assert_true(cut && cut < end);
        lpt_buf_put(&out, l, (size_t)(cut - l));
        lpt_buf_put(&out, "\n", 1);
        l = end + 1;
    }
    lpt_buf_put(&out, "", 1);
    free(m);
    return (char *)out.data;
}

static void set_precision(lpt_train_cfg *c, const char *precision, const char *rounding) {
    snprintf(c->precision, sizeof c->precision, "%s", precision);
    snprintf(c->rounding, sizeof c->rounding, "%s", rounding);
    c->stats_interval = 3; /* intervals straddle the interruptions */
}

/* an uninterrupted run against runs stopped inside epoch 1 (step 5) and inside epoch 2
 * (step 11) and resumed: same metrics, same tensors bit for bit, and for low precision
 * the same statistics log (the statistics unit and the fp16 loss scale are carried).
 * The stopped runs read their results every `read_every` steps (as a GPU does): the
 * weights and logs may not change, nor the metrics to their 9 printed digits (the loss
 * sums are grouped by window). */
static void resume_case(const char *precision, const char *rounding, int read_every) {
    lpt_train_cfg a;
    base_cfg(&a);
    set_precision(&a, precision, rounding);
    const int lowp = strcmp(precision, "fp32") != 0;
    snprintf(a.metrics_out, sizeof a.metrics_out, "%s", tmp("a.jsonl"));
    snprintf(a.checkpoint, sizeof a.checkpoint, "%s", tmp("a.ckpt"));
    if (lowp) snprintf(a.stats_out, sizeof a.stats_out, "%s", tmp("a.stats"));
    assert_int_equal(lpt_train_run(&a), 0);
    char *ma = metrics_without_timing(tmp("a.jsonl"));
    size_t na, nsa = 0;
    unsigned char *ta = tensors_of(tmp("a.ckpt"), &na);
    char *sa = lowp ? lpt_file_read_all(tmp("a.stats"), &nsa) : NULL;
    const long stops[] = {5, 11};
    for (int k = 0; k < 2; k++) {
        lpt_train_cfg b;
        base_cfg(&b);
        set_precision(&b, precision, rounding);
        snprintf(b.metrics_out, sizeof b.metrics_out, "%s", tmp("b.jsonl"));
        snprintf(b.checkpoint, sizeof b.checkpoint, "%s", tmp("b.ckpt"));
        if (lowp) snprintf(b.stats_out, sizeof b.stats_out, "%s", tmp("b.stats"));
        b.max_steps = stops[k];
        b.read_every = read_every;
        assert_int_equal(lpt_train_run(&b), 0);
        if (lowp) { /* a record past the checkpoint, as a crash after it would leave: dropped on resume */
            FILE *f = fopen(tmp("b.stats"), "ab");
            assert_non_null(f);
            fputs("{\"step\": 99999, \"layer\": \"stale\"}\n", f);
            fclose(f);
        }
        lpt_train_cfg r;
        lpt_train_cfg_defaults(&r);
        snprintf(r.data, sizeof r.data, "%s", g_data);
        snprintf(r.metrics_out, sizeof r.metrics_out, "%s", tmp("b.jsonl"));
        snprintf(r.checkpoint, sizeof r.checkpoint, "%s", tmp("b.ckpt"));
        snprintf(r.resume, sizeof r.resume, "%s", tmp("b.ckpt"));
        if (lowp) snprintf(r.stats_out, sizeof r.stats_out, "%s", tmp("b.stats"));
        r.threads = 2;
        r.quiet = 1;
        r.progress = 0;
        r.epochs = 0; /* keep the checkpoint's */
        r.read_every = read_every;
        assert_int_equal(lpt_train_run(&r), 0);
        char *mb = metrics_without_timing(tmp("b.jsonl"));
        assert_string_equal(ma, mb); /* same losses and accuracies, printed to 9 digits */
        size_t nb;
        unsigned char *tb = tensors_of(tmp("b.ckpt"), &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(ta, tb, na); /* same weights, statistics and momentum, bit for bit */
        if (lowp) {
            size_t nsb;
            char *sb = lpt_file_read_all(tmp("b.stats"), &nsb);
            assert_true(nsa > 0 && nsa == nsb && memcmp(sa, sb, nsa) == 0); /* same FLs, histograms, counts */
            free(sb);
        }
        free(mb);
        free(tb);
    }
    /* and a run with another seed differs (the comparison can fail) */
    lpt_train_cfg c;
    base_cfg(&c);
    set_precision(&c, precision, rounding);
    c.seed = 2;
    snprintf(c.checkpoint, sizeof c.checkpoint, "%s", tmp("c.ckpt"));
    assert_int_equal(lpt_train_run(&c), 0);
    size_t nc;
    unsigned char *tc = tensors_of(tmp("c.ckpt"), &nc);
    assert_true(nc == na && memcmp(ta, tc, na) != 0);
    free(tc);
    free(ma);
    free(ta);
    free(sa);
}

static void test_resume_equals_uninterrupted(void **s) {
    (void)s;
    resume_case("fp32", "", 3);
}

static void test_resume_low_precision(void **s) {
    (void)s;
    resume_case("int8-dyn", "", 1);
    resume_case("int8-dyn", "sr", 4);
    resume_case("fp16", "", 3);
    resume_case("auto", "", 1);
}

static void test_corruption_detected(void **s) {
    (void)s;
    lpt_train_cfg a;
    base_cfg(&a);
    a.epochs = 1;
    snprintf(a.checkpoint, sizeof a.checkpoint, "%s", tmp("k.ckpt"));
    assert_int_equal(lpt_train_run(&a), 0);
    size_t n;
    unsigned char *buf = lpt_file_read_all(tmp("k.ckpt"), &n);
    lpt_train_cfg cfg;
    lpt_model_spec spec;
    lpt_train_state st;
    lpt_checkpoint ck;
    /* round trip of the configuration */
    assert_int_equal(lpt_checkpoint_open(tmp("k.ckpt"), &ck, &cfg, &spec, &st), 0);
    assert_int_equal(cfg.batch, 32);
    assert_true(cfg.sgd.lr == 0.05f && cfg.sgd.momentum == a.sgd.momentum && cfg.sgd.wd == a.sgd.wd);
    assert_int_equal(st.epoch, 1);
    assert_int_equal(st.nrecords, 1);
    assert_int_equal(spec.nlayers, 7);
    lpt_checkpoint_close(&ck);
    lpt_model_spec_free(&spec);
    lpt_train_state_free(&st);
    /* one flipped byte anywhere */
    const size_t where[] = {40, n / 2, n - 10};
    for (int i = 0; i < 3; i++) {
        buf[where[i]] ^= 0x10;
        tu_write_file(tmp("bad.ckpt"), buf, n);
        buf[where[i]] ^= 0x10;
        assert_int_not_equal(lpt_checkpoint_open(tmp("bad.ckpt"), &ck, &cfg, &spec, &st), 0);
        assert_non_null(strstr(lpt_error_get(), "CRC"));
    }
    tu_write_file(tmp("bad.ckpt"), buf, n - 100);
    assert_int_not_equal(lpt_checkpoint_open(tmp("bad.ckpt"), &ck, &cfg, &spec, &st), 0);
    assert_non_null(strstr(lpt_error_get(), "truncated"));
    tu_write_file(tmp("bad.ckpt"), "hello world, not a checkpoint", 29);
    assert_int_not_equal(lpt_checkpoint_open(tmp("bad.ckpt"), &ck, &cfg, &spec, &st), 0);
    assert_non_null(strstr(lpt_error_get(), "not an lpt checkpoint"));
    /* resuming from a corrupt file fails cleanly */
    lpt_train_cfg r;
    lpt_train_cfg_defaults(&r);
    snprintf(r.data, sizeof r.data, "%s", g_data);
    snprintf(r.resume, sizeof r.resume, "%s", tmp("bad.ckpt"));
    r.quiet = 1;
    assert_int_equal(lpt_train_run(&r), 1);
    free(buf);
}

static void test_sigint_writes_checkpoint(void **s) {
    (void)s;
    char *argv[] = {LPT_BINARY, "train", "--model", g_spec, "--data", g_data, "--epochs", "1000",
                    "--batch", "8", "--no-progress", "--checkpoint", tmp("int.ckpt"), NULL};
    char *rest;
    assert_int_equal(tu_interrupt(argv, "step", &rest), 130); /* once training is under way */
    assert_non_null(strstr(rest, "interrupted"));
    assert_non_null(strstr(rest, "--resume"));
    free(rest);
    size_t n;
    free(tensors_of(tmp("int.ckpt"), &n));
}

static void test_nan_stops_run(void **s) {
    (void)s;
    char *out, *err;
    /* a linear model with an absurd learning rate overflows within a few steps */
    char *argv[] = {LPT_BINARY, "train", "--model", g_linear, "--data", g_data, "--epochs", "3",
                    "--lr", "1e30", "--batch", "16", "--no-progress", NULL};
    int rc = tu_run(argv, &out, &err);
    assert_int_equal(rc, 1);
    if (!strstr(err, "non-finite") || !strstr(err, "step") || !strstr(err, "layer fc"))
        fail_msg("stderr lacks the non-finite report:\n%s", err);
    assert_int_equal(tu_lines(err), 1);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_equals_uninterrupted),
        cmocka_unit_test(test_resume_low_precision),
        cmocka_unit_test(test_corruption_detected),
        cmocka_unit_test(test_sigint_writes_checkpoint),
        cmocka_unit_test(test_nan_stops_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
