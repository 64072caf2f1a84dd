// Attention over the paged KV cache for R query rows that share one KV head: the G query heads of a KV group, for
// one decoded token or for a block of consecutive prompt tokens of one sequence (so each K/V row read from memory
// serves every row of the block). Keys are taken in chunks of FOLIO_ATT_CHUNK positions counted from the sequence's
// start. A chunk gives a partial softmax per row (o = sum exp(s - m) v, m = max s, l = sum exp(s - m)); partials are
// merged in chunk order. A row's result depends only on its query, its key range and the cache, never on the other
// rows nor on which thread ran which chunk: batch-invariant, and a long sequence's chunks can run on every core
// (split-K decode) with the same result. Every KV format (kvformat.c) is read directly. AVX2 and scalar chunk
// kernels; folio_attend_ref is the definition (one plain softmax per row).
#include "CFolioKernels.h"
#include "cpu.h"
#include "vmath.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define CH FOLIO_ATT_CHUNK
#define SUB 32                 // keys converted to float32 at a time (an L1-resident tile)
#define SROW (CH + SUB)        // score row stride: a tile's last group of 4 may run past the chunk

static inline const uint8_t *kv_row(const folio_kv_head *kv, const void *base, int32_t slot) {
    return (const uint8_t *)base + (int64_t)slot * kv->stride * folio_kv_elem_size(kv->fmt);
}

static inline float kv_scale(const folio_kv_head *kv, const float *s, int32_t slot) {
    return s ? s[(int64_t)slot * kv->scale_stride] : 1.0f;
}

int64_t folio_attend_scratch_floats(int64_t R, int64_t d) { return R * SROW + SUB * d + R * d + 2 * R; }

void folio_attend_init(int64_t R, int64_t d, float *O, float *M, float *L) {
    for (int64_t i = 0; i < R * d; i++) O[i] = 0;
    for (int64_t r = 0; r < R; r++) { M[r] = -INFINITY; L[r] = 0; }
}

void folio_attend_merge(int64_t R, int64_t d, float *O, float *M, float *L, const float *o, const float *m, const float *l) {
    for (int64_t r = 0; r < R; r++) {
        if (m[r] == -INFINITY) continue;
        float *Or = O + r * d;
        const float *orow = o + r * d;
        if (M[r] == -INFINITY) {
            memcpy(Or, orow, (size_t)d * sizeof(float));
            M[r] = m[r];
            L[r] = l[r];
            continue;
        }
        const float mn = fmaxf(M[r], m[r]), a = expf(M[r] - mn), b = expf(m[r] - mn);
        for (int64_t i = 0; i < d; i++) Or[i] = Or[i] * a + orow[i] * b;
        L[r] = L[r] * a + l[r] * b;
        M[r] = mn;
    }
}

void folio_attend_finish(int64_t R, int64_t d, const float *O, const float *L, float *out) {
    for (int64_t r = 0; r < R; r++) {
        const float inv = L[r] > 0 ? 1.0f / L[r] : 0;
        for (int64_t i = 0; i < d; i++) out[r * d + i] = O[r * d + i] * inv;
    }
}

/// Row r's keys inside [j0, j1): [a, b).
static inline void row_range(const int32_t *lo, const int32_t *hi, int64_t r, int64_t j0, int64_t j1, int64_t *a, int64_t *b) {
    *a = lo[r] > j0 ? lo[r] : j0;
    *b = hi[r] < j1 ? hi[r] : j1;
}

// ---- scalar kernel ----

/// One row over keys [a, b): o = sum_j exp(s_j - m) v_j (unnormalized), m = max s_j (-inf if none), l = sum exp(s_j - m).
/// s: scratch for b - a scores; row: d floats.
static void row_partial_scalar(const float *q, int64_t d, const folio_kv_head *kv, const int32_t *slots, int64_t a, int64_t b,
                               float scale, float softcap, float *o, float *m, float *l, float *s, float *row) {
    float mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < d; i++) o[i] = 0;
    for (int64_t j = a; j < b; j++) {
        folio_kv_load(kv->fmt, kv_row(kv, kv->k, slots[j]), kv_scale(kv, kv->ks, slots[j]), d, row);
        float acc = 0;
        for (int64_t i = 0; i < d; i++) acc += q[i] * row[i];
        acc *= scale;
        if (softcap > 0) acc = tanhf(acc / softcap) * softcap;
        s[j - a] = acc;
        mx = fmaxf(mx, acc);
    }
    for (int64_t j = a; j < b; j++) { s[j - a] = expf(s[j - a] - mx); sum += s[j - a]; }
    for (int64_t j = a; j < b; j++) {
        folio_kv_load(kv->fmt, kv_row(kv, kv->v, slots[j]), kv_scale(kv, kv->vs, slots[j]), d, row);
        for (int64_t i = 0; i < d; i++) o[i] += s[j - a] * row[i];
    }
    *m = mx;
    *l = sum;
}

static void chunk_scalar(const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                         const int32_t *lo, const int32_t *hi, int64_t j0, int64_t j1, float scale, float softcap,
                         float *o, float *m, float *l, float *S, float *row) {
    for (int64_t r = 0; r < R; r++) {
        int64_t a, b;
        row_range(lo, hi, r, j0, j1, &a, &b);
        if (b < a) b = a;
        row_partial_scalar(q + r * d, d, kv, slots, a, b, scale, softcap, o + r * d, m + r, l + r, S, row);
    }
}

// ---- AVX2 chunk kernel ----

#if defined(__x86_64__)
#define ATT2 __attribute__((target("avx2,fma,f16c")))

/// Eight elements of a K/V row as float32 (fp8 comes out 1/256 of its value: the caller's scale has the 256).
ATT2 static inline __attribute__((always_inline)) __m256 load8(int fmt, const uint8_t *p) {
    switch (fmt) {
    case FOLIO_KV_F32: return _mm256_loadu_ps((const float *)p);
    case FOLIO_KV_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case FOLIO_KV_BF16: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    case FOLIO_KV_INT8: return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
    default: {   // e4m3 -> float16 bits: sign to bit 15, exponent and mantissa shifted in place (bias 7 -> 15: x 2^-8)
        const __m128i w = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p));
        const __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x80)), 8),
                                       _mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x7f)), 7));
        return _mm256_cvtph_ps(h);
    }
    }
}

#define PF 6   // rows ahead to prefetch: K/V rows of a head are short strided reads the hardware prefetcher misses

/// Rows j .. j+n-1 of K or V as float32 into dst [4 * ceil(n / 4)][d], each times mul and its scale; padding rows 0.
/// One loop per format (no dispatch per vector); rows PF ahead are prefetched (within the chunk's slots).
ATT2 static void tile_f32(const folio_kv_head *kv, const void *base, const float *sc, const int32_t *slots, int64_t j,
                          int64_t n, int64_t d, float mul, float *dst, int64_t end) {
    const int fmt = kv->fmt;
    const int64_t es = folio_kv_elem_size(fmt), row_bytes = d * es, slot_bytes = kv->stride * es;
    if (fmt == FOLIO_KV_FP8) mul *= 256.0f;
#define TILE_LOOP(FMT)                                                                                              \
    for (int64_t i = 0; i < n; i++) {                                                                               \
        if (j + i + PF < end) {                                                                                     \
            const char *pf = (const char *)base + (int64_t)slots[j + i + PF] * slot_bytes;                          \
            for (int64_t b = 0; b < row_bytes; b += 64) _mm_prefetch(pf + b, _MM_HINT_T0);                          \
        }                                                                                                           \
        const uint8_t *p = (const uint8_t *)base + (int64_t)slots[j + i] * slot_bytes;                             \
        const __m256 s = _mm256_set1_ps(mul * kv_scale(kv, sc, slots[j + i]));                                      \
        for (int64_t c = 0; c < d; c += 8) _mm256_storeu_ps(dst + i * d + c, _mm256_mul_ps(load8(FMT, p + c * es), s)); \
    }
    switch (fmt) {
    case FOLIO_KV_F32: TILE_LOOP(FOLIO_KV_F32) break;
    case FOLIO_KV_F16: TILE_LOOP(FOLIO_KV_F16) break;
    case FOLIO_KV_BF16: TILE_LOOP(FOLIO_KV_BF16) break;
    case FOLIO_KV_INT8: TILE_LOOP(FOLIO_KV_INT8) break;
    default: TILE_LOOP(FOLIO_KV_FP8) break;
    }
#undef TILE_LOOP
    for (int64_t i = n; i % 4; i++) memset(dst + i * d, 0, (size_t)d * sizeof(float));
}

/// [dot(a0, b), dot(a1, b), dot(a2, b), dot(a3, b)] from per-key lane sums: the same addition tree for every key.
ATT2 static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

/// Scores of one or two query rows against 4 keys of the tile Kf (already scaled): s0[0..3], s1[0..3].
ATT2 static inline __attribute__((always_inline)) void dot4(const float *q0, const float *q1, int two, const float *Kf,
                                                            int64_t d, float *s0, float *s1) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int64_t c = 0; c < d; c += 8) {
        const __m256 k0 = _mm256_loadu_ps(Kf + c), k1 = _mm256_loadu_ps(Kf + d + c);
        const __m256 k2 = _mm256_loadu_ps(Kf + 2 * d + c), k3 = _mm256_loadu_ps(Kf + 3 * d + c);
        const __m256 x0 = _mm256_loadu_ps(q0 + c);
        a0 = _mm256_fmadd_ps(x0, k0, a0); a1 = _mm256_fmadd_ps(x0, k1, a1);
        a2 = _mm256_fmadd_ps(x0, k2, a2); a3 = _mm256_fmadd_ps(x0, k3, a3);
        if (two) {
            const __m256 x1 = _mm256_loadu_ps(q1 + c);
            b0 = _mm256_fmadd_ps(x1, k0, b0); b1 = _mm256_fmadd_ps(x1, k1, b1);
            b2 = _mm256_fmadd_ps(x1, k2, b2); b3 = _mm256_fmadd_ps(x1, k3, b3);
        }
    }
    _mm_storeu_ps(s0, hsum4(a0, a1, a2, a3));
    if (two) _mm_storeu_ps(s1, hsum4(b0, b1, b2, b3));
}

/// o0 += sum_j p0[j] V[j], o1 likewise, for n keys of the tile Vf, over dims [c, c + 8 * nv), nv <= 4.
ATT2 static inline __attribute__((always_inline)) void axpy_tile(const float *p0, const float *p1, int two, const float *Vf,
                                                                 int64_t n, int64_t d, int64_t c, int nv, float *o0, float *o1) {
    __m256 a[4], b[4];
    for (int v = 0; v < nv; v++) { a[v] = _mm256_loadu_ps(o0 + c + 8 * v); if (two) b[v] = _mm256_loadu_ps(o1 + c + 8 * v); }
    for (int64_t j = 0; j < n; j++) {
        const __m256 w0 = _mm256_broadcast_ss(p0 + j);
        const __m256 w1 = two ? _mm256_broadcast_ss(p1 + j) : w0;
        for (int v = 0; v < nv; v++) {
            const __m256 x = _mm256_loadu_ps(Vf + j * d + c + 8 * v);
            a[v] = _mm256_fmadd_ps(w0, x, a[v]);
            if (two) b[v] = _mm256_fmadd_ps(w1, x, b[v]);
        }
    }
    for (int v = 0; v < nv; v++) { _mm256_storeu_ps(o0 + c + 8 * v, a[v]); if (two) _mm256_storeu_ps(o1 + c + 8 * v, b[v]); }
}

ATT2 static inline float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

ATT2 static void chunk_avx2(const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                            const int32_t *lo, const int32_t *hi, int64_t j0, int64_t j1, float scale, float softcap,
                            float *o, float *m, float *l, float *S, float *Kf) {
    int64_t jlo = j1, jhi = j0;
    for (int64_t r = 0; r < R; r++) {
        int64_t a, b;
        row_range(lo, hi, r, j0, j1, &a, &b);
        if (a < b) { if (a < jlo) jlo = a; if (b > jhi) jhi = b; }
        m[r] = -INFINITY;
        l[r] = 0;
    }
    memset(o, 0, (size_t)(R * d) * sizeof(float));
    if (jlo >= jhi) return;
    // Scores of every row for the keys [jlo, jhi), a tile of SUB keys converted to float32 at a time.
    for (int64_t t0 = jlo; t0 < jhi; t0 += SUB) {
        const int64_t n = jhi - t0 < SUB ? jhi - t0 : SUB;
        tile_f32(kv, kv->k, kv->ks, slots, t0, n, d, scale, Kf, jhi);
        for (int64_t r = 0; r < R; r += 2) {
            const int two = r + 1 < R;
            float *s0 = S + r * SROW + (t0 - j0), *s1 = two ? s0 + SROW : NULL;
            for (int64_t k = 0; k < n; k += 4) {
                if (two) dot4(q + r * d, q + (r + 1) * d, 1, Kf + k * d, d, s0 + k, s1 + k);
                else dot4(q + r * d, NULL, 0, Kf + k * d, d, s0 + k, NULL);
            }
        }
    }
    // Per row, over its own keys only: soft-cap, max, exp, sum; every other key of [jlo, jhi) gets weight 0.
    for (int64_t r = 0; r < R; r++) {
        int64_t a, b;
        row_range(lo, hi, r, j0, j1, &a, &b);
        float *s = S + r * SROW - j0;
        if (a >= b) { for (int64_t j = jlo; j < jhi; j++) s[j] = 0; continue; }
        if (softcap > 0) for (int64_t j = a; j < b; j++) s[j] = tanhf(s[j] / softcap) * softcap;
        float mx = -INFINITY;
        for (int64_t j = a; j < b; j++) mx = fmaxf(mx, s[j]);
        const __m256 mv = _mm256_set1_ps(mx);
        __m256 sum = _mm256_setzero_ps();
        int64_t j = a;
        for (; j + 8 <= b; j += 8) {
            const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
            _mm256_storeu_ps(s + j, e);
            sum = _mm256_add_ps(sum, e);
        }
        float tail = 0;
        if (j < b) {
            float t[8] = {0};
            for (int i = 0; j + i < b; i++) t[i] = s[j + i];
            _mm256_storeu_ps(t, exp256(_mm256_sub_ps(_mm256_loadu_ps(t), mv)));
            for (int i = 0; j + i < b; i++) { s[j + i] = t[i]; tail += t[i]; }
        }
        for (int64_t x = jlo; x < a; x++) s[x] = 0;
        for (int64_t x = b; x < jhi; x++) s[x] = 0;
        m[r] = mx;
        l[r] = hsum8(sum) + tail;
    }
    // o += p V, a tile of values at a time.
    for (int64_t t0 = jlo; t0 < jhi; t0 += SUB) {
        const int64_t n = jhi - t0 < SUB ? jhi - t0 : SUB;
        tile_f32(kv, kv->v, kv->vs, slots, t0, n, d, 1.0f, Kf, jhi);
        for (int64_t r = 0; r < R; r += 2) {
            const int two = r + 1 < R;
            const float *p0 = S + r * SROW + (t0 - j0), *p1 = p0 + SROW;
            for (int64_t c = 0; c < d; c += 32) {
                const int nv = d - c >= 32 ? 4 : (int)((d - c) / 8);
                if (two && nv == 4) axpy_tile(p0, p1, 1, Kf, n, d, c, 4, o + r * d, o + (r + 1) * d);
                else if (two) axpy_tile(p0, p1, 1, Kf, n, d, c, nv, o + r * d, o + (r + 1) * d);
                else if (nv == 4) axpy_tile(p0, NULL, 0, Kf, n, d, c, 4, o + r * d, NULL);
                else axpy_tile(p0, NULL, 0, Kf, n, d, c, nv, o + r * d, NULL);
            }
        }
    }
}
#endif

int folio_attend_rows_isa(int isa, const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                          const int32_t *lo, const int32_t *hi, int64_t chunk_begin, int64_t chunk_end, float scale,
                          float softcap, float *O, float *M, float *L, float *scratch) {
    float *S = scratch, *Kf = S + R * SROW, *o = Kf + SUB * d, *m = o + R * d, *l = m + R;
#if defined(__x86_64__)
    if (isa == FOLIO_ISA_AVX2 && !(cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C) && d % 8 == 0)) return -1;
#else
    if (isa != FOLIO_ISA_SCALAR) return -1;
#endif
    for (int64_t c = chunk_begin; c < chunk_end; c++) {
#if defined(__x86_64__)
        if (isa == FOLIO_ISA_AVX2) chunk_avx2(q, R, d, kv, slots, lo, hi, c * CH, (c + 1) * CH, scale, softcap, o, m, l, S, Kf);
        else
#endif
            chunk_scalar(q, R, d, kv, slots, lo, hi, c * CH, (c + 1) * CH, scale, softcap, o, m, l, S, Kf);
        folio_attend_merge(R, d, O, M, L, o, m, l);
    }
    return 0;
}

int folio_attend_isa(void) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C)) return FOLIO_ISA_AVX2;
#endif
    return FOLIO_ISA_SCALAR;
}

void folio_attend_rows(const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                       const int32_t *lo, const int32_t *hi, int64_t chunk_begin, int64_t chunk_end, float scale,
                       float softcap, float *O, float *M, float *L, float *scratch) {
    if (folio_attend_rows_isa(folio_attend_isa(), q, R, d, kv, slots, lo, hi, chunk_begin, chunk_end, scale, softcap, O, M, L, scratch) != 0)
        folio_attend_rows_isa(FOLIO_ISA_SCALAR, q, R, d, kv, slots, lo, hi, chunk_begin, chunk_end, scale, softcap, O, M, L, scratch);
}

void folio_attend_sinks(int64_t R, const float *M, float *L, const float *sinks) {
    for (int64_t r = 0; r < R; r++) L[r] += expf(sinks[r] - M[r]);
}

void folio_attend_ref(const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                      const int32_t *lo, const int32_t *hi, float scale, float softcap, const float *sinks, float *out) {
    float *row = malloc((size_t)d * sizeof(float));
    for (int64_t r = 0; r < R; r++) {
        const int64_t n = hi[r] > lo[r] ? hi[r] - lo[r] : 0;
        float *s = malloc((size_t)(n > 0 ? n : 1) * sizeof(float)), m, l;
        row_partial_scalar(q + r * d, d, kv, slots, lo[r], lo[r] + n, scale, softcap, out + r * d, &m, &l, s, row);
        if (sinks) folio_attend_sinks(1, &m, &l, sinks + r);
        for (int64_t i = 0; i < d; i++) out[r * d + i] = l > 0 ? out[r * d + i] / l : 0;
        free(s);
    }
    free(row);
}
