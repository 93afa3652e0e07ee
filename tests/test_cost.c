/* test_cost.c - the cost model (hwsim/cost.h) against figures computed by hand for a
 * one-layer network, the energy table file, and `lpt cost` as a user runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hwsim/cost.h"
#include "src/base/util.h"
#include "tests/testutil.h"

/* linear 4 -> 3 (12 weights, 3 biases), batch 2 */
static const lpt_cost_layer k_fc = {.name = "fc", .weighted = 1, .first = 1, .in = 4, .out = 3, .weights = 12,
                                    .macs = 12, .params = 15};

static lpt_cost run(const char *prec, size_t buffer, int first) {
    lpt_energy_table t;
    lpt_energy_default(&t);
    lpt_cost_setup s = {.batch = 2, .buffer_bytes = buffer};
    assert_int_equal(lpt_precision_parse(prec, &s.prec), 0);
    lpt_cost_layer l = k_fc;
    l.first = first;
    lpt_cost one, sum = {0};
    lpt_cost_layer_step(&s, &t, &l, &one, &sum);
    assert_memory_equal(&one, &sum, sizeof one); /* one layer: the sum is the layer */
    return one;
}

static void test_one_layer_by_hand(void **state) {
    (void)state;
    /* int8-dyn: 24 MACs per product, forward (a x w) and dW (g x a): int8 mult 0.2 + int32
     * add 0.1. DRAM: forward W 12 + X 8 + Y 6; dW dY 6 + X 8 + dW 48 (float32); update
     * 20 bytes per parameter (15) + the int8 copy of W (12): 400 bytes; the buffer twice
     * that. Memory energy 100 x 640 + 200 x 5 pJ. */
    lpt_cost c = run("int8-dyn", 1 << 20, 1);
    assert_true(c.macs == 48);
    assert_float_equal(c.e_mac, 48 * 0.3, 1e-9);
    assert_true(c.dram_bytes == 400 && c.sram_bytes == 800);
    assert_float_equal(c.e_mem, 100 * 640.0 + 200 * 5.0, 1e-6);
    /* fp32: fp32 mult 3.7 + add 0.9; DRAM 48 + 32 + 24, 24 + 32 + 48, 300 + 48 */
    c = run("fp32", 1 << 20, 1);
    assert_float_equal(c.e_mac, 48 * 4.6, 1e-9);
    assert_true(c.dram_bytes == 556);
    /* not the first layer: dX too (g x w; W 12 + dY 6 + dX 8) */
    c = run("int8-dyn", 1 << 20, 0);
    assert_true(c.macs == 72 && c.dram_bytes == 426);
    /* an 8-byte buffer (blocks of 4): forward W 12 in 3 blocks re-reading X 8 (36) or X in
     * 2 blocks re-reading W (32), + Y 6 = 38; dW dY 6 in 2 blocks re-reading X (22) or X
     * in 2 re-reading dY (20), + 48 = 68; with the update's 312: 418 */
    c = run("int8-dyn", 8, 1);
    assert_true(c.dram_bytes == 418);
}

static void test_mac_kinds(void **state) {
    (void)state;
    lpt_energy_table t;
    lpt_energy_default(&t);
    lpt_precision p;
    char what[64];
    assert_int_equal(lpt_precision_parse("fp16", &p), 0);
    assert_float_equal(lpt_cost_mac_pj(&t, &p.a, &p.w, 0, what, sizeof what), 1.1 + 0.9, 1e-12);
    assert_string_equal(what, "fp16 x fp16, fp32 acc");
    assert_int_equal(lpt_precision_parse("int16-dyn", &p), 0);
    assert_float_equal(lpt_cost_mac_pj(&t, &p.a, &p.w, 0, what, sizeof what), 0.8 + 0.2, 1e-12);
    assert_string_equal(what, "int16 x int16, int64 acc");
    assert_float_equal(lpt_cost_mac_pj(&t, &p.a, &p.w, 32, what, sizeof what), 0.8 + 0.1, 1e-12);
    assert_int_equal(lpt_precision_parse("w=dfp8,a=fp16,g=fp16", &p), 0); /* mixed: float32 */
    assert_float_equal(lpt_cost_mac_pj(&t, &p.a, &p.w, 0, what, sizeof what), 3.7 + 0.9, 1e-12);
}

static void test_energy_file(void **state) {
    (void)state;
    char dir[] = "/tmp/lpt-cost-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/e.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("# a 7 nm guess\n\nint8_mult 0.05   # pJ\ndram_32b 320\n", f);
    fclose(f);
    lpt_energy_table t;
    lpt_energy_default(&t);
    assert_int_equal(lpt_energy_load(path, &t), 0);
    assert_float_equal(t.int8_mult, 0.05, 0);
    assert_float_equal(t.dram_32b, 320, 0);
    assert_float_equal(t.int32_add, 0.1, 0); /* not given: the default */
    f = fopen(path, "w");
    fputs("int8_mult 0.05\n\nint9_mult 1\n", f);
    fclose(f);
    assert_int_equal(lpt_energy_load(path, &t), -1);
    assert_non_null(strstr(lpt_error_get(), "e.txt:3: unknown entry 'int9_mult'"));
    f = fopen(path, "w");
    fputs("fp32_add -1\n", f);
    fclose(f);
    assert_int_equal(lpt_energy_load(path, &t), -1);
    assert_non_null(strstr(lpt_error_get(), "e.txt:1: fp32_add: expected 'name picojoules'"));
    f = fopen(path, "w");
    fputs("dram_32b 0\ndram_32b 640\n", f);
    fclose(f);
    assert_int_equal(lpt_energy_load(path, &t), -1);
    assert_non_null(strstr(lpt_error_get(), "e.txt:2: dram_32b given twice"));
    remove(path);
    rmdir(dir);
}

static void test_command(void **state) {
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(tu_run_lpt(&out, &err, "cost", "--model", "lenet5", "--precision", "int8-dyn", NULL), 0);
    assert_non_null(strstr(out, "conv1"));
    assert_non_null(strstr(out, "against fp32: MAC energy"));
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "cost", "--precision", "int7", NULL), 2);
    assert_non_null(strstr(err, "lpt cost: --precision:"));
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "cost", "--energy", "/nonexistent/e.txt", NULL), 2);
    assert_non_null(strstr(err, "lpt cost: --energy: "));
    free(out), free(err);
}

/* a training run ends with its step's cost, auto at the widths it chose (all within the
 * 8-bit class here: int8-dyn's figures) */
static void test_train_summary(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *out = NULL, *err = NULL;
    tu_write_synthetic_mnist(dir, 256, 64, 3);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", dir, "--precision", "auto", "--epochs", "1",
                                "--threads", "1", NULL), 0);
    assert_non_null(strstr(out, "per training step of 64, 1.086 mJ and 6.248 MiB of DRAM traffic in auto (each "
                                "layer at the widths configured last), 0.277x and 0.297x fp32's"));
    free(out), free(err);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_layer_by_hand),
        cmocka_unit_test(test_mac_kinds),
        cmocka_unit_test(test_energy_file),
        cmocka_unit_test(test_command),
        cmocka_unit_test(test_train_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
