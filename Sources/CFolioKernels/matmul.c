// Float32 reference matmul over dequantized weight rows. The dot product has an AVX-512/AVX2 variant chosen at
// run time (per-function target attributes, so the package builds with default flags on any x86-64 or arm64).
#include "CFolioKernels.h"
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
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return dot_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_avx2;
#endif
    return dot_scalar;
}

float folio_dot_f32(const float *a, const float *b, int64_t n) {
    static dot_fn fn = 0;  // benign race: every thread computes the same pointer
    if (!fn) fn = pick_dot();
    return fn(a, b, n);
}

int folio_matmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols,
                      int64_t row_begin, int64_t row_end,
                      const float *x, int64_t ldx, int64_t T,
                      float *y, int64_t ldy, float *scratch) {
    const char *base = (const char *)w;
    for (int64_t r = row_begin; r < row_end; r++) {
        const float *row;
        if (type == FOLIO_GGML_F32) {
            row = (const float *)(base + r * row_bytes);
        } else {
            if (folio_dequantize(type, base + r * row_bytes, scratch, cols) != 0) return -1;
            row = scratch;
        }
        for (int64_t t = 0; t < T; t++) y[t * ldy + r] = folio_dot_f32(row, x + t * ldx, cols);
    }
    return 0;
}
