// Quantized matmul: weights used in place in their GGUF block format, activations quantized on the fly to int8
// blocks of 32 (scale max|x|/127), products summed with AVX-512 VNNI (vpdpbusd: u8 x s8 -> s32) or AVX2
// (vpmaddubsw + vpmaddwd).
//
// Every supported format is read 64 elements at a time (a "pair": two 32-element blocks, or a quarter of a K-quant
// super-block) as
//     w[i] = wd[i/4] * u[i] + wm[i/4]        u: 0..255 unsigned, wd/wm: one float per 4-element lane,
// with the offsets of the symmetric formats (-8 Q4_0, -16 Q5_0, -4 Q3_K, -32 Q6_K, -128 Q8_0 and the IQ4 types,
// whose table values are read as v + 128) and the minimums of Q4_1 / Q5_1 / Q2_K / Q4_K / Q5_K folded into wm.
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
    case FOLIO_GGML_Q4_0: case FOLIO_GGML_Q4_1: case FOLIO_GGML_Q5_0: case FOLIO_GGML_Q5_1: case FOLIO_GGML_Q8_0:
    case FOLIO_GGML_IQ4_NL: case FOLIO_GGML_MXFP4: return 1;
    case FOLIO_GGML_Q2_K: case FOLIO_GGML_Q3_K: case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: case FOLIO_GGML_Q6_K:
    case FOLIO_GGML_IQ4_XS: return cols % 256 == 0;
    default: return 0;
    }
}

/// Formats whose values are signed bytes (Q8_0's q, the IQ4 types' table values): read as v + 128 by the unsigned
/// definitions; the AVX2 kernel takes |v| and moves the signs onto the activations instead.
static inline int signed_weights(int type) {
    return type == FOLIO_GGML_Q8_0 || type == FOLIO_GGML_IQ4_NL || type == FOLIO_GGML_IQ4_XS || type == FOLIO_GGML_MXFP4;
}

/// Formats with AVX-512 VNNI decoders; the others run their AVX2 kernels on AVX-512 machines.
static inline int vnni_decodes(int type) {
    switch (type) {
    case FOLIO_GGML_Q4_0: case FOLIO_GGML_Q4_1: case FOLIO_GGML_Q8_0: case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K:
    case FOLIO_GGML_Q6_K: return 1;
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
    case FOLIO_GGML_Q5_0: case FOLIO_GGML_Q5_1:
        for (int h = 0; h < 2; h++) {
            float d, m;
            const uint8_t *qs, *qhb;
            if (type == FOLIO_GGML_Q5_0) {
                const block_q5_0 *b = (const block_q5_0 *)row + 2 * p + h;
                d = folio_fp16_to_fp32(b->d); m = -16.0f * d; qs = b->qs; qhb = b->qh;
            } else {
                const block_q5_1 *b = (const block_q5_1 *)row + 2 * p + h;
                d = folio_fp16_to_fp32(b->d); m = folio_fp16_to_fp32(b->m); qs = b->qs; qhb = b->qh;
            }
            uint32_t qh;
            memcpy(&qh, qhb, 4);  // bit i: the fifth bit of element i
            for (int j = 0; j < 16; j++) {
                u[32 * h + j] = (uint8_t)((qs[j] & 0xF) | (((qh >> j) & 1) << 4));
                u[32 * h + 16 + j] = (uint8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
            }
            sd[2 * h] = sd[2 * h + 1] = d; sm[2 * h] = sm[2 * h + 1] = m;
        }
        break;
    // Q2_K/Q3_K: 64 elements = 2-bit planes 2(j%2) and 2(j%2)+1 of the super-block's qs[32n..32n+31]; a scale per 16.
    case FOLIO_GGML_Q2_K: {
        const block_q2_K *b = (const block_q2_K *)row + p / 4;
        const int j = (int)(p % 4), n = j / 2;
        const float d = folio_fp16_to_fp32(b->d), dmin = folio_fp16_to_fp32(b->dmin);
        for (int h = 0; h < 2; h++) {
            const int plane = 2 * (j % 2) + h;
            for (int g = 0; g < 2; g++) {
                const uint8_t sc = b->scales[8 * n + 2 * plane + g];
                sd[2 * h + g] = d * (float)(sc & 0xF);
                sm[2 * h + g] = -dmin * (float)(sc >> 4);
            }
            for (int l = 0; l < 32; l++) u[32 * h + l] = (b->qs[32 * n + l] >> (2 * plane)) & 3;
        }
        break;
    }
    case FOLIO_GGML_Q3_K: {
        const block_q3_K *b = (const block_q3_K *)row + p / 4;
        const int j = (int)(p % 4), n = j / 2;
        const float d = folio_fp16_to_fp32(b->d);
        for (int h = 0; h < 2; h++) {
            const int plane = 2 * (j % 2) + h;
            for (int g = 0; g < 2; g++) {
                sd[2 * h + g] = d * (float)(q3_K_scale(b->scales, 8 * n + 2 * plane + g) - 32);
                sm[2 * h + g] = -4.0f * sd[2 * h + g];
            }
            // value (q & 3) - 4 unless the hmask bit is set: u = q | hbit << 2, value u - 4
            for (int l = 0; l < 32; l++)
                u[32 * h + l] = (uint8_t)(((b->qs[32 * n + l] >> (2 * plane)) & 3) | (((b->hmask[l] >> (4 * n + plane)) & 1) << 2));
        }
        break;
    }
    case FOLIO_GGML_IQ4_NL: case FOLIO_GGML_IQ4_XS: case FOLIO_GGML_MXFP4:
        for (int h = 0; h < 2; h++) {
            float d;
            const uint8_t *qs;
            const int8_t *values = type == FOLIO_GGML_MXFP4 ? kvalues_mxfp4 : kvalues_iq4nl;
            if (type == FOLIO_GGML_IQ4_NL) {
                const block_iq4_nl *b = (const block_iq4_nl *)row + 2 * p + h;
                d = folio_fp16_to_fp32(b->d); qs = b->qs;
            } else if (type == FOLIO_GGML_MXFP4) {
                const block_mxfp4 *b = (const block_mxfp4 *)row + 2 * p + h;
                d = e8m0_half(b->e); qs = b->qs;
            } else {
                const block_iq4_xs *b = (const block_iq4_xs *)row + p / 4;
                const int ib = 2 * (int)(p % 4) + h;
                d = folio_fp16_to_fp32(b->d) * (float)(iq4_xs_scale(b, ib) - 32); qs = b->qs + 16 * ib;
            }
            for (int l = 0; l < 16; l++) {
                u[32 * h + l] = (uint8_t)(values[qs[l] & 0xF] + 128);
                u[32 * h + 16 + l] = (uint8_t)(values[qs[l] >> 4] + 128);
            }
            sd[2 * h] = sd[2 * h + 1] = d; sm[2 * h] = sm[2 * h + 1] = -128.0f * d;
        }
        break;
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

// The symmetric formats (Q4_0, Q5_0, Q3_K, Q6_K, Q8_0, IQ4_*) have wm = c * wd (c = symmetric_offset, blocks.h):
// their lanes accumulate wd * (s * xd + c * xs), one FMA fewer per lane.

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

/// One format's tiles on one ISA: 4 rows x 1 token (single tokens), R rows x N tokens (token groups), and the
/// R x 1, 1 x N, 1 x 1 remainders.
typedef struct { qkernel_fn k4x1, kRxN, kRx1, k1xN, k1x1; int R, N; } qkernels;
#define QKERNELS(NAME) (qkernels){ NAME##_4x1, NAME##_2x4, NAME##_2x1, NAME##_1x4, NAME##_1x1, 2, 4 }

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

/// Rows [r0, r1) x T tokens on one ISA's tiles: single tokens 4 rows at a time; token groups in blocks of
/// Q_TOKEN_BLOCK tokens x Q_ROW_BLOCK rows, R rows x N tokens per tile.
static void qmatmul_tiles(const qkernels k, const uint8_t *w, int64_t rb, int64_t cols, int64_t r0, int64_t r1,
                          const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    const int64_t c4 = cols / 4;
    if (T == 1) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) k.k4x1(w + r * rb, rb, cols, q, xd4, xs4, y + r, ldy);
        for (; r < r1; r++) k.k1x1(w + r * rb, rb, cols, q, xd4, xs4, y + r, ldy);
        return;
    }
#define TILE(K, r, t) (K)(w + (r) * rb, rb, cols, q + (t) * cols, xd4 + (t) * c4, xs4 + (t) * c4, y + (t) * ldy + (r), ldy)
    for (int64_t tb = 0; tb < T; tb += Q_TOKEN_BLOCK) {
        const int64_t te = T - tb < Q_TOKEN_BLOCK ? T : tb + Q_TOKEN_BLOCK;
        for (int64_t bb = r0; bb < r1; bb += Q_ROW_BLOCK) {
            const int64_t be = r1 - bb < Q_ROW_BLOCK ? r1 : bb + Q_ROW_BLOCK;
            int64_t t = tb;
            for (; t + k.N <= te; t += k.N) {
                int64_t r = bb;
                for (; r + k.R <= be; r += k.R) TILE(k.kRxN, r, t);
                for (; r < be; r++) TILE(k.k1xN, r, t);
            }
            for (; t < te; t++) {
                int64_t r = bb;
                for (; r + k.R <= be; r += k.R) TILE(k.kRx1, r, t);
                for (; r < be; r++) TILE(k.k1x1, r, t);
            }
        }
    }
#undef TILE
}

// ---- AVX2 (no VNNI): the same lane formula with vpmaddubsw + vpmaddwd over 32-element halves ----
// vpmaddubsw saturates at 16 bits, which 6-bit unsigned weights times int8 activations never reach; signed values
// (Q8_0, IQ4, and the symmetric formats read as u + c) use |w| and sign(q, w) (|w| <= 128 keeps pairs under 32767).
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE AVX2_TARGET __attribute__((always_inline)) static inline

/// 16 bytes of nibbles -> 32 bytes: the low nibbles (elements 0..15), then the high ones (16..31).
AVX2_INLINE __m256i nibbles32(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
}

/// Q5_0/Q5_1's 32 fifth bits -> 32 bytes, 0x10 where bit i (element i) is set.
AVX2_INLINE __m256i fifth_bits(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                                                                 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);  // byte i: 1 << (i % 8)
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

/// [a x 4 lanes, b x 4 lanes]: one scale per 16 elements.
AVX2_INLINE __m256 halves(float a, float b) { return _mm256_setr_ps(a, a, a, a, b, b, b, b); }

/// Half h (elements 32h..32h+31) of pair p: u[32], per-lane wd/wm (8 lanes of 4). For the signed formats
/// (`signed_weights`), u holds the signed values; the kernel takes |w| and moves the signs onto the activations.
AVX2_INLINE void decode_half_avx2(const int type, const uint8_t *row, int64_t p, int h, __m256i *u, __m256 *wd, __m256 *wm) {
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
        *u = nibbles32(qs);
        *wd = _mm256_set1_ps(d); *wm = _mm256_set1_ps(m);
        break;
    }
    case FOLIO_GGML_Q5_0: case FOLIO_GGML_Q5_1: {
        const uint8_t *qs, *qh;
        float d, m;
        if (type == FOLIO_GGML_Q5_0) {
            const block_q5_0 *b = (const block_q5_0 *)row + 2 * p + h;
            qs = b->qs; qh = b->qh; d = _cvtsh_ss(b->d); m = 0;
        } else {
            const block_q5_1 *b = (const block_q5_1 *)row + 2 * p + h;
            qs = b->qs; qh = b->qh; d = _cvtsh_ss(b->d); m = _cvtsh_ss(b->m);
        }
        *u = _mm256_or_si256(nibbles32(qs), fifth_bits(qh));
        *wd = _mm256_set1_ps(d); *wm = _mm256_set1_ps(m);
        break;
    }
    case FOLIO_GGML_Q2_K: case FOLIO_GGML_Q3_K: {
        const int j = (int)(p & 3), n = j / 2, plane = 2 * (j % 2) + h, is = 8 * n + 2 * plane;
        const __m256i three = _mm256_set1_epi8(3);
        if (type == FOLIO_GGML_Q2_K) {
            const block_q2_K *b = (const block_q2_K *)row + p / 4;
            const float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
            const uint8_t s0 = b->scales[is], s1 = b->scales[is + 1];
            *u = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * n)), _mm_cvtsi32_si128(2 * plane)), three);
            *wd = halves(d * (float)(s0 & 0xF), d * (float)(s1 & 0xF));
            *wm = halves(-dmin * (float)(s0 >> 4), -dmin * (float)(s1 >> 4));
        } else {
            const block_q3_K *b = (const block_q3_K *)row + p / 4;
            const float d = _cvtsh_ss(b->d);
            const __m256i lo = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * n)), _mm_cvtsi32_si128(2 * plane)), three);
            const __m256i hb = _mm256_and_si256(_mm256_srl_epi16(_mm256_loadu_si256((const __m256i *)b->hmask), _mm_cvtsi32_si128(4 * n + plane)),
                                                _mm256_set1_epi8(1));
            *u = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
            *wd = halves(d * (float)(q3_K_scale(b->scales, is) - 32), d * (float)(q3_K_scale(b->scales, is + 1) - 32));
            *wm = _mm256_setzero_ps();
        }
        break;
    }
    case FOLIO_GGML_IQ4_NL: case FOLIO_GGML_IQ4_XS: case FOLIO_GGML_MXFP4: {
        const uint8_t *qs;
        float d;
        if (type == FOLIO_GGML_IQ4_NL) {
            const block_iq4_nl *b = (const block_iq4_nl *)row + 2 * p + h;
            qs = b->qs; d = _cvtsh_ss(b->d);
        } else if (type == FOLIO_GGML_MXFP4) {
            const block_mxfp4 *b = (const block_mxfp4 *)row + 2 * p + h;
            qs = b->qs; d = e8m0_half(b->e);
        } else {
            const block_iq4_xs *b = (const block_iq4_xs *)row + p / 4;
            const int ib = 2 * (int)(p & 3) + h;
            qs = b->qs + 16 * ib; d = _cvtsh_ss(b->d) * (float)(iq4_xs_scale(b, ib) - 32);
        }
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(type == FOLIO_GGML_MXFP4 ? kvalues_mxfp4 : kvalues_iq4nl)));
        *u = _mm256_shuffle_epi8(table, nibbles32(qs));  // signed, as Q8_0's
        *wd = _mm256_set1_ps(d); *wm = _mm256_setzero_ps();
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

/// R weight rows x NT tokens with AVX2: each half-pair is decoded once per row and used for every token; each
/// (row, token) result takes the same operations in the same order whatever R and NT are (batch invariance).
/// Symmetric and signed formats are read as signed values (u + c), so a half's sum is s * wd * xd with s the exact
/// integer dot product (vpmaddubsw of |w| and the activations carrying w's signs); the others add wm * xs.
/// An activation block is a half (32 values), so xd is one value per half.
AVX2_INLINE void qkernel_avx2(const int type, const int R, const int NT, const int prefetch, const uint8_t *w, int64_t rb,
                              int64_t cols, const int8_t *q, const float *xd4, const float *xs4, float *y, int64_t ldy) {
    const int sgn = signed_weights(type), sym = sgn || symmetric_offset(type) != 0;
    const __m256i offset = _mm256_set1_epi8((char)(int)symmetric_offset(type));
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t np = cols / 64, c4 = cols / 4;
    __m256 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t p = 0; p < np; p++) {
        if (prefetch) {
            const int64_t pair_bytes = rb / np;
            for (int r = 0; r < R; r++) {
                const char *a = (const char *)w + (r + Q_PREFETCH_ROWS) * rb + p * pair_bytes;
                _mm_prefetch(a, _MM_HINT_T0);
                if (pair_bytes > 64) _mm_prefetch(a + 64, _MM_HINT_T0);
            }
        }
        for (int h = 0; h < 2; h++) {
            __m256i u[4], au[4];
            __m256 wd[4], wm[4];
            for (int r = 0; r < R; r++) {
                decode_half_avx2(type, w + r * rb, p, h, &u[r], &wd[r], &wm[r]);
                if (sym && !sgn) u[r] = _mm256_add_epi8(u[r], offset);  // u + c: signed, |u + c| <= 32
                au[r] = sym ? _mm256_abs_epi8(u[r]) : u[r];
            }
            for (int t = 0; t < NT; t++) {
                const __m256i xq = _mm256_loadu_si256((const __m256i *)(q + t * cols + 64 * p + 32 * h));
                const __m256 xd = _mm256_broadcast_ss(xd4 + t * c4 + 16 * p + 8 * h);
                for (int r = 0; r < R; r++) {
                    const __m256i b = sym ? _mm256_sign_epi8(xq, u[r]) : xq;
                    const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(au[r], b), ones));
                    acc[r][t] = _mm256_fmadd_ps(s, _mm256_mul_ps(wd[r], xd), acc[r][t]);
                    if (!sym) acc[r][t] = _mm256_fmadd_ps(wm[r], _mm256_loadu_ps(xs4 + t * c4 + 16 * p + 8 * h), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < R; r++) {
            __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[r][t]), _mm256_extractf128_ps(acc[r][t], 1));
            v = _mm_add_ps(v, _mm_movehl_ps(v, v));
            v = _mm_add_ss(v, _mm_shuffle_ps(v, v, 1));
            y[t * ldy + r] = _mm_cvtss_f32(v);
        }
}

/// AVX2 token groups run 1 row x AVX2_TILE_N tokens per tile (measured on Gemma-3-270M Q4_K_M prefill, 2-core EPYC:
/// 2 x 4, 2 x 3 and 1 x 8 spill registers or decode too little per token; 1 x 4 and 1 x 6 were fastest).
#define AVX2_TILE_N 4
#define DEFINE_AVX2_KERNELS(TYPE, NAME)                                                                         \
    AVX2_TARGET static void NAME##_4x1(QK_ARGS) { qkernel_avx2(TYPE, 4, 1, 1, QK_PASS); }                      \
    AVX2_TARGET static void NAME##_1xN(QK_ARGS) { qkernel_avx2(TYPE, 1, AVX2_TILE_N, 0, QK_PASS); }            \
    AVX2_TARGET static void NAME##_1x1(QK_ARGS) { qkernel_avx2(TYPE, 1, 1, 0, QK_PASS); }
#define AVX2_KERNELS(NAME) (qkernels){ NAME##_4x1, NAME##_1xN, NAME##_1x1, NAME##_1xN, NAME##_1x1, 1, AVX2_TILE_N }
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q4_0, a2_q4_0)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q4_1, a2_q4_1)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q5_0, a2_q5_0)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q5_1, a2_q5_1)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q8_0, a2_q8_0)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q2_K, a2_q2_K)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q3_K, a2_q3_K)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q4_K, a2_q4_K)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q5_K, a2_q5_K)
DEFINE_AVX2_KERNELS(FOLIO_GGML_Q6_K, a2_q6_K)
DEFINE_AVX2_KERNELS(FOLIO_GGML_IQ4_NL, a2_iq4_nl)
DEFINE_AVX2_KERNELS(FOLIO_GGML_IQ4_XS, a2_iq4_xs)
DEFINE_AVX2_KERNELS(FOLIO_GGML_MXFP4, a2_mxfp4)

static qkernels avx2_kernels_for(int type) {
    switch (type) {
    case FOLIO_GGML_Q4_0: return AVX2_KERNELS(a2_q4_0);
    case FOLIO_GGML_Q4_1: return AVX2_KERNELS(a2_q4_1);
    case FOLIO_GGML_Q5_0: return AVX2_KERNELS(a2_q5_0);
    case FOLIO_GGML_Q5_1: return AVX2_KERNELS(a2_q5_1);
    case FOLIO_GGML_Q8_0: return AVX2_KERNELS(a2_q8_0);
    case FOLIO_GGML_Q2_K: return AVX2_KERNELS(a2_q2_K);
    case FOLIO_GGML_Q3_K: return AVX2_KERNELS(a2_q3_K);
    case FOLIO_GGML_Q4_K: return AVX2_KERNELS(a2_q4_K);
    case FOLIO_GGML_Q5_K: return AVX2_KERNELS(a2_q5_K);
    case FOLIO_GGML_Q6_K: return AVX2_KERNELS(a2_q6_K);
    case FOLIO_GGML_IQ4_NL: return AVX2_KERNELS(a2_iq4_nl);
    case FOLIO_GGML_MXFP4: return AVX2_KERNELS(a2_mxfp4);
    default: return AVX2_KERNELS(a2_iq4_xs);
    }
}

/// quantize_act_scalar's operations on 8 lanes (max is exact; x * id and round-half-even as nearbyintf).
AVX2_TARGET static void quantize_act_avx2(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < cols / 32; b++) {
        __m256 v[4];
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, v[0]), _mm256_andnot_ps(signbit, v[1])),
                                       _mm256_max_ps(_mm256_andnot_ps(signbit, v[2]), _mm256_andnot_ps(signbit, v[3])));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        const float amax = _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        __m256i i32[4];
        for (int i = 0; i < 4; i++) i32[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
        // packs work per 128-bit lane: the dwords come out as [0 lo, 1 lo, 2 lo, 3 lo | 0 hi, 1 hi, 2 hi, 3 hi].
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm256_permutevar8x32_epi32(p, order));
        block_lanes(q + 32 * b, d, xd4 + 8 * b, xs4 + 8 * b);
    }
}

static int have_avx2(void) { return cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C); }
#endif

int folio_have_vnni(void) {
    return cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX512DQ | CPU_AVX512VNNI | CPU_F16C);
}

void folio_quantize_act(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4) {
#if defined(__x86_64__)
    if (folio_have_vnni()) { quantize_act_avx512(x, cols, q, xd4, xs4); return; }
    if (have_avx2()) { quantize_act_avx2(x, cols, q, xd4, xs4); return; }
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

int folio_qmatmul_type_isa(int type) {
    const int isa = folio_qmatmul_isa();
    return isa == FOLIO_ISA_AVX512_VNNI && !vnni_decodes(type) ? FOLIO_ISA_AVX2 : isa;  // AVX-512 CPUs run AVX2 too
}

int folio_qmatmul_rows_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    if (!folio_qmatmul_supported(type, cols)) return -1;
    const uint8_t *wb = (const uint8_t *)w;
    switch (isa) {
#if defined(__x86_64__)
    case FOLIO_ISA_AVX512_VNNI:
        if (!folio_have_vnni() || !vnni_decodes(type)) return -1;
        qmatmul_tiles(kernels_for(type), wb, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
        return 0;
    case FOLIO_ISA_AVX2:
        if (!have_avx2()) return -1;
        qmatmul_tiles(avx2_kernels_for(type), wb, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
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
    return folio_qmatmul_rows_isa(folio_qmatmul_type_isa(type), type, w, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
}

int folio_qmatmul_rows_ref(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy) {
    return folio_qmatmul_rows_isa(FOLIO_ISA_SCALAR, type, w, row_bytes, cols, row_begin, row_end, q, xd4, xs4, T, y, ldy);
}
