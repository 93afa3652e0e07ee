/* test_cli.c - the lpt command: bad arguments give one clear line on stderr and exit
 * status 2; --help works on every subcommand. Runs the built executable. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/base/util.h"
#include "tests/testutil.h"

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
    expect_usage_error("train", "--resume", "/nonexistent/x.ckpt", NULL, "--resume: /nonexistent/x.ckpt: cannot open");
    expect_usage_error("eval", "--checkpoint", "/nonexistent/x.ckpt", NULL, "--checkpoint: /nonexistent/x.ckpt: cannot open");
    expect_usage_error("train", "--resume", "/tmp", NULL, "not a regular file (a directory)");
    expect_usage_error("train", "stray", NULL, NULL, "unexpected argument 'stray'");
    expect_usage_error("train", "--quiet=1", NULL, NULL, "takes no value");
    expect_usage_error("eval", NULL, NULL, NULL, "--checkpoint FILE is required");
    expect_usage_error("bench", "--threads", "1,x", NULL, "--threads");
    expect_usage_error("train", "--share-cores", "of", NULL, "--share-cores: expected on or off, got 'of'");
    expect_usage_error("bench", "--cuda-graph", "no", NULL, "--cuda-graph: expected on or off");
    expect_usage_error("bench", "--backend", "gpu", NULL, "available");
    /* a precision that is not one names every kind a precision may be */
    expect_usage_error("bench", "--precision", "int8", NULL, "also auto, or one format per role: w=FMT,a=FMT,g=FMT");
    expect_usage_error("train", "--precision", "int8", NULL, "int8-dyn");
    expect_usage_error("bench", "--model", "/nonexistent.spec", NULL, "lpt bench: --model:");
    /* low-precision options refused where the precision does not use them (a missing
     * --data shows the options themselves passed) */
    expect_usage_error("train", "--rounding", "sr", NULL, "--rounding applies to low-precision training only");
    expect_usage_error("train", "--stats-out", "s.jsonl", NULL, "--stats-out applies to low-precision training and a narrow --grad-exchange only");
    expect_usage_error("train", "--precision=int8-dyn", "--underflow-rate=0.1", NULL, "--precision auto only");
    expect_usage_error("train", "--precision=fp16", "--acc-bits=32", NULL, "dynamic fixed point (dfp) roles only");
    expect_usage_error("train", "--precision=bf16", "--no-recompute", NULL, "dfp) roles only");
    expect_usage_error("train", "--precision=int8-dyn", "--overflow-rate=0.01", "--data=/nonexistent", "--data");
    expect_usage_error("train", "--precision=fp16", "--stats-out=s.jsonl", "--data=/nonexistent", "--data");
}

/* every mistake in a model spec file is an argument error (exit 2) with the file, the
 * line and the reason, as docs/model-spec.md shows */
static void test_spec_errors(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), f[4300];
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"conv2d out=4 k=3\n", "bad.spec:1: the spec must start with 'input CxHxW'"},
        {"input 1x28x28\nconv2d out=6 k=5\nconv2d out=4 k=3 colour=red\n", "bad.spec:3: conv2d has no option 'colour'"},
        {"input 1x28x28\nlinear out=10\n", "bad.spec:2: layer linear1 (linear): needs flat features, got 1x28x28 (add 'flatten' before it)"},
        {"# nothing\n", "bad.spec: empty spec"},
    };
    snprintf(f, sizeof f, "%s/bad.spec", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_write_file(f, cases[i].text, strlen(cases[i].text));
        expect_usage_error("train", "--model", f, NULL, cases[i].needle);
        expect_usage_error("train", "--model", f, NULL, "lpt train: --model: ");
    }
    tu_rmtree(dir);
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

/* outputs that are directories are refused before any training */
static void test_output_is_a_directory(void **s) {
    (void)s;
    char *out, *err, *dir = tu_tmpdir(), data[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    tu_write_synthetic_mnist(dir, 20, 10, 1);
    const char *opts[] = {"--checkpoint", "--metrics-out"};
    for (int i = 0; i < 2; i++) {
        int rc = tu_run_lpt(&out, &err, "train", data, opts[i], dir, "--quiet", NULL);
        assert_int_equal(rc, 1);
        assert_int_equal(tu_lines(err), 1);
        if (!strstr(err, opts[i]) || !strstr(err, "it is a directory")) fail_msg("stderr: %s", err);
        assert_string_equal(out, "");
        free(out);
        free(err);
    }
    tu_rmtree(dir);
}

/* two runs writing one checkpoint: the second fails at once, naming the lock */
static void test_checkpoint_lock(void **s) {
    (void)s;
    char *out, *err, *dir = tu_tmpdir(), data[300], ck[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    snprintf(ck, sizeof ck, "%s/run.ckpt", dir);
    tu_write_synthetic_mnist(dir, 20, 10, 1);
    int fd = lpt_file_lock(ck); /* this process plays the first run */
    assert_true(fd >= 0);
    int rc = tu_run_lpt(&out, &err, "train", data, "--checkpoint", ck, "--quiet", NULL);
    assert_int_equal(rc, 1);
    assert_int_equal(tu_lines(err), 1);
    char pid[64];
    snprintf(pid, sizeof pid, "another lpt run (pid %ld)", (long)getpid());
    if (!strstr(err, pid) || !strstr(err, "run.ckpt.lock")) fail_msg("stderr: %s", err);
    free(out);
    free(err);
    lpt_file_unlock(ck, fd);
    rc = tu_run_lpt(&out, &err, "train", data, "--checkpoint", ck, "--quiet", "--epochs=1", NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(access(ck, F_OK), 0);
    char lock[320];
    snprintf(lock, sizeof lock, "%s.lock", ck);
    assert_int_not_equal(access(lock, F_OK), 0); /* removed when the run ends */
    free(out);
    free(err);
    tu_rmtree(dir);
}

/* the "train_loss" values of a metrics file (JSON Lines) */
static char *losses(const char *path) {
    size_t n;
    char *m = lpt_file_read_all(path, &n);
    assert_non_null(m);
    lpt_buf b = {0};
    for (char *p = strstr(m, "\"train_loss\": "); p; p = strstr(p + 1, "\"train_loss\": "))
        lpt_buf_put(&b, p, strcspn(p, ","));
    lpt_buf_put(&b, "", 1);
    free(m);
    return (char *)b.data;
}

/* --resume without --checkpoint keeps writing the checkpoint it came from, and without
 * --threads runs on the checkpoint's thread count, bit for bit */
static void test_resume_keeps_checkpoint_and_threads(void **s) {
    (void)s;
    char *out, *err, *dir = tu_tmpdir(), data[300], ck[300], m1[300], m2[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    snprintf(ck, sizeof ck, "%s/r.ckpt", dir);
    snprintf(m1, sizeof m1, "%s/a.jsonl", dir);
    snprintf(m2, sizeof m2, "%s/b.jsonl", dir);
    tu_write_synthetic_mnist(dir, 250, 50, 2);
    /* uninterrupted, one thread (LeNet-5's results differ between 1 and 2 threads in the
     * last digits: a resume on the default 2 threads would not match) */
    int rc = tu_run_lpt(&out, &err, "train", data, "--model=lenet5", "--epochs=2", "--batch=32", "--threads=1",
                 "--quiet", "--metrics-out", m1, NULL);
    assert_int_equal(rc, 0);
    free(out), free(err);
    /* stopped after 3 steps, then resumed with neither --threads nor --checkpoint */
    rc = tu_run_lpt(&out, &err, "train", data, "--model=lenet5", "--epochs=2", "--batch=32", "--threads=1",
             "--max-steps=3", "--checkpoint", ck, NULL);
    assert_int_equal(rc, 0);
    free(out), free(err);
    char *argv[] = {LPT_BINARY, "train", "--resume", ck, data, "--metrics-out", m2, NULL};
    rc = tu_run(argv, &out, &err);
    assert_int_equal(rc, 0);
    if (!strstr(out, "on 1 thread (the checkpoint's count")) fail_msg("stdout lacks the thread note:\n%s", out);
    free(out), free(err);
    char *la = losses(m1), *lb = losses(m2);
    assert_string_equal(la, lb);
    free(la), free(lb);
    /* the checkpoint it came from holds the finished run now */
    char *ev[] = {LPT_BINARY, "eval", "--checkpoint", ck, data, NULL};
    assert_int_equal(tu_run(ev, &out, &err), 0);
    free(out), free(err);
    size_t n;
    unsigned char *b = lpt_file_read_all(ck, &n);
    assert_non_null(memmem(b, n, "epoch=2\nstep_in_epoch=", 22));
    free(b);
    tu_rmtree(dir);
}

/* the metrics of a file without the timing fields */
static char *metrics_without_timing(const char *path) {
    size_t n;
    char *m = lpt_file_read_all(path, &n);
    assert_non_null(m);
    char *cut = strstr(m, ", \"images_per_s\"");
    if (cut) *cut = 0;
    return m;
}

/* Ctrl-C during the end-of-epoch evaluation stops it between batches, writes the
 * checkpoint and exits 130; the resumed run (with no more options than the message
 * gives) evaluates again, quantized as the uninterrupted run does (the statistics unit
 * is restored before the evaluation), and writes the metrics file the run wrote */
static void test_sigint_during_evaluation(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), data[300], ck[300], m1[300], m2[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    snprintf(ck, sizeof ck, "%s/e.ckpt", dir);
    snprintf(m1, sizeof m1, "--metrics-out=%s/a.jsonl", dir);
    snprintf(m2, sizeof m2, "--metrics-out=%s/b.jsonl", dir);
    tu_write_synthetic_mnist(dir, 64, 30000, 3); /* one training step, a long evaluation */
    char *out, *err;
    int rc = tu_run_lpt(&out, &err, "train", data, "--epochs=1", "--batch=64", "--threads=1", "--quiet",
                        "--precision=int8-dyn", m1, NULL);
    assert_int_equal(rc, 0);
    free(out), free(err);
    char *argv0[] = {LPT_BINARY, "train", data, "--epochs=1", "--batch=64", "--threads=1", "--no-progress",
                     "--precision=int8-dyn", "--checkpoint", ck, m2, NULL};
    char *rest;
    assert_int_equal(tu_interrupt(argv0, "evaluating 30000 test images", &rest), 130);
    if (!strstr(rest, "interrupted at epoch 1, during the evaluation")) fail_msg("stdout after the signal:\n%s", rest);
    free(rest);
    /* resumed as the message says: the metrics go on to the file the run wrote */
    char *argv[] = {LPT_BINARY, "train", "--resume", ck, data, "--no-progress", NULL};
    assert_int_equal(tu_run(argv, &out, &err), 0);
    assert_non_null(strstr(out, "metrics to "));
    assert_non_null(strstr(out, "epoch 1/1  train loss"));
    assert_non_null(strstr(out, "done: 1 epoch,"));
    free(out), free(err);
    char *a = metrics_without_timing(m1 + 14), *b = metrics_without_timing(m2 + 14);
    assert_string_equal(a, b);
    free(a), free(b);
    tu_rmtree(dir);
}

/* a run shorter than a statistics interval logs its partial interval; the first layer
 * has no dx entry; the end table shows what was observed */
static void test_stats_log_short_run(void **s) {
    (void)s;
    char *out, *err, *dir = tu_tmpdir(), data[300], log[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    snprintf(log, sizeof log, "%s/s.jsonl", dir);
    tu_write_synthetic_mnist(dir, 250, 50, 2);
    int rc = tu_run_lpt(&out, &err, "train", data, "--model=lenet5", "--epochs=1", "--batch=32", "--precision=int8-dyn",
                 "--no-progress", "--stats-out", log, NULL);
    assert_int_equal(rc, 0);
    size_t n;
    char *l = lpt_file_read_all(log, &n);
    assert_int_equal(tu_lines(l), 24); /* conv1: x w y dy; conv2 ... fc3: x w y dy dx */
    assert_non_null(strstr(l, "\"step\": 7, \"layer\": \"conv1\", \"tensor\": \"x\""));
    assert_non_null(strstr(l, "\"partial\": true}"));
    assert_null(strstr(l, "\"layer\": \"conv1\", \"tensor\": \"dx\""));
    assert_null(strstr(out, "conv1      dx"));
    /* the end table: every row observed (no all-zero row) */
    assert_non_null(strstr(out, "mean dfp width over the 24 dfp tensors: 8.00 bits"));
    assert_null(strstr(out, "0.0000%    0.0000%          0"));
    free(l), free(out), free(err);
    tu_rmtree(dir);
}

/* bench: fp32 has no statistics unit to report; every --quantize ratio is taken
 * against the one memcpy figure printed (the best of the whole run) */
static void test_bench_reports(void **s) {
    (void)s;
    char *out, *err;
    int rc = tu_run_lpt(&out, &err, "bench", "--steps=3", "--warmup=0", "--threads=1", "--precision=fp32/int8-dyn", NULL);
    assert_int_equal(rc, 0);
    char *l2 = strchr(out, '\n');
    assert_non_null(l2);
    *l2 = 0;
    assert_null(strstr(out, "statistics unit")); /* the fp32 line */
    assert_non_null(strstr(l2 + 1, "statistics unit")); /* the int8-dyn line */
    free(out), free(err);
    rc = tu_run_lpt(&out, &err, "bench", "--quantize", "--size-mib=1", "--reps=2", "--formats=dfp8,fp16,bf16", NULL);
    assert_int_equal(rc, 0);
    double copy = 0;
    int formats = 0;
    for (char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char name[32];
        double gbs, ratio;
        if (sscanf(l, " %31s %lf %lf", name, &gbs, &ratio) != 3) continue;
        if (strcmp(name, "memcpy") == 0) {
            copy = gbs;
            continue;
        }
        assert_true(copy > 0);
        /* printed with two decimals: the ratio agrees with the figures to that precision */
        if (!(fabs(ratio - gbs / copy) <= 0.006 + 0.01 * ratio))
            fail_msg("%s: ratio %.2f but %.2f / %.2f GB/s = %.3f", name, ratio, gbs, copy, gbs / copy);
        formats++;
    }
    assert_int_equal(formats, 3);
    free(out), free(err);
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
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_output_is_a_directory),
        cmocka_unit_test(test_checkpoint_lock),
        cmocka_unit_test(test_resume_keeps_checkpoint_and_threads),
        cmocka_unit_test(test_sigint_during_evaluation),
        cmocka_unit_test(test_stats_log_short_run),
        cmocka_unit_test(test_bench_reports),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
