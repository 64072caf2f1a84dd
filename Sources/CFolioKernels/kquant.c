// Super-block kernels for the 256-element formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS): activations quantized per
// super-block (one scale xd, int8 values q, and bs[g], the sum of each 16 values), products summed as integers over
// the whole super-block with the weights' small integer scales, one float multiply-add per super-block.
//
// A super-block of weights is read as  w[i] = d * s[i] * v[i] - dmin * m[g]  (g = i / 16, the 16-element group):
//     Q4_K, Q5_K   v = u (4/5-bit unsigned), s = m's 6-bit scale and min per 32 elements      (dmin formats)
//     Q2_K         v = u (2-bit), s and m 4-bit per 16 elements                              (dmin format)
//     Q3_K         v = u - 4 (3-bit u), s = 6-bit scale - 32 per 16                          (offset format)
//     Q6_K         v = u - 32 (6-bit u), s = int8 scale per 16                               (offset format)
//     IQ4_XS       v = the IQ4 table value (signed), s = 6-bit scale - 32 per 32              (signed format)
// so with M[g] = m[g] (dmin formats) or -offset * s[g] (offset formats) and sumi = sum of s[i] * u[i] * q[i]:
//     dot(w, x) = d * xd * sumi - dmin * xd * sum_g M[g] * bs[g]        (dmin formats)
//               = d * xd * (sumi - sum_g M[g] * bs[g])                 (offset formats; signed: no M term)
// Both sums are exact integers. They are kept in 8 lanes (lane l: bytes 4l..4l+3 of every 32-element chunk for sumi,
// groups 2l and 2l+1 for the M term: what vpmaddubsw + vpmaddwd give), converted and multiplied-added into 8 float
// lanes per super-block, and the lanes summed at the end as ((0+4)+(2+6))+((1+5)+(3+7)). The scalar reference below
// does exactly that element by element from the block definitions (blocks.h), so the AVX2 kernel equals it bit for
// bit; the tests also compare it with float64 dot products of the dequantized rows.
//
// This is how llama.cpp's K-quant dot products work too (its Q8_K activations); the kernels here are written from
// the block formats, one generic kernel for every type.
#include "CFolioKernels.h"
#include "blocks.h"
#include "cpu.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

int folio_kmatmul_supported(int type, int64_t cols) {
    if (cols <= 0 || cols % QK_K != 0) return 0;
    switch (type) {
    case FOLIO_GGML_Q2_K: case FOLIO_GGML_Q3_K: case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: case FOLIO_GGML_Q6_K:
    case FOLIO_GGML_IQ4_XS: return 1;
    default: return 0;
    }
}

static inline int kq_has_dmin(int type) { return type == FOLIO_GGML_Q2_K || type == FOLIO_GGML_Q4_K || type == FOLIO_GGML_Q5_K; }
static inline int kq_signed(int type) { return type == FOLIO_GGML_IQ4_XS; }

/// The super-block's float scales: d, and dmin (0 for the formats without one).
static inline void kq_scales(int type, const uint8_t *blk, float *d, float *dmin) {
    *dmin = 0;
    switch (type) {
    case FOLIO_GGML_Q2_K: { const block_q2_K *b = (const block_q2_K *)blk; *d = folio_fp16_to_fp32(b->d); *dmin = folio_fp16_to_fp32(b->dmin); break; }
    case FOLIO_GGML_Q3_K: *d = folio_fp16_to_fp32(((const block_q3_K *)blk)->d); break;
    case FOLIO_GGML_Q4_K: { const block_q4_K *b = (const block_q4_K *)blk; *d = folio_fp16_to_fp32(b->d); *dmin = folio_fp16_to_fp32(b->dmin); break; }
    case FOLIO_GGML_Q5_K: { const block_q5_K *b = (const block_q5_K *)blk; *d = folio_fp16_to_fp32(b->d); *dmin = folio_fp16_to_fp32(b->dmin); break; }
    case FOLIO_GGML_Q6_K: *d = folio_fp16_to_fp32(((const block_q6_K *)blk)->d); break;
    default: *d = folio_fp16_to_fp32(((const block_iq4_xs *)blk)->d); break;
    }
}

// ---- scalar reference ----

/// Activations, one 256-block at a time: xd = max|x| / 127, q = round-half-even(x / xd), bs[g] = sum of q[16g..16g+15].
static void quantize_act_k_scalar(const float *x, int64_t cols, int8_t *q, float *xd, int16_t *bs) {
    for (int64_t b = 0; b < cols / QK_K; b++) {
        const float *xb = x + QK_K * b;
        float amax = 0;
        for (int i = 0; i < QK_K; i++) amax = fmaxf(amax, fabsf(xb[i]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        for (int i = 0; i < QK_K; i++) q[QK_K * b + i] = (int8_t)nearbyintf(xb[i] * id);
        xd[b] = d;
    }
    for (int64_t g = 0; g < cols / 16; g++) {
        int s = 0;
        for (int i = 0; i < 16; i++) s += q[16 * g + i];
        bs[g] = (int16_t)s;
    }
}

/// Super-block `blk` element by element: v[i] (u, or the signed table value), s[i] its integer scale, M[g] per group.
static void decode_superblock_scalar(int type, const uint8_t *blk, int v[QK_K], int s[QK_K], int M[16]) {
    switch (type) {
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: {
        const uint8_t *scales, *qs, *qh = 0;
        if (type == FOLIO_GGML_Q4_K) { const block_q4_K *b = (const block_q4_K *)blk; scales = b->scales; qs = b->qs; }
        else { const block_q5_K *b = (const block_q5_K *)blk; scales = b->scales; qs = b->qs; qh = b->qh; }
        for (int j = 0; j < 8; j++) {
            uint8_t sc, mn;
            get_scale_min_k4(j, scales, &sc, &mn);
            for (int l = 0; l < 32; l++) {
                int u = j % 2 ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 0xF;
                if (qh && (qh[l] >> j) & 1) u += 16;
                v[32 * j + l] = u; s[32 * j + l] = sc;
            }
            M[2 * j] = M[2 * j + 1] = mn;
        }
        break;
    }
    case FOLIO_GGML_Q2_K: case FOLIO_GGML_Q3_K:
        for (int i = 0; i < QK_K; i++) {
            const int n = i / 128, plane = (i % 128) / 32, l = i % 32, g = i / 16;
            if (type == FOLIO_GGML_Q2_K) {
                const block_q2_K *b = (const block_q2_K *)blk;
                v[i] = (b->qs[32 * n + l] >> (2 * plane)) & 3;
                s[i] = b->scales[g] & 0xF; M[g] = b->scales[g] >> 4;
            } else {  // value ((q >> 2 plane) & 3) - 4 unless the hmask bit is set: u = low | hbit << 2, value u - 4
                const block_q3_K *b = (const block_q3_K *)blk;
                v[i] = ((b->qs[32 * n + l] >> (2 * plane)) & 3) | (((b->hmask[l] >> (4 * n + plane)) & 1) << 2);
                s[i] = q3_K_scale(b->scales, g) - 32; M[g] = 4 * s[i];
            }
        }
        break;
    case FOLIO_GGML_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)blk;
        for (int i = 0; i < QK_K; i++) {
            const int n = i / 128, k = (i % 128) / 32, l = i % 32, g = i / 16;
            const uint8_t lo = b->ql[64 * n + 32 * (k % 2) + l];
            v[i] = (k / 2 ? lo >> 4 : lo & 0xF) | (((b->qh[32 * n + l] >> (2 * k)) & 3) << 4);
            s[i] = b->scales[g]; M[g] = 32 * s[i];
        }
        break;
    }
    default: {  // IQ4_XS
        const block_iq4_xs *b = (const block_iq4_xs *)blk;
        for (int i = 0; i < QK_K; i++) {
            const int c = i / 32, l = i % 32;
            const uint8_t byte = b->qs[16 * c + l % 16];
            v[i] = kvalues_iq4nl[l < 16 ? byte & 0xF : byte >> 4];
            s[i] = iq4_xs_scale(b, c) - 32;
        }
        for (int g = 0; g < 16; g++) M[g] = 0;
        break;
    }
    }
}

/// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)): the AVX2 kernel's final sum.
static inline float lanes8_sum(const float *l) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }

static float kdot_scalar(int type, const uint8_t *row, int64_t rb, int64_t cols, const int8_t *q, const float *xd, const int16_t *bs) {
    const int64_t nsb = cols / QK_K, bb = rb / nsb;
    float acc[8] = {0};
    int v[QK_K], s[QK_K], M[16];
    for (int64_t sb = 0; sb < nsb; sb++) {
        const uint8_t *blk = row + sb * bb;
        decode_superblock_scalar(type, blk, v, s, M);
        float d, dmin;
        kq_scales(type, blk, &d, &dmin);
        int32_t sumi[8] = {0}, mi[8];
        for (int i = 0; i < QK_K; i++) sumi[(i % 32) / 4] += s[i] * v[i] * q[QK_K * sb + i];
        for (int l = 0; l < 8; l++) mi[l] = M[2 * l] * bs[16 * sb + 2 * l] + M[2 * l + 1] * bs[16 * sb + 2 * l + 1];
        const float dx = d * xd[sb], mx = dmin * xd[sb];
        for (int l = 0; l < 8; l++) {
            if (kq_has_dmin(type)) acc[l] = fmaf(-(float)mi[l], mx, fmaf((float)sumi[l], dx, acc[l]));
            else acc[l] = fmaf((float)(sumi[l] - mi[l]), dx, acc[l]);
        }
    }
    return lanes8_sum(acc);
}

static void kmatmul_scalar(int type, const uint8_t *w, int64_t rb, int64_t cols, int64_t r0, int64_t r1, const int8_t *q,
                           const float *xd, const int16_t *bs, int64_t T, float *y, int64_t ldy) {
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < T; t++)
            y[t * ldy + r] = kdot_scalar(type, w + r * rb, rb, cols, q + t * cols, xd + t * (cols / QK_K), bs + t * (cols / 16));
}

// ---- AVX2 ----
#if defined(__x86_64__)
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE AVX2_TARGET __attribute__((always_inline)) static inline

/// A super-block's scales for the chunk loop: sA/sB hold int16 scales in both 128-bit halves (per-32 formats: the 8
/// scales in sA; per-16 formats: groups 0..7 in sA, 8..15 in sB), m16 the 16 M[g], d and dmin.
typedef struct { __m256i sA, sB, m16; float d, dmin; } kprep;

/// Every int16 lane of the low half = int16 `lo` of s's low half, of the high half = int16 `hi` of s's high half.
AVX2_INLINE __m256i pick16(__m256i s, int lo, int hi) {
    const short cl = (short)((2 * lo) | ((2 * lo + 1) << 8)), ch = (short)((2 * hi) | ((2 * hi + 1) << 8));
    return _mm256_shuffle_epi8(s, _mm256_set_m128i(_mm_set1_epi16(ch), _mm_set1_epi16(cl)));
}

AVX2_INLINE __m256i both_halves(__m128i v) { return _mm256_broadcastsi128_si256(v); }

/// Four packed 6-bit scales of ggml's 12-byte K-quant scale layout, one per byte (the shapes get_scale_min_k4 and
/// q3_K_scale read one at a time).
static inline uint32_t lo6(uint32_t lo4, uint32_t hi2) { return lo4 | (hi2 << 4); }

AVX2_INLINE kprep kq_prep_avx2(const int type, const uint8_t *blk) {
    kprep p;
    p.dmin = 0;
    p.sB = _mm256_setzero_si256();
    switch (type) {
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: {
        const uint8_t *sc = type == FOLIO_GGML_Q4_K ? ((const block_q4_K *)blk)->scales : ((const block_q5_K *)blk)->scales;
        const uint16_t *dd = (const uint16_t *)blk;  // d, dmin lead both layouts
        p.d = _cvtsh_ss(dd[0]); p.dmin = _cvtsh_ss(dd[1]);
        uint32_t a, b, c;
        memcpy(&a, sc, 4); memcpy(&b, sc + 4, 4); memcpy(&c, sc + 8, 4);
        const uint64_t s8 = (uint64_t)(a & 0x3F3F3F3Fu) | (uint64_t)lo6(c & 0x0F0F0F0Fu, (a >> 6) & 0x03030303u) << 32;
        const uint64_t m8 = (uint64_t)(b & 0x3F3F3F3Fu) | (uint64_t)lo6((c >> 4) & 0x0F0F0F0Fu, (b >> 6) & 0x03030303u) << 32;
        const __m128i mv = _mm_cvtsi64_si128((long long)m8);
        p.sA = both_halves(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)s8)));
        p.m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));  // m0 m0 m1 m1 ... (two groups per min)
        break;
    }
    case FOLIO_GGML_Q2_K: {
        const block_q2_K *b = (const block_q2_K *)blk;
        p.d = _cvtsh_ss(b->d); p.dmin = _cvtsh_ss(b->dmin);
        const __m128i s = _mm_loadu_si128((const __m128i *)b->scales), m4 = _mm_set1_epi8(0x0F);
        const __m128i sc = _mm_and_si128(s, m4);
        p.sA = both_halves(_mm_cvtepu8_epi16(sc)); p.sB = both_halves(_mm_cvtepu8_epi16(_mm_srli_si128(sc, 8)));
        p.m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4));
        break;
    }
    case FOLIO_GGML_Q3_K: case FOLIO_GGML_Q6_K: {
        __m128i s;  // the 16 signed scales
        if (type == FOLIO_GGML_Q3_K) {
            const block_q3_K *b = (const block_q3_K *)blk;
            p.d = _cvtsh_ss(b->d);
            uint32_t a, bb, c, g[4];
            memcpy(&a, b->scales, 4); memcpy(&bb, b->scales + 4, 4); memcpy(&c, b->scales + 8, 4);
            g[0] = lo6(a & 0x0F0F0F0Fu, c & 0x03030303u);
            g[1] = lo6(bb & 0x0F0F0F0Fu, (c >> 2) & 0x03030303u);
            g[2] = lo6((a >> 4) & 0x0F0F0F0Fu, (c >> 4) & 0x03030303u);
            g[3] = lo6((bb >> 4) & 0x0F0F0F0Fu, (c >> 6) & 0x03030303u);
            s = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)g), _mm_set1_epi8(32));
        } else {
            const block_q6_K *b = (const block_q6_K *)blk;
            p.d = _cvtsh_ss(b->d);
            s = _mm_loadu_si128((const __m128i *)b->scales);
        }
        p.sA = both_halves(_mm_cvtepi8_epi16(s)); p.sB = both_halves(_mm_cvtepi8_epi16(_mm_srli_si128(s, 8)));
        p.m16 = _mm256_slli_epi16(_mm256_cvtepi8_epi16(s), type == FOLIO_GGML_Q3_K ? 2 : 5);  // 4 s or 32 s
        break;
    }
    default: {  // IQ4_XS
        const block_iq4_xs *b = (const block_iq4_xs *)blk;
        p.d = _cvtsh_ss(b->d);
        int16_t ls[8];
        for (int c = 0; c < 8; c++) ls[c] = (int16_t)(iq4_xs_scale(b, c) - 32);
        p.sA = both_halves(_mm_loadu_si128((const __m128i *)ls));
        p.m16 = _mm256_setzero_si256();
        break;
    }
    }
    return p;
}

/// Chunk c (elements 32c..32c+31) of a super-block: u (unsigned values, or IQ4_XS's signed ones) and the int16 scale
/// of each element's pair (the multiplier vpmaddwd applies).
AVX2_INLINE void kq_chunk_avx2(const int type, const uint8_t *blk, const kprep *p, const int c, __m256i *u, __m256i *s16) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const int per16 = type == FOLIO_GGML_Q2_K || type == FOLIO_GGML_Q3_K || type == FOLIO_GGML_Q6_K;
    *s16 = per16 ? pick16(c < 4 ? p->sA : p->sB, 2 * (c % 4), 2 * (c % 4) + 1) : pick16(p->sA, c, c);
    switch (type) {
    case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K: {
        const uint8_t *qs = type == FOLIO_GGML_Q4_K ? ((const block_q4_K *)blk)->qs : ((const block_q5_K *)blk)->qs;
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * (c / 2)));
        __m256i x = c % 2 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
        if (type == FOLIO_GGML_Q5_K) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)((const block_q5_K *)blk)->qh);
            x = _mm256_or_si256(x, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, c), one), 4));
        }
        *u = x;
        break;
    }
    case FOLIO_GGML_Q2_K: case FOLIO_GGML_Q3_K: {
        const int n = c / 4, plane = c % 4;
        const uint8_t *qs = type == FOLIO_GGML_Q2_K ? ((const block_q2_K *)blk)->qs : ((const block_q3_K *)blk)->qs;
        __m256i x = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(qs + 32 * n)), 2 * plane), three);
        if (type == FOLIO_GGML_Q3_K) {
            const __m256i hm = _mm256_loadu_si256((const __m256i *)((const block_q3_K *)blk)->hmask);
            x = _mm256_or_si256(x, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * n + plane), one), 2));
        }
        *u = x;
        break;
    }
    case FOLIO_GGML_Q6_K: {
        const block_q6_K *b = (const block_q6_K *)blk;
        const int n = c / 4, k = c % 4;
        __m256i l = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * n + 32 * (k % 2)));
        if (k / 2) l = _mm256_srli_epi16(l, 4);
        const __m256i h = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * n)), 2 * k), three);
        *u = _mm256_or_si256(_mm256_and_si256(l, m4), _mm256_slli_epi16(h, 4));
        break;
    }
    default: {  // IQ4_XS: low nibbles are elements 0..15, high nibbles 16..31
        const __m128i v = _mm_loadu_si128((const __m128i *)(((const block_iq4_xs *)blk)->qs + 16 * c)), m = _mm_set1_epi8(0x0F);
        const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
        *u = _mm256_shuffle_epi8(both_halves(_mm_loadu_si128((const __m128i *)kvalues_iq4nl)), nib);
        break;
    }
    }
}

/// Rows ahead of the current ones whose super-blocks a decode tile prefetches (rows are contiguous).
#define K_PREFETCH_ROWS 8
/// Prefill blocks: rows x tokens whose float lanes (16 KiB) and one super-block of activations (8 KiB) stay in L1.
#define K_ROW_BLOCK 16
#define K_TOKEN_BLOCK 32

/// Super-block sumi (and the M term from the token's 16 block sums bs16) into a token's 8 float lanes.
AVX2_INLINE __m256 kq_accumulate(const int type, const kprep *p, __m256i sumi, const int16_t *bs16, float xd, __m256 acc) {
    const __m256i mi = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bs16), p->m16);
    if (kq_has_dmin(type)) {
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(p->d * xd), acc);
        return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mi), _mm256_set1_ps(p->dmin * xd), acc);
    }
    const __m256i tot = kq_signed(type) ? sumi : _mm256_sub_epi32(sumi, mi);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), _mm256_set1_ps(p->d * xd), acc);
}

/// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), as lanes8_sum.
AVX2_INLINE float kq_lanes_sum(__m256 acc) {
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_shuffle_ps(v, v, 1)));
}

/// Single token, R rows (decode): each chunk is decoded and used at once; the next rows' blocks are prefetched.
AVX2_INLINE void kdecode_avx2(const int type, const int R, const uint8_t *w, int64_t rb, int64_t cols, const int8_t *q,
                              const float *xd, const int16_t *bs, float *y) {
    const int64_t nsb = cols / QK_K, bb = rb / nsb;
    __m256 acc[4];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        for (int r = 0; r < R; r++) {
            const char *a = (const char *)w + (r + K_PREFETCH_ROWS) * rb + sb * bb;
            for (int64_t o = 0; o < bb; o += 64) _mm_prefetch(a + o, _MM_HINT_T0);
        }
        for (int r = 0; r < R; r++) {
            const uint8_t *blk = w + r * rb + sb * bb;
            const kprep p = kq_prep_avx2(type, blk);
            __m256i sumi = _mm256_setzero_si256();
#pragma clang loop unroll(full)
            for (int c = 0; c < 8; c++) {
                __m256i u, s16;
                kq_chunk_avx2(type, blk, &p, c, &u, &s16);
                __m256i xq = _mm256_loadu_si256((const __m256i *)(q + QK_K * sb + 32 * c));
                if (kq_signed(type)) xq = _mm256_sign_epi8(xq, u);  // |q| <= 127, so the sign flip never wraps
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(kq_signed(type) ? _mm256_abs_epi8(u) : u, xq), s16));
            }
            acc[r] = kq_accumulate(type, &p, sumi, bs + 16 * sb, xd[sb], acc[r]);
        }
    }
    for (int r = 0; r < R; r++) y[r] = kq_lanes_sum(acc[r]);
}

/// R <= K_ROW_BLOCK rows x NT <= K_TOKEN_BLOCK tokens (prefill): super-block by super-block, each row's block is
/// decoded once into 8 chunks and scales and every token's integer sum taken against them, so the tokens' activations
/// of that super-block (K_TOKEN_BLOCK x 256 bytes) stay in L1 across the rows. A (row, token) result takes the same
/// operations as in kdecode_avx2 (batch invariance): the same integer sums and float updates in super-block order.
AVX2_INLINE void kblock_avx2(const int type, const uint8_t *w, int64_t rb, int64_t cols, int64_t R, const int8_t *q,
                             const float *xd, const int16_t *bs, int64_t NT, float *y, int64_t ldy) {
    const int64_t nsb = cols / QK_K, bb = rb / nsb, ng = cols / 16;
    __m256 acc[K_ROW_BLOCK][K_TOKEN_BLOCK];
    for (int64_t r = 0; r < R; r++)
        for (int64_t t = 0; t < NT; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nsb; sb++) {
        for (int64_t r = 0; r < R; r++) {
            const uint8_t *blk = w + r * rb + sb * bb;
            const kprep p = kq_prep_avx2(type, blk);
            __m256i u[8], au[8], s16[8];
#pragma clang loop unroll(full)
            for (int c = 0; c < 8; c++) {
                kq_chunk_avx2(type, blk, &p, c, &u[c], &s16[c]);
                au[c] = kq_signed(type) ? _mm256_abs_epi8(u[c]) : u[c];
            }
            for (int64_t t = 0; t < NT; t++) {
                const int8_t *qt = q + t * cols + QK_K * sb;
                __m256i sumi = _mm256_setzero_si256();
#pragma clang loop unroll(full)
                for (int c = 0; c < 8; c++) {
                    __m256i xq = _mm256_loadu_si256((const __m256i *)(qt + 32 * c));
                    if (kq_signed(type)) xq = _mm256_sign_epi8(xq, u[c]);
                    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(au[c], xq), s16[c]));
                }
                acc[r][t] = kq_accumulate(type, &p, sumi, bs + t * ng + 16 * sb, xd[t * nsb + sb], acc[r][t]);
            }
        }
    }
    for (int64_t t = 0; t < NT; t++)
        for (int64_t r = 0; r < R; r++) y[t * ldy + r] = kq_lanes_sum(acc[r][t]);
}

typedef struct {
    void (*dec4)(const uint8_t *, int64_t, int64_t, const int8_t *, const float *, const int16_t *, float *);
    void (*dec1)(const uint8_t *, int64_t, int64_t, const int8_t *, const float *, const int16_t *, float *);
    void (*block)(const uint8_t *, int64_t, int64_t, int64_t, const int8_t *, const float *, const int16_t *, int64_t, float *, int64_t);
} kkernels;

#define DEFINE_K_KERNELS(TYPE, NAME)                                                                                          \
    AVX2_TARGET static void NAME##_dec4(const uint8_t *w, int64_t rb, int64_t cols, const int8_t *q, const float *xd,       \
                                        const int16_t *bs, float *y) { kdecode_avx2(TYPE, 4, w, rb, cols, q, xd, bs, y); }   \
    AVX2_TARGET static void NAME##_dec1(const uint8_t *w, int64_t rb, int64_t cols, const int8_t *q, const float *xd,       \
                                        const int16_t *bs, float *y) { kdecode_avx2(TYPE, 1, w, rb, cols, q, xd, bs, y); }   \
    AVX2_TARGET static void NAME##_block(const uint8_t *w, int64_t rb, int64_t cols, int64_t R, const int8_t *q,             \
                                         const float *xd, const int16_t *bs, int64_t NT, float *y, int64_t ldy) {            \
        kblock_avx2(TYPE, w, rb, cols, R, q, xd, bs, NT, y, ldy);                                                            \
    }
#define K_KERNELS(NAME) (kkernels){ NAME##_dec4, NAME##_dec1, NAME##_block }
DEFINE_K_KERNELS(FOLIO_GGML_Q2_K, k_q2_K)
DEFINE_K_KERNELS(FOLIO_GGML_Q3_K, k_q3_K)
DEFINE_K_KERNELS(FOLIO_GGML_Q4_K, k_q4_K)
DEFINE_K_KERNELS(FOLIO_GGML_Q5_K, k_q5_K)
DEFINE_K_KERNELS(FOLIO_GGML_Q6_K, k_q6_K)
DEFINE_K_KERNELS(FOLIO_GGML_IQ4_XS, k_iq4_xs)

static kkernels k_kernels_for(int type) {
    switch (type) {
    case FOLIO_GGML_Q2_K: return K_KERNELS(k_q2_K);
    case FOLIO_GGML_Q3_K: return K_KERNELS(k_q3_K);
    case FOLIO_GGML_Q4_K: return K_KERNELS(k_q4_K);
    case FOLIO_GGML_Q5_K: return K_KERNELS(k_q5_K);
    case FOLIO_GGML_Q6_K: return K_KERNELS(k_q6_K);
    default: return K_KERNELS(k_iq4_xs);
    }
}

/// Rows [r0, r1) x T tokens: a single token 4 rows at a time; token groups in blocks of K_ROW_BLOCK rows x
/// K_TOKEN_BLOCK tokens.
static void kmatmul_avx2(int type, const uint8_t *w, int64_t rb, int64_t cols, int64_t r0, int64_t r1, const int8_t *q,
                         const float *xd, const int16_t *bs, int64_t T, float *y, int64_t ldy) {
    const kkernels k = k_kernels_for(type);
    if (T == 1) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) k.dec4(w + r * rb, rb, cols, q, xd, bs, y + r);
        for (; r < r1; r++) k.dec1(w + r * rb, rb, cols, q, xd, bs, y + r);
        return;
    }
    const int64_t nsb = cols / QK_K, ng = cols / 16;
    for (int64_t tb = 0; tb < T; tb += K_TOKEN_BLOCK) {
        const int64_t nt = T - tb < K_TOKEN_BLOCK ? T - tb : K_TOKEN_BLOCK;
        for (int64_t r = r0; r < r1; r += K_ROW_BLOCK)
            k.block(w + r * rb, rb, cols, r1 - r < K_ROW_BLOCK ? r1 - r : K_ROW_BLOCK, q + tb * cols, xd + tb * nsb, bs + tb * ng, nt,
                    y + tb * ldy + r, ldy);
    }
}

/// quantize_act_k_scalar's operations on 8 lanes (max is exact; x * id and round-half-even as nearbyintf).
AVX2_TARGET static void quantize_act_k_avx2(const float *x, int64_t cols, int8_t *q, float *xd, int16_t *bs) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < cols / QK_K; b++) {
        const float *xb = x + QK_K * b;
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(xb + i)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        const float amax = _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        for (int i = 0; i < QK_K; i += 32) {
            __m256i i32[4];
            for (int k = 0; k < 4; k++) i32[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + i + 8 * k), vid));
            // packs work per 128-bit lane: the dwords come out as [0 lo, 1 lo, 2 lo, 3 lo | 0 hi, 1 hi, 2 hi, 3 hi].
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i32[0], i32[1]), _mm256_packs_epi32(i32[2], i32[3]));
            const __m256i v = _mm256_permutevar8x32_epi32(p, order);
            _mm256_storeu_si256((__m256i *)(q + QK_K * b + i), v);
            // the two 16-sums: bytes -> int16 pairs (x 1) -> int32 quads, then the quads of each half added
            const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm_srli_si128(_mm256_castsi256_si128(s32), 8));
            __m128i t = _mm_add_epi32(_mm256_extracti128_si256(s32, 1), _mm_srli_si128(_mm256_extracti128_si256(s32, 1), 8));
            bs[(QK_K * b + i) / 16] = (int16_t)(_mm_cvtsi128_si32(s) + _mm_extract_epi32(s, 1));
            bs[(QK_K * b + i) / 16 + 1] = (int16_t)(_mm_cvtsi128_si32(t) + _mm_extract_epi32(t, 1));
        }
        xd[b] = d;
    }
}

static int have_avx2(void) { return cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C); }
#endif

void folio_quantize_act_k(const float *x, int64_t cols, int8_t *q, float *xd, int16_t *bs) {
#if defined(__x86_64__)
    if (have_avx2()) { quantize_act_k_avx2(x, cols, q, xd, bs); return; }
#endif
    quantize_act_k_scalar(x, cols, q, xd, bs);
}

void folio_quantize_act_k_ref(const float *x, int64_t cols, int8_t *q, float *xd, int16_t *bs) {
    quantize_act_k_scalar(x, cols, q, xd, bs);
}

int folio_kmatmul_isa(int type) {
#if defined(__x86_64__)
    // The AVX-512 VNNI kernels of qmatmul.c keep the types they decode; the others run these on AVX2.
    if (have_avx2() && folio_kmatmul_supported(type, QK_K) && folio_qmatmul_type_isa(type) != FOLIO_ISA_AVX512_VNNI)
        return FOLIO_ISA_AVX2;
#endif
    return FOLIO_ISA_SCALAR;
}

int folio_kmatmul_rows_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd, const int16_t *bs, int64_t T, float *y, int64_t ldy) {
    if (!folio_kmatmul_supported(type, cols)) return -1;
    const uint8_t *wb = (const uint8_t *)w;
    switch (isa) {
#if defined(__x86_64__)
    case FOLIO_ISA_AVX2:
        if (!have_avx2()) return -1;
        kmatmul_avx2(type, wb, row_bytes, cols, row_begin, row_end, q, xd, bs, T, y, ldy);
        return 0;
#endif
    case FOLIO_ISA_SCALAR:
        kmatmul_scalar(type, wb, row_bytes, cols, row_begin, row_end, q, xd, bs, T, y, ldy);
        return 0;
    default:
        return -1;
    }
}

int folio_kmatmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                       const int8_t *q, const float *xd, const int16_t *bs, int64_t T, float *y, int64_t ldy) {
    return folio_kmatmul_rows_isa(folio_kmatmul_isa(type), type, w, row_bytes, cols, row_begin, row_end, q, xd, bs, T, y, ldy);
}
