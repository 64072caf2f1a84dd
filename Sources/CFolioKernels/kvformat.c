// KV cache element formats: float32, float16, bfloat16, int8 and fp8 (e4m3, OCP "fn" variant: no infinities, max
// 448). int8 and fp8 rows carry one float scale per head and token (amax / 127, amax / 448), written once when the
// token's K/V are computed. Scalar code: a row is stored once per token and layer; the attention kernels read the
// formats with their own vector loads.
#include "CFolioKernels.h"
#include <math.h>
#include <string.h>

int64_t folio_kv_elem_size(int fmt) {
    switch (fmt) {
    case FOLIO_KV_F32: return 4;
    case FOLIO_KV_F16: case FOLIO_KV_BF16: return 2;
    default: return 1;
    }
}

static inline uint16_t bf16_from_f32(float f) {   // round to nearest even
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);   // NaN stays NaN
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

uint8_t folio_fp8_e4m3_from_f32(float x) {
    const uint8_t sign = signbit(x) ? 0x80 : 0;
    float a = fabsf(x);
    if (isnan(a)) return sign | 0x7f;
    if (a >= 464.0f) return sign | 0x7e;   // saturate to +-448 (the stored values are scaled to at most 448)
    // Subnormals (exponent field 0): multiples of 2^-9 below 2^-6.
    if (a < 0.015625f) {
        const int m = (int)nearbyintf(a * 512.0f);   // round half to even (default rounding mode); m == 8 is 2^-6
        return sign | (uint8_t)m;
    }
    int e;
    const float fr = frexpf(a, &e);   // a = fr * 2^e, fr in [0.5, 1)
    int m = (int)nearbyintf((fr * 2.0f - 1.0f) * 8.0f);
    int ex = e - 1 + 7;
    if (m == 8) { m = 0; ex += 1; }
    if (ex > 15 || (ex == 15 && m > 6)) return sign | 0x7e;
    return sign | (uint8_t)(ex << 3) | (uint8_t)m;
}

float folio_fp8_e4m3_to_f32(uint8_t b) {
    const int ex = (b >> 3) & 15, m = b & 7;
    float v;
    if ((b & 0x7f) == 0x7f) v = NAN;
    else if (ex == 0) v = ldexpf((float)m, -9);
    else v = ldexpf(1.0f + (float)m / 8.0f, ex - 7);
    return (b & 0x80) ? -v : v;
}

void folio_kv_store(int fmt, const float *x, int64_t heads, int64_t d, void *dst, float *scales) {
    const int64_t n = heads * d;
    switch (fmt) {
    case FOLIO_KV_F32: memcpy(dst, x, (size_t)n * 4); return;
    case FOLIO_KV_F16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = folio_fp32_to_fp16(x[i]); return;
    case FOLIO_KV_BF16: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = bf16_from_f32(x[i]); return;
    default: break;
    }
    const float qmax = fmt == FOLIO_KV_INT8 ? 127.0f : 448.0f;
    for (int64_t h = 0; h < heads; h++) {
        const float *xh = x + h * d;
        float amax = 0;
        for (int64_t i = 0; i < d; i++) amax = fmaxf(amax, fabsf(xh[i]));
        const float s = amax / qmax, inv = amax > 0 ? qmax / amax : 0;
        scales[h] = s;
        if (fmt == FOLIO_KV_INT8) {
            int8_t *q = (int8_t *)dst + h * d;
            for (int64_t i = 0; i < d; i++) q[i] = (int8_t)lrintf(fminf(fmaxf(xh[i] * inv, -127.0f), 127.0f));
        } else {
            uint8_t *q = (uint8_t *)dst + h * d;
            for (int64_t i = 0; i < d; i++) q[i] = folio_fp8_e4m3_from_f32(xh[i] * inv);
        }
    }
}

void folio_kv_load(int fmt, const void *src, float scale, int64_t n, float *out) {
    switch (fmt) {
    case FOLIO_KV_F32: memcpy(out, src, (size_t)n * 4); return;
    case FOLIO_KV_F16: for (int64_t i = 0; i < n; i++) out[i] = folio_fp16_to_fp32(((const uint16_t *)src)[i]); return;
    case FOLIO_KV_BF16: for (int64_t i = 0; i < n; i++) out[i] = folio_bf16_to_fp32(((const uint16_t *)src)[i]); return;
    case FOLIO_KV_INT8: for (int64_t i = 0; i < n; i++) out[i] = scale * (float)((const int8_t *)src)[i]; return;
    default: for (int64_t i = 0; i < n; i++) out[i] = scale * folio_fp8_e4m3_to_f32(((const uint8_t *)src)[i]); return;
    }
}
