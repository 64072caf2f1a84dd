// Gated activations of the MLP on the fast path: g = act(g) * u, vectorized (exp512 / exp256), with scalar definitions.
#include "CFolioKernels.h"
#include "cpu.h"
#include "vmath.h"
#include <math.h>

static void silu_mul_scalar(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

#if defined(__x86_64__)
/// silu(x) = x / (1 + e^-x); with e = exp(-|x|) (never overflows): x / (1 + e) for x >= 0, x * e / (1 + e) below.
VMATH_TARGET static void silu_mul_avx512(float *g, const float *u, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        const __m512 e = exp512(_mm512_or_ps(x, sign));   // exp(-|x|)
        __m512 r = _mm512_div_ps(x, _mm512_add_ps(one, e));
        r = _mm512_mask_mul_ps(r, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), r, e);
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(r, _mm512_maskz_loadu_ps(m, u + i)));
    }
}
#endif

/// gelu_tanh(x) = 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x^3) (PyTorch's approximate="tanh").
static void gelu_tanh_mul_scalar(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = g[i];
        g[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) * u[i];
    }
}

#if defined(__x86_64__)
/// x * sigmoid(y) for y = x (silu) or y = 2z (gelu_tanh: 0.5 (1 + tanh z) = sigmoid(2z)), with e = exp(-|y|) so
/// nothing overflows: 1 / (1 + e) for y >= 0, e / (1 + e) below. Lanes past n are neither read nor written.
VMATH_AVX2_TARGET static inline __m256 x_sigmoid(__m256 x, __m256 y) {
    const __m256 e = exp256(_mm256_or_ps(y, _mm256_set1_ps(-0.0f)));   // exp(-|y|)
    const __m256 r = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    return _mm256_blendv_ps(r, _mm256_mul_ps(r, e), _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_LT_OQ));
}

VMATH_AVX2_TARGET static void act_mul_avx2(int gelu, float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i < n; i += 8) {
        float xb[8] = {0}, ub[8] = {0};
        const int64_t m = n - i < 8 ? n - i : 8;
        const float *xs = g + i, *us = u + i;
        if (m < 8) { for (int64_t k = 0; k < m; k++) { xb[k] = g[i + k]; ub[k] = u[i + k]; } xs = xb; us = ub; }
        const __m256 x = _mm256_loadu_ps(xs);
        __m256 y = x;
        if (gelu) {
            const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
            y = _mm256_mul_ps(_mm256_set1_ps(2 * 0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
        }
        const __m256 r = _mm256_mul_ps(x_sigmoid(x, y), _mm256_loadu_ps(us));
        if (m == 8) _mm256_storeu_ps(g + i, r);
        else { _mm256_storeu_ps(xb, r); for (int64_t k = 0; k < m; k++) g[i + k] = xb[k]; }
    }
}
#endif

void folio_silu_mul(float *g, const float *u, int64_t n) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX512F | CPU_AVX512DQ)) { silu_mul_avx512(g, u, n); return; }
    if (cpu_has(CPU_AVX2 | CPU_FMA)) { act_mul_avx2(0, g, u, n); return; }
#endif
    silu_mul_scalar(g, u, n);
}

void folio_silu_mul_ref(float *g, const float *u, int64_t n) { silu_mul_scalar(g, u, n); }

void folio_gelu_tanh_mul(float *g, const float *u, int64_t n) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX2 | CPU_FMA)) { act_mul_avx2(1, g, u, n); return; }
#endif
    gelu_tanh_mul_scalar(g, u, n);
}

void folio_gelu_tanh_mul_ref(float *g, const float *u, int64_t n) { gelu_tanh_mul_scalar(g, u, n); }
