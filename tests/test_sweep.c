/* test_sweep.c - `lpt sweep` as a user runs it: a grid finished in one command with its
 * table, a re-run that runs nothing again, a point resumed from the checkpoint an
 * interrupted run left, and bad grids, lists and folders refused with one line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/base/util.h"
#include "tests/testutil.h"

static char *g_data;

static int setup(void **state) {
    (void)state;
    g_data = tu_tmpdir();
    tu_write_synthetic_mnist(g_data, 256, 64, 5);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_data);
    return 0;
}

static int sweep(char **out, char **err, const char *dir) {
    char args[600];
    snprintf(args, sizeof args, "--data %s --test-limit 64", g_data);
    return tu_run_lpt(out, err, "sweep", "--out", dir, "--grid", "w=4,8 a=8 g=8", "--seeds", "1", "--jobs", "2",
                      "--train-args", args, NULL);
}

static long file_size(const char *dir, const char *point, const char *file) {
    char path[800];
    snprintf(path, sizeof path, "%s/points/%s/%s", dir, point, file);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void test_grid_table_and_rerun(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *out = NULL, *err = NULL, path[600];
    assert_int_equal(sweep(&out, &err, dir), 0);
    assert_non_null(strstr(out, "3 of 3 points done"));
    free(out), free(err);
    snprintf(path, sizeof path, "%s/table.csv", dir);
    size_t n;
    char *csv = lpt_file_read(path, 1 << 20, &n);
    assert_non_null(csv);
    assert_int_equal(tu_lines(csv), 4); /* header, fp32, two grid points */
    assert_non_null(strstr(csv, "model,precision,w,a,g,runs,mean,sd,min,max,rounding,overflow_rate\n"));
    assert_non_null(strstr(csv, "lenet5,\"w=dfp4,a=dfp8,g=dfp8:sr\",dfp4,dfp8,dfp8:sr,1,"));
    free(csv);
    /* the plot, where gnuplot is installed (make test installs it) */
    snprintf(path, sizeof path, "%s/accuracy_lenet5.png", dir);
    if (system("command -v gnuplot > /dev/null 2>&1") == 0) {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 1000);
    } else {
        print_message("no gnuplot here: the plot is not checked\n");
    }
    /* its report: the table, and the plot linked from the sweep folder */
    assert_int_equal(tu_run_lpt(&out, &err, "report", dir, NULL), 0);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/report/report.md", dir);
    char *md = lpt_file_read(path, 1 << 20, &n);
    assert_non_null(md);
    assert_non_null(strstr(md, "| model | precision | w | a | g | runs | mean | sd | min | max | rounding | overflow\\_rate |"));
    assert_non_null(strstr(md, "| lenet5 | w=dfp4,a=dfp8,g=dfp8:sr | dfp4 |"));
    free(md);
    /* again: every point is done, nothing runs (the logs do not grow) */
    const long before = file_size(dir, "lenet5_w_dfp8_a_dfp8_g_dfp8_sr_s1", "log.txt");
    assert_true(before > 0);
    assert_int_equal(sweep(&out, &err, dir), 0);
    assert_non_null(strstr(out, "3 of 3 points done, 0 running"));
    assert_int_equal(file_size(dir, "lenet5_w_dfp8_a_dfp8_g_dfp8_sr_s1", "log.txt"), before);
    free(out), free(err);
    tu_rmtree(dir);
}

/* a point with the checkpoint of an interrupted run (here: stopped by --max-steps) and no
 * result goes on from it */
static void test_resumes_a_checkpoint(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *out = NULL, *err = NULL, pts[600], pdir[600], ckpt[700], log[700];
    snprintf(pdir, sizeof pdir, "%s/points/lenet5_fp32_s1", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", pdir);
    snprintf(log, sizeof log, "%s/points/lenet5_fp32_s1/metrics.jsonl", dir);
    snprintf(pts, sizeof pts, "%s/points", dir);
    assert_int_equal(mkdir(pts, 0755), 0);
    assert_int_equal(mkdir(pdir, 0755), 0);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--test-limit", "64", "--threads", "1",
                                "--epochs", "1", "--max-steps", "2", "--checkpoint", ckpt, "--metrics-out", log,
                                "--quiet", NULL),
                     0);
    free(out), free(err);
    assert_int_equal(sweep(&out, &err, dir), 0);
    free(out), free(err);
    snprintf(log, sizeof log, "%s/log.txt", pdir);
    size_t n;
    char *text = lpt_file_read(log, 1 << 20, &n);
    assert_non_null(text);
    assert_non_null(strstr(text, "resumed from"));
    assert_non_null(strstr(text, "done: 1 epoch"));
    free(text);
    /* the same folder with other settings is refused */
    assert_int_equal(tu_run_lpt(&out, &err, "sweep", "--out", dir, "--epochs", "2", NULL), 2);
    assert_non_null(strstr(err, "holds a sweep with other settings (epochs 1;"));
    free(out), free(err);
    tu_rmtree(dir);
}

/* a seed given twice is one point; a grid that quantizes nothing runs (no statistics log) */
static void test_duplicates_and_float_grid(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *out = NULL, *err = NULL, args[600];
    snprintf(args, sizeof args, "--data %s --test-limit 64", g_data);
    assert_int_equal(tu_run_lpt(&out, &err, "sweep", "--out", dir, "--grid", "w=fp32", "--seeds", "1,1,01",
                                "--train-args", args, NULL),
                     0);
    assert_non_null(strstr(out, "2 points in"));
    assert_non_null(strstr(out, "2 of 2 points done"));
    free(out), free(err);
    tu_rmtree(dir);
}

static void expect_refused(int status, const char *a1, const char *a2, const char *a3, const char *a4,
                           const char *msg) {
    char *out = NULL, *err = NULL;
    assert_int_equal(tu_run_lpt(&out, &err, "sweep", a1, a2, a3, a4, NULL), status);
    if (!strstr(err, msg)) fail_msg("expected '%s' in: %s", msg, err);
    assert_int_equal(tu_lines(err), 1);
    free(out), free(err);
}

static void test_bad_input(void **state) {
    (void)state;
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--grid", "w=4,99", "--grid: w=99: dynamic fixed point");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--grid", "x=8", "'x=8' is not ROLE=V1,V2,...");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--grid", "w=", "w= has no values");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--grid", "w=4 w=8", "w= given twice");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--seeds", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
                   "21,22,23,24,25,26,27,28,29,30,31,32,33", "--seeds: more than 32 values");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--seeds", "1,b", "--seeds: 'b' is not a seed");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--models", "lenet9", "--models: model 'lenet9'");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--precisions", "int8", "--precisions: unknown format");
    expect_refused(2, "--grid", "w=8", "--seeds", "1", "--out DIR is required");
    expect_refused(1, "--out", "/proc/lpt-sweep", "--grid", "w=8", "--out: cannot create folder /proc/lpt-sweep");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--roundings", "rne,up", "--roundings: 'up' is not a rounding");
    expect_refused(2, "--out", "/tmp/lpt-sweep-never", "--overflow-rates", "1e-3,2", "--overflow-rates: '2' is not a rate");
    /* sweep files: each mistake named by file and line */
    char *dir = tu_tmpdir(), path[600];
    snprintf(path, sizeof path, "%s/sweep.txt", dir);
    const char *bad[][2] = {
        {"out = x\ngrid w=8\n", "sweep.txt:2: 'grid w=8' is not KEY = VALUE"},
        {"# a sweep\n\nouts = x\n", "sweep.txt:3: unknown key 'outs'; keys: out, grid"},
        {"epochs = ten\n", "sweep.txt:1: epochs: 'ten' is not a whole number in [1, 100000]"},
        {"seeds = 1\nseeds = 2\n", "sweep.txt:2: 'seeds' given twice"},
        {"no-baseline = maybe\n", "sweep.txt:1: no-baseline takes yes or no"},
        {"out = /tmp/lpt-sweep-never\ngrid = w=4,99\n", "--grid: w=99: dynamic fixed point"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_write_file(path, bad[i][0], strlen(bad[i][0]));
        expect_refused(2, "--file", path, NULL, NULL, bad[i][1]);
    }
    expect_refused(2, "--file", "/nonexistent/sweep.txt", NULL, NULL, "--file: /nonexistent/sweep.txt: cannot open");
    tu_rmtree(dir);
}

/* a sweep file with the axes: rounding and overflow rate multiply the quantized points
 * only; the command line wins over the file */
static void test_file_and_axes(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *out = NULL, *err = NULL, path[600], text[1400], csvp[700];
    snprintf(path, sizeof path, "%s/sweep.txt", dir);
    snprintf(text, sizeof text,
             "# LeNet-5, 8-bit weights, two roundings and two overflow budgets\n"
             "out = %s/wrong\ngrid = w=8 a=8 g=8\nroundings = rne, sr\noverflow-rates = 1e-4,1e-2\n"
             "seeds = 1\ntrain-limit = 128\ntrain-args = --data %s --test-limit 64\n", dir, g_data);
    /* "rne, sr" has a space: the list splits at commas only, so " sr" is refused... */
    tu_write_file(path, text, strlen(text));
    assert_int_equal(tu_run_lpt(&out, &err, "sweep", "--file", path, "--out", dir, NULL), 2);
    assert_non_null(strstr(err, "--roundings: ' sr' is not a rounding"));
    free(out), free(err);
    /* ...and without it the sweep runs: fp32 once, the grid point 2 x 2 times */
    char *sp = strstr(text, "rne, sr");
    memmove(sp + 4, sp + 5, strlen(sp + 5) + 1);
    tu_write_file(path, text, strlen(text));
    assert_int_equal(tu_run_lpt(&out, &err, "sweep", "--file", path, "--out", dir, NULL), 0);
    assert_non_null(strstr(out, "5 of 5 points done"));
    free(out), free(err);
    snprintf(csvp, sizeof csvp, "%s/table.csv", dir);
    size_t n;
    char *csv = lpt_file_read(csvp, 1 << 20, &n);
    assert_non_null(csv);
    assert_int_equal(tu_lines(csv), 6);
    assert_non_null(strstr(csv, ",sr,1e-2\n"));
    assert_non_null(strstr(csv, ",rne,1e-4\n"));
    free(csv);
    snprintf(csvp, sizeof csvp, "%s/points/lenet5_w_dfp8_a_dfp8_g_dfp8_sr_rsr_o1e-2_s1/log.txt", dir);
    char *log = lpt_file_read(csvp, 1 << 20, &n);
    assert_non_null(log);
    free(log);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_table_and_rerun),
        cmocka_unit_test(test_resumes_a_checkpoint),
        cmocka_unit_test(test_duplicates_and_float_grid),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_file_and_axes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
