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
public func matmul(_ w: MatrixRef, _ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>) {
    let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ys = SharedPointer(y)
    // Chunks are multiples of 4 rows so the 4-row kernel applies to all but the last.
    let groups = (w.rows + 3) / 4
    parallelFor(groups, minChunk: 4) { g in
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
