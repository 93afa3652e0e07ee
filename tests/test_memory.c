/* test_memory.c - the memory planner: the arena places tensors by lifetime (by hand:
 * which share, which do not), training with --memory-plan on gives the same checkpoint
 * byte for byte as without it (LeNet-5 fp32 and int8-dyn, VGG with batch norm and
 * dropout), and lpt bench --memory reports the savings (VGG-16-style: at least 40 %). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "src/layer.h"
#include "src/tensor.h"
#include "tests/testutil.h"

static char *g_dir, g_data[600];

static int setup(void **state) {
    (void)state;
    g_dir = tu_tmpdir_with_data(512, 64, 5, g_data, sizeof g_data);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_rmtree(g_dir);
    return 0;
}

/* a planned arena on the reference backend (returned, to destroy) */
static lpt_backend *planned_arena(lpt_arena *ar) {
    lpt_backend *be = lpt_backend_create("ref", 1);
    assert_non_null(be);
    lpt_arena_init(ar, be);
    ar->plan = 1;
    return be;
}

/* by hand: a and b (phases 1-2 and 3-4) share bytes, c (always) and d (2 and 5) do not */
static void test_arena_by_hand(void **state) {
    (void)state;
    lpt_arena ar;
    lpt_backend *be = planned_arena(&ar);
    lpt_tensor a = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){64}), b = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){48}),
               c = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){16}), d = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){32});
    lpt_arena_reserve_live(&ar, &a, "a", lpt_live_span(1, 2));
    lpt_arena_reserve_live(&ar, &b, "b", lpt_live_span(3, 4));
    lpt_arena_reserve(&ar, &c);
    lpt_arena_reserve_live(&ar, &d, "d", (lpt_live){2, {2, 5}, {2, 5}});
    assert_int_equal(lpt_arena_commit(&ar), 0);
    /* largest first: a at 0; b (phases 3-4) meets neither a nor, later, d: at 0 too;
     * d (phases 2 and 5) meets a in phase 2: after it; c (always) after all of them */
    assert_int_equal(ar.bytes_unplanned, 256 + 192 + 64 + 128);
    assert_ptr_equal(a.data, ar.base);
    assert_ptr_equal(b.data, ar.base);
    assert_ptr_equal(d.data, (char *)ar.base + 256);
    assert_ptr_equal(c.data, (char *)ar.base + 384);
    assert_int_equal(ar.bytes, 448);
    lpt_arena_free(&ar);
    lpt_backend_destroy(be);
}

static void run(const char *model, const char *precision, const char *steps, const char *plan, const char *ckpt) {
    char *out = NULL, *err = NULL;
    const int rc = tu_run_lpt(&out, &err, "train", "--data", g_data, "--model", model, "--precision", precision,
                              "--epochs", "1", "--batch", "32", "--test-limit", "64", "--threads", "2", "--max-steps",
                              steps, "--checkpoint", ckpt, "--memory-plan", plan, "--quiet", NULL);
    if (rc) fail_msg("%s %s --memory-plan %s: exit %d: %s", model, precision, plan, rc, err);
    free(out), free(err);
}

static void same_checkpoints(const char *model, const char *precision, const char *steps) {
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/off.ckpt", g_dir);
    snprintf(b, sizeof b, "%s/on.ckpt", g_dir);
    run(model, precision, steps, "off", a);
    run(model, precision, steps, "on", b);
    size_t na, nb;
    char *x = lpt_file_read(a, 1 << 28, &na), *y = lpt_file_read(b, 1 << 28, &nb);
    assert_non_null(x);
    assert_non_null(y);
    if (na != nb || memcmp(x, y, na) != 0) fail_msg("%s %s: planned and unplanned checkpoints differ", model, precision);
    free(x), free(y);
    remove(a), remove(b);
}

static void test_same_results(void **state) {
    (void)state;
    same_checkpoints("lenet5", "fp32", "12"); /* (before the epoch ends: its record holds timings) */
    same_checkpoints("lenet5", "int8-dyn", "12"); /* its first step calibrates: a whole extra pass */
    same_checkpoints("lenet5", "fp16", "12");
    same_checkpoints("vgg", "int8-dyn", "6");
    /* two ReLUs in a row: a chain of tensors in place */
    char spec[700];
    snprintf(spec, sizeof spec, "%s/relu2.spec", g_dir);
    const char text[] = "input 1x28x28\nflatten\nlinear out=100\nrelu\nrelu\nlinear out=50\nrelu\nrelu\nlinear out=10\n";
    assert_int_equal(lpt_file_write_atomic(spec, text, sizeof text - 1), 0);
    same_checkpoints(spec, "fp32", "12");
    same_checkpoints(spec, "int8-dyn", "12");
}

/* in place: e shares x's bytes, their lifetimes joined (phases 1-4): f (phases 3-5)
 * cannot share with them any more, g (phase 6) can */
static void test_arena_alias(void **state) {
    (void)state;
    lpt_arena ar;
    lpt_backend *be = planned_arena(&ar);
    lpt_tensor x = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){64}), e = x, f = x, g = x;
    lpt_arena_reserve_live(&ar, &x, "x", lpt_live_span(1, 2));
    lpt_arena_reserve_live(&ar, &e, "e", lpt_live_span(2, 4));
    lpt_arena_reserve_live(&ar, &f, "f", lpt_live_span(3, 5));
    lpt_arena_reserve_live(&ar, &g, "g", lpt_live_span(6, 6));
    assert_int_equal(lpt_arena_plan_bytes(&ar), 512); /* x and f share; e and g share */
    lpt_arena_alias(&ar, &e, &x);
    assert_int_equal(ar.live[0].from[0], 1);
    assert_int_equal(ar.live[0].to[0], 4);
    assert_int_equal(lpt_arena_plan_bytes(&ar), 512);
    assert_int_equal(lpt_arena_commit(&ar), 0);
    assert_int_equal(ar.bytes_unplanned, 4 * 256);
    assert_ptr_equal(e.data, x.data);
    assert_ptr_not_equal(f.data, x.data);
    assert_ptr_equal(g.data, x.data);
    lpt_arena_free(&ar);
    lpt_backend_destroy(be);
}

/* in place twice in a row (relu; relu): every tensor of the chain at the place of the
 * first, inside the arena (a chain once left the last at a stale offset) */
static void test_arena_alias_chain(void **state) {
    (void)state;
    lpt_arena ar;
    lpt_backend *be = planned_arena(&ar);
    lpt_tensor t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = lpt_tensor_make(LPT_FMT_FP32, 1, (int[]){64});
        lpt_arena_reserve_live(&ar, &t[i], "t", lpt_live_span(i, i + 1));
    }
    lpt_arena_alias(&ar, &t[0], &t[1]); /* as the planner goes: dx over dy, layer by layer */
    lpt_arena_alias(&ar, &t[1], &t[2]);
    lpt_arena_alias(&ar, &t[2], &t[3]);
    assert_int_equal(lpt_arena_commit(&ar), 0);
    assert_int_equal(ar.bytes, 256);
    for (int i = 0; i < 3; i++) assert_ptr_equal(t[i].data, t[3].data);
    lpt_arena_free(&ar);
    lpt_backend_destroy(be);
}

static void test_bench_memory(void **state) {
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(tu_run_lpt(&out, &err, "bench", "--model", "vgg16", "--batch", "64", "--memory", "--json", NULL), 0);
    unsigned long long un = 0, pl = 0;
    const char *p = strstr(out, "\"peak_unplanned\": "), *q = strstr(out, "\"peak_planned\": ");
    assert_non_null(p);
    assert_non_null(q);
    un = strtoull(p + 18, NULL, 10), pl = strtoull(q + 16, NULL, 10);
    if (!(pl > 0 && pl <= 0.6 * (double)un)) fail_msg("vgg16: %llu bytes planned against %llu unplanned", pl, un);
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "bench", "--model", "lenet5", "--memory", "--memory-budget", "64", NULL), 0);
    assert_non_null(strstr(out, "conv1.columns"));
    assert_non_null(strstr(out, "largest batch in 64 MiB: "));
    free(out), free(err);
    assert_int_equal(tu_run_lpt(&out, &err, "train", "--data", g_data, "--memory-plan", "yes", NULL), 2);
    assert_non_null(strstr(err, "--memory-plan: expected on or off"));
    free(out), free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_by_hand),
        cmocka_unit_test(test_same_results),
        cmocka_unit_test(test_arena_alias),
        cmocka_unit_test(test_arena_alias_chain),
        cmocka_unit_test(test_bench_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
