// Float32 reference matmul over dequantized weight rows. The dot product has an AVX-512/AVX2 variant chosen at
// run time (per-function target attributes, so the package builds with default flags on any x86-64 or arm64).
#include "CFolioKernels.h"
#include "cpu.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static float dot_scalar(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float s = 0;
    for (int k = 0; k < 8; k++) s += acc[k];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static float dot_avx512(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    __m256 s8 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#endif

typedef float (*dot_fn)(const float *, const float *, int64_t);

static dot_fn pick_dot(void) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX512F)) return dot_avx512;
    if (cpu_has(CPU_AVX2 | CPU_FMA)) return dot_avx2;
#endif
    return dot_scalar;
}

float folio_dot_f32(const float *a, const float *b, int64_t n) {
    static dot_fn fn = 0;  // benign race: every thread computes the same pointer
    if (!fn) fn = pick_dot();
    return fn(a, b, n);
}

#if defined(__x86_64__)
/// 4 weight rows x NT tokens: 4 * NT dot products sharing their loads (4 + NT loads per 4 * NT FMAs).
/// w: 4 rows of `cols` floats (contiguous), x: NT token rows (stride ldx); y[t * ldy + r]. Each dot product
/// accumulates 16 lanes over k in order, then reduces: the same arithmetic as dot_like_kernel_avx512.
#define DEFINE_KERNEL(NT)                                                                                          \
__attribute__((target("avx512f")))                                                                                 \
static void kernel_4x##NT##_avx512(const float *w, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy) { \
    __m512 acc[4][NT];                                                                                             \
    for (int r = 0; r < 4; r++) for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();                     \
    int64_t k = 0;                                                                                                 \
    for (; k + 16 <= cols; k += 16) {                                                                              \
        __m512 w0 = _mm512_loadu_ps(w + k), w1 = _mm512_loadu_ps(w + cols + k);                                    \
        __m512 w2 = _mm512_loadu_ps(w + 2 * cols + k), w3 = _mm512_loadu_ps(w + 3 * cols + k);                    \
        for (int t = 0; t < NT; t++) {                                                                             \
            __m512 xv = _mm512_loadu_ps(x + t * ldx + k);                                                          \
            acc[0][t] = _mm512_fmadd_ps(w0, xv, acc[0][t]);                                                        \
            acc[1][t] = _mm512_fmadd_ps(w1, xv, acc[1][t]);                                                        \
            acc[2][t] = _mm512_fmadd_ps(w2, xv, acc[2][t]);                                                        \
            acc[3][t] = _mm512_fmadd_ps(w3, xv, acc[3][t]);                                                        \
        }                                                                                                          \
    }                                                                                                              \
    if (k < cols) {                                                                                                \
        __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);                                                         \
        __m512 w0 = _mm512_maskz_loadu_ps(m, w + k), w1 = _mm512_maskz_loadu_ps(m, w + cols + k);                  \
        __m512 w2 = _mm512_maskz_loadu_ps(m, w + 2 * cols + k), w3 = _mm512_maskz_loadu_ps(m, w + 3 * cols + k);  \
        for (int t = 0; t < NT; t++) {                                                                             \
            __m512 xv = _mm512_maskz_loadu_ps(m, x + t * ldx + k);                                                 \
            acc[0][t] = _mm512_fmadd_ps(w0, xv, acc[0][t]);                                                        \
            acc[1][t] = _mm512_fmadd_ps(w1, xv, acc[1][t]);                                                        \
            acc[2][t] = _mm512_fmadd_ps(w2, xv, acc[2][t]);                                                        \
            acc[3][t] = _mm512_fmadd_ps(w3, xv, acc[3][t]);                                                        \
        }                                                                                                          \
    }                                                                                                              \
    for (int t = 0; t < NT; t++)                                                                                   \
        for (int r = 0; r < 4; r++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);                              \
}
DEFINE_KERNEL(4)

/// One dot product with exactly the per-lane FMA order and final reduction of kernel_4x4_avx512, so a token's
/// result never depends on whether it was computed in a group of four (batch invariance).
__attribute__((target("avx512f")))
static float dot_like_kernel_avx512(const float *w, const float *x, int64_t cols) {
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), acc);
    if (k < cols) {
        __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k), _mm512_maskz_loadu_ps(m, x + k), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/// dot_like_kernel_avx512 reading a float16 or bfloat16 row in place (the conversion to float32 is exact, so the
/// result is bit-identical to dequantizing first): single-token decode streams the weights once, with no scratch
/// copy, and prefetches a few KB ahead.
__attribute__((target("avx512f,avx512bw,avx512vl,f16c")))
static float dot_like_kernel_half_avx512(int bf16, const uint16_t *w, const float *x, int64_t cols) {
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) {
        _mm_prefetch((const char *)(w + k) + 2048, _MM_HINT_T0);
        const __m256i h = _mm256_loadu_si256((const __m256i *)(w + k));
        const __m512 wv = bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
        acc = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + k), acc);
    }
    if (k < cols) {
        __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);
        const __m256i h = _mm256_maskz_loadu_epi16(m, w + k);
        const __m512 wv = bf16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)) : _mm512_cvtph_ps(h);
        acc = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + k), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

static int have_avx512(void) { return cpu_has(CPU_AVX512F); }

/// The AVX2 tile: 2 weight rows x 6 tokens, 12 dot products sharing their loads (2 + 6 loads per 12 FMAs; 15 of the
/// 16 ymm registers). Each dot product accumulates 8 lanes over k in order, reduces them as hsum8_avx2, then adds
/// the k % 8 tail in order: exactly dot_like_kernel_avx2's arithmetic, so a token's result never depends on whether
/// it fell in a tile (batch invariance).
__attribute__((target("avx2,fma")))
static inline float hsum8_avx2(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma")))
static float dot_like_kernel_avx2(const float *w, const float *x, int64_t cols) {
    __m256 acc = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), acc);
    float s = hsum8_avx2(acc);
    for (; k < cols; k++) s += w[k] * x[k];
    return s;
}

__attribute__((target("avx2,fma")))
static void kernel_2x6_avx2(const float *w, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy) {
    __m256 acc[2][6];
    for (int r = 0; r < 2; r++) for (int t = 0; t < 6; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
        const __m256 w0 = _mm256_loadu_ps(w + k), w1 = _mm256_loadu_ps(w + cols + k);
        for (int t = 0; t < 6; t++) {
            const __m256 xv = _mm256_loadu_ps(x + t * ldx + k);
            acc[0][t] = _mm256_fmadd_ps(w0, xv, acc[0][t]);
            acc[1][t] = _mm256_fmadd_ps(w1, xv, acc[1][t]);
        }
    }
    for (int t = 0; t < 6; t++)
        for (int r = 0; r < 2; r++) {
            float s = hsum8_avx2(acc[r][t]);
            for (int64_t kk = k; kk < cols; kk++) s += w[r * cols + kk] * x[t * ldx + kk];
            y[t * ldy + r] = s;
        }
}

/// A block of float32 rows times T tokens on AVX2: 2x6 tiles, dot_like_kernel_avx2 for the edges.
__attribute__((target("avx2,fma")))
static void block_avx2(const float *rows, int64_t nrb, int64_t cols, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy) {
    // Six tokens stay in L1 while the block's rows (in L2) stream past them in pairs.
    int64_t t = 0;
    for (; t + 6 <= T; t += 6) {
        int64_t r = 0;
        for (; r + 2 <= nrb; r += 2) kernel_2x6_avx2(rows + r * cols, cols, x + t * ldx, ldx, y + t * ldy + r, ldy);
        for (; r < nrb; r++)
            for (int64_t u = t; u < t + 6; u++) y[u * ldy + r] = dot_like_kernel_avx2(rows + r * cols, x + u * ldx, cols);
    }
    for (; t < T; t++)
        for (int64_t r = 0; r < nrb; r++) y[t * ldy + r] = dot_like_kernel_avx2(rows + r * cols, x + t * ldx, cols);
}
#endif

/// Rows per block whose float32 copy stays in L2 while a block of tokens streams past it.
#define ROW_BLOCK 64
#define TOKEN_BLOCK 64

int folio_matmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols,
                      int64_t row_begin, int64_t row_end,
                      const float *x, int64_t ldx, int64_t T,
                      float *y, int64_t ldy, float *scratch) {
    const char *base = (const char *)w;
#if defined(__x86_64__)
    const int avx512 = have_avx512();
#else
    const int avx512 = 0;
#endif
#if defined(__x86_64__)
    if (avx512 && T < 4 && cpu_has(CPU_AVX512BW | CPU_AVX512VL | CPU_F16C) && (type == FOLIO_GGML_F16 || type == FOLIO_GGML_BF16)) {
        for (int64_t r = row_begin; r < row_end; r++)
            for (int64_t t = 0; t < T; t++)
                y[t * ldy + r] = dot_like_kernel_half_avx512(type == FOLIO_GGML_BF16, (const uint16_t *)(base + r * row_bytes), x + t * ldx, cols);
        return 0;
    }
#endif
    for (int64_t rb = row_begin; rb < row_end; rb += ROW_BLOCK) {
        const int64_t nrb = row_end - rb < ROW_BLOCK ? row_end - rb : ROW_BLOCK;
        // The block's rows as float32: in place for F32 (when rows are contiguous), else dequantized once.
        const float *rows;
        if (type == FOLIO_GGML_F32 && row_bytes == cols * 4) {
            rows = (const float *)(base + rb * row_bytes);
        } else {
            for (int64_t r = 0; r < nrb; r++)
                if (folio_dequantize(type, base + (rb + r) * row_bytes, scratch + r * cols, cols) != 0) return -1;
            rows = scratch;
        }
        if (!avx512) {
#if defined(__x86_64__)
            if (cpu_has(CPU_AVX2 | CPU_FMA)) {
                block_avx2(rows, nrb, cols, x, ldx, T, y + rb, ldy);
                continue;
            }
#endif
            for (int64_t r = 0; r < nrb; r++)
                for (int64_t t = 0; t < T; t++) y[t * ldy + rb + r] = folio_dot_f32(rows + r * cols, x + t * ldx, cols);
            continue;
        }
#if defined(__x86_64__)
        // Every (row, token) pair gets the same arithmetic whether it falls in a 4x4 group or not (batch invariance).
        for (int64_t tb = 0; tb < T; tb += TOKEN_BLOCK) {
            const int64_t te = T - tb < TOKEN_BLOCK ? T : tb + TOKEN_BLOCK;
            int64_t r = 0;
            for (; r + 4 <= nrb; r += 4) {
                int64_t t = tb;
                for (; t + 4 <= te; t += 4) kernel_4x4_avx512(rows + r * cols, cols, x + t * ldx, ldx, y + t * ldy + rb + r, ldy);
                for (; t < te; t++)
                    for (int64_t k = 0; k < 4; k++) y[t * ldy + rb + r + k] = dot_like_kernel_avx512(rows + (r + k) * cols, x + t * ldx, cols);
            }
            for (; r < nrb; r++)
                for (int64_t t = tb; t < te; t++) y[t * ldy + rb + r] = dot_like_kernel_avx512(rows + r * cols, x + t * ldx, cols);
        }
#endif
    }
    return 0;
}

// ---- float16 conversion ----

void folio_f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = folio_fp32_to_fp16(x[i]);
}
