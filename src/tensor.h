/* tensor.h - tensors and arenas.
 *
 * A tensor is a view: shape (up to 4 dims, NCHW for images), a number format, and a
 * pointer into memory owned by an arena of the backend that computes on it (host memory
 * for the CPU backends, device memory for a GPU backend). */
#ifndef LPT_TENSOR_H
#define LPT_TENSOR_H

#include <stddef.h>

#include "quant/format.h"

#define LPT_MAX_DIMS 4

typedef struct lpt_backend lpt_backend;

typedef struct {
    int ndim;
    int dim[LPT_MAX_DIMS]; /* dim[0] is the batch for activations */
} lpt_shape;

typedef struct {
    lpt_shape shape;
    lpt_format fmt; /* how the elements are stored */
    void *data;     /* backend memory; set when the owning arena is committed */
    /* The number format the values are on (a quantization point's output: dfp, fp16,
     * bf16, fp8); fp32 when they are plain floats. For dfp, fl points to the FL in
     * backend memory (the quantization point's live state; read at a sync point). A
     * backend may store the values as float32 (the CPU's exact float GEMMs want that) or
     * as codes of the format's width (the table's pack and unpack convert); the stored
     * width is what lpt_tensor_code_bytes reports. */
    lpt_qformat grid;
    const int *fl;
} lpt_tensor;

lpt_shape lpt_shape_make(int ndim, const int *dims);
size_t lpt_shape_count(const lpt_shape *s);
/* Elements per batch item (product of dims 1..ndim-1). */
size_t lpt_shape_item_count(const lpt_shape *s);
/* "1x28x28" style text of dims [from, ndim). */
void lpt_shape_format(const lpt_shape *s, int from, char *buf, size_t n);

static inline size_t lpt_tensor_count(const lpt_tensor *t) { return lpt_shape_count(&t->shape); }
static inline float *lpt_tensor_f32(const lpt_tensor *t) { return (float *)t->data; }
size_t lpt_tensor_bytes(const lpt_tensor *t);
/* Bytes of the tensor stored as codes of its grid format (dfp: 1, 2 or 4 bytes by
 * width; fp16/bf16: 2; fp8: 1; fp32: 4 per element). */
size_t lpt_tensor_code_bytes(const lpt_tensor *t);
/* y holds values on x's grid (ReLU, max pooling and reshapes keep the grid). */
static inline void lpt_tensor_keep_grid(lpt_tensor *y, const lpt_tensor *x) {
    y->grid = x->grid;
    y->fl = x->fl;
}

/* When a tensor is in use within a training step, for the memory planner: up to two
 * intervals of phases [from, to] (src/layer.h numbers the phases); n = 0: always. */
typedef struct {
    int n;
    int from[2], to[2];
} lpt_live;

/* An arena is one allocation sliced into tensors. Tensors are reserved first (their
 * addresses are remembered, with a name and when they are in use), then the arena is
 * committed once: one backend allocation, every reserved tensor's data pointer set,
 * memory zeroed. Unplanned, every tensor has its own bytes; planned (plan = 1 before
 * the commit), tensors whose lifetimes do not overlap share them (lpt_arena_commit). */
typedef struct {
    lpt_backend *be;
    lpt_tensor **items;
    lpt_live *live;
    char (*names)[48];
    int *alias;           /* planned: the item whose bytes an item shares (lpt_arena_alias), or -1 */
    size_t *offset;       /* each item's place, after the commit */
    int count, cap;
    int plan;
    int dry;              /* commit places the tensors but allocates nothing (sizes only) */
    size_t bytes;         /* allocated */
    size_t bytes_unplanned; /* every tensor on its own */
    void *base;
} lpt_arena;

void lpt_arena_init(lpt_arena *a, lpt_backend *be);
/* reserve t, in use for the whole step (lpt_arena_reserve_live with n = 0) */
void lpt_arena_reserve(lpt_arena *a, lpt_tensor *t);
void lpt_arena_reserve_live(lpt_arena *a, lpt_tensor *t, const char *name, lpt_live live);
/* reserved t is in use in `live` instead (before the commit) */
void lpt_arena_relive(lpt_arena *a, const lpt_tensor *t, lpt_live live);
/* Planned: reserved t shares the bytes of reserved `of` (an operation that may run in
 * place: y = f(x) with y == x), which then is in use while either is (one interval from
 * the first phase to the last). Unplanned, nothing changes. */
void lpt_arena_alias(lpt_arena *a, const lpt_tensor *t, const lpt_tensor *of);
/* The bytes a planned commit would take, placing nothing (to compare plans). */
size_t lpt_arena_plan_bytes(const lpt_arena *a);
/* the aligned bytes a tensor takes in an arena */
size_t lpt_arena_size(const lpt_tensor *t);
/* Place every tensor and allocate: unplanned, one after the other; planned, largest
 * first, each at the lowest offset free of every placed tensor whose lifetime overlaps
 * its own. 0, or -1 with an error. */
int lpt_arena_commit(lpt_arena *a);
void lpt_arena_free(lpt_arena *a);

#endif
