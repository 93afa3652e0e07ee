/* golden_ref.h - what lpt golden writes and verify reads (src/golden.h): the tensors of
 * a golden folder and the reference that recomputes them from the operands. Internal to
 * golden.c and golden_verify.c. */
#ifndef LPT_GOLDEN_REF_H
#define LPT_GOLDEN_REF_H

#include <stddef.h>
#include <stdint.h>

/* the layer as a convolution (a linear layer is one with a 1x1 image) */
typedef struct {
    int n, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw;
} geom;
size_t lpt_gd_g_x(const geom *g);
size_t lpt_gd_g_w(const geom *g);
size_t lpt_gd_g_y(const geom *g);

enum { K_CODE, K_ACC, K_F32 };
extern const char *const lpt_gd_kind[3];
/* what the folder holds, in manifest order */
enum { T_X, T_W, T_BIAS, T_YACC, T_Y, T_DY, T_DWACC, T_DW, T_DXACC, T_DX, T_COUNT };
extern const char *const lpt_gd_tname[T_COUNT];

typedef struct {
    int present, kind, width, fl, ndim;
    size_t dims[4], count;
    char format[32];
    uint64_t stream;
    int64_t *v; /* values: codes, accumulators, float32 bit patterns */
} gtensor;

typedef struct {
    char layer[32], type[16];
    int64_t step;
    uint64_t seed;
    geom g;
    int relu_fused, has_bias, has_dx;
    int acc_bits[3]; /* accumulator widths of the products Y, dW, dX (the backend's choice per product) */
    gtensor t[T_COUNT];
} gset;

void lpt_gd_gset_free(gset *s);
/* the shapes, kinds and widths of s's tensors from its geometry and type */
void lpt_gd_gset_shapes(gset *s, int wa, int ww, int wg);
int lpt_gd_hex_digits(int width);
int64_t lpt_gd_sign_extend(uint64_t u, int width);
/* fits a `width`-bit two's-complement word */
int lpt_gd_fits(int64_t v, int width);
/* 0, or -1 with an error when a product's partial sums could overflow the accumulator */
int lpt_gd_check_bound(const gset *s);
/* float32(acc * 2^-fl) */
float lpt_gd_acc_value(int64_t acc, int fl);
/* What the requantization reads, from s's bias and r's accumulators (as lpt computes it):
 * Y = relu(float32(y_acc * 2^-FL) + float32(bias_acc * 2^-FL)) (relu when fused), and
 * dX = col2im of float32(dx_acc * 2^-FL) with float32 additions per plane in the order
 * (i, j, oy, ox). ypre has N*OC*OH*OW values, dxpre N*C*H*W. */
void lpt_gd_pre(const gset *s, const gset *r, float *ypre, float *dxpre);
/* everything recomputed from x, w, bias_acc and dy into r (same layout as s) */
void lpt_gd_recompute(const gset *s, gset *r);
/* "[n, c, h, w]" of flat index i */
void lpt_gd_index_text(const gtensor *t, size_t i, char *buf, size_t n);
/* every value of a against b, mismatches listed on stdout (up to max_report per
 * tensor, `who` naming a's side); *bad_tensors: how many tensors differ */
void lpt_gd_compare_sets(const gset *a, const gset *b, const char *who, int max_report, long *bad_tensors);

#endif
