import CFolioKernels
import FolioKernels
import Foundation
import Testing

/// The float32 matmul's tiles (AVX2 2x6, AVX-512 4x4) and the encoder's bias + activation kernel.
@Suite("Float matmul tiles and bias activations")
struct EncoderKernelTests {
    @Test("float32 matmul: every token alone equals the batch bit for bit, and a float64 dot within 1e-5", arguments: [384, 389])
    func matmulBatchInvariant(cols: Int) {
        var rng = KernelRNG(s: UInt64(cols) &* 31)
        let rows = 37, T = 19   // odd sizes: tiles, row and token edges, and a k % 8 tail when cols = 389
        let w = (0..<(rows * cols)).map { _ in rng.float(-1, 1) }
        let x = (0..<(T * cols)).map { _ in rng.float(-1, 1) }
        var y = [Float](repeating: 0, count: T * rows)
        w.withUnsafeBytes { wp in
            let ref = MatrixRef(type: Int32(FOLIO_GGML_F32.rawValue), data: wp.baseAddress!, rowBytes: cols * 4, rows: rows, cols: cols)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { matmul(ref, xp.baseAddress!, T, $0.baseAddress!, threads: 2) }
                for t in 0..<T {
                    var one = [Float](repeating: 0, count: rows)
                    one.withUnsafeMutableBufferPointer { matmul(ref, xp.baseAddress! + t * cols, 1, $0.baseAddress!, threads: 1) }
                    #expect(one == Array(y[(t * rows)..<((t + 1) * rows)]), "token \(t)")
                    for r in 0..<rows {
                        var s = 0.0
                        for k in 0..<cols { s += Double(w[r * cols + k]) * Double(x[t * cols + k]) }
                        #expect(abs(Double(y[t * rows + r]) - s) <= 1e-5 * max(1, abs(s)), "row \(r) token \(t)")
                    }
                }
            }
        }
    }

    @Test("bias + gelu/gelu_tanh/relu: vectorized within 3e-7 of libm's definition (absolute, plus relative 1e-6)")
    func biasActivation() {
        var rng = KernelRNG(s: 5)
        let rows = 3, n = 203
        let b = (0..<n).map { _ in rng.float(-1, 1) }
        let y0 = (0..<(rows * n)).map { _ in rng.float(-9, 9) }
        for act in [FOLIO_ACT_NONE, FOLIO_ACT_GELU, FOLIO_ACT_GELU_TANH, FOLIO_ACT_RELU] {
            var fast = y0, ref = y0
            folio_bias_act(&fast, b, Int64(rows), Int64(n), Int32(act))
            folio_bias_act_ref(&ref, b, Int64(rows), Int64(n), Int32(act))
            for i in fast.indices { #expect(abs(fast[i] - ref[i]) <= 3e-7 + 1e-6 * abs(ref[i]), "act \(act) at \(i): \(fast[i]) vs \(ref[i])") }
        }
        var g = [Float(-1), 0, 1]
        folio_bias_act_ref(&g, nil, 1, 3, Int32(FOLIO_ACT_GELU))
        #expect(abs(g[0] - -0.15865525) < 1e-7 && g[1] == 0 && abs(g[2] - 0.84134475) < 1e-7)   // torch.nn.functional.gelu
    }
}
