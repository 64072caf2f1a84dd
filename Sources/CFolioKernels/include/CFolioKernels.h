// Folio C kernels: GGUF block-format dequantizers and the float32 reference matmul.
// Each function has a plain scalar definition; faster variants live beside them with runtime dispatch.
#ifndef CFOLIO_KERNELS_H
#define CFOLIO_KERNELS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ggml tensor type ids, as stored in GGUF tensor infos.
enum folio_ggml_type {
    FOLIO_GGML_F32 = 0, FOLIO_GGML_F16 = 1, FOLIO_GGML_Q4_0 = 2, FOLIO_GGML_Q4_1 = 3,
    FOLIO_GGML_Q5_0 = 6, FOLIO_GGML_Q5_1 = 7, FOLIO_GGML_Q8_0 = 8, FOLIO_GGML_Q8_1 = 9,
    FOLIO_GGML_Q2_K = 10, FOLIO_GGML_Q3_K = 11, FOLIO_GGML_Q4_K = 12, FOLIO_GGML_Q5_K = 13,
    FOLIO_GGML_Q6_K = 14, FOLIO_GGML_Q8_K = 15, FOLIO_GGML_I8 = 24, FOLIO_GGML_I16 = 25,
    FOLIO_GGML_I32 = 26, FOLIO_GGML_I64 = 27, FOLIO_GGML_F64 = 28, FOLIO_GGML_BF16 = 30,
};

/// Elements per block for a supported type (1 for plain types), or 0 if the type is not supported.
int64_t folio_type_block_elements(int type);
/// Bytes per block for a supported type, or 0 if the type is not supported.
int64_t folio_type_block_bytes(int type);

float folio_fp16_to_fp32(uint16_t h);
uint16_t folio_fp32_to_fp16(float f);
float folio_bf16_to_fp32(uint16_t h);

/// Dequantizes `n` elements (a multiple of the block size) of `type` at `src` into `dst`.
/// Returns 0 on success, -1 for an unsupported type or a partial block.
int folio_dequantize(int type, const void *src, float *dst, int64_t n);

/// dot(a, b) over n float32 values.
float folio_dot_f32(const float *a, const float *b, int64_t n);

/// Reference matmul over rows [row_begin, row_end) of a weight matrix stored in `type`:
///   W: [rows, cols] (row r starts at w + r * row_bytes), X: [T, cols] (row stride ldx),
///   Y: [T, rows] (row stride ldy); Y[t, r] = dot(dequant(W[r]), X[t]).
/// Rows are dequantized 64 at a time into `scratch` and reused for every t, in blocks of 64 tokens, with a 4x4
/// register-blocked kernel where AVX-512 is available. `scratch` holds at least 64 * `cols` floats.
/// Returns -1 on an unsupported type.
int folio_matmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols,
                      int64_t row_begin, int64_t row_end,
                      const float *x, int64_t ldx, int64_t T,
                      float *y, int64_t ldy, float *scratch);

/// float16 KV cache: dot(a, f16 b), y += alpha * f16 x, and f32 -> f16 (round to nearest even).
float folio_dot_f32_f16(const float *a, const uint16_t *b, int64_t n);
void folio_axpy_f16(float alpha, const uint16_t *x, float *y, int64_t n);
void folio_f32_to_f16(const float *x, uint16_t *y, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
