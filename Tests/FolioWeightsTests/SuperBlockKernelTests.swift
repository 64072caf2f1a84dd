import CFolioKernels
import FolioKernels
import Foundation
import Testing

/// The super-block kernels (kquant.c): K-quant and IQ4_XS weights against activations quantized per 256 elements.
@Suite("Super-block int8 kernels (K-quants)")
struct SuperBlockKernelTests {
    static let types: [(Int32, String)] = [
        (Int32(FOLIO_GGML_Q2_K.rawValue), "Q2_K"), (Int32(FOLIO_GGML_Q3_K.rawValue), "Q3_K"), (Int32(FOLIO_GGML_Q4_K.rawValue), "Q4_K"),
        (Int32(FOLIO_GGML_Q5_K.rawValue), "Q5_K"), (Int32(FOLIO_GGML_Q6_K.rawValue), "Q6_K"), (Int32(FOLIO_GGML_IQ4_XS.rawValue), "IQ4_XS"),
    ]
    static let avx2 = folio_qmatmul_isa() != Int32(FOLIO_ISA_SCALAR)  // AVX2, or AVX-512 (which has AVX2)

    /// x: [T, cols] quantized per super-block with the scalar definition (and, when `fast`, the vectorized one).
    static func quantize(_ x: [Float], T: Int, cols: Int, fast: Bool) -> (q: [Int8], d: [Float], bs: [Int16]) {
        var q = [Int8](repeating: 0, count: T * cols), d = [Float](repeating: 0, count: T * cols / 256)
        var bs = [Int16](repeating: 0, count: T * cols / 16)
        x.withUnsafeBufferPointer { xp in
            for t in 0..<T {
                let f = fast ? folio_quantize_act_k : folio_quantize_act_k_ref
                f(xp.baseAddress! + t * cols, Int64(cols), &q[t * cols], &d[t * cols / 256], &bs[t * cols / 16])
            }
        }
        return (q, d, bs)
    }

    @Test("activations: the AVX2 quantization equals its scalar definition; block sums are the sums of the values")
    func activations() {
        var rng = KernelRNG(s: 77)
        let T = 3, cols = 768
        var x = (0..<(T * cols)).map { _ in rng.float(-3, 3) }
        for i in 0..<32 { x[i] = 0 }          // a zero run and an outlier: scales are per super-block
        x[300] = 40
        let ref = Self.quantize(x, T: T, cols: cols, fast: false), fast = Self.quantize(x, T: T, cols: cols, fast: true)
        #expect(ref.q == fast.q && ref.d == fast.d && ref.bs == fast.bs, "vectorized super-block quantization differs from its definition")
        for g in 0..<(T * cols / 16) {
            #expect(Int(ref.bs[g]) == (0..<16).reduce(0) { $0 + Int(ref.q[16 * g + $1]) }, "group \(g)")
        }
        #expect(ref.d[1] == 40 / 127 && ref.q[300] == 127)
        #expect(ref.q.allSatisfy { $0 != -128 })  // the AVX2 kernel flips signs of q (IQ4_XS): -128 would wrap
    }

    @Test("scalar reference vs float64 dot of the dequantized rows (within 2e-6 of the largest |y|)", arguments: [256, 1536])
    func referenceMatchesDequantized(cols: Int) {
        var rng = KernelRNG(s: UInt64(cols) + 1)
        let rows = 12, T = 3
        let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
        let a = Self.quantize(x, T: T, cols: cols, fast: false)
        for (type, name) in Self.types {
            #expect(folio_kmatmul_supported(type, Int64(cols)) == 1)
            let (w, rb) = randomRows(type: type, rows: rows, cols: cols, rng: &rng)
            var ref = [Float](repeating: 0, count: T * rows)
            #expect(folio_kmatmul_rows_isa(Int32(FOLIO_ISA_SCALAR), type, w, Int64(rb), Int64(cols), 0, Int64(rows), a.q, a.d, a.bs, Int64(T),
                                           &ref, Int64(rows)) == 0)
            var maxErr = 0.0, scale = 0.0
            var row = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                _ = w.withUnsafeBytes { folio_dequantize(type, $0.baseAddress! + r * rb, &row, Int64(cols)) }
                for t in 0..<T {
                    var exact = 0.0
                    for i in 0..<cols { exact += Double(row[i]) * Double(a.q[t * cols + i]) * Double(a.d[t * cols / 256 + i / 256]) }
                    maxErr = max(maxErr, abs(Double(ref[t * rows + r]) - exact))
                    scale = max(scale, abs(exact))
                }
            }
            print("\(name) cols \(cols): max |super-block reference - float64 dot of dequantized rows| = \(maxErr) (max |y| \(scale))")
            #expect(maxErr <= 2e-6 * scale, "\(name)")
        }
    }

    @Test("AVX2 kernel equals the scalar reference bit for bit, whatever the batch and row split",
          .enabled(if: avx2, "needs AVX2"), arguments: [256, 1536])
    func avx2MatchesReference(cols: Int) {
        var rng = KernelRNG(s: UInt64(cols) + 2)
        let rows = 37, T = 9   // 4-row decode tiles and 1x4 token tiles with remainders of each
        let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
        let a = Self.quantize(x, T: T, cols: cols, fast: true)
        for (type, name) in Self.types {
            let (w, rb) = randomRows(type: type, rows: rows, cols: cols, rng: &rng)
            var ref = [Float](repeating: 0, count: T * rows), fast = ref, single = ref
            _ = folio_kmatmul_rows_isa(Int32(FOLIO_ISA_SCALAR), type, w, Int64(rb), Int64(cols), 0, Int64(rows), a.q, a.d, a.bs, Int64(T),
                                       &ref, Int64(rows))
            #expect(folio_kmatmul_rows_isa(Int32(FOLIO_ISA_AVX2), type, w, Int64(rb), Int64(cols), 0, Int64(rows), a.q, a.d, a.bs, Int64(T),
                                           &fast, Int64(rows)) == 0)
            for t in 0..<T {
                for (lo, hi) in [(0, 5), (5, 6), (6, rows)] {
                    _ = single.withUnsafeMutableBufferPointer { y in
                        folio_kmatmul_rows_isa(Int32(FOLIO_ISA_AVX2), type, w, Int64(rb), Int64(cols), Int64(lo), Int64(hi),
                                               Array(a.q[(t * cols)...]), Array(a.d[(t * cols / 256)...]), Array(a.bs[(t * cols / 16)...]), 1,
                                               y.baseAddress! + t * rows, Int64(rows))
                    }
                }
            }
            #expect(fast == ref, "\(name): AVX2 differs from the scalar reference")
            #expect(single == fast, "\(name): a token's result depends on its batch")
        }
    }

    @Test("qmatmul routes K-quant matrices to the super-block kernels when the activations carry super-blocks",
          .enabled(if: avx2, "needs AVX2"))
    func routing() {
        var rng = KernelRNG(s: 9)
        let cols = 512, T = 5
        let shapes: [(Int32, Int)] = [(Int32(FOLIO_GGML_Q4_K.rawValue), 13), (Int32(FOLIO_GGML_Q5_0.rawValue), 8), (Int32(FOLIO_GGML_Q6_K.rawValue), 21)]
        let refs = shapes.map { type, rows in
            let (bytes, rowBytes) = randomRows(type: type, rows: rows, cols: cols, rng: &rng)
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            p.copyMemory(from: bytes, byteCount: bytes.count)
            return (MatrixRef(type: type, data: UnsafeRawPointer(p), rowBytes: rowBytes, rows: rows, cols: cols), bytes)
        }
        defer { for (r, _) in refs { UnsafeMutableRawPointer(mutating: r.data).deallocate() } }
        let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
        let xq = QuantizedActivations(x, T: T, cols: cols, superBlocks: true, threads: 2)
        let a = Self.quantize(x, T: T, cols: cols, fast: true)
        let joint = refs.map { UnsafeMutablePointer<Float>.allocate(capacity: T * $0.0.rows) }
        defer { joint.forEach { $0.deallocate() } }
        qmatmul(refs.map(\.0), xq, joint, threads: 2)
        for (i, (w, bytes)) in refs.enumerated() {
            let n = T * w.rows
            var expected = [Float](repeating: 0, count: n)
            if folio_kmatmul_supported(w.type, Int64(cols)) != 0 && folio_kmatmul_isa(w.type) == Int32(FOLIO_ISA_AVX2) {
                #expect(usesSuperBlocks(w) && w.kernel == "int8-superblock-avx2")
                _ = folio_kmatmul_rows(w.type, bytes, Int64(w.rowBytes), Int64(cols), 0, Int64(w.rows), a.q, a.d, a.bs, Int64(T), &expected, Int64(w.rows))
            } else {
                #expect(!usesSuperBlocks(w))
                let y = UnsafeMutablePointer<Float>.allocate(capacity: n)
                defer { y.deallocate() }
                qmatmul(w, QuantizedActivations(x, T: T, cols: cols, threads: 2), y, threads: 2)
                expected = Array(UnsafeBufferPointer(start: y, count: n))
            }
            #expect(Array(UnsafeBufferPointer(start: joint[i], count: n)) == expected, "matrix \(i)")
        }
    }
}
