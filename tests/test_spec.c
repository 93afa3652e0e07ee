/* test_spec.c - model specs: the built-in models, and bad specs refused with the file,
 * the line and the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/model.h"
#include "src/net.h"
#include "src/base/util.h"
#include "tests/testutil.h"

static lpt_backend *g_be;

static int setup(void **s) {
    (void)s;
    g_be = lpt_backend_create("ref", 1);
    return 0;
}

static int teardown(void **s) {
    (void)s;
    lpt_backend_destroy(g_be);
    return 0;
}

static size_t built_params(const char *name, int *nlayers) {
    lpt_model_spec spec;
    assert_int_equal(lpt_model_spec_load(name, &spec), 0);
    lpt_net net;
    if (lpt_net_build(&net, g_be, &spec, 4) != 0) fail_msg("%s: %s", name, lpt_error_get());
    size_t n = lpt_net_param_count(&net);
    *nlayers = net.nlayers;
    assert_int_equal(net.classes, 10);
    lpt_net_free(&net);
    lpt_model_spec_free(&spec);
    return n;
}

static void test_builtins(void **s) {
    (void)s;
    int nl;
    /* 784*256+256 + 256*128+128 + 128*10+10 */
    assert_int_equal(built_params("mlp", &nl), 235146);
    assert_int_equal(nl, 6);
    /* 6*25+6 + 16*150+16 + 400*120+120 + 120*84+84 + 84*10+10 */
    assert_int_equal(built_params("lenet5", &nl), 61706);
    assert_int_equal(nl, 12);
    /* convs (no bias): 32*9 + 32*288 + 64*288 + 64*576 + 128*576; bn scale+shift:
     * 2*(32+32+64+64+128+256); fc1 1152*256 (no bias); fc2 256*10+10 */
    assert_int_equal(built_params("vgg", &nl), 288 + 9216 + 18432 + 36864 + 73728 + 1152 + 294912 + 2570);
}

/* parse (and build, when parsing succeeds) must fail with all needles in the message */
static void expect_bad(const char *text, const char *n1, const char *n2) {
    lpt_model_spec spec;
    int rc = lpt_model_spec_parse(text, "bad.spec", &spec);
    if (rc == 0) {
        lpt_net net;
        rc = lpt_net_build(&net, g_be, &spec, 2);
        lpt_model_spec_free(&spec);
        if (rc == 0) {
            lpt_net_free(&net);
            fail_msg("spec was accepted:\n%s", text);
        }
    }
    const char *e = lpt_error_get();
    if (!strstr(e, n1) || (n2 && !strstr(e, n2))) fail_msg("error '%s' lacks '%s'/'%s'", e, n1, n2 ? n2 : "");
}

static void test_bad_specs(void **s) {
    (void)s;
    expect_bad("", "bad.spec", "empty");
    expect_bad("# only a comment\n", "bad.spec", "empty");
    expect_bad("conv2d out=3 k=3\n", "bad.spec:1", "must start with 'input");
    expect_bad("input 1x28\nflatten\n", "bad.spec:1", "CxHxW");
    expect_bad("input 0x28x28\nflatten\n", "bad.spec:1", "CxHxW");
    expect_bad("input 1x28x28\ninput 1x28x28\n", "bad.spec:2", "once");
    expect_bad("input 1x28x28\n", "bad.spec", "no layers");
    expect_bad("input 1x28x28\nconvolution out=3\n", "bad.spec:2", "unknown layer type 'convolution'");
    expect_bad("input 1x28x28\nconv2d out=3 k=3 colour=red\n", "bad.spec:2", "no option 'colour'");
    expect_bad("input 1x28x28\nconv2d k=3\n", "bad.spec:2", "missing option out");
    expect_bad("input 1x28x28\nconv2d out=3\n", "bad.spec:2", "kernel size");
    expect_bad("input 1x28x28\nconv2d out=three k=3\n", "bad.spec:2", "out=three");
    expect_bad("input 1x28x28\nconv2d out=3 k=0\n", "bad.spec:2", "k=0");
    expect_bad("input 1x28x28\nconv2d out=3 k=3 k=5\n", "bad.spec:2", "twice");
    expect_bad("input 1x28x28\nconv2d out=3 k=3 pad\n", "bad.spec:2", "key=value");
    expect_bad("input 1x28x28\nconv2d out=3 k=40\n", "bad.spec:2", "does not fit");
    expect_bad("input 1x28x28\nlinear out=10\n", "bad.spec:2", "flatten");
    expect_bad("input 1x28x28\nflatten\nconv2d out=3 k=3\n", "bad.spec:3", "image input");
    expect_bad("input 1x28x28\nconv2d out=3 k=3\n", "bad.spec", "last layer");
    expect_bad("input 1x28x28\nflatten\nlinear out=1\n", "bad.spec", "at least 2");
    expect_bad("input 1x28x28\nflatten\nlinear name=a out=5\nlinear name=a out=10\n", "bad.spec:4", "twice");
    expect_bad("input 1x28x28\nflatten\nlinear name=a/b out=5\n", "bad.spec:3", "letters");
    expect_bad("input 1x28x28\nflatten\ndropout p=1.5\nlinear out=10\n", "bad.spec:3", "p=1.5");
    expect_bad("input 1x28x28\nmaxpool k=2 pad=2\nflatten\nlinear out=10\n", "bad.spec:2", "does not fit");
}

static void test_spec_file(void **s) {
    (void)s;
    char *dir = tu_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/tiny.spec", dir);
    const char *text = "# a tiny CNN\ninput 1x28x28\nconv2d out=4 k=3 stride=2 pad=1  # 14x14\n"
                       "batchnorm\nrelu\navgpool k=2\nflatten\ndropout p=0.1\nlinear out=10\n";
    tu_write_file(path, text, strlen(text));
    lpt_model_spec spec;
    assert_int_equal(lpt_model_spec_load(path, &spec), 0);
    assert_int_equal(spec.nlayers, 7);
    lpt_net net;
    assert_int_equal(lpt_net_build(&net, g_be, &spec, 3), 0);
    assert_int_equal(net.act[2].shape.dim[2], 14);
    assert_int_equal(net.act[4].shape.dim[2], 7);
    assert_string_equal(net.layers[0].name, "conv2d1");
    assert_string_equal(net.layers[2].name, "relu1");
    assert_non_null(lpt_net_find_param(&net, "batchnorm1.running_var"));
    lpt_net_free(&net);
    lpt_model_spec_free(&spec);
    /* a binary file and a missing file */
    snprintf(path, sizeof path, "%s/binary.spec", dir);
    tu_write_file(path, "input\0\1\2", 8);
    assert_int_not_equal(lpt_model_spec_load(path, &spec), 0);
    assert_non_null(strstr(lpt_error_get(), "binary"));
    assert_int_not_equal(lpt_model_spec_load("no-such-model", &spec), 0);
    assert_non_null(strstr(lpt_error_get(), "mlp, lenet5, vgg"));
    unlink(path);
    snprintf(path, sizeof path, "%s/tiny.spec", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_spec_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
