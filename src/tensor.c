/* tensor.c - shapes and arenas. */
#include "src/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "src/base/util.h"

lpt_shape lpt_shape_make(int ndim, const int *dims) {
    lpt_shape s = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) s.dim[i] = dims[i];
    return s;
}

size_t lpt_shape_count(const lpt_shape *s) {
    size_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= (size_t)s->dim[i];
    return s->ndim ? n : 0;
}

size_t lpt_shape_item_count(const lpt_shape *s) {
    size_t n = 1;
    for (int i = 1; i < s->ndim; i++) n *= (size_t)s->dim[i];
    return n;
}

void lpt_shape_format(const lpt_shape *s, int from, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = from; i < s->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i > from ? "x%d" : "%d", s->dim[i]);
}

size_t lpt_tensor_bytes(const lpt_tensor *t) {
    return lpt_tensor_count(t) * lpt_format_traits_of(t->fmt)->storage_bytes;
}

size_t lpt_tensor_code_bytes(const lpt_tensor *t) {
    return lpt_tensor_count(t) * (size_t)lpt_qformat_code_bytes(&t->grid);
}

void lpt_arena_init(lpt_arena *a, lpt_backend *be) {
    memset(a, 0, sizeof *a);
    a->be = be;
}

void lpt_arena_reserve(lpt_arena *a, lpt_tensor *t) {
    if (a->count == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        lpt_tensor **items = realloc(a->items, (size_t)a->cap * sizeof *items);
        if (!items) {
            fprintf(stderr, "lpt: out of memory growing an arena\n");
            exit(1);
        }
        a->items = items;
    }
    a->items[a->count++] = t;
}

#define LPT_ARENA_ALIGN 64

int lpt_arena_commit(lpt_arena *a) {
    size_t total = 0;
    for (int i = 0; i < a->count; i++)
        total += (lpt_tensor_bytes(a->items[i]) + LPT_ARENA_ALIGN - 1) & ~(size_t)(LPT_ARENA_ALIGN - 1);
    a->bytes = total;
    a->base = a->be->alloc(a->be, total ? total : LPT_ARENA_ALIGN);
    if (!a->base) {
        lpt_error_set("cannot allocate %zu bytes on backend '%s'", total, a->be->name);
        return -1;
    }
    a->be->fill(a->be, total / sizeof(float), (float *)a->base, 0.0f);
    size_t off = 0;
    for (int i = 0; i < a->count; i++) {
        a->items[i]->data = (char *)a->base + off;
        off += (lpt_tensor_bytes(a->items[i]) + LPT_ARENA_ALIGN - 1) & ~(size_t)(LPT_ARENA_ALIGN - 1);
    }
    return 0;
}

void lpt_arena_free(lpt_arena *a) {
    if (a->base) a->be->free(a->be, a->base);
    free(a->items);
    memset(a, 0, sizeof *a);
}
