// Packed weights: 16 consecutive rows ("a panel") interleaved so that one 512-bit vector holds the same few columns
// of all 16 rows. A kernel then keeps one output row per float lane: no per-row horizontal sums, each weight vector
// is decoded once for every token of a tile, and each (row, token) result is a sequential sum over the row's blocks
// (over its columns, for float weights) whatever the tile shape, so results do not depend on the batch.
//
// Layout of a panel (rows 16p..16p+15), which takes exactly the bytes of its 16 source rows (16 * row_bytes):
//   Q4_0  per 32-column block: d[16] (fp16), then 4 groups of 64 bytes: group j holds bytes 4j..4j+3 of each row's
//         qs (row r at 4r): low nibbles are columns 4j..4j+3, high nibbles columns 16+4j..16+4j+3.
//   Q4_1  per block: d[16], m[16], then the same 4 nibble groups.
//   Q8_0  per block: d[16], then 8 groups of 64 bytes: group j holds columns 4j..4j+3 of each row as q + 128.
//   F32/F16/BF16  per column k: the 16 rows' values.
// Quantized products use the int8 activations of qmatmul.c: per block, an exact integer sum s = sum(u * q), then
//   Q4_0/Q8_0 (w = d * (u + c)):  acc = fma(d, fma(s, xd, c * xs), acc)
//   Q4_1      (w = d * u + m):     acc = fma(s, d * xd, acc); acc = fma(m, xs, acc)
// with xd the activation block's scale and xs = xd * (sum of its 32 int8 values). The scalar definitions below do
// the same float operations in the same order, so vector and scalar results are bit-identical.
#include "CFolioKernels.h"
#include "blocks.h"
#include "cpu.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PANEL 16
/// Single-token tiles stream weights from memory: each panel block also prefetches the bytes this far ahead in its
/// panel (measured on 151 MB of Q4_0: 12 -> 18 GB/s per core; 1-4 KB all help, 2 KB most).
#define DECODE_PREFETCH 2048

static int packed_base(int type) { return (type & FOLIO_PACKED) ? type & ~FOLIO_PACKED : -1; }

static int is_quant(int base) { return base == FOLIO_GGML_Q4_0 || base == FOLIO_GGML_Q4_1 || base == FOLIO_GGML_Q8_0; }
static int is_float(int base) { return base == FOLIO_GGML_F32 || base == FOLIO_GGML_F16 || base == FOLIO_GGML_BF16; }

int folio_packed_takes_int8(int type) { return is_quant(packed_base(type)); }

int folio_pack_supported(int type, int64_t rows, int64_t cols) {
    if (!folio_have_vnni() || rows <= 0 || rows % PANEL != 0 || cols <= 0) return 0;
    if (is_quant(type)) return cols % 32 == 0;
    return is_float(type);
}

/// Bytes of the per-block scale header of a quantized panel block (d[16], and m[16] for Q4_1).
static int64_t header_bytes(int base) { return base == FOLIO_GGML_Q4_1 ? 64 : 32; }

int folio_pack(int type, const void *src, int64_t row_bytes, int64_t cols, int64_t panel_begin, int64_t panel_end, void *dst) {
    const uint8_t *s = src;
    uint8_t *d = dst;
    const int64_t panel_bytes = PANEL * row_bytes;
    if (is_float(type)) {
        const int64_t es = folio_type_block_bytes(type);
        for (int64_t p = panel_begin; p < panel_end; p++)
            for (int r = 0; r < PANEL; r++) {
                const uint8_t *row = s + (p * PANEL + r) * row_bytes;
                uint8_t *out = d + p * panel_bytes + r * es;
                for (int64_t k = 0; k < cols; k++) memcpy(out + k * PANEL * es, row + k * es, (size_t)es);
            }
        return 0;
    }
    if (!is_quant(type) || cols % 32 != 0) return -1;
    const int64_t nb = cols / 32, bb = folio_type_block_bytes(type), hb = header_bytes(type);
    for (int64_t p = panel_begin; p < panel_end; p++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *out = d + p * panel_bytes + b * PANEL * bb;
            for (int r = 0; r < PANEL; r++) {
                const uint8_t *blk = s + (p * PANEL + r) * row_bytes + b * bb;
                memcpy(out + 2 * r, blk, 2);                                            // d
                if (type == FOLIO_GGML_Q4_1) memcpy(out + 32 + 2 * r, blk + 2, 2);      // m
                if (type == FOLIO_GGML_Q8_0) {
                    const int8_t *qs = (const int8_t *)(blk + 2);
                    for (int j = 0; j < 8; j++)
                        for (int e = 0; e < 4; e++) out[hb + 64 * j + 4 * r + e] = (uint8_t)(qs[4 * j + e] + 128);
                } else {
                    const uint8_t *qs = blk + (type == FOLIO_GGML_Q4_1 ? 4 : 2);
                    for (int j = 0; j < 4; j++) memcpy(out + hb + 64 * j + 4 * r, qs + 4 * j, 4);
                }
            }
        }
    return 0;
}

int folio_packed_row(int type, const void *packed, int64_t row_bytes, int64_t cols, int64_t r, float *dst) {
    const int base = packed_base(type);
    const uint8_t *panel = (const uint8_t *)packed + (r / PANEL) * PANEL * row_bytes;
    const int i = (int)(r % PANEL);
    if (is_float(base)) {
        const int64_t es = folio_type_block_bytes(base);
        for (int64_t k = 0; k < cols; k++) folio_dequantize(base, panel + (k * PANEL + i) * es, dst + k, 1);
        return 0;
    }
    if (!is_quant(base)) return -1;
    // Rebuild the row's source block and decode it with the ordinary dequantizer.
    const int64_t bb = folio_type_block_bytes(base), hb = header_bytes(base);
    uint8_t blk[sizeof(block_q8_0)];
    for (int64_t b = 0; b < cols / 32; b++) {
        const uint8_t *in = panel + b * PANEL * bb;
        memcpy(blk, in + 2 * i, 2);
        if (base == FOLIO_GGML_Q4_1) memcpy(blk + 2, in + 32 + 2 * i, 2);
        if (base == FOLIO_GGML_Q8_0) {
            for (int j = 0; j < 8; j++)
                for (int e = 0; e < 4; e++) blk[2 + 4 * j + e] = (uint8_t)(int8_t)(in[hb + 64 * j + 4 * i + e] - 128);
        } else {
            uint8_t *qs = blk + (base == FOLIO_GGML_Q4_1 ? 4 : 2);
            for (int j = 0; j < 4; j++) memcpy(qs + 4 * j, in + hb + 64 * j + 4 * i, 4);
        }
        folio_dequantize(base, blk, dst + 32 * b, 32);
    }
    return 0;
}

void folio_act_block_sums(const int8_t *q, const float *xd4, int64_t cols, float *xsb) {
    for (int64_t b = 0; b < cols / 32; b++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += q[32 * b + i];
        xsb[b] = xd4[8 * b] * (float)s;
    }
}

// ---- scalar definitions ----

/// Unsigned weight value of row i, column 32b + k in a quantized panel block.
static inline int32_t packed_u(int base, const uint8_t *blk, int i, int k) {
    const int64_t hb = header_bytes(base);
    if (base == FOLIO_GGML_Q8_0) return blk[hb + 64 * (k / 4) + 4 * i + k % 4];
    const int kk = k % 16;
    const uint8_t v = blk[hb + 64 * (kk / 4) + 4 * i + kk % 4];
    return k < 16 ? (v & 0xF) : (v >> 4);
}

static void pq_scalar(int base, const uint8_t *w, int64_t row_bytes, int64_t cols, int64_t p0, int64_t p1,
                      const int8_t *q, const float *xd4, const float *xsb, int64_t T, float *y, int64_t ldy) {
    const int64_t nb = cols / 32, bb = folio_type_block_bytes(base);
    const float c = symmetric_offset(base);
    for (int64_t p = p0; p < p1; p++)
        for (int i = 0; i < PANEL; i++)
            for (int64_t t = 0; t < T; t++) {
                float acc = 0;
                for (int64_t b = 0; b < nb; b++) {
                    const uint8_t *blk = w + p * PANEL * row_bytes + b * PANEL * bb;
                    uint16_t dh, mh;
                    memcpy(&dh, blk + 2 * i, 2);
                    int32_t s = 0;
                    for (int k = 0; k < 32; k++) s += packed_u(base, blk, i, k) * q[t * cols + 32 * b + k];
                    const float d = folio_fp16_to_fp32(dh), xd = xd4[t * (cols / 4) + 8 * b], xs = xsb[t * nb + b];
                    if (base == FOLIO_GGML_Q4_1) {
                        memcpy(&mh, blk + 32 + 2 * i, 2);
                        acc = fmaf((float)s, d * xd, acc);
                        acc = fmaf(folio_fp16_to_fp32(mh), xs, acc);
                    } else {
                        acc = fmaf(d, fmaf((float)s, xd, c * xs), acc);
                    }
                }
                y[t * ldy + p * PANEL + i] = acc;
            }
}

static void pf_scalar(int base, const uint8_t *w, int64_t row_bytes, int64_t cols, int64_t p0, int64_t p1,
                      const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy) {
    const int64_t es = folio_type_block_bytes(base);
    for (int64_t p = p0; p < p1; p++)
        for (int i = 0; i < PANEL; i++)
            for (int64_t t = 0; t < T; t++) {
                float acc = 0, v;
                for (int64_t k = 0; k < cols; k++) {
                    folio_dequantize(base, w + p * PANEL * row_bytes + (k * PANEL + i) * es, &v, 1);
                    acc = fmaf(v, x[t * ldx + k], acc);
                }
                y[t * ldy + p * PANEL + i] = acc;
            }
}

// ---- AVX-512 VNNI ----
#if defined(__x86_64__)
#define PK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c")))
#define PK_INLINE PK_TARGET __attribute__((always_inline)) static inline

static inline int32_t load_i32(const int8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/// P panels x NT tokens of a quantized packed matrix; every (row, token) gets the scalar definition's operations.
PK_INLINE void pq_kernel(const int base, const int P, const int NT, const uint8_t *w, int64_t panel_bytes, int64_t cols,
                         const int8_t *q, const float *xd4, const float *xsb, float *y, int64_t ldy) {
    const int64_t nb = cols / 32, c4 = cols / 4, bb16 = PANEL * folio_type_block_bytes(base), hb = header_bytes(base);
    const float c = symmetric_offset(base);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[4][4];
    for (int i = 0; i < P; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512 d[4], m[4];
        __m512i s[4][4];
        const uint8_t *blk[4];
        for (int i = 0; i < P; i++) {
            blk[i] = w + i * panel_bytes + b * bb16;
            if (NT == 1) for (int64_t o = 0; o < bb16; o += 64) _mm_prefetch((const char *)blk[i] + DECODE_PREFETCH + o, _MM_HINT_T0);
            d[i] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk[i]));
            if (base == FOLIO_GGML_Q4_1) m[i] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk[i] + 32)));
            for (int t = 0; t < NT; t++) s[i][t] = _mm512_setzero_si512();
        }
        const int8_t *qb = q + 32 * b;
        if (base == FOLIO_GGML_Q8_0) {
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < P; i++) {
                    const __m512i v = _mm512_loadu_si512((const void *)(blk[i] + hb + 64 * j));
                    for (int t = 0; t < NT; t++)
                        s[i][t] = _mm512_dpbusd_epi32(s[i][t], v, _mm512_set1_epi32(load_i32(qb + t * cols + 4 * j)));
                }
        } else {
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < P; i++) {
                    const __m512i v = _mm512_loadu_si512((const void *)(blk[i] + hb + 64 * j));
                    const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                    for (int t = 0; t < NT; t++) {
                        s[i][t] = _mm512_dpbusd_epi32(s[i][t], lo, _mm512_set1_epi32(load_i32(qb + t * cols + 4 * j)));
                        s[i][t] = _mm512_dpbusd_epi32(s[i][t], hi, _mm512_set1_epi32(load_i32(qb + t * cols + 16 + 4 * j)));
                    }
                }
        }
        for (int t = 0; t < NT; t++) {
            const float xdt = xd4[t * c4 + 8 * b], xst = xsb[t * nb + b];
            const __m512 xd = _mm512_set1_ps(xdt);
            if (base == FOLIO_GGML_Q4_1) {
                const __m512 xs = _mm512_set1_ps(xst);
                for (int i = 0; i < P; i++) {
                    acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i][t]), _mm512_mul_ps(d[i], xd), acc[i][t]);
                    acc[i][t] = _mm512_fmadd_ps(m[i], xs, acc[i][t]);
                }
            } else {
                const __m512 xsc = _mm512_set1_ps(c * xst);
                for (int i = 0; i < P; i++)
                    acc[i][t] = _mm512_fmadd_ps(d[i], _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[i][t]), xd, xsc), acc[i][t]);
            }
        }
    }
    for (int i = 0; i < P; i++)
        for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ldy + PANEL * i, acc[i][t]);
}

/// Converts 16 packed float weights (row order) to float32 lanes.
PK_INLINE __m512 load16(const int base, const uint8_t *p) {
    switch (base) {
    case FOLIO_GGML_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    case FOLIO_GGML_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    default: return _mm512_loadu_ps((const float *)p);
    }
}

/// P panels x NT tokens of a float packed matrix: acc = fma(w[k], x[k], acc) for k in order.
PK_INLINE void pf_kernel(const int base, const int P, const int NT, const uint8_t *w, int64_t panel_bytes, int64_t cols,
                         const float *x, int64_t ldx, float *y, int64_t ldy) {
    const int64_t es = folio_type_block_bytes(base);
    __m512 acc[4][6];
    for (int i = 0; i < P; i++)
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < cols; k++) {
        __m512 v[4];
        for (int i = 0; i < P; i++) v[i] = load16(base, w + i * panel_bytes + k * PANEL * es);
        for (int t = 0; t < NT; t++) {
            const __m512 xv = _mm512_set1_ps(x[t * ldx + k]);
            for (int i = 0; i < P; i++) acc[i][t] = _mm512_fmadd_ps(v[i], xv, acc[i][t]);
        }
    }
    for (int i = 0; i < P; i++)
        for (int t = 0; t < NT; t++) _mm512_storeu_ps(y + t * ldy + PANEL * i, acc[i][t]);
}

/// n half-precision values (F16 or BF16) to float32; n a multiple of 16.
PK_TARGET static void widen(const int base, const uint8_t *src, int64_t n, float *dst) {
    for (int64_t i = 0; i < n; i += 16) _mm512_store_ps(dst + i, load16(base, src + 2 * i));
}

typedef void (*pq_fn)(const uint8_t *, int64_t, int64_t, const int8_t *, const float *, const float *, float *, int64_t);
typedef void (*pf_fn)(const uint8_t *, int64_t, int64_t, const float *, int64_t, float *, int64_t);

#define PQ_ARGS const uint8_t *w, int64_t pb, int64_t cols, const int8_t *q, const float *xd4, const float *xsb, float *y, int64_t ldy
#define PQ_PASS w, pb, cols, q, xd4, xsb, y, ldy
#define PF_ARGS const uint8_t *w, int64_t pb, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy
#define PF_PASS w, pb, cols, x, ldx, y, ldy
/// The five tiles of one weight type (see `tiles`): KERNEL(base, panels, tokens, ...) with N tokens per group.
#define DEFINE_TILES(KERNEL, ARGS, PASS, BASE, NAME, N)                                       \
    PK_TARGET static void NAME##_4x1(ARGS) { KERNEL(BASE, 4, 1, PASS); }                      \
    PK_TARGET static void NAME##_2xn(ARGS) { KERNEL(BASE, 2, N, PASS); }                      \
    PK_TARGET static void NAME##_2x1(ARGS) { KERNEL(BASE, 2, 1, PASS); }                      \
    PK_TARGET static void NAME##_1xn(ARGS) { KERNEL(BASE, 1, N, PASS); }                      \
    PK_TARGET static void NAME##_1x1(ARGS) { KERNEL(BASE, 1, 1, PASS); }
DEFINE_TILES(pq_kernel, PQ_ARGS, PQ_PASS, FOLIO_GGML_Q4_0, pq4_0, 4)
DEFINE_TILES(pq_kernel, PQ_ARGS, PQ_PASS, FOLIO_GGML_Q4_1, pq4_1, 4)
DEFINE_TILES(pq_kernel, PQ_ARGS, PQ_PASS, FOLIO_GGML_Q8_0, pq8_0, 4)
DEFINE_TILES(pf_kernel, PF_ARGS, PF_PASS, FOLIO_GGML_F32, pf32, 6)
DEFINE_TILES(pf_kernel, PF_ARGS, PF_PASS, FOLIO_GGML_F16, pf16, 6)
DEFINE_TILES(pf_kernel, PF_ARGS, PF_PASS, FOLIO_GGML_BF16, pbf16, 6)

/// A tile family: P4 x 1 for single tokens, P2 x N for token groups of N, and the 1-panel / 1-token remainders.
typedef struct { void *k4x1, *k2xn, *k2x1, *k1xn, *k1x1; int n; } tiles;

static tiles tiles_for(int base) {
    switch (base) {
    case FOLIO_GGML_Q4_0: return (tiles){ pq4_0_4x1, pq4_0_2xn, pq4_0_2x1, pq4_0_1xn, pq4_0_1x1, 4 };
    case FOLIO_GGML_Q4_1: return (tiles){ pq4_1_4x1, pq4_1_2xn, pq4_1_2x1, pq4_1_1xn, pq4_1_1x1, 4 };
    case FOLIO_GGML_Q8_0: return (tiles){ pq8_0_4x1, pq8_0_2xn, pq8_0_2x1, pq8_0_1xn, pq8_0_1x1, 4 };
    case FOLIO_GGML_F32: return (tiles){ pf32_4x1, pf32_2xn, pf32_2x1, pf32_1xn, pf32_1x1, 6 };
    case FOLIO_GGML_F16: return (tiles){ pf16_4x1, pf16_2xn, pf16_2x1, pf16_1xn, pf16_1x1, 6 };
    default: return (tiles){ pbf16_4x1, pbf16_2xn, pbf16_2x1, pbf16_1xn, pbf16_1x1, 6 };
    }
}

/// Runs `call(kernel, panel, token)` over panels [p0, p1) x tokens [0, T): single tokens 4 panels at a time; token
/// groups in blocks of `tb` tokens (kept in L2 while the panels stream past), panel pairs, groups of n tokens.
#define TILE_LOOP(TL, p0, p1, T, tb, CALL)                                                          \
    do {                                                                                           \
        if ((T) == 1) {                                                                            \
            int64_t p_ = (p0);                                                                     \
            for (; p_ + 4 <= (p1); p_ += 4) CALL((TL).k4x1, p_, 0);                                \
            for (; p_ < (p1); p_++) CALL((TL).k1x1, p_, 0);                                        \
            break;                                                                                 \
        }                                                                                          \
        for (int64_t t0_ = 0; t0_ < (T); t0_ += (tb)) {                                            \
            const int64_t te_ = (T) - t0_ < (tb) ? (T) : t0_ + (tb);                               \
            int64_t p_ = (p0);                                                                     \
            for (; p_ < (p1); p_ += 2) {                                                           \
                const int two_ = p_ + 2 <= (p1);                                                   \
                int64_t t_ = t0_;                                                                  \
                for (; t_ + (TL).n <= te_; t_ += (TL).n) CALL(two_ ? (TL).k2xn : (TL).k1xn, p_, t_); \
                for (; t_ < te_; t_++) CALL(two_ ? (TL).k2x1 : (TL).k1x1, p_, t_);                 \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void pq_avx512(int base, const uint8_t *w, int64_t row_bytes, int64_t cols, int64_t p0, int64_t p1,
                      const int8_t *q, const float *xd4, const float *xsb, int64_t T, float *y, int64_t ldy) {
    const tiles tl = tiles_for(base);
    const int64_t pb = PANEL * row_bytes, c4 = cols / 4, nb = cols / 32;
#define PQ_CALL(K, p, t) ((pq_fn)(K))(w + (p) * pb, pb, cols, q + (t) * cols, xd4 + (t) * c4, xsb + (t) * nb, y + (t) * ldy + (p) * PANEL, ldy)
    TILE_LOOP(tl, p0, p1, T, 64, PQ_CALL);
#undef PQ_CALL
}

/// Half-precision panels for several tokens: each panel pair is widened to float32 once per token block and run on
/// the F32 tiles. Widening is exact, so these are the same values and the same FMAs as the half-precision tiles (the
/// single-token path, which streams weights from memory, keeps reading them as they are); it saves a conversion per
/// tile. Returns 0 (nothing done) if the scratch cannot be allocated.
static int pf_widened(int base, const uint8_t *w, int64_t pb, int64_t cols, int64_t p0, int64_t p1, const float *x, int64_t ldx,
                      int64_t T, int64_t tb, float *y, int64_t ldy) {
    const tiles tl = tiles_for(FOLIO_GGML_F32);
    const int64_t fpb = PANEL * cols * 4;
    float *buf = aligned_alloc(64, (size_t)(2 * fpb));
    if (!buf) return 0;
    const uint8_t *fw = (const uint8_t *)buf;
    for (int64_t t0 = 0; t0 < T; t0 += tb) {
        const int64_t nt = T - t0 < tb ? T - t0 : tb;
        for (int64_t p = p0; p < p1; p += 2) {
            const int64_t np = p + 2 <= p1 ? 2 : 1;
            widen(base, w + p * pb, np * PANEL * cols, buf);   // consecutive panels are contiguous
#define PW_CALL(K, i, t) ((pf_fn)(K))(fw + (i) * fpb, fpb, cols, x + (t0 + (t)) * ldx, ldx, y + (t0 + (t)) * ldy + (p + (i)) * PANEL, ldy)
            TILE_LOOP(tl, 0, np, nt, nt, PW_CALL);
#undef PW_CALL
        }
    }
    free(buf);
    return 1;
}

static void pf_avx512(int base, const uint8_t *w, int64_t row_bytes, int64_t cols, int64_t p0, int64_t p1,
                      const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy) {
    const tiles tl = tiles_for(base);
    const int64_t pb = PANEL * row_bytes;
    // Tokens per block: their float rows (cols * 4 bytes each) stay within about 1 MB of L2.
    int64_t tb = (1 << 20) / (cols * 4) / 6 * 6;
    if (tb < 6) tb = 6;
    if (T > 1 && base != FOLIO_GGML_F32 && pf_widened(base, w, pb, cols, p0, p1, x, ldx, T, tb, y, ldy)) return;
#define PF_CALL(K, p, t) ((pf_fn)(K))(w + (p) * pb, pb, cols, x + (t) * ldx, ldx, y + (t) * ldy + (p) * PANEL, ldy)
    TILE_LOOP(tl, p0, p1, T, tb, PF_CALL);
#undef PF_CALL
}
#endif

int folio_pmatmul_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t panel_begin, int64_t panel_end,
                      const int8_t *q, const float *xd4, const float *xsb, const float *x, int64_t ldx, int64_t T,
                      float *y, int64_t ldy) {
    const int base = packed_base(type);
    const uint8_t *wb = w;
    if (is_quant(base)) {
        if (cols % 32 != 0 || !q) return -1;
        if (isa == FOLIO_ISA_SCALAR) { pq_scalar(base, wb, row_bytes, cols, panel_begin, panel_end, q, xd4, xsb, T, y, ldy); return 0; }
#if defined(__x86_64__)
        if (isa == FOLIO_ISA_AVX512_VNNI && folio_have_vnni()) {
            pq_avx512(base, wb, row_bytes, cols, panel_begin, panel_end, q, xd4, xsb, T, y, ldy);
            return 0;
        }
#endif
        return -1;
    }
    if (is_float(base)) {
        if (!x) return -1;
        if (isa == FOLIO_ISA_SCALAR) { pf_scalar(base, wb, row_bytes, cols, panel_begin, panel_end, x, ldx, T, y, ldy); return 0; }
#if defined(__x86_64__)
        if (isa == FOLIO_ISA_AVX512_VNNI && folio_have_vnni()) {
            pf_avx512(base, wb, row_bytes, cols, panel_begin, panel_end, x, ldx, T, y, ldy);
            return 0;
        }
#endif
        return -1;
    }
    return -1;
}

int folio_pmatmul(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t panel_begin, int64_t panel_end,
                  const int8_t *q, const float *xd4, const float *xsb, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy) {
    return folio_pmatmul_isa(FOLIO_ISA_AVX512_VNNI, type, w, row_bytes, cols, panel_begin, panel_end, q, xd4, xsb, x, ldx, T, y, ldy);
}
