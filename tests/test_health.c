/* test_health.c - dead-run detection: train accuracy at chance over the window, a weight
 * gradient identically zero over the window (reported once per layer, again only after
 * it cleared), the chance level of a label set, and a whole run that dies: exit status
 * 1 with --fail-on-dead, a warning and the final "flagged as dead" line without it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/health.h"
#include "src/model.h"
#include "src/net.h"
#include "src/base/util.h"
#include "tests/testutil.h"

static void test_accuracy_window(void **s) {
    (void)s;
    lpt_health h;
    lpt_net net = {0}; /* no parameters */
    lpt_health_init(&h, 100, 0.10, &net);
    char msg[512];
    int flagged = 0, at = -1;
    /* 11% correct: within 2 points of chance; flagged once, when the window is full */
    for (long step = 0; step < 300; step++)
        if (lpt_health_step(&h, step, step % 100 < 11 ? 1 : 0, 1, msg, sizeof msg)) flagged++, at = (int)step;
    assert_int_equal(flagged, 1);
    assert_int_equal(at, 99);
    assert_non_null(strstr(msg, "is at chance (10.00%"));
    /* learning clears the condition; at chance again is reported again */
    for (long step = 300; step < 400; step++) assert_int_equal(lpt_health_step(&h, step, 1, 1, msg, sizeof msg), 0);
    flagged = 0;
    for (long step = 400; step < 600; step++) flagged += lpt_health_step(&h, step, 0, 1, msg, sizeof msg);
    assert_int_equal(flagged, 1);
    lpt_health_free(&h);
    /* 14% is not at chance for 10% */
    lpt_health_init(&h, 100, 0.10, &net);
    for (long step = 0; step < 400; step++) assert_int_equal(lpt_health_step(&h, step, step % 7 == 0, 1, msg, sizeof msg), 0);
    lpt_health_free(&h);
    /* window 0: off */
    lpt_health_init(&h, 0, 0.10, &net);
    for (long step = 0; step < 400; step++) assert_int_equal(lpt_health_step(&h, step, 0, 1, msg, sizeof msg), 0);
    lpt_health_free(&h);
}

static void test_zero_gradients(void **s) {
    (void)s;
    lpt_backend *be = lpt_backend_create("ref", 1);
    lpt_model_spec spec;
    assert_int_equal(lpt_model_spec_load("mlp", &spec), 0);
    lpt_net net;
    assert_int_equal(lpt_net_build(&net, be, &spec, 4), 0);
    for (int i = 0; i < net.np; i++)
        if (net.p[i].grad) be->fill(be, lpt_tensor_count(net.p[i].grad), lpt_tensor_f32(net.p[i].grad), 0.0f);
    /* fc2's weight gradient comes back at step 100 and is zero again from step 120 */
    lpt_health h;
    lpt_health_init(&h, 50, 0.1, &net);
    char msg[512], seen[4][64] = {{0}};
    long when[4] = {0};
    int reports = 0;
    float *g2 = lpt_tensor_f32(lpt_net_find_param(&net, "fc2.weight")->grad);
    for (long step = 0; step < 200; step++) {
        g2[3] = step >= 100 && step < 120 ? 1e-30f : 0.0f;
        double nonzero[16] = {0}; /* as the training step counts them, at its sync point */
        assert_true(net.np <= 16);
        for (int i = 0; lpt_health_grads_due(&h, step, step) && i < net.np; i++)
            if (net.p[i].grad)
                be->count_nonzero(be, lpt_tensor_count(net.p[i].grad), lpt_tensor_f32(net.p[i].grad), &nonzero[i]);
        while (lpt_health_grads_due(&h, step, step) && lpt_health_grads(&h, &net, step, nonzero, msg, sizeof msg)) {
            assert_true(reports < 4);
            when[reports] = step;
            snprintf(seen[reports++], 64, "%.40s", msg);
        }
    }
    /* zero since step 0, the window 50 steps: every weight at step 50 (not the biases);
     * fc2 cleared at step 100, zero again at the check of step 120, reported at 170 */
    assert_int_equal(reports, 4);
    assert_non_null(strstr(seen[0], "layer fc1 tensor dw"));
    assert_non_null(strstr(seen[1], "layer fc2 tensor dw"));
    assert_non_null(strstr(seen[2], "layer fc3 tensor dw"));
    assert_true(when[0] == 50 && when[1] == 50 && when[2] == 50);
    assert_non_null(strstr(seen[3], "layer fc2 tensor dw"));
    assert_int_equal(when[3], 170);
    /* the state round-trips through the checkpoint's text */
    lpt_buf saved = {0};
    lpt_health_save(&h, &saved);
    lpt_buf_put(&saved, "", 1);
    lpt_health r;
    lpt_health_init(&r, 50, 0.1, &net);
    assert_int_equal(lpt_health_load(&r, (const char *)saved.data), 0);
    for (int i = 0; i < net.np; i++) {
        assert_int_equal(r.zero_since[i], h.zero_since[i]);
        assert_int_equal(r.zero_flagged[i], h.zero_flagged[i]);
    }
    lpt_health_free(&r);
    lpt_health_init(&r, 40, 0.1, &net); /* another window: the checks start afresh */
    assert_int_equal(lpt_health_load(&r, (const char *)saved.data), 0);
    for (int i = 0; i < net.np; i++) assert_int_equal(r.zero_since[i], -1);
    lpt_health_free(&r);
    lpt_buf_free(&saved);
    lpt_health_free(&h);
    int32_t labels[10] = {0, 1, 1, 2, 1, 0, 9, 1, 3, 4};
    assert_true(lpt_health_chance(labels, 10, 10) == 0.4);
    lpt_net_free(&net);
    lpt_model_spec_free(&spec);
    lpt_backend_destroy(be);
}

/* a run with a learning rate that kills every ReLU: told loudly, and stopped with
 * --fail-on-dead naming what died */
static void test_dead_run(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), data[300];
    snprintf(data, sizeof data, "--data=%s", dir);
    tu_write_synthetic_mnist(dir, 2000, 200, 6);
    char *out, *err;
    char *argv[] = {LPT_BINARY, "train", data, "--model=lenet5", "--lr=3", "--epochs=1", "--batch=16",
                    "--dead-steps=40", "--no-progress", "--fail-on-dead", NULL};
    int rc = tu_run(argv, &out, &err);
    if (rc != 1 || tu_lines(err) != 1 || !strstr(err, "dead run at global step") || !strstr(err, "--fail-on-dead"))
        fail_msg("exit %d, stderr:\n%s", rc, err);
    free(out), free(err);
    argv[9] = NULL; /* without --fail-on-dead: warnings, exit 0, the last line says so */
    rc = tu_run(argv, &out, &err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(err, "lpt: warning: "));
    assert_non_null(strstr(out, "(flagged as dead: see the warnings)"));
    free(out), free(err);
    tu_rmtree(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy_window),
        cmocka_unit_test(test_zero_gradients),
        cmocka_unit_test(test_dead_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
