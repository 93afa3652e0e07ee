/* test_shadow.c - the FP32 shadow: every weighted layer's X, W, Y, dY, dX and dW get a
 * record per shadow step in the statistics log; the numbers behave as quantization
 * noise does (16-bit weights about 48 dB above 8-bit ones, cosine near 1), the observed
 * accumulator never exceeds the worst-case bound, and an fp32 run is refused. And lpt
 * report, which shows them with the statistics unit's plots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "tests/testutil.h"

static char *g_dir, g_data[600];

static int setup(void **state) {
    (void)state;
    g_dir = tu_tmpdir_with_data(256, 64, 5, g_data, sizeof g_data);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

typedef struct {
    long step;
    char layer[32], tensor[8], format[24];
    double sqnr, rel, cosine;
    int acc_bits, acc_bound;
} rec;

/* the shadow records of a run in `precision` with --shadow-interval 3 (at most cap) */
static int shadow_run(const char *precision, rec *r, int cap, char **out_text) {
    char stats[800], *out = NULL, *err = NULL;
    snprintf(stats, sizeof stats, "%s/stats_%s.jsonl", g_dir, precision);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--precision", precision, "--epochs", "1",
                                "--batch", "32", "--test-limit", "64", "--shadow-interval", "3", "--stats-out", stats,
                                "--no-progress", NULL),
                     0);
    *out_text = out;
    free(err);
    size_t n;
    char *log = lpt_file_read(stats, 1 << 26, &n);
    assert_non_null(log);
    int k = 0;
    for (char *l = log; l && *l && k < cap; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strstr(l, "\"shadow\": true") || strstr(l, "\"shadow\": true") > strchr(l, '\n')) continue;
        rec *x = &r[k];
        memset(x, 0, sizeof *x);
        x->acc_bits = x->acc_bound = -1;
        const int got = sscanf(l,
                               "{\"step\": %ld, \"shadow\": true, \"layer\": \"%31[^\"]\", \"tensor\": \"%7[^\"]\", "
                               "\"format\": \"%23[^\"]\", \"sqnr_db\": %lf, \"rel_l2\": %lf, \"cosine\": %lf, "
                               "\"acc_bits\": %d, \"acc_bound\": %d",
                               &x->step, x->layer, x->tensor, x->format, &x->sqnr, &x->rel, &x->cosine, &x->acc_bits,
                               &x->acc_bound);
        if (got < 7) fail_msg("a shadow record that does not parse: %.200s", l);
        k++;
    }
    free(log);
    return k;
}

static const rec *find(const rec *r, int n, long step, const char *layer, const char *tensor) {
    for (int i = 0; i < n; i++)
        if (r[i].step == step && !strcmp(r[i].layer, layer) && !strcmp(r[i].tensor, tensor)) return &r[i];
    return NULL;
}

static void test_records_and_their_numbers(void **state) {
    (void)state;
    static rec r8[4096], r16[4096];
    char *out8 = NULL, *out16 = NULL;
    const int n8 = shadow_run("int8-dyn", r8, 4096, &out8), n16 = shadow_run("int16-dyn", r16, 4096, &out16);
    /* 8 steps of 32 images: shadow steps 3 and 6 (step 0 calibrates) */
    const char *layers[] = {"conv1", "conv2", "fc1", "fc2", "fc3"}, *tensors[] = {"x", "w", "y", "dy", "dx", "dw"};
    for (int l = 0; l < 5; l++)
        for (int t = 0; t < 6; t++) {
            if (l == 0 && t == 4) continue; /* the first layer computes no dX */
            for (long step = 3; step <= 6; step += 3) {
                const rec *a = find(r8, n8, step, layers[l], tensors[t]), *b = find(r16, n16, step, layers[l], tensors[t]);
                if (!a || !b) fail_msg("no shadow record for %s %s at step %ld", layers[l], tensors[t], step);
                if (!(a->cosine > 0.5 && a->cosine <= 1.0 + 1e-9 && b->cosine > 0.95 && b->rel < a->rel))
                    fail_msg("%s %s at step %ld: cosine %.6f in int8-dyn, %.6f in int16-dyn", layers[l], tensors[t],
                             step, a->cosine, b->cosine);
                assert_true(a->rel >= 0 && a->rel < 1); /* (gradients below a max pooling differ most: a
                                                           * tiny change moves its argmax) */
                if (a->acc_bits >= 0) assert_true(a->acc_bits <= a->acc_bound);
                if (b->acc_bits >= 0) assert_true(b->acc_bits <= b->acc_bound);
                /* (at the first shadow step: later a weight can outgrow the range its FL was chosen for
                 * until the interval ends, and one saturated weight of 150 then dominates the error) */
                if (step == 3 && !strcmp(tensors[t], "w") && !(b->sqnr - a->sqnr > 40.0 && a->sqnr > 25.0))
                    fail_msg("%s w at step %ld: SQNR %.2f dB in dfp8, %.2f in dfp16: not about 6 dB a bit", layers[l],
                             step, a->sqnr, b->sqnr); /* quantization noise of the weights alone */
                if (!strcmp(tensors[t], "y") || !strcmp(tensors[t], "dx")) assert_true(a->acc_bits > 0);
            }
        }
    assert_non_null(strstr(out8, "FP32 shadow at global step 7"));
    free(out8), free(out16);
}

/* lpt report on a run's folder: the tables and, where gnuplot is installed, the plots */
static void test_report(void **state) {
    (void)state;
    char dir[700], file[800], *out = NULL, *err = NULL;
    snprintf(dir, sizeof dir, "%s/run", g_dir);
    assert_int_equal(lpt_mkdirs(dir), 0);
    snprintf(file, sizeof file, "%s/stats.jsonl", dir);
    char metrics[800];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--precision", "int8-dyn", "--epochs", "2",
                                "--batch", "32", "--test-limit", "64", "--shadow-interval", "4", "--stats-interval", "4",
                                "--stats-out", file, "--metrics-out", metrics, "--quiet", NULL),
                     0);
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "report", dir, NULL), 0);
    free(out), free(err);
    size_t n;
    snprintf(file, sizeof file, "%s/report/report.md", dir);
    char *md = lpt_file_read(file, 1 << 24, &n);
    assert_non_null(md);
    assert_non_null(strstr(md, "## Training"));
    assert_non_null(strstr(md, "## Statistics unit: the last interval of every tensor"));
    assert_non_null(strstr(md, "| conv2 | dx | dfp8:sr | 8 |"));
    assert_non_null(strstr(md, "## FP32 shadow at global step 13"));
    assert_non_null(strstr(md, "](msb_conv1_w.png)"));
    free(md);
    snprintf(file, sizeof file, "%s/report/report.html", dir);
    char *html = lpt_file_read(file, 1 << 24, &n);
    assert_non_null(html);
    assert_non_null(strstr(html, "<img src=\"sqnr.png\""));
    free(html);
    if (system("command -v gnuplot > /dev/null 2>&1") == 0) {
        const char *png[] = {"sqnr.png", "fl_w.png", "overflow_a.png", "msb_fc1_dx.png", "accuracy.png"};
        for (int i = 0; i < 5; i++) {
            snprintf(file, sizeof file, "%s/report/%s", dir, png[i]);
            char *img = lpt_file_read(file, 1 << 24, &n);
            if (!img || n < 1000 || memcmp(img, "\x89PNG", 4) != 0) fail_msg("%s is not a plot", png[i]);
            free(img);
        }
    } else {
        print_message("no gnuplot here: the report's plots are not checked\n");
    }
    /* folders that hold no run, and no folder */
    assert_int_equal(tu_run_lpt(&out, &err, "report", g_data, "--out", dir, NULL), 1);
    assert_non_null(strstr(err, "holds no run"));
    assert_int_equal(tu_lines(err), 1);
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "report", "/nonexistent/run", NULL), 2);
    assert_int_equal(tu_lines(err), 1);
    free(out), free(err);
}

static void test_fp32_refused(void **state) {
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--epochs", "1", "--test-limit", "64", "--quiet",
                                "--shadow-interval", "2", NULL),
                     2);
    assert_non_null(strstr(err, "--shadow-interval: this run is fp32"));
    assert_int_equal(tu_lines(err), 1);
    free(out), free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_and_their_numbers),
        cmocka_unit_test(test_fp32_refused),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
