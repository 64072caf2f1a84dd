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

/// out = (x - mean) / sqrt(var + eps) * w + b over `n` values (LayerNorm; out may alias x).
@inline(__always)
public func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, eps: Float,
                      _ out: UnsafeMutablePointer<Float>) {
    var mean: Float = 0
    for i in 0..<n { mean += x[i] }
    mean /= Float(n)
    var v: Float = 0
    for i in 0..<n { let d = x[i] - mean; v += d * d }
    let scale = 1 / (v / Float(n) + eps).squareRoot()
    for i in 0..<n { out[i] = (x[i] - mean) * scale * w[i] + b[i] }
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

/// GELU with the exact error function (PyTorch `gelu`, HF `gelu`).
@inline(__always) public func geluErf(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.7071067811865476)) }

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
/// q: [T, cols] int8; xd4, xs4: [T, cols / 4] (block scale, and scale * sum of each 4-value lane); xsb: [T, cols / 32]
/// (scale * sum of each block, for the packed kernels; only when `blockSums`). With `superBlocks`, also quantized per
/// 256-element super-block for the K-quant kernels (kquant.c): kq [T, cols], kd [T, cols / 256], kbs [T, cols / 16].
public final class QuantizedActivations: @unchecked Sendable {
    public let T: Int
    public let cols: Int
    let q: UnsafeMutablePointer<Int8>
    let xd4: UnsafeMutablePointer<Float>
    let xs4: UnsafeMutablePointer<Float>
    let xsb: UnsafeMutablePointer<Float>?
    let k: (q: UnsafeMutablePointer<Int8>, d: UnsafeMutablePointer<Float>, bs: UnsafeMutablePointer<Int16>)?

    /// Quantizes x: [T, cols] (`cols` a multiple of 32), tokens split over `threads`.
    /// `blockSums`: also the per-block sums the packed kernels take (pass whether a packed matrix will use these).
    /// `superBlocks`: also the super-block quantization (pass whether a matrix with `usesSuperBlocks` will use these).
    public init(_ x: UnsafePointer<Float>, T: Int, cols: Int, blockSums: Bool = false, superBlocks: Bool = false,
                threads: Int = defaultThreadCount) {
        self.T = T
        self.cols = cols
        q = .allocate(capacity: T * cols)
        xd4 = .allocate(capacity: T * cols / 4)
        xs4 = .allocate(capacity: T * cols / 4)
        xsb = blockSums ? .allocate(capacity: T * cols / 32) : nil
        k = superBlocks && cols % 256 == 0
            ? (UnsafeMutablePointer<Int8>.allocate(capacity: T * cols), UnsafeMutablePointer<Float>.allocate(capacity: T * cols / 256),
               UnsafeMutablePointer<Int16>.allocate(capacity: T * cols / 16))
            : nil
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), qs = SharedPointer(q), ds = SharedPointer(xd4), ss = SharedPointer(xs4),
            bs = xsb.map(SharedPointer.init)
        let kq = k.map { SharedPointer($0.q) }, kd = k.map { SharedPointer($0.d) }, kb = k.map { SharedPointer($0.bs) }
        parallelFor(T, minChunk: 16, threads: threads) { range in
            for t in range {
                folio_quantize_act(xs.p + t * cols, Int64(cols), qs.p + t * cols, ds.p + t * cols / 4, ss.p + t * cols / 4)
                if let bs { folio_act_block_sums(qs.p + t * cols, ds.p + t * cols / 4, Int64(cols), bs.p + t * cols / 32) }
                if let kq, let kd, let kb {
                    folio_quantize_act_k(xs.p + t * cols, Int64(cols), kq.p + t * cols, kd.p + t * cols / 256, kb.p + t * cols / 16)
                }
            }
        }
    }

    deinit {
        q.deallocate(); xd4.deallocate(); xs4.deallocate(); xsb?.deallocate()
        if let k { k.q.deallocate(); k.d.deallocate(); k.bs.deallocate() }
    }
}

/// Whether `w` runs on the super-block kernels on this CPU (K-quant types with AVX2; kquant.c): its activations must
/// be quantized with `superBlocks`.
public func usesSuperBlocks(_ w: MatrixRef) -> Bool {
    !w.isPacked && folio_kmatmul_isa(w.type) != Int32(FOLIO_ISA_SCALAR) && folio_kmatmul_supported(w.type, Int64(w.cols)) != 0
}

/// Rows [r0, r1) of an in-place quantized matrix on the kernel this CPU runs it on (the super-block kernels when the
/// activations carry super-blocks and the type has one; the 32-block kernels otherwise).
@inline(__always)
func qmatmulRows(_ w: MatrixRef, _ x: QuantizedActivations, _ r0: Int, _ r1: Int, _ y: UnsafeMutablePointer<Float>) {
    if let k = x.k, usesSuperBlocks(w) {
        _ = folio_kmatmul_rows(w.type, w.data, Int64(w.rowBytes), Int64(w.cols), Int64(r0), Int64(r1), k.q, k.d, k.bs, Int64(x.T), y,
                               Int64(w.rows))
    } else {
        _ = folio_qmatmul_rows(w.type, w.data, Int64(w.rowBytes), Int64(w.cols), Int64(r0), Int64(r1), x.q, x.xd4, x.xs4, Int64(x.T), y,
                               Int64(w.rows))
    }
}

/// Whether `w` runs on the quantized int8 kernels on this CPU (the GGUF types of `folio_qmatmul_supported` with AVX-512
/// VNNI or AVX2; elsewhere the float32 matmul is faster than the scalar int8 definition).
/// Packed Q4_0/Q4_1/Q8_0 matrices (see `WeightTensor.packed`) take the same activations.
public func hasQuantizedKernel(_ w: MatrixRef) -> Bool {
    if w.isPacked { return folio_packed_takes_int8(w.type) != 0 }
    return folio_qmatmul_isa() != Int32(FOLIO_ISA_SCALAR) && folio_qmatmul_supported(w.type, Int64(w.cols)) != 0
}

extension MatrixRef {
    /// A matrix in 16-row panels (CFolioKernels' packed.c).
    public var isPacked: Bool { type & Int32(FOLIO_PACKED) != 0 }

    /// The kernel the fast path runs this matrix on, on this CPU: "packed-int8-avx512-vnni", "packed-float-avx512",
    /// "int8-avx512-vnni", "int8-superblock-avx2" (K-quants), "int8-avx2", or "float32" (the reference matmul, which dequantizes every weight row on
    /// every call: the slow fallback of a type or shape without a fast kernel here).
    public var kernel: String {
        if isPacked { return folio_packed_takes_int8(type) != 0 ? "packed-int8-avx512-vnni" : "packed-float-avx512" }
        guard hasQuantizedKernel(self) else { return "float32" }
        if usesSuperBlocks(self) { return "int8-superblock-avx2" }
        return folio_qmatmul_type_isa(type) == Int32(FOLIO_ISA_AVX512_VNNI) ? "int8-avx512-vnni" : "int8-avx2"
    }
}

/// Splits the panels of a packed matrix over `threads` in groups of 4 (the single-token tile) and runs
/// `body(firstPanel, endPanel)` on each.
func forPanels(_ w: MatrixRef, threads: Int, _ body: @escaping @Sendable (Int, Int) -> Void) {
    let panels = w.rows / 16
    parallelFor((panels + 3) / 4, minChunk: 1, threads: threads) { g in body(g.lowerBound * 4, min(panels, g.upperBound * 4)) }
}

/// y[t, r] = dot(W[r], x[t]) for a packed float (F32/F16/BF16) matrix: x float32 [T, cols].
public func packedMatmul(_ w: MatrixRef, _ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>,
                         threads: Int = defaultThreadCount) {
    let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), ys = SharedPointer(y)
    forPanels(w, threads: threads) { p0, p1 in
        _ = folio_pmatmul(w.type, w.data, Int64(w.rowBytes), Int64(w.cols), Int64(p0), Int64(p1), nil, nil, nil,
                          xs.p, Int64(w.cols), Int64(T), ys.p, Int64(w.rows))
    }
}

/// ys[i][t, r] = dot(Ws[i][r], x[t]) for in-place (not packed) quantized matrices that share the input x: one
/// dispatch over all their rows (q/k/v, gate/up), so the threads meet once instead of once per matrix. Each
/// output row takes the same kernel calls as `qmatmul` would give it (4-row groups within each matrix).
public func qmatmul(_ ws: [MatrixRef], _ x: QuantizedActivations, _ ys: [UnsafeMutablePointer<Float>], threads: Int = defaultThreadCount) {
    precondition(ws.count == ys.count && ws.allSatisfy { !$0.isPacked && $0.cols == x.cols })
    var starts = [0]   // first 4-row group of each matrix in the joint index space
    for w in ws { starts.append(starts.last! + (w.rows + 3) / 4) }
    let outs = ys.map(SharedPointer.init)
    let bounds = starts
    parallelFor(bounds.last!, minChunk: 4, threads: threads) { g in
        var i = bounds.lastIndex { $0 <= g.lowerBound }!
        var lo = g.lowerBound
        while lo < g.upperBound {
            let w = ws[i], hi = min(g.upperBound, bounds[i + 1])
            let r0 = (lo - bounds[i]) * 4, r1 = min(w.rows, (hi - bounds[i]) * 4)
            qmatmulRows(w, x, r0, r1, outs[i].p)
            lo = hi
            i += 1
        }
    }
}

/// y[t, r] = dot(W[r], x[t]) with x quantized (the fast path). Rows are split over `threads` in groups of 4.
public func qmatmul(_ w: MatrixRef, _ x: QuantizedActivations, _ y: UnsafeMutablePointer<Float>, threads: Int = defaultThreadCount) {
    precondition(x.cols == w.cols, "activation width \(x.cols) != weight columns \(w.cols)")
    let ys = SharedPointer(y), q = SharedPointer(x.q), d = SharedPointer(x.xd4)
    let T = x.T
    if w.isPacked {
        guard let xsb = x.xsb else { preconditionFailure("packed matrix with activations quantized without blockSums") }
        let b = SharedPointer(xsb)
        forPanels(w, threads: threads) { p0, p1 in
            _ = folio_pmatmul(w.type, w.data, Int64(w.rowBytes), Int64(w.cols), Int64(p0), Int64(p1), q.p, d.p, b.p,
                              nil, 0, Int64(T), ys.p, Int64(w.rows))
        }
        return
    }
    let groups = (w.rows + 3) / 4
    parallelFor(groups, minChunk: 4, threads: threads) { g in
        qmatmulRows(w, x, g.lowerBound * 4, min(w.rows, g.upperBound * 4), ys.p)
    }
}
