// Quantized matmul: weights used in place in their GGUF block format, activations quantized on the fly to int8
// blocks of 32 (scale max|x|/127), products summed with AVX-512 VNNI (vpdpbusd: u8 x s8 -> s32).
//
// Every supported format is read 64 elements at a time (a "pair": two 32-element blocks, or a quarter of a K-quant
// super-block) as
//     w[i] = wd[i/4] * u[i] + wm[i/4]        u: 0..255 unsigned, wd/wm: one float per 4-element lane,
// with the -8 / -128 / -32 offsets of Q4_0 / Q8_0 / Q6_K and the minimums of Q4_1 / Q4_K / Q5_K folded into wm.
// A quantized activation row is x[i] ~ xd[i/4] * q[i] with xs[l] = xd[l] * (q[4l] + q[4l+1] + q[4l+2] + q[4l+3]), so
//     dot(w, x) = sum over lanes l of  wd[l] * xd[l] * (sum of 4 u*q)  +  wm[l] * xs[l]
// where the integer sum is exactly one lane of vpdpbusd. The scalar reference below computes the same formula element
// by element; the tests compare the two and compare both with float32 dot products of the dequantized weights.
#include "CFolioKernels.h"
#include "blocks.h"
#include "cpu.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int folio_qmatmul_supported(int type, int64_t cols) {
    if (cols <= 0 || cols % 64 != 0) return 0;
    switch (type) {
    case FOLIO_GGML_Q4_0: case FOLIO_GGML_Q4_1: case FOLIO_GGML_Q8_0: return 1;
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: case FOLIO_GGML_Q6_K: return cols % 256 == 0;
    default: return 0;
    }
}

/// A quantized 32-block's 8 lanes: the block scale d in each, and d * (sum of the lane's 4 values).
static inline void block_lanes(const int8_t *q, float d, float *xd4, float *xs4) {
    for (int l = 0; l < 8; l++) {
        xd4[l] = d;
        xs4[l] = d * (float)(q[4 * l] + q[4 * l + 1] + q[4 * l + 2] + q[4 * l + 3]);
    }
}

/// The fields of the Q4_K / Q5_K super-block that pair p falls in (qh is null for Q4_K).
typedef struct { const uint8_t *scales, *qs, *qh; uint16_t d, dmin; } kquant_block;

static inline kquant_block kquant_at(int type, const uint8_t *row, int64_t p) {
    if (type == FOLIO_GGML_Q4_K) {
        const block_q4_K *b = (const block_q4_K *)row + p / 4;
        return (kquant_block){ b->scales, b->qs, 0, b->d, b->dmin };
    }
    const block_q5_K *b = (const block_q5_K *)row + p / 4;
    return (kquant_block){ b->scales, b->qs, b->qh, b->d, b->dmin };
}

// ---- scalar reference ----

/// Activation quantization, one 32-block at a time: d = max|x| / 127, q = round-half-even(x / d).
static void quantize_act_scalar(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4) {
    for (int64_t b = 0; b < cols / 32; b++) {
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) q[32 * b + i] = (int8_t)nearbyintf(xb[i] * id);
        block_lanes(q + 32 * b, d, xd4 + 8 * b, xs4 + 8 * b);
    }
}

/// Pair `p` of a weight row as u[64] and per-lane wd[16], wm[16] (element by element, following the dequantizers).
static void decode_pair_scalar(int type, const uint8_t *row, int64_t p, uint8_t *u, float *wd, float *wm) {
    float sd[4], sm[4];  // scale and offset per 16 elements
    switch (type) {
    case FOLIO_GGML_Q4_0: case FOLIO_GGML_Q4_1: {
        for (int h = 0; h < 2; h++) {
            float d, m;
            const uint8_t *qs;
            if (type == FOLIO_GGML_Q4_0) {
                const block_q4_0 *b = (const block_q4_0 *)row + 2 * p + h;
                d = folio_fp16_to_fp32(b->d); m = -8.0f * d; qs = b->qs;
            } else {
                const block_q4_1 *b = (const block_q4_1 *)row + 2 * p + h;
                d = folio_fp16_to_fp32(b->d); m = folio_fp16_to_fp32(b->m); qs = b->qs;
            }
            for (int j = 0; j < 16; j++) { u[32 * h + j] = qs[j] & 0xF; u[32 * h + 16 + j] = qs[j] >> 4; }
            sd[2 * h] = sd[2 * h + 1] = d; sm[2 * h] = sm[2 * h + 1] = m;
        }
        break;
    }
    case FOLIO_GGML_Q8_0:
        for (int h = 0; h < 2; h++) {
            const block_q8_0 *b = (const block_q8_0 *)row + 2 * p + h;
            const float d = folio_fp16_to_fp32(b->d);
            for (int j = 0; j < 32; j++) u[32 * h + j] = (uint8_t)(b->qs[j] + 128);
            sd[2 * h] = sd[2 * h + 1] = d; sm[2 * h] = sm[2 * h + 1] = -128.0f * d;
        }
        break;
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: {
        const int j = (int)(p % 4);
        const kquant_block k = kquant_at(type, row, p);
        const uint8_t *scales = k.scales, *qs = k.qs, *qh = k.qh;
        const float d = folio_fp16_to_fp32(k.d), dmin = folio_fp16_to_fp32(k.dmin);
        for (int h = 0; h < 2; h++) {
            uint8_t sc, m;
            get_scale_min_k4(2 * j + h, scales, &sc, &m);
            for (int l = 0; l < 32; l++) {
                uint8_t v = h == 0 ? (qs[32 * j + l] & 0xF) : (qs[32 * j + l] >> 4);
                if (qh && (qh[l] & (1u << (2 * j + h)))) v += 16;
                u[32 * h + l] = v;
            }
            sd[2 * h] = sd[2 * h + 1] = d * sc; sm[2 * h] = sm[2 * h + 1] = -dmin * m;
        }
        break;
    }
    case FOLIO_GGML_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)row + p / 4;
        const int j = (int)(p % 4), n = j / 2, pp = j % 2;
        const uint8_t *ql = b->ql + 64 * n, *qh = b->qh + 32 * n;
        const int8_t *sc = b->scales + 8 * n + 4 * pp;
        const float d = folio_fp16_to_fp32(b->d);
        for (int l = 0; l < 32; l++) {
            if (pp == 0) {
                u[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
                u[32 + l] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            } else {
                u[l] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                u[32 + l] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
            }
        }
        for (int k = 0; k < 4; k++) { sd[k] = d * sc[k]; sm[k] = -32.0f * sd[k]; }
        break;
    }
    }
    for (int l = 0; l < 16; l++) { wd[l] = sd[l / 4]; wm[l] = sm[l / 4]; }
}

// Q4_0, Q8_0 and Q6_K have wm = c * wd (c = symmetric_offset, blocks.h): their lanes accumulate
// wd * (s * xd + c * xs), one FMA fewer per lane.

static float qdot_scalar(int type, const uint8_t *row, int64_t cols, const int8_t *q, const float *xd4, const float *xs4) {
    const float c = symmetric_offset(type);
    float lane[16] = {0};
    uint8_t u[64];
    float wd[16], wm[16];
    for (int64_t p = 0; p < cols / 64; p++) {
        decode_pair_scalar(type, row, p, u, wd, wm);
        for (int l = 0; l < 16; l++) {
            int32_t s = 0;
            for (int k = 0; k < 4; k++) s += (int32_t)u[4 * l + k] * q[64 * p + 4 * l + k];
            if (c != 0) lane[l] += wd[l] * ((float)s * xd4[16 * p + l] + c * xs4[16 * p + l]);
            else lane[l] += (float)s * (wd[l] * xd4[16 * p + l]) + wm[l] * xs4[16 * p + l];
        }
    }
    float s = 0;
    for (int l = 0; l < 16; l++) s += lane[l];
    return s;
}

static void qmatmul_scalar(int type, const uint8_t *w, int64_t row_bytes, int64_t cols, int64_t r0, int64_t r1,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < T; t++)
            y[t * ldy + r] = qdot_scalar(type, w + r * row_bytes, cols, q + t * cols, xd4 + t * (cols / 4), xs4 + t * (cols / 4));
}

// ---- AVX-512 VNNI ----
#if defined(__x86_64__)
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c")))
#define VNNI_INLINE VNNI_TARGET __attribute__((always_inline)) static inline

VNNI_TARGET static void quantize_act_avx512(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4) {
    const __m512 signbit = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < cols / 32; b++) {
        const __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(signbit, x0), _mm512_andnot_ps(signbit, x1)));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        // cvtps rounds to nearest even, as nearbyintf does in the default rounding mode.
        const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
        _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(i1));
        block_lanes(q + 32 * b, d, xd4 + 8 * b, xs4 + 8 * b);
    }
}

VNNI_INLINE float h2f(uint16_t h) { return _cvtsh_ss(h); }

/// [a x 8 lanes, b x 8 lanes]
VNNI_INLINE __m512 lanes2(float a, float b) { return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(a), _mm512_set1_ps(b)); }

/// [a x 4, b x 4, c x 4, d x 4]
VNNI_INLINE __m512 lanes4(float a, float b, float c, float d) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_setr_ps(a, b, c, d)));
}

/// Two float16 scales a, b -> [a x 8, b x 8] (one conversion and one permute instead of scalar broadcasts).
VNNI_INLINE __m512 h2lanes2(uint16_t a, uint16_t b) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(a), b, 1))));
}

VNNI_INLINE __m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/// Two Q4_0/Q4_1 nibble arrays (16 bytes each) -> [a low nibbles, a high, b low, b high] (element order).
VNNI_INLINE __m512i nibbles2(const uint8_t *qa, const uint8_t *qb) {
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qa)),
                                              _mm_loadu_si128((const __m128i *)qb), 1);
    const __m256i m = _mm256_set1_epi8(0x0F);
    const __m512i z = join(_mm256_and_si256(v, m), _mm256_and_si256(_mm256_srli_epi16(v, 4), m));  // [a_lo, b_lo, a_hi, b_hi]
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

VNNI_INLINE void decode_pair_avx512(const int type, const uint8_t *row, int64_t p, __m512i *u, __m512 *wd, __m512 *wm) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    switch (type) {
    case FOLIO_GGML_Q4_0: {
        const block_q4_0 *b = (const block_q4_0 *)row + 2 * p;
        *u = nibbles2(b[0].qs, b[1].qs); *wd = h2lanes2(b[0].d, b[1].d);
        break;
    }
    case FOLIO_GGML_Q4_1: {
        const block_q4_1 *b = (const block_q4_1 *)row + 2 * p;
        // (d, m) of both blocks in one conversion: [da, ma, db, mb]
        uint32_t dma, dmb;
        memcpy(&dma, &b[0].d, 4); memcpy(&dmb, &b[1].d, 4);
        const __m512 dm = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)dma), (int)dmb, 1)));
        *u = nibbles2(b[0].qs, b[1].qs);
        *wd = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2), dm);
        *wm = _mm512_permutexvar_ps(_mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3), dm);
        break;
    }
    case FOLIO_GGML_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)row + 2 * p;
        const __m512i v = join(_mm256_loadu_si256((const __m256i *)b[0].qs), _mm256_loadu_si256((const __m256i *)b[1].qs));
        *u = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));  // q + 128
        *wd = h2lanes2(b[0].d, b[1].d);
        break;
    }
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: {
        const int j = (int)(p & 3);
        const kquant_block k = kquant_at(type, row, p);
        const float d = h2f(k.d), dmin = h2f(k.dmin);
        const __m256i v = _mm256_loadu_si256((const __m256i *)(k.qs + 32 * j));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        if (k.qh) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)k.qh), one = _mm256_set1_epi8(1);
            const __m256i hb0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j)), one);
            const __m256i hb1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * j + 1)), one);
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(hb0, 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(hb1, 4));
        }
        uint8_t s0, m0, s1, m1;
        get_scale_min_k4(2 * j, k.scales, &s0, &m0);
        get_scale_min_k4(2 * j + 1, k.scales, &s1, &m1);
        *u = join(lo, hi); *wd = lanes2(d * s0, d * s1); *wm = lanes2(-dmin * m0, -dmin * m1);
        break;
    }
    case FOLIO_GGML_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)row + p / 4;
        const int j = (int)(p & 3), n = j / 2, pp = j % 2;
        const uint8_t *ql = b->ql + 64 * n;
        const int8_t *sc = b->scales + 8 * n + 4 * pp;
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * n)), m2 = _mm256_set1_epi8(3);
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        if (pp) { l0 = _mm256_srli_epi16(l0, 4); l1 = _mm256_srli_epi16(l1, 4); }
        const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 4 * pp), m2);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 4 * pp + 2), m2);
        const __m256i a = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(h0, 4));
        const __m256i c = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(h1, 4));
        const float d = h2f(b->d);
        *u = join(a, c);
        *wd = lanes4(d * sc[0], d * sc[1], d * sc[2], d * sc[3]);
        break;
    }
    }
}

/// R weight rows x NT tokens. Every (row, token) result goes through the same per-lane operations in the same order
/// whatever R and NT are, so a token's output never depends on its batch (batch invariance).
/// w: R rows (stride row_bytes); q: [NT, cols]; xd4/xs4: [NT, cols/4]; y[t * ldy + r].
/// `prefetch` (single-token decode, which streams weights from memory): each pair also prefetches the bytes
/// Q_PREFETCH_ROWS rows further on, since rows are contiguous and a row group is often under a few KB.
#define Q_PREFETCH_ROWS 8
VNNI_INLINE void qkernel(const int type, const int R, const int NT, const int prefetch, const uint8_t *w, int64_t row_bytes,
                         int64_t cols, const int8_t *q, const float *xd4, const float *xs4, float *y, int64_t ldy) {
    __m512 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    const int64_t np = cols / 64, c4 = cols / 4;
    const float c = symmetric_offset(type);
    for (int64_t p = 0; p < np; p++) {
        __m512i u[4];
        __m512 wd[4], wm[4];
        if (prefetch) {
            const int64_t pair_bytes = row_bytes / np;
            for (int r = 0; r < R; r++) {
                const char *a = (const char *)w + (r + Q_PREFETCH_ROWS) * row_bytes + p * pair_bytes;
                _mm_prefetch(a, _MM_HINT_T0);
                if (pair_bytes > 64) _mm_prefetch(a + 64, _MM_HINT_T0);
            }
        }
        for (int r = 0; r < R; r++) decode_pair_avx512(type, w + r * row_bytes, p, &u[r], &wd[r], &wm[r]);
        for (int t = 0; t < NT; t++) {
            const __m512i xq = _mm512_loadu_si512((const void *)(q + t * cols + 64 * p));
            const __m512 xd = _mm512_loadu_ps(xd4 + t * c4 + 16 * p), xs = _mm512_loadu_ps(xs4 + t * c4 + 16 * p);
            const __m512 xsc = _mm512_mul_ps(_mm512_set1_ps(c), xs);
            for (int r = 0; r < R; r++) {
                const __m512 s = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, u[r], xq));
                if (c != 0) {
                    acc[r][t] = _mm512_fmadd_ps(wd[r], _mm512_fmadd_ps(s, xd, xsc), acc[r][t]);
                } else {
                    acc[r][t] = _mm512_fmadd_ps(s, _mm512_mul_ps(wd[r], xd), acc[r][t]);
                    acc[r][t] = _mm512_fmadd_ps(wm[r], xs, acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < R; r++) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

typedef void (*qkernel_fn)(const uint8_t *, int64_t, int64_t, const int8_t *, const float *, const float *, float *, int64_t);

#define QK_ARGS const uint8_t *w, int64_t rb, int64_t cols, const int8_t *q, const float *xd4, const float *xs4, float *y, int64_t ldy
#define QK_PASS w, rb, cols, q, xd4, xs4, y, ldy
#define DEFINE_QKERNELS(TYPE, NAME)                                                                 \
    VNNI_TARGET static void NAME##_4x1(QK_ARGS) { qkernel(TYPE, 4, 1, 1, QK_PASS); }                \
    VNNI_TARGET static void NAME##_2x4(QK_ARGS) { qkernel(TYPE, 2, 4, 0, QK_PASS); }                \
    VNNI_TARGET static void NAME##_2x1(QK_ARGS) { qkernel(TYPE, 2, 1, 0, QK_PASS); }                \
    VNNI_TARGET static void NAME##_1x4(QK_ARGS) { qkernel(TYPE, 1, 4, 0, QK_PASS); }                \
    VNNI_TARGET static void NAME##_1x1(QK_ARGS) { qkernel(TYPE, 1, 1, 0, QK_PASS); }
DEFINE_QKERNELS(FOLIO_GGML_Q4_0, q4_0)
DEFINE_QKERNELS(FOLIO_GGML_Q4_1, q4_1)
DEFINE_QKERNELS(FOLIO_GGML_Q8_0, q8_0)
DEFINE_QKERNELS(FOLIO_GGML_Q4_K, q4_K)
DEFINE_QKERNELS(FOLIO_GGML_Q5_K, q5_K)
DEFINE_QKERNELS(FOLIO_GGML_Q6_K, q6_K)

typedef struct { qkernel_fn k4x1, k2x4, k2x1, k1x4, k1x1; } qkernels;
#define QKERNELS(NAME) (qkernels){ NAME##_4x1, NAME##_2x4, NAME##_2x1, NAME##_1x4, NAME##_1x1 }

static qkernels kernels_for(int type) {
    switch (type) {
    case FOLIO_GGML_Q4_0: return QKERNELS(q4_0);
    case FOLIO_GGML_Q4_1: return QKERNELS(q4_1);
    case FOLIO_GGML_Q8_0: return QKERNELS(q8_0);
    case FOLIO_GGML_Q4_K: return QKERNELS(q4_K);
    case FOLIO_GGML_Q5_K: return QKERNELS(q5_K);
    default: return QKERNELS(q6_K);
    }
}

/// Tokens whose quantized activations stay in L2 while a thread's rows stream past them, and rows per block whose
/// weights stay in L1 while a block of tokens streams past them.
#define Q_TOKEN_BLOCK 64
#define Q_ROW_BLOCK 16

static void qmatmul_avx512(int type, const uint8_t *w, int64_t rb, int64_t cols, int64_t r0, int64_t r1,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    const qkernels k = kernels_for(type);
    const int64_t c4 = cols / 4;
    if (T == 1) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) k.k4x1(w + r * rb, rb, cols, q, xd4, xs4, y + r, ldy);
        for (; r < r1; r++) k.k1x1(w + r * rb, rb, cols, q, xd4, xs4, y + r, ldy);
        return;
    }
    for (int64_t tb = 0; tb < T; tb += Q_TOKEN_BLOCK) {
        const int64_t te = T - tb < Q_TOKEN_BLOCK ? T : tb + Q_TOKEN_BLOCK;
        for (int64_t bb = r0; bb < r1; bb += Q_ROW_BLOCK) {
            const int64_t be = r1 - bb < Q_ROW_BLOCK ? r1 : bb + Q_ROW_BLOCK;
            int64_t t = tb;
            for (; t + 4 <= te; t += 4) {
                int64_t r = bb;
                for (; r + 2 <= be; r += 2) k.k2x4(w + r * rb, rb, cols, q + t * cols, xd4 + t * c4, xs4 + t * c4, y + t * ldy + r, ldy);
                for (; r < be; r++) k.k1x4(w + r * rb, rb, cols, q + t * cols, xd4 + t * c4, xs4 + t * c4, y + t * ldy + r, ldy);
            }
            for (; t < te; t++) {
                int64_t r = bb;
                for (; r + 2 <= be; r += 2) k.k2x1(w + r * rb, rb, cols, q + t * cols, xd4 + t * c4, xs4 + t * c4, y + t * ldy + r, ldy);
                for (; r < be; r++) k.k1x1(w + r * rb, rb, cols, q + t * cols, xd4 + t * c4, xs4 + t * c4, y + t * ldy + r, ldy);
            }
        }
    }
}

// ---- AVX2 (no VNNI): the same lane formula with vpmaddubsw + vpmaddwd over 32-element halves ----
// vpmaddubsw saturates at 16 bits, which 6-bit unsigned weights times int8 activations never reach; Q8_0's signed
// weights use |w| and sign(q, w) instead of the +128 offset (|w| <= 128 keeps pairs under 32767).
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE AVX2_TARGET __attribute__((always_inline)) static inline

/// Half h (elements 32h..32h+31) of pair p: u[32], per-lane wd/wm (8 lanes of 4). For Q8_0, u holds the signed
/// weights; the caller takes |w| and moves the signs onto the activations.
AVX2_INLINE void decode_half_avx2(const int type, const uint8_t *row, int64_t p, int h, __m256i *u, __m256 *wd, __m256 *wm) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    switch (type) {
    case FOLIO_GGML_Q4_0: case FOLIO_GGML_Q4_1: {
        const uint8_t *qs;
        float d, m;
        if (type == FOLIO_GGML_Q4_0) {
            const block_q4_0 *b = (const block_q4_0 *)row + 2 * p + h;
            qs = b->qs; d = _cvtsh_ss(b->d); m = 0;
        } else {
            const block_q4_1 *b = (const block_q4_1 *)row + 2 * p + h;
            qs = b->qs; d = _cvtsh_ss(b->d); m = _cvtsh_ss(b->m);
        }
        const __m128i v = _mm_loadu_si128((const __m128i *)qs);
        *u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
        *wd = _mm256_set1_ps(d); *wm = _mm256_set1_ps(m);
        break;
    }
    case FOLIO_GGML_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)row + 2 * p + h;
        *u = _mm256_loadu_si256((const __m256i *)b->qs);  // signed; the kernel takes |w| and moves the signs
        *wd = _mm256_set1_ps(_cvtsh_ss(b->d)); *wm = _mm256_setzero_ps();
        break;
    }
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: {
        const int j = (int)(p & 3);
        const kquant_block k = kquant_at(type, row, p);
        const float d = _cvtsh_ss(k.d), dmin = _cvtsh_ss(k.dmin);
        const __m256i v = _mm256_loadu_si256((const __m256i *)(k.qs + 32 * j)), m4y = _mm256_set1_epi8(0x0F);
        __m256i x = h == 0 ? _mm256_and_si256(v, m4y) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4y);
        if (k.qh) {
            const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)k.qh), _mm_cvtsi32_si128(2 * j + h)),
                                                _mm256_set1_epi8(1));
            x = _mm256_or_si256(x, _mm256_slli_epi16(hb, 4));
        }
        uint8_t sc, mn;
        get_scale_min_k4(2 * j + h, k.scales, &sc, &mn);
        *u = x; *wd = _mm256_set1_ps(d * sc); *wm = _mm256_set1_ps(-dmin * mn);
        break;
    }
    case FOLIO_GGML_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)row + p / 4;
        const int j = (int)(p & 3), n = j / 2, pp = j % 2;
        const uint8_t *ql = b->ql + 64 * n + 32 * h;
        const int8_t *sc = b->scales + 8 * n + 4 * pp + 2 * h;
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * n)), m2 = _mm256_set1_epi8(3), m4y = _mm256_set1_epi8(0x0F);
        __m256i l = _mm256_loadu_si256((const __m256i *)ql);
        if (pp) l = _mm256_srli_epi16(l, 4);
        const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(4 * pp + 2 * h)), m2);
        *u = _mm256_or_si256(_mm256_and_si256(l, m4y), _mm256_slli_epi16(hb, 4));
        const float d = _cvtsh_ss(b->d);
        *wd = _mm256_setr_ps(d * sc[0], d * sc[0], d * sc[0], d * sc[0], d * sc[1], d * sc[1], d * sc[1], d * sc[1]);
        *wm = _mm256_setzero_ps();
        break;
    }
    }
}

AVX2_TARGET static float qdot_avx2(const int type, const uint8_t *row, int64_t cols, const int8_t *q, const float *xd4, const float *xs4) {
    // Symmetric formats take wd * (s * xd + c * xs); Q8_0 has no offset here (its signs moved onto the activations).
    const int sym = symmetric_offset(type) != 0;
    const float c = type == FOLIO_GGML_Q8_0 ? 0.0f : symmetric_offset(type);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t p = 0; p < cols / 64; p++) {
        for (int h = 0; h < 2; h++) {
            __m256i u, xq = _mm256_loadu_si256((const __m256i *)(q + 64 * p + 32 * h));
            __m256 wd, wm;
            decode_half_avx2(type, row, p, h, &u, &wd, &wm);
            if (type == FOLIO_GGML_Q8_0) { xq = _mm256_sign_epi8(xq, u); u = _mm256_abs_epi8(u); }
            const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, xq), ones));
            const __m256 xd = _mm256_loadu_ps(xd4 + 16 * p + 8 * h), xs = _mm256_loadu_ps(xs4 + 16 * p + 8 * h);
            if (sym) acc = _mm256_fmadd_ps(wd, _mm256_fmadd_ps(s, xd, _mm256_mul_ps(_mm256_set1_ps(c), xs)), acc);
            else acc = _mm256_fmadd_ps(wm, xs, _mm256_fmadd_ps(s, _mm256_mul_ps(wd, xd), acc));
        }
    }
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_shuffle_ps(r, r, 1));
    return _mm_cvtss_f32(r);
}

static void qmatmul_avx2(int type, const uint8_t *w, int64_t rb, int64_t cols, int64_t r0, int64_t r1,
                         const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < T; t++)
            y[t * ldy + r] = qdot_avx2(type, w + r * rb, cols, q + t * cols, xd4 + t * (cols / 4), xs4 + t * (cols / 4));
}

static int have_avx2(void) { return cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C); }
#endif

int folio_have_vnni(void) {
    return cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX512DQ | CPU_AVX512VNNI | CPU_F16C);
}

void folio_quantize_act(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4) {
#if defined(__x86_64__)
    if (folio_have_vnni()) { quantize_act_avx512(x, cols, q, xd4, xs4); return; }
#endif
    quantize_act_scalar(x, cols, q, xd4, xs4);
}

void folio_quantize_act_ref(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4) {
    quantize_act_scalar(x, cols, q, xd4, xs4);
}

int folio_qmatmul_isa(void) {
#if defined(__x86_64__)
    if (folio_have_vnni()) return FOLIO_ISA_AVX512_VNNI;
    if (have_avx2()) return FOLIO_ISA_AVX2;
#endif
    return FOLIO_ISA_SCALAR;
}

int folio_qmatmul_rows_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    if (!folio_qmatmul_supported(type, cols)) return -1;
    const uint8_t *wb = (const uint8_t *)w;
    switch (isa) {
#if defined(__x86_64__)
    case FOLIO_ISA_AVX512_VNNI:
        if (!folio_have_vnni()) return -1;
        qmatmul_avx512(type, wb, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
        return 0;
    case FOLIO_ISA_AVX2:
        if (!have_avx2()) return -1;
        qmatmul_avx2(type, wb, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
        return 0;
#endif
    case FOLIO_ISA_SCALAR:
        qmatmul_scalar(type, wb, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
        return 0;
    default:
        return -1;
    }
}

int folio_qmatmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                       const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    return folio_qmatmul_rows_isa(folio_qmatmul_isa(), type, w, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
}

int folio_qmatmul_rows_ref(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    return folio_qmatmul_rows_isa(FOLIO_ISA_SCALAR, type, w, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
}
