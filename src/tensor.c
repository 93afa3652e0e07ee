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

#define LPT_ARENA_ALIGN 64

void lpt_arena_reserve(lpt_arena *a, lpt_tensor *t) { lpt_arena_reserve_live(a, t, "", (lpt_live){0}); }

void lpt_arena_reserve_live(lpt_arena *a, lpt_tensor *t, const char *name, lpt_live live) {
    if (a->count == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        lpt_tensor **items = realloc(a->items, (size_t)a->cap * sizeof *items);
        lpt_live *lv = realloc(a->live, (size_t)a->cap * sizeof *lv);
        char(*names)[48] = realloc(a->names, (size_t)a->cap * sizeof *names);
        int *alias = realloc(a->alias, (size_t)a->cap * sizeof *alias);
        if (alias) a->alias = alias;
        if (!items || !lv || !names || !alias) {
            fprintf(stderr, "lpt: out of memory growing an arena\n");
            exit(1);
        }
        a->items = items, a->live = lv, a->names = names;
    }
    a->live[a->count] = live;
    a->alias[a->count] = -1;
    snprintf(a->names[a->count], sizeof a->names[0], "%s", name);
    a->items[a->count++] = t;
}

static int item_of(const lpt_arena *a, const lpt_tensor *t) {
    for (int i = 0; i < a->count; i++)
        if (a->items[i] == t) return i;
    return -1;
}

void lpt_arena_relive(lpt_arena *a, const lpt_tensor *t, lpt_live live) {
    const int i = item_of(a, t);
    if (i >= 0) a->live[i] = live;
}

void lpt_arena_alias(lpt_arena *a, const lpt_tensor *t, const lpt_tensor *of) {
    int i = item_of(a, t), j = item_of(a, of);
    if (i < 0 || j < 0 || i == j) return;
    while (a->alias[j] >= 0) j = a->alias[j]; /* (a chain: the first holds the bytes) */
    a->alias[i] = j;
    for (int k = 0; k < a->count; k++) /* those that shared t's bytes share j's */
        if (a->alias[k] == i) a->alias[k] = j;
    lpt_live *x = &a->live[j];
    const lpt_live *y = &a->live[i];
    if (!x->n || !y->n) {
        x->n = 0;
        return;
    }
    int lo = x->from[0], hi = x->to[0];
    for (int k = 0; k < x->n; k++) lo = x->from[k] < lo ? x->from[k] : lo, hi = x->to[k] > hi ? x->to[k] : hi;
    for (int k = 0; k < y->n; k++) lo = y->from[k] < lo ? y->from[k] : lo, hi = y->to[k] > hi ? y->to[k] : hi;
    *x = (lpt_live){1, {lo, 0}, {hi, 0}};
}

size_t lpt_arena_size(const lpt_tensor *t) {
    return (lpt_tensor_bytes(t) + LPT_ARENA_ALIGN - 1) & ~(size_t)(LPT_ARENA_ALIGN - 1);
}

static int lives_overlap(const lpt_live *x, const lpt_live *y) {
    if (!x->n || !y->n) return 1;
    for (int i = 0; i < x->n; i++)
        for (int j = 0; j < y->n; j++)
            if (x->from[i] <= y->to[j] && y->from[j] <= x->to[i]) return 1;
    return 0;
}

/* the planned offsets (largest first, lowest free offset); the bytes they span */
static size_t plan_offsets(const lpt_arena *a, size_t *off) {
    int *order = lpt_xmalloc((size_t)a->count * sizeof *order + 1), *placed = lpt_xmalloc((size_t)a->count * sizeof *placed + 1);
    for (int i = 0; i < a->count; i++) order[i] = i;
    for (int i = 1; i < a->count; i++) /* by size, descending; ties in reservation order */
        for (int j = i; j > 0 && lpt_arena_size(a->items[order[j]]) > lpt_arena_size(a->items[order[j - 1]]); j--) {
            const int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    size_t total = 0;
    int np = 0;
    for (int k = 0; k < a->count; k++) {
        const int i = order[k];
        if (a->alias[i] >= 0) continue; /* (placed with the one it shares) */
        const size_t size = lpt_arena_size(a->items[i]);
        size_t at = 0;
        for (int moved = 1; moved;) { /* the lowest offset clear of every conflicting placed tensor */
            moved = 0;
            for (int q = 0; q < np; q++) {
                const int j = placed[q];
                if (!lives_overlap(&a->live[i], &a->live[j])) continue;
                const size_t sj = lpt_arena_size(a->items[j]);
                if (at < off[j] + sj && off[j] < at + size) at = off[j] + sj, moved = 1;
            }
        }
        off[i] = at;
        placed[np++] = i;
        if (at + size > total) total = at + size;
    }
    for (int i = 0; i < a->count; i++) { /* (lpt_arena_alias points each at the one placed) */
        int r = i;
        while (a->alias[r] >= 0) r = a->alias[r];
        off[i] = off[r];
    }
    free(order);
    free(placed);
    return total;
}

size_t lpt_arena_plan_bytes(const lpt_arena *a) {
    size_t *off = lpt_xcalloc((size_t)a->count + 1, sizeof *off);
    const size_t total = plan_offsets(a, off);
    free(off);
    return total;
}

int lpt_arena_commit(lpt_arena *a) {
    size_t total = 0;
    free(a->offset);
    a->offset = lpt_xcalloc((size_t)a->count + 1, sizeof *a->offset);
    for (int i = 0; i < a->count; i++) a->offset[i] = total, total += lpt_arena_size(a->items[i]);
    a->bytes_unplanned = total;
    if (a->plan) total = plan_offsets(a, a->offset);
    a->bytes = total;
    if (a->dry) return 0;
    a->base = a->be->alloc(a->be, total ? total : LPT_ARENA_ALIGN);
    if (!a->base) {
        lpt_error_set("cannot allocate %zu bytes on backend '%s'", total, a->be->name);
        return -1;
    }
    a->be->fill(a->be, total / sizeof(float), (float *)a->base, 0.0f);
    for (int i = 0; i < a->count; i++) a->items[i]->data = (char *)a->base + a->offset[i];
    return 0;
}

void lpt_arena_free(lpt_arena *a) {
    if (a->base) a->be->free(a->be, a->base);
    free(a->items);
    free(a->live);
    free(a->names);
    free(a->alias);
    free(a->offset);
    memset(a, 0, sizeof *a);
}
