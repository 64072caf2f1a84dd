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

// ---- bias + activation (encoder layers: y = act(y + b)) ----

/// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's exact gelu).
static float gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

static float apply_act(int act, float x) {
    switch (act) {
    case FOLIO_ACT_GELU: return gelu_erf(x);
    case FOLIO_ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case FOLIO_ACT_RELU: return x > 0 ? x : 0;
    default: return x;
    }
}

static void bias_act_scalar(float *y, const float *b, int64_t rows, int64_t n, int act) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < n; i++) y[r * n + i] = apply_act(act, y[r * n + i] + (b ? b[i] : 0.0f));
}

#if defined(__x86_64__)
/// erf(z) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7): 1 - t p(t) e^{-z^2}, t = 1 / (1 + 0.3275911 |z|),
/// with erf's sign.
VMATH_AVX2_TARGET static inline __m256 erf256(__m256 z) {
    const __m256 sign = _mm256_and_ps(z, _mm256_set1_ps(-0.0f));
    const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = exp256(_mm256_mul_ps(_mm256_mul_ps(a, a), _mm256_set1_ps(-1.0f)));
    const __m256 r = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(r, sign);
}

VMATH_AVX2_TARGET static void bias_act_avx2(float *y, const float *b, int64_t rows, int64_t n, int act) {
    for (int64_t r = 0; r < rows; r++) {
        float *row = y + r * n;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 x = _mm256_loadu_ps(row + i);
            if (b) x = _mm256_add_ps(x, _mm256_loadu_ps(b + i));
            if (act == FOLIO_ACT_GELU) {
                const __m256 e = erf256(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
                x = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
            } else if (act == FOLIO_ACT_GELU_TANH) {
                const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
                x = x_sigmoid(x, _mm256_mul_ps(_mm256_set1_ps(2 * 0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x)));
            } else if (act == FOLIO_ACT_RELU) {
                x = _mm256_max_ps(x, _mm256_setzero_ps());
            }
            _mm256_storeu_ps(row + i, x);
        }
        for (; i < n; i++) row[i] = apply_act(act, row[i] + (b ? b[i] : 0.0f));
    }
}
#endif

void folio_bias_act(float *y, const float *b, int64_t rows, int64_t n, int act) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX2 | CPU_FMA)) { bias_act_avx2(y, b, rows, n, act); return; }
#endif
    bias_act_scalar(y, b, rows, n, act);
}

void folio_bias_act_ref(float *y, const float *b, int64_t rows, int64_t n, int act) { bias_act_scalar(y, b, rows, n, act); }
