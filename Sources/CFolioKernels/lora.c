// LoRA's two low-rank products for one projection of a batch, over every adapter in it at once (Punica's "shrink"
// and "expand", grouped by adapter as SGMV does: each adapter's weights are read once per step however its tokens
// are spread over the batch, and decode rows of many adapters share one pass, as BGMV's do):
//   shrink: t[i, :] = A x[rows[i], :]            A: [r, in] (PEFT's lora_A), t: [n, r]
//   expand: y[rows[i], :] += t[i, :] Bt          Bt: [r, out] (lora_B transposed, its scale folded in at load)
// Weights are float32 or float16. The scalar definitions are the references; AVX-512 and AVX2 variants are chosen
// at run time. Each output element depends only on its own row, so results do not change with the batch around it.
#include "CFolioKernels.h"
#include "cpu.h"
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float ld1(const void *w, int64_t i, int f16) {
    return f16 ? folio_fp16_to_fp32(((const uint16_t *)w)[i]) : ((const float *)w)[i];
}

static void shrink_scalar(const float *x, int64_t ldx, const int32_t *rows, int64_t n, const void *a, int f16, int64_t in,
                          int64_t j0, int64_t j1, float *t, int64_t r) {
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + (int64_t)rows[i] * ldx;
        for (int64_t j = j0; j < j1; j++) {
            float s = 0;
            for (int64_t k = 0; k < in; k++) s += ld1(a, j * in + k, f16) * xi[k];
            t[i * r + j] = s;
        }
    }
}

static void expand_scalar(const float *t, int64_t n, const void *bt, int f16, int64_t r, int64_t out, int64_t c0, int64_t c1,
                          float *y, int64_t ldy, const int32_t *rows) {
    for (int64_t i = 0; i < n; i++) {
        float *yi = y + (int64_t)rows[i] * ldy;
        for (int64_t c = c0; c < c1; c++) {
            float s = 0;
            for (int64_t k = 0; k < r; k++) s += t[i * r + k] * ld1(bt, k * out + c, f16);
            yi[c] += s;
        }
    }
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f")))

static inline __attribute__((always_inline)) AVX2 __m256 ld8(const void *w, int64_t i, int f16) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i))) : _mm256_loadu_ps((const float *)w + i);
}

static inline __attribute__((always_inline)) AVX512 __m512 ld16(const void *w, int64_t i, int f16) {
    return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i))) : _mm512_loadu_ps((const float *)w + i);
}

// Shrink, NT tokens (1-4, a constant in each instantiation) x two A rows per pass: each A vector loaded once for NT
// dot products, each token vector once for two (6 loads per 8 FMAs at NT = 4), and no work for absent tokens.
#define SHRINK_TILE(NAME, ATTR, VEC, W, ZERO, LOADX, FMA, HSUM, LDW)                                                 \
static inline __attribute__((always_inline)) ATTR void NAME(const float *const *xs, const void *a, int f16, int64_t in,  \
                                                            int64_t j, int two, float *t, int64_t r, const int NT) {   \
    VEC acc0[4], acc1[4];                                                                                             \
    for (int q = 0; q < NT; q++) { acc0[q] = ZERO; acc1[q] = ZERO; }                                                  \
    int64_t k = 0;                                                                                                    \
    if (two) {                                                                                                        \
        for (; k + W <= in; k += W) {                                                                                 \
            VEC a0 = LDW(a, j * in + k, f16), a1 = LDW(a, (j + 1) * in + k, f16);                                     \
            for (int q = 0; q < NT; q++) {                                                                            \
                VEC xv = LOADX(xs[q] + k);                                                                            \
                acc0[q] = FMA(a0, xv, acc0[q]);                                                                       \
                acc1[q] = FMA(a1, xv, acc1[q]);                                                                       \
            }                                                                                                         \
        }                                                                                                             \
    } else {                                                                                                          \
        for (; k + W <= in; k += W) {                                                                                 \
            VEC a0 = LDW(a, j * in + k, f16);                                                                         \
            for (int q = 0; q < NT; q++) acc0[q] = FMA(a0, LOADX(xs[q] + k), acc0[q]);                                \
        }                                                                                                             \
    }                                                                                                                 \
    for (int q = 0; q < NT; q++) {                                                                                    \
        for (int h = 0; h < 1 + two; h++) {                                                                           \
            float s = HSUM(h ? acc1[q] : acc0[q]);                                                                    \
            for (int64_t kk = k; kk < in; kk++) s += ld1(a, (j + h) * in + kk, f16) * xs[q][kk];                      \
            t[q * r + j + h] = s;                                                                                     \
        }                                                                                                             \
    }                                                                                                                 \
}

static inline __attribute__((always_inline)) AVX2 float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

SHRINK_TILE(shrink_tile_avx2, AVX2, __m256, 8, _mm256_setzero_ps(), _mm256_loadu_ps, _mm256_fmadd_ps, hsum8, ld8)
SHRINK_TILE(shrink_tile_avx512, AVX512, __m512, 16, _mm512_setzero_ps(), _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps, ld16)

// Expand, NT tokens x 2 vectors of columns per pass, accumulating over the rank: one Bt load per NT FMAs, the
// token's rank values broadcast from the shrink scratch.
#define EXPAND_TILE(NAME, ATTR, VEC, W, ZERO, LOADY, STOREY, ADD, FMA, SET1, LDW)                                    \
static inline __attribute__((always_inline)) ATTR void NAME(const float *const *ts, float *const *ys, const void *bt,     \
                                                            int f16, int64_t r, int64_t out, int64_t c, const int NT) { \
    VEC lo[4], hi[4];                                                                                                 \
    for (int q = 0; q < NT; q++) { lo[q] = ZERO; hi[q] = ZERO; }                                                      \
    for (int64_t k = 0; k < r; k++) {                                                                                 \
        VEC b0 = LDW(bt, k * out + c, f16), b1 = LDW(bt, k * out + c + W, f16);                                       \
        for (int q = 0; q < NT; q++) {                                                                                \
            VEC s = SET1(ts[q][k]);                                                                                   \
            lo[q] = FMA(s, b0, lo[q]);                                                                                \
            hi[q] = FMA(s, b1, hi[q]);                                                                                \
        }                                                                                                             \
    }                                                                                                                 \
    for (int q = 0; q < NT; q++) {                                                                                    \
        STOREY(ys[q] + c, ADD(LOADY(ys[q] + c), lo[q]));                                                              \
        STOREY(ys[q] + c + W, ADD(LOADY(ys[q] + c + W), hi[q]));                                                      \
    }                                                                                                                 \
}

EXPAND_TILE(expand_tile_avx2, AVX2, __m256, 8, _mm256_setzero_ps(), _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps,
            _mm256_fmadd_ps, _mm256_set1_ps, ld8)
EXPAND_TILE(expand_tile_avx512, AVX512, __m512, 16, _mm512_setzero_ps(), _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps,
            _mm512_fmadd_ps, _mm512_set1_ps, ld16)

// The passes over a work item, with the token count of each tile made a constant for the tile functions.
#define SHRINK_KERNEL(NAME, ATTR, TILE)                                                                                \
static inline __attribute__((always_inline)) ATTR void NAME(const float *x, int64_t ldx, const int32_t *rows, int64_t n,  \
                                                            const void *a, int f16, int64_t in, int64_t j0, int64_t j1,  \
                                                            float *t, int64_t r) {                                     \
    for (int64_t i0 = 0; i0 < n; i0 += 4) {                                                                           \
        int nt = n - i0 < 4 ? (int)(n - i0) : 4;                                                                      \
        const float *xs[4];                                                                                           \
        for (int q = 0; q < nt; q++) xs[q] = x + (int64_t)rows[i0 + q] * ldx;                                         \
        float *ti = t + i0 * r;                                                                                       \
        for (int64_t j = j0; j < j1; j += 2) {                                                                        \
            int two = j + 1 < j1;                                                                                     \
            switch (nt) {                                                                                             \
            case 4: TILE(xs, a, f16, in, j, two, ti, r, 4); break;                                                    \
            case 3: TILE(xs, a, f16, in, j, two, ti, r, 3); break;                                                    \
            case 2: TILE(xs, a, f16, in, j, two, ti, r, 2); break;                                                    \
            default: TILE(xs, a, f16, in, j, two, ti, r, 1);                                                          \
            }                                                                                                         \
        }                                                                                                             \
    }                                                                                                                 \
}

#define EXPAND_KERNEL(NAME, ATTR, TILE, W)                                                                             \
static inline __attribute__((always_inline)) ATTR void NAME(const float *t, int64_t n, const void *bt, int f16, int64_t r, \
                                                            int64_t out, int64_t c0, int64_t c1, float *y, int64_t ldy,  \
                                                            const int32_t *rows) {                                     \
    for (int64_t i0 = 0; i0 < n; i0 += 4) {                                                                           \
        int nt = n - i0 < 4 ? (int)(n - i0) : 4;                                                                      \
        float *ys[4];                                                                                                 \
        const float *ts[4];                                                                                           \
        for (int q = 0; q < nt; q++) { ys[q] = y + (int64_t)rows[i0 + q] * ldy; ts[q] = t + (i0 + q) * r; }          \
        int64_t c = c0;                                                                                               \
        for (; c + 2 * W <= c1; c += 2 * W) {                                                                         \
            switch (nt) {                                                                                             \
            case 4: TILE(ts, ys, bt, f16, r, out, c, 4); break;                                                       \
            case 3: TILE(ts, ys, bt, f16, r, out, c, 3); break;                                                       \
            case 2: TILE(ts, ys, bt, f16, r, out, c, 2); break;                                                       \
            default: TILE(ts, ys, bt, f16, r, out, c, 1);                                                             \
            }                                                                                                         \
        }                                                                                                             \
        for (; c < c1; c++)                                                                                           \
            for (int q = 0; q < nt; q++) {                                                                            \
                float s = 0;                                                                                          \
                for (int64_t k = 0; k < r; k++) s += ts[q][k] * ld1(bt, k * out + c, f16);                           \
                ys[q][c] += s;                                                                                        \
            }                                                                                                         \
    }                                                                                                                 \
}

SHRINK_KERNEL(shrink_avx2, AVX2, shrink_tile_avx2)
SHRINK_KERNEL(shrink_avx512, AVX512, shrink_tile_avx512)
EXPAND_KERNEL(expand_avx2, AVX2, expand_tile_avx2, 8)
EXPAND_KERNEL(expand_avx512, AVX512, expand_tile_avx512, 16)

// One instantiation per weight type, so the type test leaves the inner loops.
#define INSTANTIATE(ISA, ATTR)                                                                                             \
ATTR static void shrink_##ISA##_f32(const float *x, int64_t ldx, const int32_t *rows, int64_t n, const void *a, int64_t in,  \
                                    int64_t j0, int64_t j1, float *t, int64_t r) {                                        \
    shrink_##ISA(x, ldx, rows, n, a, 0, in, j0, j1, t, r);                                                                \
}                                                                                                                         \
ATTR static void shrink_##ISA##_f16(const float *x, int64_t ldx, const int32_t *rows, int64_t n, const void *a, int64_t in,  \
                                    int64_t j0, int64_t j1, float *t, int64_t r) {                                        \
    shrink_##ISA(x, ldx, rows, n, a, 1, in, j0, j1, t, r);                                                                \
}                                                                                                                         \
ATTR static void expand_##ISA##_f32(const float *t, int64_t n, const void *bt, int64_t r, int64_t out, int64_t c0,        \
                                    int64_t c1, float *y, int64_t ldy, const int32_t *rows) {                             \
    expand_##ISA(t, n, bt, 0, r, out, c0, c1, y, ldy, rows);                                                              \
}                                                                                                                         \
ATTR static void expand_##ISA##_f16(const float *t, int64_t n, const void *bt, int64_t r, int64_t out, int64_t c0,        \
                                    int64_t c1, float *y, int64_t ldy, const int32_t *rows) {                             \
    expand_##ISA(t, n, bt, 1, r, out, c0, c1, y, ldy, rows);                                                              \
}
INSTANTIATE(avx2, AVX2)
INSTANTIATE(avx512, AVX512)
#endif

int folio_lora_isa(void) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX512F)) return FOLIO_ISA_AVX512;
    if (cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C)) return FOLIO_ISA_AVX2;
#endif
    return FOLIO_ISA_SCALAR;
}

static int isa_available(int isa) {
    if (isa == FOLIO_ISA_SCALAR) return 1;
#if defined(__x86_64__)
    if (isa == FOLIO_ISA_AVX2) return cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C);
    if (isa == FOLIO_ISA_AVX512) return cpu_has(CPU_AVX512F);
#endif
    return 0;
}

// Work items of one phase: (group, first, last) over the rank (shrink) or the output columns (expand).
typedef struct { int32_t g; int32_t lo, hi; } lora_item;

typedef void (*shrink_fn)(const float *x, int64_t ldx, const int32_t *rows, int64_t n, const void *a, int64_t in,
                          int64_t j0, int64_t j1, float *t, int64_t r);
typedef void (*expand_fn)(const float *t, int64_t n, const void *bt, int64_t r, int64_t out, int64_t c0, int64_t c1,
                          float *y, int64_t ldy, const int32_t *rows);

static void shrink_scalar_f32(const float *x, int64_t ldx, const int32_t *rows, int64_t n, const void *a, int64_t in,
                              int64_t j0, int64_t j1, float *t, int64_t r) {
    shrink_scalar(x, ldx, rows, n, a, 0, in, j0, j1, t, r);
}
static void shrink_scalar_f16(const float *x, int64_t ldx, const int32_t *rows, int64_t n, const void *a, int64_t in,
                              int64_t j0, int64_t j1, float *t, int64_t r) {
    shrink_scalar(x, ldx, rows, n, a, 1, in, j0, j1, t, r);
}
static void expand_scalar_f32(const float *t, int64_t n, const void *bt, int64_t r, int64_t out, int64_t c0, int64_t c1,
                              float *y, int64_t ldy, const int32_t *rows) {
    expand_scalar(t, n, bt, 0, r, out, c0, c1, y, ldy, rows);
}
static void expand_scalar_f16(const float *t, int64_t n, const void *bt, int64_t r, int64_t out, int64_t c0, int64_t c1,
                              float *y, int64_t ldy, const int32_t *rows) {
    expand_scalar(t, n, bt, 1, r, out, c0, c1, y, ldy, rows);
}

typedef struct {
    shrink_fn shrink;
    expand_fn expand;
    const float *x;
    float *y;
    int64_t ldx, ldy, in, out;
    const folio_lora_group *groups;
    const lora_item *items;
} lora_job;

static void shrink_task(void *ctx, int64_t idx) {
    const lora_job *j = ctx;
    const lora_item it = j->items[idx];
    const folio_lora_group *g = &j->groups[it.g];
    j->shrink(j->x, j->ldx, g->rows, g->n, g->a, j->in, it.lo, it.hi, g->t, g->r);
}

static void expand_task(void *ctx, int64_t idx) {
    const lora_job *j = ctx;
    const lora_item it = j->items[idx];
    const folio_lora_group *g = &j->groups[it.g];
    j->expand(g->t, g->n, g->bt, g->r, j->out, it.lo, it.hi, j->y, j->ldy, g->rows);
}

// Below this many multiply-adds a phase runs on the calling thread (a pool dispatch costs about a microsecond).
#define LORA_SERIAL_WORK 8192
// Multiply-adds per work item: enough to pay for handing it out, small enough to balance two cores.
#define LORA_ITEM_WORK 32768

/// Splits each group's [0, len) into items of about LORA_ITEM_WORK multiply-adds (`per`: multiply-adds per unit
/// of len; `align`: item boundaries on multiples of it). Returns the item count; `work` gets the total.
static int64_t plan(const folio_lora_group *groups, int64_t ngroups, int expand, int64_t in, int64_t out, lora_item *items,
                    int64_t cap, int64_t *work) {
    int64_t m = 0;
    *work = 0;
    for (int64_t gi = 0; gi < ngroups; gi++) {
        const folio_lora_group *g = &groups[gi];
        if (g->n <= 0 || g->r <= 0) continue;
        int64_t len = expand ? out : g->r, per = expand ? g->n * g->r : g->n * in, align = expand ? 32 : 1;
        *work += len * per;
        int64_t step = LORA_ITEM_WORK / (per > 0 ? per : 1);
        step = step < align ? align : step / align * align;
        for (int64_t lo = 0; lo < len && m < cap; lo += step)
            items[m++] = (lora_item){(int32_t)gi, (int32_t)lo, (int32_t)(lo + step < len ? lo + step : len)};
    }
    return m;
}

int folio_lora_apply_isa(int isa, const float *x, int64_t ldx, int64_t in, float *y, int64_t ldy, int64_t out,
                         const folio_lora_group *groups, int64_t ngroups, int f16, int threads) {
    if (!isa_available(isa)) return -1;
    if (ngroups <= 0) return 0;
    lora_job j = {.shrink = f16 ? shrink_scalar_f16 : shrink_scalar_f32, .expand = f16 ? expand_scalar_f16 : expand_scalar_f32,
                  .x = x, .y = y, .ldx = ldx, .ldy = ldy, .in = in, .out = out, .groups = groups};
#if defined(__x86_64__)
    if (isa == FOLIO_ISA_AVX512) {
        j.shrink = f16 ? shrink_avx512_f16 : shrink_avx512_f32;
        j.expand = f16 ? expand_avx512_f16 : expand_avx512_f32;
    } else if (isa == FOLIO_ISA_AVX2) {
        j.shrink = f16 ? shrink_avx2_f16 : shrink_avx2_f32;
        j.expand = f16 ? expand_avx2_f16 : expand_avx2_f32;
    }
#endif
    // Items: at most one per 32 output columns or per rank row of every group.
    int64_t cap = 0;
    for (int64_t gi = 0; gi < ngroups; gi++) cap += (out + 31) / 32 + groups[gi].r + 1;
    lora_item stack[512];
    lora_item *items = cap <= 512 ? stack : malloc((size_t)cap * sizeof(lora_item));
    if (!items) return -2;
    j.items = items;
    for (int phase = 0; phase < 2; phase++) {
        int64_t work, m = plan(groups, ngroups, phase, in, out, items, cap, &work);
        folio_task_fn fn = phase ? expand_task : shrink_task;
        if (threads <= 1 || work < LORA_SERIAL_WORK || m == 1) {
            for (int64_t i = 0; i < m; i++) fn(&j, i);
        } else {
            folio_parallel(m, threads, fn, &j);
        }
    }
    if (items != stack) free(items);
    return 0;
}

void folio_lora_apply(const float *x, int64_t ldx, int64_t in, float *y, int64_t ldy, int64_t out,
                      const folio_lora_group *groups, int64_t ngroups, int f16, int threads) {
    folio_lora_apply_isa(folio_lora_isa(), x, ldx, in, y, ldy, out, groups, ngroups, f16, threads);
}
