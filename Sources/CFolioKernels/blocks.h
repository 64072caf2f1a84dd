// GGUF block layouts, byte-exact with ggml (ggml-common.h). Private to CFolioKernels.
#ifndef CFOLIO_BLOCKS_H
#define CFOLIO_BLOCKS_H
#include <stdint.h>
#include "CFolioKernels.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[QK8_0]; } block_q8_1;
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; } block_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
typedef struct { uint16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
typedef struct { uint16_t d, scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl");
/// MXFP4 (OCP microscaling, GPT-OSS's experts): an E8M0 exponent and 32 e2m1 values as nibbles (IQ4_NL's layout).
typedef struct { uint8_t e; uint8_t qs[16]; } block_mxfp4;
_Static_assert(sizeof(block_mxfp4) == 17, "mxfp4");
_Static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs");

/// The 16 values an IQ4_NL / IQ4_XS nibble selects (ggml's kvalues_iq4nl), times the block scale.
static const int8_t kvalues_iq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };
/// Twice the 16 e2m1 values an MXFP4 nibble selects (ggml's kvalues_mxfp4), times half the block's scale.
static const int8_t kvalues_mxfp4[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };
/// Half of an E8M0 scale, 2^(e - 128) (ggml's ggml_e8m0_to_fp32_half), exact for every byte.
static inline float e8m0_half(uint8_t e) {
    union { uint32_t u; float f; } v;
    v.u = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return v.f;
}

/// IQ4_XS: the 6-bit scale of 32-element sub-block ib (0..7), before its -32 offset.
static inline int iq4_xs_scale(const block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4);
}

/// Q3_K: the 6-bit scale of 16-element group i (0..15) from the packed 12 scale bytes, before its -32 offset.
static inline int q3_K_scale(const uint8_t *s, int i) {
    const int lo = i < 8 ? s[i] & 0xF : s[i - 8] >> 4;
    return lo | (((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4);
}

/// Q4_K/Q5_K: the 6-bit scale and min of sub-block j (0..7) from the packed 12 scale bytes.
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63; *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/// The constant offset c of the symmetric formats, whose values are d * (u + c) with u unsigned: -8 for Q4_0, -16 for
/// Q5_0, -4 for Q3_K, -32 for Q6_K, -128 for Q8_0 and the IQ4 types (signed values read as v + 128); 0 for the others
/// (their minimums are separate values).
static inline float symmetric_offset(int type) {
    switch (type) {
    case FOLIO_GGML_Q4_0: return -8.0f;
    case FOLIO_GGML_Q8_0: case FOLIO_GGML_IQ4_NL: case FOLIO_GGML_IQ4_XS: case FOLIO_GGML_MXFP4: return -128.0f;
    case FOLIO_GGML_Q5_0: return -16.0f;
    case FOLIO_GGML_Q3_K: return -4.0f;
    case FOLIO_GGML_Q6_K: return -32.0f;
    default: return 0.0f;
    }
}

#endif
