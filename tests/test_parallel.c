/* test_parallel.c - data parallelism over MPI: `mpirun -np 2` and `-np 4` (oversubscribed
 * on a small machine, as root where the suite runs so) train LeNet-5 to the same weights,
 * bit for bit, as one process with the same global batch and shards (VGG with batch
 * norm too); what cannot run data-parallel yet is refused with one line. Skipped, saying why (exit status 77),
 * where this build has no MPI or mpirun is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/base/util.h"
#include "src/dp.h"
#include "tests/testutil.h"

static char *g_dir, g_data[600], g_mpirun[512];

static int setup(void **state) {
    (void)state;
    g_dir = tu_tmpdir_with_data(1024, 64, 5, g_data, sizeof g_data);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

/* lpt train on np processes (0: without mpirun), 12 steps of 64 in 4 shards (the epoch of 16 steps
 * does not end: its record would hold timings) */
static int train_with(int np, const char *ckpt, const char *precision, const char *overlap, const char *const *extra,
                      char **err) {
    char nps[16], *out = NULL;
    snprintf(nps, sizeof nps, "%d", np);
    char *argv[40];
    int a = 0;
    if (np > 0) {
        argv[a++] = g_mpirun, argv[a++] = "--allow-run-as-root", argv[a++] = "--oversubscribe", argv[a++] = "-np";
        argv[a++] = nps;
    }
    const int dfp = !strcmp(precision, "int8-dyn-fixed"); /* int8-dyn without the recompute rule */
    const char *rest[] = {LPT_BINARY, "train", "--data", g_data, "--precision", dfp ? "int8-dyn" : precision, "--epochs", "1",
                          "--shards", "4", "--threads", "1", "--test-limit", "64", "--max-steps", "12", "--checkpoint",
                          ckpt, "--quiet", "--overlap", overlap};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) argv[a++] = (char *)rest[i];
    if (dfp) argv[a++] = "--no-recompute", argv[a++] = "--stats-interval", argv[a++] = "5";
    for (int i = 0; extra && extra[i] && a < 38; i++) argv[a++] = (char *)extra[i];
    argv[a] = NULL;
    const int rc = tu_run(argv, &out, err);
    free(out);
    return rc;
}

static int train(int np, const char *ckpt, const char *precision, char **err) {
    return train_with(np, ckpt, precision, "on", NULL, err);
}

/* the same checkpoint but for the running loss sum (each process sums its shards'
 * losses first: the last bit may differ) and the CRC over the whole file */
static void same_weights(const char *a, const char *b) {
    size_t na, nb;
    char *x = lpt_file_read(a, 1 << 26, &na), *y = lpt_file_read(b, 1 << 26, &nb);
    assert_non_null(x);
    assert_non_null(y);
    char *lx = memmem(x, na, "loss_sum=", 9), *ly = memmem(y, nb, "loss_sum=", 9); /* (a binary file) */
    assert_non_null(lx);
    assert_non_null(ly);
    const size_t fx = (size_t)(lx - x), fy = (size_t)(ly - y), ex = (size_t)((char *)memchr(lx, '\n', na - fx) - x),
                 ey = (size_t)((char *)memchr(ly, '\n', nb - fy) - y);
    if (fx != fy || memcmp(x, y, fx) != 0) fail_msg("%s and %s differ before the loss sum", a, b);
    if (na - ex != nb - ey || memcmp(x + ex, y + ey, na - ex - 4) != 0)
        fail_msg("%s and %s differ after the loss sum (the weights, the momentum or the state)", a, b);
    free(x), free(y);
}

static void test_same_weights(void **state) {
    (void)state;
    char c1[700], c2[700], c4[700], *err = NULL;
    snprintf(c1, sizeof c1, "%s/one.ckpt", g_dir);
    snprintf(c2, sizeof c2, "%s/two.ckpt", g_dir);
    snprintf(c4, sizeof c4, "%s/four.ckpt", g_dir);
    assert_int_equal(train(0, c1, "fp32", &err), 0);
    free(err);
    if (train(2, c2, "fp32", &err) != 0) fail_msg("mpirun -np 2: %s", err);
    free(err);
    if (train(4, c4, "fp32", &err) != 0) fail_msg("mpirun -np 4: %s", err);
    free(err);
    same_weights(c1, c2);
    same_weights(c1, c4);
    /* each layer's exchange during the backward pass, or all after it: the same */
    if (train_with(2, c4, "fp32", "off", NULL, &err) != 0) fail_msg("mpirun -np 2 --overlap off: %s", err);
    free(err);
    same_weights(c2, c4);
    /* in chunks of 1 KiB (fc1's weight gradient in 188), each summed as it comes in: the same */
    const char *const chunked[] = {"--exchange-chunk", "1", NULL};
    if (train_with(2, c4, "fp32", "on", chunked, &err) != 0) fail_msg("mpirun -np 2 --exchange-chunk 1: %s", err);
    free(err);
    same_weights(c1, c4);
    /* int8-dyn without the recompute rule: the statistics unit merged over the processes */
    assert_int_equal(train(0, c1, "int8-dyn-fixed", &err), 0);
    free(err);
    if (train(2, c2, "int8-dyn-fixed", &err) != 0) fail_msg("mpirun -np 2 int8-dyn: %s", err);
    free(err);
    same_weights(c1, c2);
}

/* batch norm and dropout (VGG): each shard's update of the running statistics applied
 * in shard order on every process, so -np 2 and -np 4 give one process's weights and
 * running statistics */
static void test_batchnorm(void **state) {
    (void)state;
    char c1[700], c2[700], *err = NULL;
    snprintf(c1, sizeof c1, "%s/vgg1.ckpt", g_dir);
    snprintf(c2, sizeof c2, "%s/vgg2.ckpt", g_dir);
    const char *const vgg[] = {"--model", "vgg", NULL};
    assert_int_equal(train_with(0, c1, "fp32", "on", vgg, &err), 0);
    free(err);
    for (int np = 2; np <= 4; np *= 2) {
        if (train_with(np, c2, "fp32", "on", vgg, &err) != 0) fail_msg("vgg, mpirun -np %d: %s", np, err);
        free(err);
        same_weights(c1, c2);
    }
    /* int8-dyn (the calibration passes leave the running statistics alone), and batches of
     * 3 in 4 shards (shard 0 of every step empty) */
    assert_int_equal(train_with(0, c1, "int8-dyn-fixed", "on", vgg, &err), 0);
    free(err);
    if (train_with(2, c2, "int8-dyn-fixed", "on", vgg, &err) != 0) fail_msg("vgg int8-dyn, mpirun -np 2: %s", err);
    free(err);
    same_weights(c1, c2);
    const char *const small[] = {"--model", "vgg", "--batch", "3", NULL};
    assert_int_equal(train_with(0, c1, "fp32", "on", small, &err), 0);
    free(err);
    if (train_with(2, c2, "fp32", "on", small, &err) != 0) fail_msg("vgg batch 3, mpirun -np 2: %s", err);
    free(err);
    same_weights(c1, c2);
}

/* int8-dyn with the recompute rule, made to fire and to collapse (--overflow-rate 0.2):
 * every shard's pass starts from the step's FLs, corrections and collapse events merged
 * in shard order, so the checkpoint and the statistics log are one process's */
static void test_recompute(void **state) {
    (void)state;
    char c1[700], c2[700], log[700], *err = NULL;
    snprintf(c1, sizeof c1, "%s/rc1.ckpt", g_dir);
    snprintf(c2, sizeof c2, "%s/rc2.ckpt", g_dir);
    snprintf(log, sizeof log, "%s/rc.jsonl", g_dir);
    const char *const x[] = {"--overflow-rate", "0.2", "--stats-interval", "5", "--stats-out", log, NULL};
    assert_int_equal(train_with(0, c1, "int8-dyn", "on", x, &err), 0);
    free(err);
    size_t n1, n2;
    char *one = lpt_file_read(log, 1 << 24, &n1);
    assert_non_null(one);
    int fired = 0; /* the rule fired: some record counts recomputes */
    for (const char *r = strstr(one, "\"recomputes\": "); r; r = strstr(r + 1, "\"recomputes\": "))
        fired |= r[14] >= '1' && r[14] <= '9';
    assert_true(fired);
    assert_non_null(strstr(one, "recalibrated"));       /* (and a tensor collapsed) */
    for (int np = 2; np <= 4; np *= 2) {
        if (train_with(np, c2, "int8-dyn", "on", x, &err) != 0) fail_msg("int8-dyn, mpirun -np %d: %s", np, err);
        free(err);
        char *two = lpt_file_read(log, 1 << 24, &n2);
        assert_non_null(two);
        if (n1 != n2 || memcmp(one, two, n1)) fail_msg("-np %d: the statistics log differs from one process's", np);
        free(two);
        same_weights(c1, c2);
    }
    free(one);
}

static void test_refused(void **state) {
    (void)state;
    char c[700], *err = NULL;
    snprintf(c, sizeof c, "%s/x.ckpt", g_dir);
    assert_int_equal(train(3, c, "fp32", &err), 2);
    assert_non_null(strstr(err, "needs a power of two of them"));
    free(err);
}

/* dfp8 and bf16 on the wire: a quarter and a half of fp32's bytes, the run trains */
static void test_narrow_exchange(void **state) {
    (void)state;
    const char *fmts[] = {"dfp8", "bf16", "fp32"}, *mib[] = {"0.118 MiB", "0.235 MiB", "0.471 MiB"};
    for (int i = 0; i < 3; i++) {
        char *out = NULL, *err = NULL;
        char *argv[] = {g_mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", LPT_BINARY, "train", "--data", g_data,
                        "--epochs", "1", "--threads", "1", "--test-limit", "64", "--no-progress", "--grad-exchange",
                        (char *)fmts[i], NULL};
        if (tu_run(argv, &out, &err) != 0) fail_msg("--grad-exchange %s: %s", fmts[i], err);
        if (!strstr(out, mib[i])) fail_msg("--grad-exchange %s: expected %s a step in: %s", fmts[i], mib[i], out);
        if (i == 0) assert_non_null(strstr(out, "gradient exchange in dfp8: "));
        free(out), free(err);
    }
}

/* dfp8 on the wire, overlapped or not: the same codes (FLs from the exchange's
 * statistics, merged over the processes; the same stochastic rounding), so the same
 * checkpoint; the exchange's records in the statistics log */
static void test_narrow_overlap(void **state) {
    (void)state;
    char on[700], off[700], log[700], *err = NULL;
    snprintf(on, sizeof on, "%s/n_on.ckpt", g_dir);
    snprintf(off, sizeof off, "%s/n_off.ckpt", g_dir);
    snprintf(log, sizeof log, "%s/n_stats.jsonl", g_dir);
    const char *const x[] = {"--grad-exchange", "dfp8", "--stats-interval", "5", "--stats-out", log, NULL};
    if (train_with(2, on, "fp32", "on", x, &err) != 0) fail_msg("dfp8 --overlap on: %s", err);
    free(err);
    size_t n;
    char *t = lpt_file_read(log, 1 << 24, &n);
    assert_non_null(t);
    /* two intervals (steps 5 and 10) of every parameter: fc1's weight gradient at dfp8 */
    assert_non_null(strstr(t, "{\"step\": 9, \"layer\": \"fc1\", \"tensor\": \"xdw\", \"role\": \"g\", \"format\": \"dfp8"));
    assert_non_null(strstr(t, "\"overflow_rate\": "));
    free(t);
    if (train_with(2, off, "fp32", "off", x, &err) != 0) fail_msg("dfp8 --overlap off: %s", err);
    free(err);
    same_weights(on, off);
    /* in chunks of 1 KiB, each read, quantized and sent as soon as it is filled (the first
     * step's agreed FL: filled whole first): the same codes */
    const char *const xc[] = {"--grad-exchange", "dfp8", "--stats-interval", "5", "--stats-out", log,
                              "--exchange-chunk", "1", NULL};
    if (train_with(2, on, "fp32", "on", xc, &err) != 0) fail_msg("dfp8 --exchange-chunk 1: %s", err);
    free(err);
    same_weights(on, off);
    /* resumed without --grad-exchange (fp32 on the wire): the log the checkpoint names is
     * left alone, with a note, not refused */
    char *out = NULL, *argv[] = {g_mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", LPT_BINARY, "train",
                                 "--data", g_data, "--resume", on, "--max-steps", "14", "--no-progress", NULL};
    if (tu_run(argv, &out, &err) != 0) fail_msg("resume of a dfp8-exchange run: %s", err);
    assert_non_null(strstr(err, "nothing to log to"));
    free(out), free(err);
}

/* a timeline of one step: every process's events in one CSV, the overlapped exchange's
 * slices started during the backward pass */
static void test_timeline(void **state) {
    (void)state;
    char csv[700], *out = NULL, *err = NULL;
    snprintf(csv, sizeof csv, "%s/timeline.csv", g_dir);
    char *argv[] = {g_mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", LPT_BINARY, "train", "--data", g_data,
                    "--epochs", "1", "--threads", "1", "--test-limit", "64", "--quiet", "--dp-timeline", csv,
                    "--dp-timeline-step", "3", NULL};
    if (tu_run(argv, &out, &err) != 0) fail_msg("--dp-timeline: %s", err);
    assert_non_null(strstr(out, "timeline, process 1: exchange"));
    free(out), free(err);
    size_t n;
    char *text = lpt_file_read(csv, 1 << 20, &n);
    assert_non_null(text);
    assert_non_null(strstr(text, "rank,event,index,ms\n0,forward,0,"));
    assert_non_null(strstr(text, "\n1,slice start,0,"));
    assert_non_null(strstr(text, "\n1,wait end,"));
    free(text);
}

int main(void) {
    if (!lpt_dp_available()) {
        printf("skipped: this build has no MPI (Debian: libopenmpi-dev openmpi-bin; make test installs them)\n");
        return 77;
    }
    FILE *p = popen("command -v mpirun", "r"); /* its path, for execv */
    if (!p || !fgets(g_mpirun, sizeof g_mpirun, p) || g_mpirun[0] != '/') {
        if (p) pclose(p);
        printf("skipped: no mpirun on the PATH (Debian: openmpi-bin)\n");
        return 77;
    }
    pclose(p);
    g_mpirun[strcspn(g_mpirun, "\n")] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_weights),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_recompute),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_narrow_exchange),
        cmocka_unit_test(test_narrow_overlap),
        cmocka_unit_test(test_timeline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
