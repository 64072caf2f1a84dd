import CFolioKernels
import FolioKernels
import FolioWeights
import Foundation
import Testing

/// The 16-row panel layout (CFolioKernels' packed.c): packing keeps every value, the AVX-512 kernels equal their
/// scalar definitions bit for bit, results do not depend on the batch or the panel split, and they match float64 dot
/// products of the dequantized rows.
@Suite("Packed panel kernels")
struct PackedKernelTests {
    static let quantTypes: [(Int32, String)] = [(Int32(FOLIO_GGML_Q4_0.rawValue), "Q4_0"), (Int32(FOLIO_GGML_Q4_1.rawValue), "Q4_1"),
                                                (Int32(FOLIO_GGML_Q8_0.rawValue), "Q8_0")]
    static let floatTypes: [(Int32, String)] = [(Int32(FOLIO_GGML_F32.rawValue), "F32"), (Int32(FOLIO_GGML_F16.rawValue), "F16"),
                                                (Int32(FOLIO_GGML_BF16.rawValue), "BF16")]

    /// Random float rows encoded as `type` (F32/F16/BF16), or random quantized blocks.
    static func rows(_ type: Int32, _ rows: Int, _ cols: Int, _ rng: inout KernelRNG) -> (bytes: [UInt8], rowBytes: Int) {
        guard let f = floatTypes.first(where: { $0.0 == type }) else { return randomRows(type: type, rows: rows, cols: cols, rng: &rng) }
        var out: [UInt8] = []
        for _ in 0..<(rows * cols) {
            let v = rng.float(-1, 1)
            switch f.1 {
            case "F32": withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 }
            case "F16": withUnsafeBytes(of: folio_fp32_to_fp16(v).littleEndian) { out += $0 }
            default: withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { out += $0 }
            }
        }
        return (out, out.count / rows)
    }

    static func pack(_ type: Int32, _ w: [UInt8], _ rb: Int, _ rows: Int, _ cols: Int) -> [UInt8] {
        var p = [UInt8](repeating: 0, count: w.count)
        #expect(folio_pack(type, w, Int64(rb), Int64(cols), 0, Int64(rows / 16), &p) == 0)
        return p
    }

    @Test("packing keeps every row: folio_packed_row equals the source dequantizer", arguments: [32, 96])
    func rowsSurvive(cols: Int) {
        var rng = KernelRNG(s: 7 + UInt64(cols))
        let rows = 48
        for (type, name) in Self.quantTypes + Self.floatTypes {
            let (w, rb) = Self.rows(type, rows, cols, &rng)
            let p = Self.pack(type, w, rb, rows, cols)
            var a = [Float](repeating: 0, count: cols), b = a
            var same = true
            for r in 0..<rows {
                _ = w.withUnsafeBytes { folio_dequantize(type, $0.baseAddress! + r * rb, &a, Int64(cols)) }
                #expect(folio_packed_row(type | Int32(FOLIO_PACKED), p, Int64(rb), Int64(cols), Int64(r), &b) == 0)
                same = same && a == b
            }
            #expect(same, "\(name): a packed row differs from its source row")
        }
    }

    @Test("AVX-512 kernels = scalar definition (bitwise), batch and split invariance, float64 agreement", arguments: [256, 1536])
    func kernels(cols: Int) throws {
        guard folio_have_vnni() != 0 else { print("packed kernels: no AVX-512 VNNI on this CPU; scalar definition only"); return }
        var rng = KernelRNG(s: 99 + UInt64(cols))
        let rows = 80, T = 13   // 5 panels (pairs + a single), 13 tokens (groups of 4 and 6 + remainders)
        let x = (0..<(T * cols)).map { _ in rng.float(-2, 2) }
        var q = [Int8](repeating: 0, count: T * cols), xd = [Float](repeating: 0, count: T * cols / 4), xs = xd
        var xsb = [Float](repeating: 0, count: T * cols / 32)
        for t in 0..<T {
            x.withUnsafeBufferPointer { folio_quantize_act($0.baseAddress! + t * cols, Int64(cols), &q[t * cols], &xd[t * cols / 4], &xs[t * cols / 4]) }
        }
        q.withUnsafeBufferPointer { qp in xd.withUnsafeBufferPointer { dp in
            for t in 0..<T { folio_act_block_sums(qp.baseAddress! + t * cols, dp.baseAddress! + t * cols / 4, Int64(cols), &xsb[t * cols / 32]) }
        } }
        for (type, name) in Self.quantTypes + Self.floatTypes {
            let quant = Self.quantTypes.contains { $0.0 == type }
            let (w, rb) = Self.rows(type, rows, cols, &rng)
            let p = Self.pack(type, w, rb, rows, cols), pt = type | Int32(FOLIO_PACKED)
            func run(_ isa: Int32, _ t0: Int, _ n: Int, _ p0: Int, _ p1: Int, _ y: inout [Float]) {
                let rc = y.withUnsafeMutableBufferPointer { yp in
                    folio_pmatmul_isa(isa, pt, p, Int64(rb), Int64(cols), Int64(p0), Int64(p1), q.withUnsafeBufferPointer { $0.baseAddress! + t0 * cols },
                                      xd.withUnsafeBufferPointer { $0.baseAddress! + t0 * cols / 4 }, xsb.withUnsafeBufferPointer { $0.baseAddress! + t0 * cols / 32 },
                                      x.withUnsafeBufferPointer { $0.baseAddress! + t0 * cols }, Int64(cols), Int64(n), yp.baseAddress!, Int64(rows))
                }
                #expect(rc == 0)
            }
            var scalar = [Float](repeating: 0, count: T * rows), fast = scalar
            run(Int32(FOLIO_ISA_SCALAR), 0, T, 0, rows / 16, &scalar)
            run(Int32(FOLIO_ISA_AVX512_VNNI), 0, T, 0, rows / 16, &fast)
            let same = fast == scalar
            #expect(same, "\(name) cols \(cols): AVX-512 kernel differs from its scalar definition")
            // Each token alone, panels split unevenly: the same bits.
            var invariant = true
            for t in 0..<T {
                var one = [Float](repeating: 0, count: rows)
                run(Int32(FOLIO_ISA_AVX512_VNNI), t, 1, 0, 1, &one)
                run(Int32(FOLIO_ISA_AVX512_VNNI), t, 1, 1, rows / 16, &one)
                invariant = invariant && Array(fast[(t * rows)..<((t + 1) * rows)]) == one
            }
            #expect(invariant, "\(name) cols \(cols): a token's result depends on its batch")
            // Against float64 dot products of the dequantized rows (with the quantized activations for int8 kernels).
            var row = [Float](repeating: 0, count: cols)
            var maxDiff = 0.0, scale = 0.0
            for r in 0..<rows {
                _ = w.withUnsafeBytes { folio_dequantize(type, $0.baseAddress! + r * rb, &row, Int64(cols)) }
                for t in 0..<T {
                    var exact = 0.0
                    for i in 0..<cols {
                        let a = quant ? Double(q[t * cols + i]) * Double(xd[t * cols / 4 + i / 4]) : Double(x[t * cols + i])
                        exact += Double(row[i]) * a
                    }
                    maxDiff = max(maxDiff, abs(Double(fast[t * rows + r]) - exact))
                    scale = max(scale, abs(exact))
                }
            }
            print("packed \(name) cols \(cols): max |kernel - float64 dot of dequantized rows| = \(maxDiff) (max |y| \(scale))")
            #expect(maxDiff <= 1e-5 * scale, "\(name) cols \(cols)")
        }
    }

    @Test("WeightTensor.packed: same values, same row slices, the packed type where supported")
    func weightTensor() throws {
        guard folio_have_vnni() != 0 else { return }
        var rng = KernelRNG(s: 5)
        let (w, _) = Self.rows(Int32(FOLIO_GGML_Q8_0.rawValue), 64, 64, &rng)
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: w.count, alignment: 64)
        defer { buf.deallocate() }
        buf.copyBytes(from: w)
        let t = WeightTensor(name: "w", type: .q8_0, shape: [64, 64], data: UnsafeRawPointer(buf.baseAddress!), byteCount: w.count, owner: NSObject())
        let p = try t.packed { n, body in body(0..<n) }
        #expect(p.type.isPacked && p.type.base == .q8_0 && p.rowBytes == t.rowBytes)
        #expect(try p.toFloats() == (try t.toFloats()))
        #expect(try p.rowSlice(16, 32).toFloats() == Array(try p.toFloats()[(16 * 64)..<(48 * 64)]))
        let odd = WeightTensor(name: "odd", type: .q8_0, shape: [40, 64], data: t.data, byteCount: 40 * t.rowBytes, owner: t.owner)
        #expect(!odd.isPackable)
        #expect(throws: FolioError.self) { _ = try odd.packed { n, body in body(0..<n) } }
    }
}
