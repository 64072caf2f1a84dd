import CFolioKernels
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// Random blocks of every GGUF block format against gguf-py's reference dequantizers
/// (Tests/Fixtures/quant/dequant-golden.json, made by scripts/make_dequant_goldens.py).
@Suite("GGUF dequantization matches gguf-py")
struct DequantTests {
    struct Golden: Decodable {
        struct Case: Decodable { let type: String; let ggml_type: Int32; let bytes: String; let values: [Double] }
        let cases: [Case]
    }

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        func nib(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
        while let a = it.next(), let b = it.next() { out.append(nib(a) << 4 | nib(b)) }
        return out
    }

    @Test("every block format, bit-exact values")
    func dequantizesLikeReference() throws {
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("quant/dequant-golden.json"))))
        let types = Set(g.cases.map(\.type))
        for t in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ4_NL", "IQ4_XS", "MXFP4", "F16", "BF16"] {
            #expect(types.contains(t), "golden lacks \(t)")
        }
        for c in g.cases {
            let bytes = Self.hex(c.bytes)
            let type = TensorType(rawValue: c.ggml_type)
            #expect(type.byteCount(elements: c.values.count) == bytes.count, "\(c.type) size")
            var out = [Float](repeating: .nan, count: c.values.count)
            let rc = bytes.withUnsafeBytes { b in
                out.withUnsafeMutableBufferPointer { folio_dequantize(c.ggml_type, b.baseAddress!, $0.baseAddress!, Int64(c.values.count)) }
            }
            #expect(rc == 0)
            var maxDiff: Double = 0
            for (a, b) in zip(out, c.values) { maxDiff = max(maxDiff, abs(Double(a) - b) / max(1, abs(b))) }
            print("\(c.type): max relative difference \(maxDiff) over \(c.values.count) values")
            #expect(maxDiff <= 1e-6, "\(c.type)")
        }
    }

    @Test("fp16 round trip and special values")
    func fp16() {
        for v: Float in [0, -0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, 0.333251953125] {
            #expect(folio_fp16_to_fp32(folio_fp32_to_fp16(v)) == v)
        }
        #expect(folio_fp16_to_fp32(0x7C00) == .infinity)
        #expect(folio_fp16_to_fp32(0x7E00).isNaN)
        #expect(folio_bf16_to_fp32(0x3F80) == 1)
    }

    @Test("unsupported types and partial blocks are refused")
    func refusals() {
        var out = [Float](repeating: 0, count: 64)
        let src = [UInt8](repeating: 0, count: 64)
        src.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { o in
                #expect(folio_dequantize(16, b.baseAddress!, o.baseAddress!, 32) == -1)  // IQ2_XXS
                #expect(folio_dequantize(2, b.baseAddress!, o.baseAddress!, 31) == -1)   // Q4_0 partial block
            }
        }
    }
}
