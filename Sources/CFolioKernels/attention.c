// Attention for one token and one KV head over the paged cache, for the G query heads that share that KV head
// (grouped-query attention): scores for every visible position, softmax, weighted sum of V. Keys and values are read
// once per group instead of once per query head. AVX-512 and AVX2 variants (vectorized exp) beside a scalar definition.
#include "CFolioKernels.h"
#include "cpu.h"
#include "vmath.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void attend_scalar(const float *q, int64_t G, int64_t d, const void *k, const void *v, int f16, int64_t kv_dim,
                          const int32_t *slots, int64_t n, float scale, float softcap, float *out, float *scores) {
    for (int64_t g = 0; g < G; g++) {
        const float *qg = q + g * d;
        float *s = scores + g * n, m = -INFINITY;
        for (int64_t j = 0; j < n; j++) {
            const int64_t off = (int64_t)slots[j] * kv_dim;
            float acc = 0;
            if (f16) { const uint16_t *kj = (const uint16_t *)k + off; for (int64_t i = 0; i < d; i++) acc += qg[i] * folio_fp16_to_fp32(kj[i]); }
            else { const float *kj = (const float *)k + off; for (int64_t i = 0; i < d; i++) acc += qg[i] * kj[i]; }
            acc *= scale;
            if (softcap > 0) acc = tanhf(acc / softcap) * softcap;
            s[j] = acc;
            if (acc > m) m = acc;
        }
        float sum = 0;
        for (int64_t j = 0; j < n; j++) { s[j] = expf(s[j] - m); sum += s[j]; }
        const float inv = 1.0f / sum;
        float *o = out + g * d;
        for (int64_t i = 0; i < d; i++) o[i] = 0;
        for (int64_t j = 0; j < n; j++) {
            const float p = s[j] * inv;
            const int64_t off = (int64_t)slots[j] * kv_dim;
            if (f16) { const uint16_t *vj = (const uint16_t *)v + off; for (int64_t i = 0; i < d; i++) o[i] += p * folio_fp16_to_fp32(vj[i]); }
            else { const float *vj = (const float *)v + off; for (int64_t i = 0; i < d; i++) o[i] += p * vj[i]; }
        }
    }
}

#if defined(__x86_64__)
#define ATT_TARGET __attribute__((target("avx512f,avx512dq,fma,f16c")))

ATT_TARGET static inline __m512 load16(const void *base, int f16, int64_t off) {
    return f16 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + off)))
               : _mm512_loadu_ps((const float *)base + off);
}

/// Lane i of the result = the sum of the 16 lanes of v[i] (a transpose-and-add tree: 45 shuffles and adds).
ATT_TARGET static inline __m512 sum16(const __m512 *v) {
    __m512 t[8], u[4];
    for (int i = 0; i < 8; i++)   // per 128-bit lane: [v2i 0+2, v2i+1 0+2, v2i 1+3, v2i+1 1+3]
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++)   // per 128-bit lane: partial sums of keys 4i..4i+3
        u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0x44), _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0xEE));
    const __m512 w0 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x44), _mm512_shuffle_f32x4(u[0], u[1], 0xEE));
    const __m512 w1 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x44), _mm512_shuffle_f32x4(u[2], u[3], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0x88), _mm512_shuffle_f32x4(w0, w1, 0xDD));
}

#define ATT_MAX_G 8
#define ATT_MAX_D16 16  // head dims up to 256

ATT_TARGET static void attend_avx512(const float *q, int64_t G, int64_t d, const void *k, const void *v, int f16, int64_t kv_dim,
                                     const int32_t *slots, int64_t n, float scale, float softcap, float *out, float *scores) {
    const int64_t d16 = d / 16;
    float mx[ATT_MAX_G];
    for (int64_t g = 0; g < G; g++) mx[g] = -INFINITY;
    // Scores, 16 keys at a time: per query head, one partial-sum vector per key, then one transpose-and-add tree
    // gives the 16 dot products in one vector (instead of a horizontal sum per key).
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        for (int64_t g = 0; g < G; g++) {
            const float *qg = q + g * d;
            __m512 a[16];
            for (int jj = 0; jj < 16; jj++) {
                const int64_t off = (int64_t)slots[j + jj] * kv_dim;
                a[jj] = _mm512_mul_ps(_mm512_loadu_ps(qg), load16(k, f16, off));
                for (int64_t c = 1; c < d16; c++) a[jj] = _mm512_fmadd_ps(_mm512_loadu_ps(qg + 16 * c), load16(k, f16, off + 16 * c), a[jj]);
            }
            __m512 sc = _mm512_mul_ps(sum16(a), _mm512_set1_ps(scale));
            if (softcap > 0) {
                float t[16];
                _mm512_storeu_ps(t, sc);
                for (int i = 0; i < 16; i++) t[i] = tanhf(t[i] / softcap) * softcap;
                sc = _mm512_loadu_ps(t);
            }
            _mm512_storeu_ps(scores + g * n + j, sc);
            const float m = _mm512_reduce_max_ps(sc);
            if (m > mx[g]) mx[g] = m;
        }
    }
    // The remaining keys one at a time; each key row is loaded once for the G query heads.
    for (; j < n; j++) {
        const int64_t off = (int64_t)slots[j] * kv_dim;
        __m512 acc[ATT_MAX_G];
        for (int64_t g = 0; g < G; g++) acc[g] = _mm512_setzero_ps();
        for (int64_t c = 0; c < d16; c++) {
            const __m512 kv = load16(k, f16, off + 16 * c);
            for (int64_t g = 0; g < G; g++) acc[g] = _mm512_fmadd_ps(_mm512_loadu_ps(q + g * d + 16 * c), kv, acc[g]);
        }
        for (int64_t g = 0; g < G; g++) {
            float s = _mm512_reduce_add_ps(acc[g]) * scale;
            if (softcap > 0) s = tanhf(s / softcap) * softcap;
            scores[g * n + j] = s;
            if (s > mx[g]) mx[g] = s;
        }
    }
    // Softmax numerators (vectorized exp) and their sums.
    float inv[ATT_MAX_G];
    for (int64_t g = 0; g < G; g++) {
        float *s = scores + g * n;
        const __m512 m = _mm512_set1_ps(mx[g]);
        __m512 sum = _mm512_setzero_ps();
        int64_t j = 0;
        for (; j + 16 <= n; j += 16) {
            const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), m));
            _mm512_storeu_ps(s + j, e);
            sum = _mm512_add_ps(sum, e);
        }
        if (j < n) {
            const __mmask16 mk = (__mmask16)((1u << (n - j)) - 1);
            const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), m));
            _mm512_mask_storeu_ps(s + j, mk, e);
            sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, e));
        }
        inv[g] = 1.0f / _mm512_reduce_add_ps(sum);
    }
    // Weighted sum of values: each value row is loaded once for the G heads; accumulators stay in registers.
    for (int64_t g = 0; g < G; g++)
        for (int64_t c = 0; c < d16; c++) _mm512_storeu_ps(out + g * d + 16 * c, _mm512_setzero_ps());
    for (int64_t c0 = 0; c0 < d16; c0 += 4) {
        const int64_t cn = d16 - c0 < 4 ? d16 - c0 : 4;
        __m512 acc[ATT_MAX_G][4];
        for (int64_t g = 0; g < G; g++) for (int64_t c = 0; c < cn; c++) acc[g][c] = _mm512_setzero_ps();
        for (int64_t j = 0; j < n; j++) {
            const int64_t off = (int64_t)slots[j] * kv_dim + 16 * c0;
            __m512 vv[4];
            for (int64_t c = 0; c < cn; c++) vv[c] = load16(v, f16, off + 16 * c);
            for (int64_t g = 0; g < G; g++) {
                const __m512 p = _mm512_set1_ps(scores[g * n + j]);
                for (int64_t c = 0; c < cn; c++) acc[g][c] = _mm512_fmadd_ps(p, vv[c], acc[g][c]);
            }
        }
        for (int64_t g = 0; g < G; g++)
            for (int64_t c = 0; c < cn; c++)
                _mm512_storeu_ps(out + g * d + 16 * (c0 + c), _mm512_mul_ps(acc[g][c], _mm512_set1_ps(inv[g])));
    }
}

#define ATT2_TARGET __attribute__((target("avx2,fma,f16c")))

ATT2_TARGET static inline __m256 load8(const void *base, int f16, int64_t off) {
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + off)))
               : _mm256_loadu_ps((const float *)base + off);
}

ATT2_TARGET static inline float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/// AVX2 (no AVX-512): each key and value row is loaded once for the G query heads; vectorized exp.
ATT2_TARGET static void attend_avx2(const float *q, int64_t G, int64_t d, const void *k, const void *v, int f16, int64_t kv_dim,
                                    const int32_t *slots, int64_t n, float scale, float softcap, float *out, float *scores) {
    const int64_t d8 = d / 8;
    float mx[ATT_MAX_G];
    for (int64_t g = 0; g < G; g++) mx[g] = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        const int64_t off = (int64_t)slots[j] * kv_dim;
        __m256 acc[ATT_MAX_G];
        for (int64_t g = 0; g < G; g++) acc[g] = _mm256_setzero_ps();
        for (int64_t c = 0; c < d8; c++) {
            const __m256 kv = load8(k, f16, off + 8 * c);
            for (int64_t g = 0; g < G; g++) acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * d + 8 * c), kv, acc[g]);
        }
        for (int64_t g = 0; g < G; g++) {
            float s = hsum8(acc[g]) * scale;
            if (softcap > 0) s = tanhf(s / softcap) * softcap;
            scores[g * n + j] = s;
            if (s > mx[g]) mx[g] = s;
        }
    }
    float inv[ATT_MAX_G];
    for (int64_t g = 0; g < G; g++) {
        float *s = scores + g * n;
        const __m256 m = _mm256_set1_ps(mx[g]);
        __m256 sum = _mm256_setzero_ps();
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
            _mm256_storeu_ps(s + j, e);
            sum = _mm256_add_ps(sum, e);
        }
        float tail = 0;
        if (j < n) {   // the last n % 8 through a buffer
            float t[8] = {0};
            for (int i = 0; j + i < n; i++) t[i] = s[j + i];
            _mm256_storeu_ps(t, exp256(_mm256_sub_ps(_mm256_loadu_ps(t), m)));
            for (int i = 0; j + i < n; i++) { s[j + i] = t[i]; tail += t[i]; }
        }
        inv[g] = 1.0f / (hsum8(sum) + tail);
    }
    for (int64_t c = 0; c < d8; c++) {
        __m256 acc[ATT_MAX_G];
        for (int64_t g = 0; g < G; g++) acc[g] = _mm256_setzero_ps();
        for (int64_t j = 0; j < n; j++) {
            const __m256 vv = load8(v, f16, (int64_t)slots[j] * kv_dim + 8 * c);
            for (int64_t g = 0; g < G; g++) acc[g] = _mm256_fmadd_ps(_mm256_set1_ps(scores[g * n + j]), vv, acc[g]);
        }
        for (int64_t g = 0; g < G; g++) _mm256_storeu_ps(out + g * d + 8 * c, _mm256_mul_ps(acc[g], _mm256_set1_ps(inv[g])));
    }
}
#endif

void folio_attend(const float *q, int64_t G, int64_t d, const void *k, const void *v, int f16, int64_t kv_dim,
                  const int32_t *slots, int64_t n, float scale, float softcap, float *out, float *scores) {
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX512F | CPU_AVX512DQ | CPU_F16C) && d % 16 == 0 && d <= 16 * ATT_MAX_D16 && G <= ATT_MAX_G) {
        attend_avx512(q, G, d, k, v, f16, kv_dim, slots, n, scale, softcap, out, scores);
        return;
    }
    if (cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C) && d % 8 == 0 && G <= ATT_MAX_G) {
        attend_avx2(q, G, d, k, v, f16, kv_dim, slots, n, scale, softcap, out, scores);
        return;
    }
#endif
    attend_scalar(q, G, d, k, v, f16, kv_dim, slots, n, scale, softcap, out, scores);
}

void folio_attend_ref(const float *q, int64_t G, int64_t d, const void *k, const void *v, int f16, int64_t kv_dim,
                      const int32_t *slots, int64_t n, float scale, float softcap, float *out, float *scores) {
    attend_scalar(q, G, d, k, v, f16, kv_dim, slots, n, scale, softcap, out, scores);
}
