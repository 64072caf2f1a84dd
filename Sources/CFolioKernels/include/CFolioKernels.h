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
    FOLIO_GGML_Q6_K = 14, FOLIO_GGML_Q8_K = 15, FOLIO_GGML_IQ4_NL = 20, FOLIO_GGML_IQ4_XS = 23, FOLIO_GGML_MXFP4 = 39,
    FOLIO_GGML_I8 = 24, FOLIO_GGML_I16 = 25,
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

/// Quantizes `n` float32 values (a multiple of 32) to Q8_0 or Q4_0 blocks as ggml's reference quantizers do.
/// Returns -1 for another type or a partial block.
int folio_quantize(int type, const float *src, void *dst, int64_t n);

/// SHA-256 of `n` bytes at `data` into `out` (FIPS 180-4).
void folio_sha256(const void *data, size_t n, uint8_t out[32]);

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

/// f32 -> f16 (round to nearest even).
void folio_f32_to_f16(const float *x, uint16_t *y, int64_t n);

// ---- quantized matmul (qmatmul.c) ----
// Activations are quantized per token row to int8 blocks of 32: q[cols], and per 4-element lane xd4[cols/4] (the
// block's scale) and xs4[cols/4] (scale * sum of the lane's 4 values). Weights stay in their GGUF blocks.

/// 1 if `type` (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL with `cols` a multiple of 64; Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
/// IQ4_XS with `cols` a multiple of 256) has a quantized kernel.
int folio_qmatmul_supported(int type, int64_t cols);
/// 1 if this CPU runs the AVX-512 VNNI kernels (else the scalar reference runs).
int folio_have_vnni(void);
/// Quantizes one row of `cols` (a multiple of 32) activations.
void folio_quantize_act(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4);
/// The scalar definition of folio_quantize_act.
void folio_quantize_act_ref(const float *x, int64_t cols, int8_t *q, float *xd4, float *xs4);
/// Y[t, r] = dot(W[r], X[t]) for rows [row_begin, row_end) and T quantized activation rows (q: [T, cols],
/// xd4/xs4: [T, cols/4]); Y row stride ldy. Returns -1 for an unsupported type or shape.
int folio_qmatmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                       const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy);
/// Instruction sets of the quantized kernels; folio_qmatmul_isa() is the best this CPU runs (what
/// folio_qmatmul_rows uses).
enum { FOLIO_ISA_SCALAR = 0, FOLIO_ISA_AVX2 = 1, FOLIO_ISA_AVX512_VNNI = 2, FOLIO_ISA_AVX512 = 3 };
int folio_qmatmul_isa(void);
/// The instruction set folio_qmatmul_rows runs `type` on: the best one with a decoder for it (AVX-512 CPUs run the
/// AVX2 kernels of the formats that have no AVX-512 VNNI decoder).
int folio_qmatmul_type_isa(int type);
/// folio_qmatmul_rows on a given instruction set; -1 if this CPU lacks it (for tests and benchmarks).
int folio_qmatmul_rows_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy);
/// The scalar reference of folio_qmatmul_rows (same formula, element by element).
int folio_qmatmul_rows_ref(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd4, const float *xs4, int64_t T, float *y, int64_t ldy);

// ---- super-block kernels (kquant.c) ----
// For the 256-element formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS): activations quantized per super-block to q[cols],
// xd[cols/256] (the super-block's scale) and bs[cols/16] (the sum of each 16 values), dot products summed as integers
// over a super-block (see kquant.c).

/// 1 if `type` is one of the formats above and `cols` a multiple of 256.
int folio_kmatmul_supported(int type, int64_t cols);
/// The instruction set folio_kmatmul_rows runs `type` on here: FOLIO_ISA_AVX2, or FOLIO_ISA_SCALAR where the fast path
/// should not use these kernels (no AVX2, or an AVX-512 VNNI decoder for the type in qmatmul.c).
int folio_kmatmul_isa(int type);
/// Quantizes one row of `cols` (a multiple of 256) activations.
void folio_quantize_act_k(const float *x, int64_t cols, int8_t *q, float *xd, int16_t *bs);
/// The scalar definition of folio_quantize_act_k.
void folio_quantize_act_k_ref(const float *x, int64_t cols, int8_t *q, float *xd, int16_t *bs);
/// Y[t, r] = dot(W[r], X[t]) for rows [row_begin, row_end) and T activation rows (q: [T, cols], xd: [T, cols/256],
/// bs: [T, cols/16]); Y row stride ldy. Returns -1 for an unsupported type or shape.
int folio_kmatmul_rows(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                       const int8_t *q, const float *xd, const int16_t *bs, int64_t T, float *y, int64_t ldy);
/// folio_kmatmul_rows on a given instruction set (FOLIO_ISA_SCALAR is the reference); -1 if this CPU lacks it.
int folio_kmatmul_rows_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t row_begin, int64_t row_end,
                           const int8_t *q, const float *xd, const int16_t *bs, int64_t T, float *y, int64_t ldy);

// ---- packed weights (packed.c) ----
// A matrix repacked once at load into panels of 16 rows interleaved by column (see packed.c), for Q4_0, Q4_1, Q8_0
// and F32/F16/BF16 weights. Its type id is FOLIO_PACKED | the source type; it takes the same bytes as the source
// (panel p = rows 16p..16p+15 at p * 16 * row_bytes), so row counts and byte sizes carry over.
enum { FOLIO_PACKED = 0x1000 };
/// 1 if a `type` matrix of rows x cols can be packed and this CPU runs the packed kernels (AVX-512 VNNI).
int folio_pack_supported(int type, int64_t rows, int64_t cols);
/// Packs panels [panel_begin, panel_end) of the source matrix (row r at src + r * row_bytes) into dst (the whole
/// packed matrix). Returns -1 for an unsupported type.
int folio_pack(int type, const void *src, int64_t row_bytes, int64_t cols, int64_t panel_begin, int64_t panel_end, void *dst);
/// 1 for a packed Q4_0/Q4_1/Q8_0 type (its kernel takes quantized activations), 0 otherwise.
int folio_packed_takes_int8(int type);
/// Row r of a packed matrix as float32 (the source type's dequantizer). Returns -1 for an unsupported type.
int folio_packed_row(int type, const void *packed, int64_t row_bytes, int64_t cols, int64_t r, float *dst);
/// Per 32-block activation sums for the packed quantized kernels: xsb[b] = block scale * sum of its int8 values.
void folio_act_block_sums(const int8_t *q, const float *xd4, int64_t cols, float *xsb);
/// Y[t, r] for the rows of panels [panel_begin, panel_end) of a packed matrix and T tokens: quantized activations
/// (q, xd4, xsb; x unused) for Q4_0/Q4_1/Q8_0, float32 rows x (row stride ldx; q unused) for F32/F16/BF16.
/// Returns -1 for an unsupported type or CPU.
int folio_pmatmul(int type, const void *w, int64_t row_bytes, int64_t cols, int64_t panel_begin, int64_t panel_end,
                  const int8_t *q, const float *xd4, const float *xsb, const float *x, int64_t ldx, int64_t T, float *y, int64_t ldy);
/// folio_pmatmul on FOLIO_ISA_AVX512_VNNI or FOLIO_ISA_SCALAR (the definition; bit-identical results).
int folio_pmatmul_isa(int isa, int type, const void *w, int64_t row_bytes, int64_t cols, int64_t panel_begin, int64_t panel_end,
                      const int8_t *q, const float *xd4, const float *xsb, const float *x, int64_t ldx, int64_t T,
                      float *y, int64_t ldy);

// ---- KV cache formats (kvformat.c) ----
enum { FOLIO_KV_F32 = 0, FOLIO_KV_F16 = 1, FOLIO_KV_BF16 = 2, FOLIO_KV_INT8 = 3, FOLIO_KV_FP8 = 4 };
/// Bytes per element of a KV format.
int64_t folio_kv_elem_size(int fmt);
/// Stores one token's K or V row, heads x d floats, at dst in format fmt (16-bit formats round to nearest even).
/// int8 / fp8 (e4m3) also write one scale per head to scales[h]: amax / 127 or amax / 448.
void folio_kv_store(int fmt, const float *x, int64_t heads, int64_t d, void *dst, float *scales);
/// Reads n stored elements back as float32 (times scale for int8 / fp8).
void folio_kv_load(int fmt, const void *src, float scale, int64_t n, float *out);
/// float8 e4m3 ("fn": no infinities, +-448 at most, 0x7f NaN): round to nearest even, saturating.
uint8_t folio_fp8_e4m3_from_f32(float x);
float folio_fp8_e4m3_to_f32(uint8_t b);

// ---- attention (attention.c) ----
/// One KV head of one layer of the paged cache: the element of position slot, dimension i is at
/// k + (slot * stride + i) * elem_size (k already offset to the head); int8 / fp8 scales at ks[slot * scale_stride].
typedef struct {
    const void *k, *v;
    const float *ks, *vs;   // NULL for the float formats
    int fmt;
    int64_t stride, scale_stride;
} folio_kv_head;

/// Keys per chunk: partial softmaxes are merged at these fixed positions.
#define FOLIO_ATT_CHUNK 256
/// Floats of scratch folio_attend_rows needs for R rows of head dimension d.
int64_t folio_attend_scratch_floats(int64_t R, int64_t d);
/// An empty partial state: O [R, d] = 0, M = -inf, L = 0.
void folio_attend_init(int64_t R, int64_t d, float *O, float *M, float *L);
/// Attention of R query rows q [R, d] sharing one KV head: row r attends to positions [lo[r], hi[r]) of a sequence
/// whose position j is at cache slot slots[j]; only the keys of chunks [chunk_begin, chunk_end) (positions
/// chunk * FOLIO_ATT_CHUNK ...) are taken, merged into the partial state (O, M, L) in order.
void folio_attend_rows(const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                       const int32_t *lo, const int32_t *hi, int64_t chunk_begin, int64_t chunk_end, float scale,
                       float softcap, float *O, float *M, float *L, float *scratch);
/// folio_attend_rows on FOLIO_ISA_AVX2 or FOLIO_ISA_SCALAR; -1 if this CPU (or d) cannot.
int folio_attend_rows_isa(int isa, const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                          const int32_t *lo, const int32_t *hi, int64_t chunk_begin, int64_t chunk_end, float scale,
                          float softcap, float *O, float *M, float *L, float *scratch);
/// The instruction set folio_attend_rows uses here.
int folio_attend_isa(void);
/// Merges a later chunk's partial state (o, m, l) into (O, M, L).
void folio_attend_merge(int64_t R, int64_t d, float *O, float *M, float *L, const float *o, const float *m, const float *l);
/// out = O / L (0 for a row with no keys).
void folio_attend_finish(int64_t R, int64_t d, const float *O, const float *L, float *out);
/// Attention sinks (GPT-OSS): row r's softmax denominator also counts exp(sinks[r]), a logit without a value:
/// L[r] += exp(sinks[r] - M[r]), before folio_attend_finish.
void folio_attend_sinks(int64_t R, const float *M, float *L, const float *sinks);
/// The definition: per row, one softmax over its keys in float32 (scaled, optionally tanh soft-capped at softcap;
/// sinks: NULL, or one sink logit per row).
void folio_attend_ref(const float *q, int64_t R, int64_t d, const folio_kv_head *kv, const int32_t *slots,
                      const int32_t *lo, const int32_t *hi, float scale, float softcap, const float *sinks, float *out);

// ---- activations (activations.c) ----
/// g[i] = silu(g[i]) * u[i] (vectorized exp: relative difference from the libm definition up to ~5e-6).
void folio_silu_mul(float *g, const float *u, int64_t n);
/// The scalar definition of folio_silu_mul (libm expf).
void folio_silu_mul_ref(float *g, const float *u, int64_t n);
/// g[i] = gelu_tanh(g[i]) * u[i] (PyTorch's gelu(approximate="tanh")) over n floats, vectorized where the CPU allows.
void folio_gelu_tanh_mul(float *g, const float *u, int64_t n);
/// The scalar definition of folio_gelu_tanh_mul (libm tanhf).
void folio_gelu_tanh_mul_ref(float *g, const float *u, int64_t n);
/// Activations after a bias (encoder layers).
enum { FOLIO_ACT_NONE = 0, FOLIO_ACT_GELU = 1, FOLIO_ACT_GELU_TANH = 2, FOLIO_ACT_RELU = 3 };
/// y[r, i] = act(y[r, i] + b[i]) over rows x n floats (b may be NULL), vectorized where the CPU allows (gelu's erf by
/// a polynomial with absolute error <= 1.5e-7; gelu_tanh as folio_gelu_tanh_mul).
void folio_bias_act(float *y, const float *b, int64_t rows, int64_t n, int act);
/// The scalar definition of folio_bias_act (libm erff / tanhf).
void folio_bias_act_ref(float *y, const float *b, int64_t rows, int64_t n, int act);

// ---- LoRA (lora.c) ----
/// One adapter's tokens in a batch for one projection: y[rows[i]] += Bt^T (A x[rows[i]]).
typedef struct {
    const int32_t *rows;  // [n] token rows of the batch
    int64_t n;
    const void *a;        // [r, in] lora_A (float32, or float16 when f16)
    const void *bt;       // [r, out] lora_B transposed, scale folded in (same type)
    int64_t r;
    float *t;             // [n, r] scratch: the shrunk rows
} folio_lora_group;
/// Adds every group's low-rank update to its rows of y [*, out] (stride ldy) from x [*, in] (stride ldx): a shrink
/// phase over all groups, then an expand phase, each spread over `threads`. Weights float32, or float16 if f16.
void folio_lora_apply(const float *x, int64_t ldx, int64_t in, float *y, int64_t ldy, int64_t out,
                      const folio_lora_group *groups, int64_t ngroups, int f16, int threads);
/// folio_lora_apply on FOLIO_ISA_SCALAR (the definition), FOLIO_ISA_AVX2 or FOLIO_ISA_AVX512; -1 if this CPU lacks it.
int folio_lora_apply_isa(int isa, const float *x, int64_t ldx, int64_t in, float *y, int64_t ldy, int64_t out,
                         const folio_lora_group *groups, int64_t ngroups, int f16, int threads);
/// The instruction set folio_lora_apply uses here.
int folio_lora_isa(void);

// ---- thread pool (pool.c) ----
typedef void (*folio_task_fn)(void *ctx, int64_t index);
/// Runs fn(ctx, i) for i in 0..<ntasks on up to `threads` threads (the caller and the pool's workers; tasks handed
/// out dynamically). Serial when threads <= 1, when nested in a task, or while another job holds the pool.
void folio_parallel(int64_t ntasks, int threads, folio_task_fn fn, void *ctx);
/// Threads the pool can run on (the caller plus its workers: one per core this process may run on).
int folio_pool_threads(void);

// ---- CPU affinity (affinity.c) ----
/// The CPUs the calling thread may run on: writes up to `capacity` CPU numbers to `cpus` (may be NULL) and returns
/// how many there are (negative errno on failure).
int folio_allowed_cpus(int *cpus, int capacity);
/// Pins every thread of this process (and so every thread started later) to `cpus`; 0 or a negative errno.
int folio_bind_cpus(const int *cpus, int n);
/// SIGTERM to this process when the process `parent` (the one that started it) exits; 0 or a negative errno.
int folio_exit_with_parent(int parent);

// ---- MPI for tensor parallelism (mpi.c: Open MPI loaded at run time) ----
/// MPI_Init_thread (serialized) and this process's rank and the world's size; 0, or negative (folio_mpi_error says why).
int folio_mpi_init(int *rank, int *size);
const char *folio_mpi_error(void);
/// In-place sum of n floats over every rank (MPI_Allreduce); 0 or -1.
int folio_mpi_allreduce_sum(float *buf, int64_t n);
/// Root's `bytes` bytes to every rank (MPI_Bcast); 0 or -1.
int folio_mpi_bcast(void *buf, int64_t bytes, int root);
/// Each rank's `count` floats to root, rank i's at recv + displs[i] (MPI_Gatherv); 0 or -1.
int folio_mpi_gatherv(const float *send, int count, float *recv, const int *counts, const int *displs, int root);
/// `bytes` bytes to rank `dest` / from rank `source` (MPI_Send / MPI_Recv, tag 0); 0 or -1.
int folio_mpi_send(const void *buf, int64_t bytes, int dest);
int folio_mpi_recv(void *buf, int64_t bytes, int source);
/// Starts sending `bytes` (at most 2^30) to `dest` (MPI_Isend, tag 0): *request until folio_mpi_wait; 0 or -1. The
/// buffer must stay unchanged until then.
int folio_mpi_isend(const void *buf, int64_t bytes, int dest, void **request);
/// Starts receiving `bytes` (at most 2^30) from `source` into buf (MPI_Irecv, tag 0), done at folio_mpi_wait.
int folio_mpi_irecv(void *buf, int64_t bytes, int source, void **request);
int folio_mpi_wait(void **request);
void folio_mpi_abort(int code);
int folio_mpi_finalize(void);

// ---- Noticing a dead rank (rank_watch.c: one TCP connection from each worker to rank 0) ----
/// Rank 0: a listening socket on every interface, its port in *port; the fd or -1.
int folio_watch_listen(int *port);
/// This host's IPv4 addresses, comma-separated, loopback last.
int folio_host_addresses(char *buf, int cap);
/// Rank 0: accepts the workers (ranks 1..size-1) presenting `token` within timeout_ms; fds[rank] (-1 for rank 0 and
/// any that did not come); closes lfd; how many came.
int folio_watch_accept(int lfd, uint64_t token, int size, int timeout_ms, int *fds);
/// A worker: connects to rank 0 at the first of `addresses` (comma-separated) that answers with the token's
/// handshake; the fd to keep open for life, or -1.
int folio_watch_connect(const char *addresses, int port, uint64_t token, int rank, int timeout_ms);
/// Blocks until one of the n fds (negative ones skipped) closes; its index, or -1.
int folio_watch_wait(const int *fds, int n);

#ifdef __cplusplus
}
#endif
#endif
