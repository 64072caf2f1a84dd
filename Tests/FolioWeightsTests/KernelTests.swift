import CFolioKernels
import FolioKernels
import Foundation
import Testing

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct KernelRNG {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24) }
}

/// Random blocks of `type` with random quants and sane float16 scales (at the offsets ggml's block layouts give).
func randomRows(type: Int32, rows: Int, cols: Int, rng: inout KernelRNG) -> (bytes: [UInt8], rowBytes: Int) {
    let be = Int(folio_type_block_elements(type)), bb = Int(folio_type_block_bytes(type))
    let rowBytes = cols / be * bb
    var w = (0..<(rows * rowBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    func put(_ off: Int, _ v: Float) { let h = folio_fp32_to_fp16(v); w[off] = UInt8(h & 0xFF); w[off + 1] = UInt8(h >> 8) }
    for b in 0..<(rows * rowBytes / bb) {
        let o = b * bb
        switch type {
        case Int32(FOLIO_GGML_Q4_0.rawValue), Int32(FOLIO_GGML_Q8_0.rawValue), Int32(FOLIO_GGML_Q5_0.rawValue),
             Int32(FOLIO_GGML_IQ4_NL.rawValue), Int32(FOLIO_GGML_IQ4_XS.rawValue): put(o, rng.float(0.001, 0.02))
        case Int32(FOLIO_GGML_Q4_1.rawValue), Int32(FOLIO_GGML_Q5_1.rawValue): put(o, rng.float(0.001, 0.02)); put(o + 2, rng.float(-0.05, 0.05))
        case Int32(FOLIO_GGML_Q2_K.rawValue): put(o + 80, rng.float(0.0005, 0.01)); put(o + 82, rng.float(0.0005, 0.01))
        case Int32(FOLIO_GGML_Q3_K.rawValue): put(o + 108, rng.float(0.0005, 0.01))
        case Int32(FOLIO_GGML_Q4_K.rawValue), Int32(FOLIO_GGML_Q5_K.rawValue): put(o, rng.float(0.0005, 0.01)); put(o + 2, rng.float(0.0005, 0.01))
        case Int32(FOLIO_GGML_Q6_K.rawValue): put(o + 208, rng.float(0.0005, 0.01))
        case Int32(FOLIO_GGML_MXFP4.rawValue): w[o] = UInt8(118 + rng.next() % 8)   // scales 2^-10 .. 2^-3
        default: break
        }
    }
    return (w, rowBytes)
}

@Suite("Quantized int8 kernels")
struct QuantKernelTests {
    static let types: [(Int32, String)] = [
        (Int32(FOLIO_GGML_Q4_0.rawValue), "Q4_0"), (Int32(FOLIO_GGML_Q4_1.rawValue), "Q4_1"), (Int32(FOLIO_GGML_Q5_0.rawValue), "Q5_0"),
        (Int32(FOLIO_GGML_Q5_1.rawValue), "Q5_1"), (Int32(FOLIO_GGML_Q8_0.rawValue), "Q8_0"), (Int32(FOLIO_GGML_Q2_K.rawValue), "Q2_K"),
        (Int32(FOLIO_GGML_Q3_K.rawValue), "Q3_K"), (Int32(FOLIO_GGML_Q4_K.rawValue), "Q4_K"), (Int32(FOLIO_GGML_Q5_K.rawValue), "Q5_K"),
        (Int32(FOLIO_GGML_Q6_K.rawValue), "Q6_K"), (Int32(FOLIO_GGML_IQ4_NL.rawValue), "IQ4_NL"), (Int32(FOLIO_GGML_IQ4_XS.rawValue), "IQ4_XS"),
        (Int32(FOLIO_GGML_MXFP4.rawValue), "MXFP4"),
    ]

    @Test("optimized kernel vs scalar reference vs float64 dot of the dequantized rows; batch invariance", arguments: [256, 1536])
    func matchesReference(cols: Int) throws {
        var rng = KernelRNG(s: UInt64(cols))
        let rows = 36, T = 7
        let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
        var q = [Int8](repeating: 0, count: T * cols), xd = [Float](repeating: 0, count: T * cols / 4), xs = xd
        var q2 = q, xd2 = xd, xs2 = xs
        for t in 0..<T {
            folio_quantize_act(x.withUnsafeBufferPointer { $0.baseAddress! + t * cols }, Int64(cols), &q[t * cols], &xd[t * cols / 4], &xs[t * cols / 4])
            folio_quantize_act_ref(x.withUnsafeBufferPointer { $0.baseAddress! + t * cols }, Int64(cols), &q2[t * cols], &xd2[t * cols / 4], &xs2[t * cols / 4])
        }
        #expect(q == q2 && xd == xd2 && xs == xs2, "vectorized activation quantization differs from its scalar definition")
        print("qmatmul: this CPU's best kernels: \(["scalar", "AVX2", "AVX-512 VNNI"][Int(folio_qmatmul_isa())])")
        for (type, name) in Self.types {
            #expect(folio_qmatmul_supported(type, Int64(cols)) == 1)
            let (w, rb) = randomRows(type: type, rows: rows, cols: cols, rng: &rng)
            var ref = [Float](repeating: 0, count: T * rows)
            #expect(folio_qmatmul_rows_ref(type, w, Int64(rb), Int64(cols), 0, Int64(rows), q, xd, xs, Int64(T), &ref, Int64(rows)) == 0)
            var maxRef: Double = 0, scale: Double = 0
            var row = [Float](repeating: 0, count: cols)
            for r in 0..<rows {
                _ = w.withUnsafeBytes { folio_dequantize(type, $0.baseAddress! + r * rb, &row, Int64(cols)) }
                for t in 0..<T {
                    var exact = 0.0
                    for i in 0..<cols { exact += Double(row[i]) * Double(q[t * cols + i]) * Double(xd[t * cols / 4 + i / 4]) }
                    maxRef = max(maxRef, abs(Double(ref[t * rows + r]) - exact))
                    scale = max(scale, abs(exact))
                }
            }
            print("\(name) cols \(cols): max |scalar reference - float64 dot of dequantized rows| = \(maxRef) (max |y| \(scale))")
            #expect(maxRef <= 2e-6 * scale, "\(name)")
            for (isa, isaName) in [(FOLIO_ISA_AVX2, "AVX2"), (FOLIO_ISA_AVX512_VNNI, "AVX-512 VNNI")] {
                var fast = [Float](repeating: 0, count: T * rows), single = fast
                guard folio_qmatmul_rows_isa(Int32(isa), type, w, Int64(rb), Int64(cols), 0, Int64(rows), q, xd, xs, Int64(T), &fast, Int64(rows)) == 0 else {
                    print("\(name): \(isaName) not available on this CPU")
                    continue
                }
                for t in 0..<T {   // each token alone, and rows in odd-sized pieces
                    for (lo, hi) in [(0, 5), (5, 6), (6, rows)] {
                        _ = single.withUnsafeMutableBufferPointer { y in
                            folio_qmatmul_rows_isa(Int32(isa), type, w, Int64(rb), Int64(cols), Int64(lo), Int64(hi), Array(q[(t * cols)...]),
                                                   Array(xd[(t * cols / 4)...]), Array(xs[(t * cols / 4)...]), 1, y.baseAddress! + t * rows, Int64(rows))
                        }
                    }
                }
                let maxFast = zip(fast, ref).map { abs($0 - $1) }.max()!
                print("\(name) cols \(cols) \(isaName): max |kernel - scalar reference| = \(maxFast)")
                #expect(Double(maxFast) <= 2e-6 * scale, "\(name) \(isaName)")
                #expect(single == fast, "\(name) \(isaName): a token's result depends on its batch")
            }
        }
    }

    @Test("one dispatch over several matrices (q/k/v, gate/up) gives each matrix's own results, bit for bit")
    func sharedInputDispatch() {
        var rng = KernelRNG(s: 21)
        let cols = 512
        let shapes: [(Int32, Int)] = [(Int32(FOLIO_GGML_Q5_0.rawValue), 37), (Int32(FOLIO_GGML_Q4_K.rawValue), 8), (Int32(FOLIO_GGML_Q8_0.rawValue), 61)]
        // Weights and outputs in manually allocated memory (pointers that outlive a closure).
        let refs = shapes.map { type, rows in
            let (bytes, rowBytes) = randomRows(type: type, rows: rows, cols: cols, rng: &rng)
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            p.copyMemory(from: bytes, byteCount: bytes.count)
            return MatrixRef(type: type, data: UnsafeRawPointer(p), rowBytes: rowBytes, rows: rows, cols: cols)
        }
        defer { for r in refs { UnsafeMutableRawPointer(mutating: r.data).deallocate() } }
        for T in [1, 5] {
            let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
            let xq = QuantizedActivations(x, T: T, cols: cols)
            let joint = refs.map { UnsafeMutablePointer<Float>.allocate(capacity: T * $0.rows) }
            let alone = refs.map { UnsafeMutablePointer<Float>.allocate(capacity: T * $0.rows) }
            defer { (joint + alone).forEach { $0.deallocate() } }
            qmatmul(refs, xq, joint, threads: 2)
            for i in refs.indices { qmatmul(refs[i], xq, alone[i], threads: 2) }
            for i in refs.indices {
                let n = T * refs[i].rows
                #expect(Array(UnsafeBufferPointer(start: joint[i], count: n)) == Array(UnsafeBufferPointer(start: alone[i], count: n)),
                        "T \(T), matrix \(i)")
            }
        }
    }

    @Test("float16/bfloat16 single-token rows read in place equal the dequantized 4x4 kernel's results")
    func halfRows() {
        var rng = KernelRNG(s: 5)
        let rows = 12, cols = 200, T = 4
        let wf = (0..<(rows * cols)).map { _ in rng.float(-1, 1) }
        var wh = [UInt16](repeating: 0, count: wf.count)
        folio_f32_to_f16(wf, &wh, Int64(wf.count))
        let wb = wf.map { UInt16($0.bitPattern >> 16) }
        let x = (0..<(T * cols)).map { _ in rng.float(-1, 1) }
        let scratch = [Float](repeating: 0, count: 64 * cols)
        for (type, w) in [(Int32(FOLIO_GGML_F16.rawValue), wh), (Int32(FOLIO_GGML_BF16.rawValue), wb)] {
            var batch = [Float](repeating: 0, count: T * rows), single = batch
            var sc = scratch
            _ = folio_matmul_rows(type, w, Int64(cols * 2), Int64(cols), 0, Int64(rows), x, Int64(cols), Int64(T), &batch, Int64(rows), &sc)
            for t in 0..<T {
                _ = single.withUnsafeMutableBufferPointer { y in
                    folio_matmul_rows(type, w, Int64(cols * 2), Int64(cols), 0, Int64(rows), Array(x[(t * cols)...]), Int64(cols), 1,
                                      y.baseAddress! + t * rows, Int64(rows), &sc)
                }
            }
            #expect(single == batch, "type \(type)")
        }
    }

    @Test("unsupported shapes and types are refused")
    func refusals() {
        #expect(folio_qmatmul_supported(Int32(FOLIO_GGML_Q4_0.rawValue), 96) == 0)
        #expect(folio_qmatmul_supported(Int32(FOLIO_GGML_Q4_K.rawValue), 320) == 0)
        #expect(folio_qmatmul_supported(Int32(FOLIO_GGML_F16.rawValue), 256) == 0)
        #expect(folio_qmatmul_supported(Int32(FOLIO_GGML_Q8_K.rawValue), 256) == 0)
        #expect(folio_qmatmul_supported(Int32(FOLIO_GGML_IQ4_XS.rawValue), 320) == 0)
    }
}

@Suite("Activation kernels and thread pool")
struct AttentionPoolTests {
    @Test("folio_silu_mul matches its scalar definition (libm expf) over the whole float range")
    func siluMul() {
        var rng = KernelRNG(s: 11)
        let n = 1003   // a masked tail
        let g0 = (0..<n).map { i in i < 8 ? [-200, -50, -20, -1e-6, 0, 1e-6, 30, 200][i] : rng.float(-12, 12) }
        let u = (0..<n).map { _ in rng.float(-3, 3) }
        var a = g0, b = g0
        folio_silu_mul(&a, u, Int64(n))
        folio_silu_mul_ref(&b, u, Int64(n))
        let rel = zip(a, b).map { abs($0 - $1) / (abs($1) + 1e-30) }.max()!   // 1e-30: below float's normal range
        print("silu_mul: max relative difference from the scalar definition \(rel)")
        #expect(rel <= 1e-5)   // measured ~5e-6; int8 activation quantization adds ~4e-3
    }

    @Test("folio_gelu_tanh_mul matches its scalar definition (libm tanhf) over the whole float range")
    func geluMul() {
        var rng = KernelRNG(s: 12)
        let n = 1003   // a partial last vector
        let g0 = (0..<n).map { i in i < 8 ? [-200, -50, -20, -1e-6, 0, 1e-6, 30, 200][i] : rng.float(-12, 12) }
        let u = (0..<n).map { _ in rng.float(-3, 3) }
        var a = g0, b = g0
        folio_gelu_tanh_mul(&a, u, Int64(n))
        folio_gelu_tanh_mul_ref(&b, u, Int64(n))
        // Absolute difference relative to |x u|: gelu's value itself passes through 0 near x = 0 and x << 0.
        let err = (0..<n).map { i in abs(a[i] - b[i]) / (abs(g0[i] * u[i]) + 1e-30) }.max()!
        print("gelu_tanh_mul: max difference from the scalar definition, relative to |x u|: \(err)")
        #expect(err <= 1e-5)
        #expect(a[0] == 0 || abs(a[0]) < 1e-30, "gelu(-200) is 0")
    }

    @Test("parallelFor runs every index exactly once, concurrently submitted and nested")
    func pool() async {
        let n = 10_007
        await withTaskGroup(of: Bool.self) { group in
            for job in 0..<4 {
                group.addTask {
                    let hits = UnsafeMutablePointer<Int32>.allocate(capacity: n)
                    hits.initialize(repeating: 0, count: n)
                    defer { hits.deallocate() }
                    let p = SharedPointer(hits)
                    for _ in 0..<50 {
                        parallelFor(n, minChunk: 1 + job) { r in
                            for i in r { p.p[i] += 1 }
                            if r.lowerBound == 0 { parallelFor(4) { _ in } }   // nested: runs inline
                        }
                    }
                    return (0..<n).allSatisfy { hits[$0] == 50 }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
