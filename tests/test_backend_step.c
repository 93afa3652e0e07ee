/* test_backend_step.c - the table entries of the training step's own decisions, on every
 * backend that starts (host memory or device memory alike): fp16 dynamic loss scaling. */
#include <stdlib.h>
#include <string.h>

#include "src/base/util.h"
#include "tests/testutil.h"

/* fp16 loss scaling on the backend: loss_scale_check decides, sgd_step unscales or
 * skips, as the host did before (every backend against the rule written out here) */
static void test_loss_scale(void **state) {
    (void)state;
    const size_t n = 1000;
    float *w0 = tu_rand(n, 21, -1, 1), *g = tu_rand(n, 22, -1, 1), *m0 = tu_rand(n, 23, -1, 1);
    float *want = lpt_xmalloc(n * 4), *mw = lpt_xmalloc(n * 4), *gs = lpt_xmalloc(n * 4), *got = lpt_xmalloc(n * 4);
    /* the update with g * (1/S), S = 1024, written as the host did it: scale, then step */
    memcpy(want, w0, n * 4), memcpy(mw, m0, n * 4);
    for (size_t i = 0; i < n; i++) gs[i] = g[i] * (1.0f / 1024);
    tu_ref->sgd_step(tu_ref, n, 0.1f, 0.9f, 5e-4f, want, gs, mw, NULL, NULL);
    TU_EACH_BACKEND(be, d) {
        double counts[3] = {0, 0, 0}, skipped = 7, got_counts[3];
        float st[2] = {1024.0f, 0.0f}, got_st[2];
        int32_t skip = -1, got_skip;
        double *dc = tu_din(&d, counts, sizeof counts), *dsk = tu_din(&d, &skipped, sizeof skipped);
        float *dst = tu_din(&d, st, sizeof st);
        int32_t *dskip = tu_din(&d, &skip, sizeof skip);
        float *dw = tu_din(&d, w0, n * 4), *dm = tu_din(&d, m0, n * 4), *dg = tu_din(&d, g, n * 4);
        /* a finite step: no skip, 1/S for the update, S kept */
        be->loss_scale_check(be, 3, dc, dst, dskip, dsk);
        tu_dget(&d, got_st, dst, sizeof got_st);
        tu_dget(&d, &got_skip, dskip, sizeof got_skip);
        assert_true(got_st[0] == 1024.0f && got_st[1] == 1.0f / 1024 && got_skip == 0);
        be->sgd_step(be, n, 0.1f, 0.9f, 5e-4f, dw, dg, dm, dst + 1, dskip);
        tu_dget(&d, got, dw, n * 4);
        assert_memory_equal(got, want, n * 4);
        /* an overflowing step: skipped (nothing moves), S halved, counts cleared */
        counts[1] = 3;
        be->to_device(be, dc, counts, sizeof counts);
        be->loss_scale_check(be, 3, dc, dst, dskip, dsk);
        be->sgd_step(be, n, 0.1f, 0.9f, 5e-4f, dw, dg, dm, dst + 1, dskip);
        tu_dget(&d, got, dw, n * 4);
        assert_memory_equal(got, want, n * 4);
        tu_dget(&d, got_st, dst, sizeof got_st);
        tu_dget(&d, &got_skip, dskip, sizeof got_skip);
        tu_dget(&d, got_counts, dc, sizeof got_counts);
        tu_dget(&d, &skipped, dsk, sizeof skipped);
        assert_true(got_st[0] == 512.0f && got_skip == 1 && skipped == 8);
        assert_true(got_counts[0] == 0 && got_counts[1] == 0 && got_counts[2] == 0);
        /* S never goes below 1 */
        const float one[2] = {1.0f, 1.0f};
        be->to_device(be, dst, one, sizeof one);
        be->to_device(be, dc, counts, sizeof counts);
        be->loss_scale_check(be, 3, dc, dst, dskip, dsk);
        tu_dget(&d, got_st, dst, sizeof got_st);
        assert_true(got_st[0] == 1.0f);
    }
    free(w0), free(g), free(m0), free(want), free(mw), free(gs), free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_scale),
    };
    return cmocka_run_group_tests(tests, tu_backends_setup, tu_backends_teardown);
}
