/* testutil.c - helpers shared by the cmocka suites. */
#include "tests/testutil.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/data.h"
#include "src/base/rng.h"
#include "src/base/util.h"

float *tu_rand(size_t n, uint64_t seed, float lo, float hi) {
    float *x = lpt_xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * lpt_rng_uniform(seed, 99, i);
    return x;
}

double tu_norm_err(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)b[i];
        d += e * e;
        r += (double)b[i] * b[i];
    }
    if (d != d) return INFINITY;
    return sqrt(d) / (r > 0 ? sqrt(r) : 1e-30);
}

char *tu_tmpdir(void) {
    char *t = lpt_xstrdup("/tmp/lpt-test-XXXXXX");
    if (!mkdtemp(t)) {
        perror("mkdtemp");
        exit(1);
    }
    return t;
}

void tu_rmtree(char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strncmp(dir, "/tmp/lpt-test-", 14) == 0 && system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    free(dir);
}

void tu_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_split(const char *dir, const char *prefix, int n, uint64_t seed) {
    const int h = 28, w = 28;
    size_t ib = 16 + (size_t)n * h * w, lb = 8 + (size_t)n;
    unsigned char *img = lpt_xcalloc(ib, 1), *lab = lpt_xcalloc(lb, 1);
    put_be32(img, 0x803);
    put_be32(img + 4, (uint32_t)n);
    put_be32(img + 8, (uint32_t)h);
    put_be32(img + 12, (uint32_t)w);
    put_be32(lab, 0x801);
    put_be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        int cls = (int)(lpt_rng_bits(seed, 1, (uint64_t)i) % 10);
        lab[8 + i] = (unsigned char)cls;
        unsigned char *p = img + 16 + (size_t)i * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                /* class k: a bright horizontal bar at rows 2k+3..2k+5, plus noise */
                float v = 60.0f * lpt_rng_uniform(seed, 2, (uint64_t)i * h * w + (uint64_t)y * w + x);
                if (y >= 2 * cls + 3 && y < 2 * cls + 6 && x > 3 && x < 24) v += 180.0f;
                p[y * w + x] = (unsigned char)(v > 255 ? 255 : v);
            }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    tu_write_file(path, img, ib);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    tu_write_file(path, lab, lb);
    free(img);
    free(lab);
}

void tu_write_synthetic_mnist(const char *dir, int ntrain, int ntest, uint64_t seed) {
    write_split(dir, "train", ntrain, seed);
    write_split(dir, "t10k", ntest, seed + 1000);
}

static char *slurp_fd(int fd) {
    lpt_buf b = {0};
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd, chunk, sizeof chunk)) > 0) lpt_buf_put(&b, chunk, (size_t)r);
    lpt_buf_put(&b, "", 1);
    return (char *)b.data;
}

int tu_run(char *const argv[], char **out, char **err) {
    char *tdir = tu_tmpdir();
    char po[4200], pe[4200];
    snprintf(po, sizeof po, "%s/out", tdir);
    snprintf(pe, sizeof pe, "%s/err", tdir);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(po, "w", stdout) || !freopen(pe, "w", stderr)) _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (out) {
        FILE *f = fopen(po, "rb");
        *out = slurp_fd(fileno(f));
        fclose(f);
    }
    if (err) {
        FILE *f = fopen(pe, "rb");
        *err = slurp_fd(fileno(f));
        fclose(f);
    }
    unlink(po);
    unlink(pe);
    rmdir(tdir);
    free(tdir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tu_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

void tu_layer_build(tu_layer *t, const char *backend, const char *type, const char *opts, int ndim,
                    const int *dims) {
    memset(t, 0, sizeof *t);
    t->be = lpt_backend_create(backend, 2);
    assert_non_null(t->be);
    lpt_kv kv[8];
    int nkv = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", opts);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok && nkv < 8; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = 0;
        memset(&kv[nkv], 0, sizeof kv[nkv]);
        snprintf(kv[nkv].key, sizeof kv[nkv].key, "%s", tok);
        snprintf(kv[nkv].value, sizeof kv[nkv].value, "%s", eq + 1);
        nkv++;
    }
    lpt_layer_args args = {.kv = kv, .count = nkv, .where = "test"};
    t->l.index = 1; /* not the first layer: dx is computed */
    snprintf(t->l.name, sizeof t->l.name, "%s", type);
    assert_int_equal(lpt_layer_create(type, &args, &t->l), 0);
    lpt_arena_init(&t->params, t->be);
    lpt_arena_init(&t->grads, t->be);
    lpt_arena_init(&t->work, t->be);
    lpt_build b = {.params = &t->params, .grads = &t->grads, .work = &t->work, .batch = dims[0]};
    t->l.in = lpt_shape_make(ndim, dims);
    if (t->l.ops->setup(&t->l, &t->l.in, &t->l.out, &b) != 0) fail_msg("setup: %s", lpt_error_get());
    t->x = t->dx = (lpt_tensor){.shape = t->l.in, .fmt = LPT_FMT_FP32};
    t->y = t->dy = (lpt_tensor){.shape = t->l.out, .fmt = LPT_FMT_FP32};
    lpt_arena_reserve(&t->work, &t->x);
    lpt_arena_reserve(&t->work, &t->dx);
    lpt_arena_reserve(&t->work, &t->y);
    lpt_arena_reserve(&t->work, &t->dy);
    assert_int_equal(lpt_arena_commit(&t->params), 0);
    assert_int_equal(lpt_arena_commit(&t->grads), 0);
    assert_int_equal(lpt_arena_commit(&t->work), 0);
}

void tu_layer_free(tu_layer *t) {
    t->l.ops->free(&t->l);
    lpt_arena_free(&t->params);
    lpt_arena_free(&t->grads);
    lpt_arena_free(&t->work);
    lpt_backend_destroy(t->be);
}

int tu_have_fashion_mnist(void) {
    struct stat st;
    return stat(LPT_DEFAULT_DATA, &st) == 0 && S_ISDIR(st.st_mode);
}

int tu_interrupt(char *const argv[], const char *when, char **rest) {
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        close(pipefd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    char line[512];
    int seen = 0;
    while (!seen && fgets(line, sizeof line, f)) seen = strstr(line, when) != NULL;
    if (seen) kill(pid, SIGINT);
    lpt_buf b = {0};
    while (fgets(line, sizeof line, f)) lpt_buf_put(&b, line, strlen(line));
    lpt_buf_put(&b, "", 1);
    fclose(f);
    *rest = (char *)b.data;
    int status;
    waitpid(pid, &status, 0);
    if (!seen) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tu_run_lpt(char **out, char **err, ...) {
    char *argv[32] = {(char *)LPT_BINARY};
    int n = 1;
    va_list ap;
    va_start(ap, err);
    for (char *a; n < 31 && (a = va_arg(ap, char *));) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return tu_run(argv, out, err);
}

lpt_backend *tu_ref, *tu_under[TU_MAX_BACKENDS], *tu_under1[TU_MAX_BACKENDS];
int tu_n_under;

int tu_backends_setup(void **state) {
    (void)state;
    tu_ref = lpt_backend_create("ref", 1);
    for (int i = 0; i < lpt_backend_count() && tu_n_under < TU_MAX_BACKENDS; i++) {
        const char *name = lpt_backend_name(i);
        if (strcmp(name, "ref") == 0) continue;
        lpt_backend *be = lpt_backend_create(name, 2), *be1 = be ? lpt_backend_create(name, 1) : NULL;
        if (!be || !be1) {
            print_message("backend %s cannot start here (%s): its operations are skipped\n", name, lpt_error_get());
            if (be) lpt_backend_destroy(be);
            continue;
        }
        tu_under[tu_n_under] = be;
        tu_under1[tu_n_under++] = be1;
    }
    if (!tu_n_under) print_message("no backend besides ref can start here: nothing to compare\n");
    return tu_ref ? 0 : -1;
}

static struct {
    char backend[16], op[48];
    double err;
    long checks;
} g_notes[128];
static int g_nnotes;

void tu_note(const char *backend, const char *op, double err) {
    int i = 0;
    while (i < g_nnotes && (strcmp(g_notes[i].backend, backend) || strcmp(g_notes[i].op, op))) i++;
    if (i == g_nnotes) {
        if (g_nnotes == 128) return;
        snprintf(g_notes[i].backend, sizeof g_notes[i].backend, "%s", backend);
        snprintf(g_notes[i].op, sizeof g_notes[i].op, "%s", op);
        g_nnotes++;
    }
    if (err > g_notes[i].err || isnan(err)) g_notes[i].err = err;
    g_notes[i].checks++;
}

static void print_notes(void) {
    if (!g_nnotes) return;
    print_message("largest error against ref (normalized ||be - ref|| / ||ref||; 0: bit for bit):\n");
    for (int i = 0; i < g_nnotes; i++)
        print_message("  %-6s %-28s %-12.3g (%ld checks)\n", g_notes[i].backend, g_notes[i].op, g_notes[i].err,
                      g_notes[i].checks);
    g_nnotes = 0;
}

int tu_lacks(const lpt_backend *be, lpt_op op, lpt_format fmt) {
    static char said[TU_MAX_BACKENDS][LPT_OP_COUNT];
    if (be->supports(be, op, fmt)) return 0;
    int u = 0;
    while (u < tu_n_under && tu_under[u] != be && tu_under1[u] != be) u++;
    if (u < TU_MAX_BACKENDS && (unsigned)op < LPT_OP_COUNT && !said[u][op]) {
        print_message("backend %s does not compute %s for %s: skipped there\n", be->name, lpt_op_name(op),
                      lpt_format_traits_of(fmt)->name);
        said[u][op] = 1;
    }
    return 1;
}

int tu_backends_teardown(void **state) {
    (void)state;
    print_notes();
    lpt_backend_destroy(tu_ref);
    for (int i = 0; i < tu_n_under; i++) lpt_backend_destroy(tu_under[i]), lpt_backend_destroy(tu_under1[i]);
    tu_n_under = 0;
    return 0;
}

void *tu_din(tu_dev *d, const void *host, size_t bytes) {
    assert_true(d->n < 32);
    void *p = d->be->alloc(d->be, bytes ? bytes : 1);
    assert_non_null(p);
    if (bytes) d->be->to_device(d->be, p, host, bytes);
    return d->p[d->n++] = p;
}

void *tu_dnew(tu_dev *d, size_t bytes) {
    void *h = lpt_xmalloc(bytes + 1);
    memset(h, 0xff, bytes);
    void *p = tu_din(d, h, bytes);
    free(h);
    return p;
}

void tu_dget(tu_dev *d, void *host, const void *p, size_t bytes) { lpt_backend_read(d->be, host, p, bytes); }

void tu_dfree(tu_dev *d) {
    for (int i = 0; i < d->n; i++) d->be->free(d->be, d->p[i]);
    d->n = 0;
}

char *tu_tmpdir_with_data(int ntrain, int ntest, uint64_t seed, char *data, size_t n) {
    char *dir = tu_tmpdir();
    snprintf(data, n, "%s/data", dir);
    assert_int_equal(lpt_mkdirs(data), 0);
    tu_write_synthetic_mnist(data, ntrain, ntest, seed);
    return dir;
}
