/* cpu_gemm_f2d.h - exact products with the conversion inside the kernel, written once
 * for any vector width; included by cpu_gemm.c once per instruction set (AVX-512: 8
 * doubles per vector and 32 registers; AVX2: 4 and 16), with these macros defined:
 *   F2D(name)        the function's name at this level (name ## _v4, ...)
 *   F2D_TARGET       the target attribute
 *   F2D_VL           doubles per vector;  f2d_vd, f2d_mask: the vector and mask types
 *   F2D_MASK(left)   a mask of the first min(left, F2D_VL) lanes (none when left <= 0)
 *   F2D_LOADF(m, p)  F2D_VL floats at p (masked lanes 0), widened to doubles
 *   F2D_LOADD, F2D_STORED, F2D_STOREF (narrowed to floats), F2D_SET1, F2D_ZERO, F2D_FMA,
 *   F2D_ADD, F2D_REDUCE (sum of the lanes)
 *   F2D_NN_SHAPE(m, nv, mr)  register tile for m rows: nv vectors of columns, mr rows
 *   F2D_NN_CASES(X)  every (nv, rows) pair F2D_NN_SHAPE can give, as X(V, R)
 *   F2D_LOADF_FULL(p), F2D_LOADD_FULL(p), F2D_STORED_FULL(p, x)  unmasked (every lane inside)
 *   f2d_packed       float or double: the element nn packs B's panels in
 *   F2D_NT_R, F2D_NT_Q  the nt tile: rows of A (at most 6) and rows of B (at most 4)
 *   F2D_NT_CASES(X)  every (rows, cols) pair up to those, as X(R, Q)
 *
 * Float operands are widened in registers and multiplied into double accumulators, so
 * no widened copy of op(B) is written and read back (that pass was the largest cost of
 * dfp16 products: perf, LeNet-5 int16-dyn). Every partial sum is exact, so the order is
 * free.
 *
 * nn: C(m, n) = op(A) B. Per strip of output columns and reduction chunk, op(A) is
 * widened into doubles packed by row blocks (a tile's broadcasts one step apart; A is
 * the small operand in every layer), B is read as floats: register tiles of mr rows x
 * nv vectors of columns, per reduction step nv vectors of B converted and one broadcast
 * of A per row. When one tile covers all rows it reads B where it lies, fetching the
 * next panel's row ahead (B's rows are far apart and the hardware prefetcher does not
 * follow); with more rows each panel is packed first, reading B's rows as runs, and the
 * row blocks read the packed panel from L1.
 * Measured (LeNet-5 int16-dyn, 1 thread, AVX-512): the exact products of a step 6.9 ->
 * 4.2 ms. */

F2D_TARGET static inline __attribute__((always_inline)) void F2D(nn_tile)(const int mr, const int nv, int kb,
                                                                         const double *ad, const float *b, int ldb,
                                                                         const double *bd, int cols, int stage,
                                                                         double *cd, int ldcd, float *c, int ldc) {
    f2d_vd acc[24][4];
    f2d_mask cm[4];
    const int full = cols >= F2D_VL * nv;
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) cm[v] = F2D_MASK(cols - F2D_VL * v);
#pragma GCC unroll 24
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[r][v] = F2D_ZERO();
    for (int p = 0; p < kb; p++) {
        f2d_vd bv[4];
        if (bd) { /* a panel packed in doubles (F2D_PACK_DOUBLE) */
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) bv[v] = F2D_LOADD_FULL(bd + ((size_t)p * nv + v) * F2D_VL);
        } else {
        if (ldb != F2D_VL * nv) /* not a packed panel: fetch the next panel's row, a line at a time */
#pragma GCC unroll 4
            for (int x = 0; x < F2D_VL * nv; x += 16)
                _mm_prefetch((const char *)(b + (size_t)p * ldb + F2D_VL * nv + x), _MM_HINT_T0);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) /* masked loads only in a ragged last panel */
            bv[v] = full ? F2D_LOADF_FULL(b + (size_t)p * ldb + F2D_VL * v)
                         : F2D_LOADF(cm[v], b + (size_t)p * ldb + F2D_VL * v);
        }
#pragma GCC unroll 24
        for (int r = 0; r < mr; r++) {
            const f2d_vd av = F2D_SET1(ad[(size_t)p * mr + r]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[r][v] = F2D_FMA(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 24
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            f2d_vd x = acc[r][v];
            double *cdr = cd + (size_t)r * ldcd + F2D_VL * v;
            if (stage == F2D_MID || stage == F2D_LAST) x = F2D_ADD(x, F2D_LOADD(cm[v], cdr));
            if (stage == F2D_FIRST || stage == F2D_MID)
                F2D_STORED(cdr, cm[v], x);
            else
                F2D_STOREF(c + (size_t)r * ldc + F2D_VL * v, cm[v], x);
        }
}

/* all rows of one panel of F2D_VL * nv columns (cols of them inside C); B's panel
 * packed in floats (ldbp = F2D_VL nv) or where it lies (bp), or packed in doubles (bd) */
F2D_TARGET static void F2D(nn_panel)(int m, int kb, const double *ad, const float *bp, int ldbp, const double *bd,
                                     int cols, int stage, double *cd, int ldcd, float *c, int ldc) {
    int nv, mr;
    F2D_NN_SHAPE(m, nv, mr);
    for (int i = 0; i < m; i += mr) {
        const int r = m - i < mr ? m - i : mr;
        const double *a = ad + (size_t)i * kb; /* the block's rows, packed by step */
        double *cdi = cd + (size_t)i * ldcd;
        float *ci = c + (size_t)i * ldc;
        if (bd) switch (nv * 32 + r) {
#define NN_CASE(V, R) \
    case V * 32 + R: F2D(nn_tile)(R, V, kb, a, NULL, 0, bd, cols, stage, cdi, ldcd, ci, ldc); break;
                F2D_NN_CASES(NN_CASE)
#undef NN_CASE
            }
        else switch (nv * 32 + r) {
#define NN_CASE(V, R) \
    case V * 32 + R: F2D(nn_tile)(R, V, kb, a, bp, ldbp, NULL, cols, stage, cdi, ldcd, ci, ldc); break;
                F2D_NN_CASES(NN_CASE)
#undef NN_CASE
            }
    }
}

/* B(p0.., j0..j1) packed panel after panel (kb rows of pw elements each, the last panel
 * padded with zeros), reading each row of B as one run: B's rows are far apart, and
 * runs keep the loads streaming (a panel read row by row left them waiting on memory) */
F2D_TARGET static void F2D(nn_pack)(int kb, int pw, const float *b, int ldb, int cols, f2d_packed *bp) {
    const int panels = (cols + pw - 1) / pw;
    for (int p = 0; p < kb; p++) {
        const float *br = b + (size_t)p * ldb;
        for (int q = 0; q < panels; q++) {
            f2d_packed *d = bp + ((size_t)q * kb + p) * pw;
            const int left = cols - q * pw, w = left < pw ? left : pw;
            if (sizeof(f2d_packed) == sizeof(double)) { /* widened a vector at a time */
                double *dd = (double *)(void *)d;
                for (int x = 0; x < pw; x += F2D_VL)
                    F2D_STORED_FULL(dd + x, x + F2D_VL <= w ? F2D_LOADF_FULL(br + q * pw + x)
                                                           : F2D_LOADF(F2D_MASK(w - x), br + q * pw + x));
            } else {
                for (int x = 0; x < w; x++) d[x] = br[q * pw + x];
                for (int x = w; x < pw; x++) d[x] = 0;
            }
        }
    }
}

/* op(A)(0..m, p0..p0+kb) widened and packed by row blocks of mr: within a block of r
 * rows, element (i, p) at p * r + i, so that a tile's broadcasts are one step apart */
F2D_TARGET static void F2D(nn_pack_a)(int ta, const float *a, int lda, int m, int mr, int p0, int kb, double *ad) {
    for (int i0 = 0; i0 < m; i0 += mr) {
        const int r = m - i0 < mr ? m - i0 : mr;
        double *d = ad + (size_t)i0 * kb;
        for (int p = 0; p < kb; p++)
            for (int i = 0; i < r; i++)
                d[(size_t)p * r + i] = ta ? a[(size_t)(p0 + p) * lda + i0 + i] : a[(size_t)(i0 + i) * lda + p0 + p];
    }
}

/* threads take strips of output columns; per strip and reduction chunk of NN_KC, A's
 * chunk is widened and packed, and, with several row blocks, B's (strips sized so that
 * the packed block stays in L2; packed in doubles at AVX2, where converting B in the
 * tile competes with the multiply-adds for ports); partial sums in a double strip
 * between chunks */
F2D_TARGET static void F2D(f2d_nn)(lpt_backend *be, int ta, int m, int n, int k, const float *a, int lda,
                                   const float *b, int ldb, float *c, int ldc) {
    const int kc0 = k < NN_KC ? k : NN_KC, nchunks = (k + NN_KC - 1) / NN_KC;
    int nv, mr;
    F2D_NN_SHAPE(m, nv, mr);
    const int pw = F2D_VL * nv, pack = m > mr; /* panel width; B packed for several row blocks */
    int sw = 65536 / kc0 / (int)(sizeof(f2d_packed) / sizeof(float)); /* B block of at most 256 KiB */
    if (nchunks > 1 && sw > 32768 / m) sw = 32768 / m; /* C strip of at most 256 KiB */
    sw = sw / pw * pw;
    if (sw < pw) sw = pw;
    if (sw > n) sw = (n + pw - 1) / pw * pw;
    const int Tmax = (long)m * n * k < GEMM_PAR_MIN_MACS ? 1 : be->workers;
    const int share = (n + Tmax - 1) / Tmax; /* a strip for every thread */
    if (sw > share) sw = (share + pw - 1) / pw * pw;
    const int strips = (n + sw - 1) / sw, T = Tmax < strips ? Tmax : strips;
    const size_t bpn = pack ? ((size_t)kc0 * sw * sizeof(f2d_packed) + 7) / 8 : 0; /* doubles holding the pack */
    const size_t per = (size_t)m * kc0 + bpn + (nchunks > 1 ? (size_t)m * sw : 0);
    double *scratch = lpt_cpu_scratch(be, (size_t)T * per * sizeof(double));
#pragma omp parallel num_threads(T)
    {
        double *ad = scratch + (size_t)omp_get_thread_num() * per, *cd = ad + (size_t)m * kc0 + bpn;
        f2d_packed *bp = (f2d_packed *)(void *)(ad + (size_t)m * kc0);
        const int in_double = sizeof(f2d_packed) == sizeof(double);
#pragma omp for schedule(static)
        for (int si = 0; si < strips; si++) {
            const int j0 = si * sw, cols = n - j0 < sw ? n - j0 : sw;
            for (int ci = 0; ci < nchunks; ci++) {
                const int p0 = ci * NN_KC, kb = k - p0 < NN_KC ? k - p0 : NN_KC;
                const int stage = nchunks == 1 ? F2D_ONLY
                                  : ci == 0     ? F2D_FIRST
                                  : ci == nchunks - 1 ? F2D_LAST
                                                      : F2D_MID;
                F2D(nn_pack_a)(ta, a, lda, m, mr, p0, kb, ad);
                const float *bj = b + (size_t)p0 * ldb + j0;
                if (pack) F2D(nn_pack)(kb, pw, bj, ldb, cols, bp);
                for (int j = 0; j < cols; j += pw)
                    F2D(nn_panel)(m, kb, ad, pack ? (const float *)(const void *)(bp + (size_t)j * kb) : bj + j,
                                  pack ? pw : ldb, pack && in_double ? (const double *)(const void *)(bp + (size_t)j * kb) : NULL,
                                  cols - j < pw ? cols - j : pw, stage, cd + j, sw, c + j0 + j, ldc);
            }
        }
    }
}

/* nt: C(m, n) = A Bᵀ with A (m, k) and B (n, k) stored by rows: dot products along k.
 * Per reduction chunk A's rows are widened once into doubles (the chunk sized to stay
 * in L2), then register tiles of F2D_NT_R rows of A x F2D_NT_Q rows of B: per step of
 * F2D_VL, F2D_NT_Q conversions of B and F2D_NT_R loads of A for F2D_NT_R x F2D_NT_Q
 * multiply-adds (converting both operands made the conversions, not the multiply-adds,
 * the bound: perf, LeNet-5 int16-dyn at AVX2); lanes reduced at the end of the chunk. */
F2D_TARGET static inline __attribute__((always_inline)) void F2D(nt_tile)(const int mr, const int nr, int kb,
                                                                         const double *ad, int ldad, const float *b,
                                                                         int ldb, double *cd, int ldcd, int add) {
    f2d_vd acc[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) acc[r][q] = F2D_ZERO();
    int p = 0;
    for (; p + F2D_VL <= kb; p += F2D_VL) {
        f2d_vd bv[4];
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) { /* B's rows are far apart: keep each stream fetched ahead */
            _mm_prefetch((const char *)(b + (size_t)q * ldb + p + NT_AHEAD), _MM_HINT_T0);
            bv[q] = F2D_LOADF_FULL(b + (size_t)q * ldb + p);
        }
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            const f2d_vd av = F2D_LOADD_FULL(ad + (size_t)r * ldad + p);
#pragma GCC unroll 4
            for (int q = 0; q < nr; q++) acc[r][q] = F2D_FMA(av, bv[q], acc[r][q]);
        }
    }
    if (p < kb) { /* the tail: masked lanes read as 0 */
        const f2d_mask km = F2D_MASK(kb - p);
        f2d_vd bv[4];
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) bv[q] = F2D_LOADF(km, b + (size_t)q * ldb + p);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            const f2d_vd av = F2D_LOADD(km, ad + (size_t)r * ldad + p);
#pragma GCC unroll 4
            for (int q = 0; q < nr; q++) acc[r][q] = F2D_FMA(av, bv[q], acc[r][q]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int q = 0; q < nr; q++) {
            const double v = F2D_REDUCE(acc[r][q]);
            cd[(size_t)r * ldcd + q] = add ? cd[(size_t)r * ldcd + q] + v : v;
        }
}

F2D_TARGET static void F2D(nt_block)(int mr, int nr, int kb, const double *ad, int ldad, const float *b, int ldb,
                                     double *cd, int ldcd, int add) {
    switch (mr * 8 + nr) {
#define NT_CASE(R, Q) \
    case R * 8 + Q: F2D(nt_tile)(R, Q, kb, ad, ldad, b, ldb, cd, ldcd, add); break;
        F2D_NT_CASES(NT_CASE)
#undef NT_CASE
    }
}

/* columns j0..j1 of C over reduction chunks c0..c1 of kc (a thread's chunks one run,
 * so that its reads of each row of B stream on): for each chunk,
 * A's rows widened into ad, then blocks of F2D_NT_R rows of A outside (a block, 24 KiB
 * at most, stays in L1), blocks of F2D_NT_Q rows of B inside */
F2D_TARGET static void F2D(nt_range)(int m, int k, int kc, int j0, int j1, int c0, int c1, const float *a,
                                     int lda, const float *b, int ldb, double *ad, double *cd, int ldcd) {
    for (int p0 = c0 * kc; p0 < k && p0 < c1 * kc; p0 += kc) {
        const int kb = k - p0 < kc ? k - p0 : kc, add = p0 != c0 * kc;
        for (int i = 0; i < m; i++)
            for (int p = 0; p < kb; p++) ad[(size_t)i * kc + p] = a[(size_t)i * lda + p0 + p];
        for (int i = 0; i < m; i += F2D_NT_R)
            for (int j = j0; j < j1; j += F2D_NT_Q)
                F2D(nt_block)(m - i < F2D_NT_R ? m - i : F2D_NT_R, j1 - j < F2D_NT_Q ? j1 - j : F2D_NT_Q, kb,
                              ad + (size_t)i * kc, kc, b + (size_t)j * ldb + p0, ldb, cd + (size_t)i * ldcd + j,
                              ldcd, add);
    }
}

/* threads split the reduction when the output is small and the reduction long (weight
 * gradients), else the columns; partial sums in double, narrowed at the end */
static void F2D(f2d_nt)(lpt_backend *be, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                        float *c, int ldc) {
    int kc = 32768 / m / 16 * 16; /* A's widened chunk: at most 256 KiB, a block of rows 24 KiB */
    kc = kc < 64 ? 64 : kc > NT_KC ? NT_KC : kc;
    const int nb = (n + F2D_NT_Q - 1) / F2D_NT_Q, nchunks = (k + kc - 1) / kc;
    const int Tmax = (long)m * n * k < GEMM_PAR_MIN_MACS ? 1 : be->workers;
    const int splitk = Tmax > 1 && nchunks >= Tmax && (size_t)m * n < (size_t)64 * 1024;
    const int T = splitk ? Tmax : (Tmax < nb ? Tmax : nb);
    const size_t mn = (size_t)m * n, per = (size_t)m * kc + (splitk ? mn : 0);
    double *scratch = lpt_cpu_scratch(be, ((size_t)T * per + (splitk ? 0 : mn)) * sizeof(double));
    /* T parts, each with its own scratch, taken by however many threads the runtime gives */
#pragma omp parallel num_threads(T)
    {
#pragma omp for schedule(static)
        for (int t = 0; t < T; t++) {
            double *ad = scratch + (size_t)t * per;
            if (splitk) {
                double *ct = ad + (size_t)m * kc;
                int c0, c1;
                block(nchunks, T, t, 1, &c0, &c1);
                if (c1 <= c0) memset(ct, 0, mn * sizeof *ct);
                F2D(nt_range)(m, k, kc, 0, n, c0, c1, a, lda, b, ldb, ad, ct, n);
            } else {
                double *cd = scratch + (size_t)T * per;
                int lo, hi;
                block(n, T, t, F2D_NT_Q, &lo, &hi);
                if (hi > lo) {
                    F2D(nt_range)(m, k, kc, lo, hi, 0, nchunks, a, lda, b, ldb, ad, cd, n);
                    narrow_block(m, hi - lo, cd + lo, n, c + lo, ldc);
                }
            }
        }
        if (splitk) sum_narrow(T, scratch + (size_t)m * kc, per, m, n, c, ldc);
    }
}
