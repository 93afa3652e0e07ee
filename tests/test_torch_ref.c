/* test_torch_ref.c - LeNet-5 against PyTorch, an implementation lpt did not write.
 *
 * tests/fixtures/lenet5_torch.bin (made by make_lenet_fixture.py beside it) holds the
 * weights, one batch of 8 inputs, the logits, the loss, every gradient, and the losses
 * and logits of 3 SGD steps. Both CPU backends must reproduce them.
 *
 * Tolerances: both sides compute in fp32 with different summation orders. A dot
 * product of K terms then differs by about sqrt(K) * 2^-24 relative (K <= 400 forward:
 * ~1.2e-6); weight gradients sum over up to 8 * 784 positions (~5e-6). Through five
 * layers these stay well under the bounds used: 1e-5 for logits and loss, 1e-4 for
 * gradients and for anything after SGD steps (which compound the differences). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/model.h"
#include "src/net.h"
#include "src/optim.h"
#include "src/base/util.h"
#include "tests/testutil.h"

typedef struct {
    char name[64];
    int rank, dims[4];
    size_t n;
    float *data;
} fix_tensor;

static fix_tensor g_fix[64];
static int g_nfix;

static int load_fixture(void **state) {
    (void)state;
    size_t len;
    unsigned char *buf = lpt_file_read_all(LPT_SOURCE_DIR "/tests/fixtures/lenet5_torch.bin", &len);
    if (!buf || len < 8 || memcmp(buf, "LPTFIX1", 8) != 0) return -1;
    size_t at = 8;
    while (at < len && g_nfix < 64) {
        fix_tensor *t = &g_fix[g_nfix++];
        uint32_t nl, rank, d;
        memcpy(&nl, buf + at, 4), at += 4;
        memcpy(t->name, buf + at, nl), t->name[nl] = 0, at += nl;
        memcpy(&rank, buf + at, 4), at += 4;
        t->rank = (int)rank;
        t->n = 1;
        for (uint32_t i = 0; i < rank; i++) {
            memcpy(&d, buf + at, 4), at += 4;
            t->dims[i] = (int)d;
            t->n *= d;
        }
        t->data = lpt_xmalloc(t->n * 4);
        memcpy(t->data, buf + at, t->n * 4);
        at += t->n * 4;
    }
    free(buf);
    return at == len ? 0 : -1;
}

static int free_fixture(void **state) {
    (void)state;
    for (int i = 0; i < g_nfix; i++) free(g_fix[i].data);
    return 0;
}

static const fix_tensor *fx(const char *name) {
    for (int i = 0; i < g_nfix; i++)
        if (strcmp(g_fix[i].name, name) == 0) return &g_fix[i];
    fail_msg("fixture has no tensor '%s'", name);
    return NULL;
}

static void compare(const char *what, const float *got, const fix_tensor *want, double tol) {
    double e = tu_norm_err(got, want->data, want->n);
    if (!(e <= tol)) fail_msg("%s: normalized error %g against PyTorch (tolerance %g)", what, e, tol);
}

static void run_backend(const char *backend) {
    lpt_model_spec spec;
    assert_int_equal(lpt_model_spec_load("lenet5", &spec), 0);
    lpt_backend *be = lpt_backend_create(backend, 2);
    lpt_net net;
    const int n = 8;
    assert_int_equal(lpt_net_build(&net, be, &spec, n), 0);
    lpt_sgd opt;
    assert_int_equal(lpt_sgd_init(&opt, &net), 0);
    int learnable = 0;
    for (int i = 0; i < net.np; i++) {
        const fix_tensor *t = fx(net.p[i].name);
        assert_int_equal(t->n, lpt_tensor_count(net.p[i].value));
        memcpy(net.p[i].value->data, t->data, t->n * 4);
        learnable += net.p[i].grad != NULL;
    }
    assert_int_equal(learnable, 10); /* 5 layers x (weight, bias) */
    int32_t labels[8];
    for (int i = 0; i < n; i++) labels[i] = (int32_t)fx("labels")->data[i];
    lpt_net_set_batch(&net, n, fx("input")->data, labels);
    lpt_ctx c = {.be = be, .n = n, .train = 1, .seed = 1};
    lpt_net_res_clear(&net);
    lpt_net_forward(&net, &c, 1);
    lpt_net_loss(&net, &c);
    lpt_net_res_read(&net);
    assert_int_equal(lpt_net_first_nonfinite(&net), -1);
    compare("logits", lpt_tensor_f32(&net.act[net.nlayers]), fx("logits"), 1e-5);
    double loss = net.res_host[LPT_RES_LOSS] / n;
    assert_true(fabs(loss - fx("loss")->data[0]) <= 1e-5 * fabs(fx("loss")->data[0]));
    lpt_net_backward(&net, &c);
    char name[80];
    for (int i = 0; i < net.np; i++) {
        snprintf(name, sizeof name, "grad:%s", net.p[i].name);
        compare(name, lpt_tensor_f32(net.p[i].grad), fx(name), 1e-4);
    }
    /* 3 SGD steps; losses before each step and after the last */
    lpt_sgd_cfg sc = {.lr = 0.05f, .momentum = 0.9f, .wd = 5e-4f};
    const fix_tensor *want = fx("sgd_losses");
    for (int s = 0; s < 4; s++) {
        c.step = (uint64_t)s;
        lpt_net_res_clear(&net);
        lpt_net_forward(&net, &c, 0);
        lpt_net_loss(&net, &c);
        lpt_net_res_read(&net);
        double l = net.res_host[LPT_RES_LOSS] / n;
        if (!(fabs(l - want->data[s]) <= 1e-4 * fabs(want->data[s])))
            fail_msg("%s: loss after %d SGD steps %.8f, PyTorch %.8f", backend, s, l, (double)want->data[s]);
        if (s == 3) break;
        lpt_net_backward(&net, &c);
        lpt_sgd_step(&opt, &net, &sc, sc.lr, NULL, NULL);
    }
    compare("logits after 3 SGD steps", lpt_tensor_f32(&net.act[net.nlayers]), fx("final_logits"), 1e-4);
    lpt_sgd_free(&opt);
    lpt_net_free(&net);
    lpt_backend_destroy(be);
    lpt_model_spec_free(&spec);
}

/* Learning-rate schedules with the warm-up: (step + 1) / W times the schedule's rate for
 * the first W = min(warmup, steps per epoch) steps, then the schedule alone. */
static void test_lr_schedule_warmup(void **state) {
    (void)state;
    lpt_sgd_cfg c = {.lr = 0.1f, .sched = LPT_SCHED_CONST, .warmup = 4};
    const float want[] = {0.025f, 0.05f, 0.075f, 0.1f, 0.1f};
    for (int i = 0; i < 5; i++) assert_float_equal(lpt_lr_at(&c, i, 100, 1), want[i], 1e-7);
    c.warmup = 0;
    assert_float_equal(lpt_lr_at(&c, 0, 100, 1), 0.1f, 0);
    c.warmup = 200; /* capped at one epoch of 10 steps */
    assert_float_equal(lpt_lr_at(&c, 4, 10, 3), 0.05f, 1e-7);
    assert_float_equal(lpt_lr_at(&c, 10, 10, 3), 0.1f, 0);
    c.sched = LPT_SCHED_COSINE; /* 40 steps in all: at step 1, cos(pi / 40) within the warm-up */
    c.warmup = 2;
    assert_float_equal(lpt_lr_at(&c, 1, 20, 2), 0.1 * 0.5 * (1 + cos(M_PI / 40)), 1e-7);
    assert_float_equal(lpt_lr_at(&c, 0, 20, 2), 0.05f, 1e-7);
    assert_float_equal(lpt_lr_at(&c, 20, 20, 2), 0.05f, 1e-7);
}

static void test_ref_backend(void **state) {
    (void)state;
    run_backend("ref");
}

static void test_cpu_backend(void **state) {
    (void)state;
    run_backend("cpu");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_schedule_warmup),
        cmocka_unit_test(test_ref_backend),
        cmocka_unit_test(test_cpu_backend),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
