import CFolioKernels
import Foundation

/// A pointer that may cross into the worker threads of `parallelFor` (each thread writes disjoint ranges).
public struct SharedPointer<T>: @unchecked Sendable {
    public let p: UnsafeMutablePointer<T>
    public init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

/// A weight matrix in any GGUF/safetensors encoding: `rows` rows of `cols` values, row r at `data + r * rowBytes`.
public struct MatrixRef: @unchecked Sendable {
    public let type: Int32
    public let data: UnsafeRawPointer
    public let rowBytes: Int
    public let rows: Int
    public let cols: Int
    public init(type: Int32, data: UnsafeRawPointer, rowBytes: Int, rows: Int, cols: Int) {
        self.type = type
        self.data = data
        self.rowBytes = rowBytes
        self.rows = rows
        self.cols = cols
    }
}

/// Reference float32 matmul: y[t, r] = dot(W[r], x[t]) for t < T.  x: [T, cols], y: [T, rows].
/// Rows are split over the cores; each weight row is dequantized once per call.
public func matmul(_ w: MatrixRef, _ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>,
                   threads: Int = defaultThreadCount) {
    let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ys = SharedPointer(y)
    // Chunks are multiples of 4 rows so the 4-row kernel applies to all but the last.
    let groups = (w.rows + 3) / 4
    parallelFor(groups, minChunk: 4, threads: threads) { g in
        let range = (g.lowerBound * 4)..<min(w.rows, g.upperBound * 4)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 64 * w.cols)
        defer { scratch.deallocate() }
        _ = folio_matmul_rows(w.type, w.data, Int64(w.rowBytes), Int64(w.cols), Int64(range.lowerBound), Int64(range.upperBound),
                              xs.p, Int64(w.cols), Int64(T), ys.p, Int64(w.rows), scratch)
    }
}

/// out = x / rms(x) * w over `n` values (out may alias x).
@inline(__always)
public func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ n: Int, eps: Float, _ out: UnsafeMutablePointer<Float>) {
    var ss: Float = 0
    for i in 0..<n { ss += x[i] * x[i] }
    let scale = 1 / (ss / Float(n) + eps).squareRoot()
    for i in 0..<n { out[i] = x[i] * scale * w[i] }
}

/// In-place softmax over `n` values.
@inline(__always)
public func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for i in 0..<n where x[i] > m { m = x[i] }
    var s: Float = 0
    for i in 0..<n { let e = expf(x[i] - m); x[i] = e; s += e }
    let inv = 1 / s
    for i in 0..<n { x[i] *= inv }
}

@inline(__always) public func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

/// GELU, tanh approximation (PyTorch `gelu(approximate="tanh")`, HF `gelu_pytorch_tanh`).
@inline(__always) public func geluTanh(_ x: Float) -> Float {
    0.5 * x * (1 + tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x)))
}

/// dot(a, b) over n floats (vectorized C).
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    folio_dot_f32(a, b, Int64(n))
}

/// Activation rows quantized to int8 blocks of 32 for the quantized kernels (see CFolioKernels' qmatmul.c).
/// q: [T, cols] int8; xd4, xs4: [T, cols / 4] (block scale, and scale * sum of each 4-value lane).
public final class QuantizedActivations: @unchecked Sendable {
    public let T: Int
    public let cols: Int
    let q: UnsafeMutablePointer<Int8>
    let xd4: UnsafeMutablePointer<Float>
    let xs4: UnsafeMutablePointer<Float>

    /// Quantizes x: [T, cols] (`cols` a multiple of 32), tokens split over `threads`.
    public init(_ x: UnsafePointer<Float>, T: Int, cols: Int, threads: Int = defaultThreadCount) {
        self.T = T
        self.cols = cols
        q = .allocate(capacity: T * cols)
        xd4 = .allocate(capacity: T * cols / 4)
        xs4 = .allocate(capacity: T * cols / 4)
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), qs = SharedPointer(q), ds = SharedPointer(xd4), ss = SharedPointer(xs4)
        parallelFor(T, minChunk: 16, threads: threads) { range in
            for t in range {
                folio_quantize_act(xs.p + t * cols, Int64(cols), qs.p + t * cols, ds.p + t * cols / 4, ss.p + t * cols / 4)
            }
        }
    }

    deinit { q.deallocate(); xd4.deallocate(); xs4.deallocate() }
}

/// Whether `w` runs on the quantized int8 kernels on this CPU (GGUF Q4_0/Q4_1/Q8_0/Q4_K/Q5_K/Q6_K with AVX-512 VNNI
/// or AVX2; elsewhere the float32 matmul is faster than the scalar int8 definition).
public func hasQuantizedKernel(_ w: MatrixRef) -> Bool {
    folio_qmatmul_isa() != Int32(FOLIO_ISA_SCALAR) && folio_qmatmul_supported(w.type, Int64(w.cols)) != 0
}

/// y[t, r] = dot(W[r], x[t]) with x quantized (the fast path). Rows are split over `threads` in groups of 4.
public func qmatmul(_ w: MatrixRef, _ x: QuantizedActivations, _ y: UnsafeMutablePointer<Float>, threads: Int = defaultThreadCount) {
    precondition(x.cols == w.cols, "activation width \(x.cols) != weight columns \(w.cols)")
    let ys = SharedPointer(y), q = SharedPointer(x.q), d = SharedPointer(x.xd4), s = SharedPointer(x.xs4)
    let groups = (w.rows + 3) / 4, T = x.T
    parallelFor(groups, minChunk: 4, threads: threads) { g in
        let range = (g.lowerBound * 4)..<min(w.rows, g.upperBound * 4)
        _ = folio_qmatmul_rows(w.type, w.data, Int64(w.rowBytes), Int64(w.cols), Int64(range.lowerBound), Int64(range.upperBound),
                               q.p, d.p, s.p, Int64(T), ys.p, Int64(w.rows))
    }
}
