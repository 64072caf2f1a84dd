// Gated activations of the MLP on the fast path: g = act(g) * u, vectorized (exp512), with a scalar definition.
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

void folio_silu_mul(float *g, const float *u, int64_t n) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX512F | CPU_AVX512DQ)) { silu_mul_avx512(g, u, n); return; }
#endif
    silu_mul_scalar(g, u, n);
}

void folio_silu_mul_ref(float *g, const float *u, int64_t n) { silu_mul_scalar(g, u, n); }
