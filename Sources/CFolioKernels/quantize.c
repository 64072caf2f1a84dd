// Load-time weight quantization to Q8_0 and Q4_0 (for float checkpoints run with --quantization), following ggml's
// reference quantizers (quantize_row_q8_0_ref, quantize_row_q4_0_ref) so the blocks match gguf-py's byte for byte.
#include "CFolioKernels.h"
#include "blocks.h"
#include <math.h>

static void quantize_q8_0(const float *x, block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[i * QK8_0 + j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[i].d = folio_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[i * QK8_0 + j] * id);
    }
}

static void quantize_q4_0(const float *x, block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign
        for (int j = 0; j < QK4_0; j++) {
            const float v = x[i * QK4_0 + j];
            if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
        }
        const float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = folio_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const float x0 = x[i * QK4_0 + j] * id, x1 = x[i * QK4_0 + QK4_0 / 2 + j] * id;
            int8_t q0 = (int8_t)(x0 + 8.5f), q1 = (int8_t)(x1 + 8.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

int folio_quantize(int type, const float *src, void *dst, int64_t n) {
    if (n % 32 != 0) return -1;
    switch (type) {
    case FOLIO_GGML_Q8_0: quantize_q8_0(src, dst, n / QK8_0); return 0;
    case FOLIO_GGML_Q4_0: quantize_q4_0(src, dst, n / QK4_0); return 0;
    default: return -1;
    }
}
