// GGUF block formats and their dequantizers, following the definitions in ggml (ggml-common.h /
// ggml-quants.c): block layouts are byte-exact, values are float32 as ggml's reference dequantizers give.
#include "CFolioKernels.h"
#include <string.h>
#include <math.h>

#include "blocks.h"

float folio_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) { bits = sign; }
        else {  // subnormal: normalize
            int e = -1;
            do { mant <<= 1; e++; } while ((mant & 0x400) == 0);
            mant &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f; memcpy(&f, &bits, 4); return f;
}

uint16_t folio_fp32_to_fp16(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

float folio_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16; float f; memcpy(&f, &bits, 4); return f;
}

#define FP16(x) folio_fp16_to_fp32(x)

int64_t folio_type_block_elements(int type) {
    if (type & FOLIO_PACKED) type &= ~FOLIO_PACKED;  // a packed layout keeps its source's bytes per block
    switch (type) {
    case FOLIO_GGML_F32: case FOLIO_GGML_F16: case FOLIO_GGML_BF16: case FOLIO_GGML_F64:
    case FOLIO_GGML_I8: case FOLIO_GGML_I16: case FOLIO_GGML_I32: case FOLIO_GGML_I64: return 1;
    case FOLIO_GGML_Q4_0: case FOLIO_GGML_Q4_1: case FOLIO_GGML_Q5_0: case FOLIO_GGML_Q5_1:
    case FOLIO_GGML_Q8_0: case FOLIO_GGML_Q8_1: case FOLIO_GGML_IQ4_NL: case FOLIO_GGML_MXFP4: return 32;
    case FOLIO_GGML_Q2_K: case FOLIO_GGML_Q3_K: case FOLIO_GGML_Q4_K: case FOLIO_GGML_Q5_K:
    case FOLIO_GGML_Q6_K: case FOLIO_GGML_Q8_K: case FOLIO_GGML_IQ4_XS: return QK_K;
    default: return 0;
    }
}

int64_t folio_type_block_bytes(int type) {
    if (type & FOLIO_PACKED) type &= ~FOLIO_PACKED;
    switch (type) {
    case FOLIO_GGML_F32: return 4; case FOLIO_GGML_F16: return 2; case FOLIO_GGML_BF16: return 2;
    case FOLIO_GGML_F64: return 8; case FOLIO_GGML_I8: return 1; case FOLIO_GGML_I16: return 2;
    case FOLIO_GGML_I32: return 4; case FOLIO_GGML_I64: return 8;
    case FOLIO_GGML_Q4_0: return sizeof(block_q4_0); case FOLIO_GGML_Q4_1: return sizeof(block_q4_1);
    case FOLIO_GGML_Q5_0: return sizeof(block_q5_0); case FOLIO_GGML_Q5_1: return sizeof(block_q5_1);
    case FOLIO_GGML_Q8_0: return sizeof(block_q8_0); case FOLIO_GGML_Q8_1: return sizeof(block_q8_1);
    case FOLIO_GGML_Q2_K: return sizeof(block_q2_K); case FOLIO_GGML_Q3_K: return sizeof(block_q3_K);
    case FOLIO_GGML_Q4_K: return sizeof(block_q4_K); case FOLIO_GGML_Q5_K: return sizeof(block_q5_K);
    case FOLIO_GGML_Q6_K: return sizeof(block_q6_K); case FOLIO_GGML_Q8_K: return sizeof(block_q8_K);
    case FOLIO_GGML_IQ4_NL: return sizeof(block_iq4_nl); case FOLIO_GGML_IQ4_XS: return sizeof(block_iq4_xs);
    case FOLIO_GGML_MXFP4: return sizeof(block_mxfp4);
    default: return 0;
    }
}

static void deq_q4_0(const block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[i * QK4_0 + j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[i * QK4_0 + j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const block_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[i * QK4_1 + j] = (x[i].qs[j] & 0x0F) * d + m;
            y[i * QK4_1 + j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void deq_q5_0(const block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        uint32_t qh; memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const uint8_t xh0 = ((qh >> (j + 0)) << 4) & 0x10;
            const uint8_t xh1 = ((qh >> (j + 12))) & 0x10;
            const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh0) - 16;
            const int32_t x1 = ((x[i].qs[j] >> 4) | xh1) - 16;
            y[i * QK5_0 + j] = x0 * d;
            y[i * QK5_0 + j + QK5_0 / 2] = x1 * d;
        }
    }
}

static void deq_q5_1(const block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d), m = FP16(x[i].m);
        uint32_t qh; memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const uint8_t xh0 = ((qh >> (j + 0)) << 4) & 0x10;
            const uint8_t xh1 = ((qh >> (j + 12))) & 0x10;
            y[i * QK5_1 + j] = ((x[i].qs[j] & 0x0F) | xh0) * d + m;
            y[i * QK5_1 + j + QK5_1 / 2] = ((x[i].qs[j] >> 4) | xh1) * d + m;
        }
    }
}

static void deq_q8_0(const block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = x[i].qs[j] * d;
    }
}

static void deq_q8_1(const block_q8_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = x[i].qs[j] * d;
    }
}

static void deq_q2_K(const block_q2_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; ++j) {
                uint8_t sc = x[i].scales[is++];
                float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
                sc = x[i].scales[is++];
                dl = d * (sc & 0xF); ml = min * (sc >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
                shift += 2;
            }
            q += 32;
        }
    }
}

static void deq_q3_K(const block_q3_K *x, float *y, int64_t nb) {
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    const int8_t *scales = (const int8_t *)aux;
    for (int64_t i = 0; i < nb; i++) {
        const float d_all = FP16(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask;
        uint8_t m = 1;
        memcpy(aux, x[i].scales, 12);
        uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; ++j) {
                float dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * ((int8_t)((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
                dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
                shift += 2;
                m <<= 1;
            }
            q += 32;
        }
    }
}


static void deq_q4_K(const block_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        int is = 0; uint8_t sc, m;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32; is += 2;
        }
    }
}

static void deq_q5_K(const block_q5_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = FP16(x[i].d), min = FP16(x[i].dmin);
        int is = 0; uint8_t sc, m, u1 = 1, u2 = 2;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32; is += 2; u1 <<= 2; u2 <<= 2;
        }
    }
}

static void deq_q6_K(const block_q6_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < QK_K; n += 128) {
            for (int l = 0; l < 32; ++l) {
                int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128; ql += 64; qh += 32; sc += 8;
        }
    }
}

static void deq_q8_K(const block_q8_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < QK_K; ++j) *y++ = x[i].d * x[i].qs[j];
}

static void deq_iq4_nl(const block_iq4_nl *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[i * QK4_NL + j] = d * kvalues_iq4nl[x[i].qs[j] & 0xF];
            y[i * QK4_NL + j + QK4_NL / 2] = d * kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

static void deq_mxfp4(const block_mxfp4 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = e8m0_half(x[i].e);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = d * kvalues_mxfp4[x[i].qs[j] & 0xF];
            y[i * 32 + j + 16] = d * kvalues_mxfp4[x[i].qs[j] >> 4];
        }
    }
}

static void deq_iq4_xs(const block_iq4_xs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = FP16(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++) {
            const float dl = d * (iq4_xs_scale(&x[i], ib) - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * kvalues_iq4nl[qs[j] & 0xF];
                y[j + 16] = dl * kvalues_iq4nl[qs[j] >> 4];
            }
            y += 32; qs += 16;
        }
    }
}

int folio_dequantize(int type, const void *src, float *dst, int64_t n) {
    if (type & FOLIO_PACKED) return -1;  // rows of a packed matrix: folio_packed_row
    const int64_t be = folio_type_block_elements(type);
    if (be == 0 || n % be != 0) return -1;
    const int64_t nb = n / be;
    switch (type) {
    case FOLIO_GGML_F32: memcpy(dst, src, (size_t)n * 4); return 0;
    case FOLIO_GGML_F16: { const uint16_t *s = src; for (int64_t i = 0; i < n; i++) dst[i] = FP16(s[i]); return 0; }
    case FOLIO_GGML_BF16: { const uint16_t *s = src; for (int64_t i = 0; i < n; i++) dst[i] = folio_bf16_to_fp32(s[i]); return 0; }
    case FOLIO_GGML_F64: { const double *s = src; for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    case FOLIO_GGML_I8: { const int8_t *s = src; for (int64_t i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case FOLIO_GGML_I16: { const int16_t *s = src; for (int64_t i = 0; i < n; i++) dst[i] = s[i]; return 0; }
    case FOLIO_GGML_I32: { const int32_t *s = src; for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    case FOLIO_GGML_I64: { const int64_t *s = src; for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i]; return 0; }
    case FOLIO_GGML_Q4_0: deq_q4_0(src, dst, nb); return 0;
    case FOLIO_GGML_Q4_1: deq_q4_1(src, dst, nb); return 0;
    case FOLIO_GGML_Q5_0: deq_q5_0(src, dst, nb); return 0;
    case FOLIO_GGML_Q5_1: deq_q5_1(src, dst, nb); return 0;
    case FOLIO_GGML_Q8_0: deq_q8_0(src, dst, nb); return 0;
    case FOLIO_GGML_Q8_1: deq_q8_1(src, dst, nb); return 0;
    case FOLIO_GGML_Q2_K: deq_q2_K(src, dst, nb); return 0;
    case FOLIO_GGML_Q3_K: deq_q3_K(src, dst, nb); return 0;
    case FOLIO_GGML_Q4_K: deq_q4_K(src, dst, nb); return 0;
    case FOLIO_GGML_Q5_K: deq_q5_K(src, dst, nb); return 0;
    case FOLIO_GGML_Q6_K: deq_q6_K(src, dst, nb); return 0;
    case FOLIO_GGML_Q8_K: deq_q8_K(src, dst, nb); return 0;
    case FOLIO_GGML_IQ4_NL: deq_iq4_nl(src, dst, nb); return 0;
    case FOLIO_GGML_IQ4_XS: deq_iq4_xs(src, dst, nb); return 0;
    case FOLIO_GGML_MXFP4: deq_mxfp4(src, dst, nb); return 0;
    default: return -1;
    }
}
