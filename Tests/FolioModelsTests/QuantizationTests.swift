import CFolioKernels
import FolioModels
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// Load-time quantization (`--quantization q8_0|q4_0`): the blocks against gguf-py's quantizers, and whole models
/// against transformers' float32 logits.
@Suite("Load-time quantization")
struct QuantizationTests {
    struct QGolden: Decodable {
        struct Case: Decodable { let type: String; let ggml_type: Int32; let bytes: String }
        let cols: Int
        let values: [Float]
        let cases: [Case]
    }

    @Test("Q8_0 and Q4_0 blocks are gguf-py's, byte for byte")
    func blocks() throws {
        let g = try JSONDecoder().decode(QGolden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("quant/quantize-golden.json"))))
        for c in g.cases {
            let want = stride(from: 0, to: c.bytes.count, by: 2).map { i -> UInt8 in
                let s = c.bytes.utf8.dropFirst(i).prefix(2)
                return UInt8(String(decoding: s, as: UTF8.self), radix: 16)!
            }
            var got = [UInt8](repeating: 0, count: want.count)
            #expect(folio_quantize(c.ggml_type, g.values, &got, Int64(g.values.count)) == 0)
            #expect(got == want, "\(c.type)")
        }
        var sink = [UInt8](repeating: 0, count: 64)
        #expect(folio_quantize(Int32(FOLIO_GGML_Q4_1.rawValue), [Float](repeating: 1, count: 32), &sink, 32) == -1)
        #expect(folio_quantize(Int32(FOLIO_GGML_Q8_0.rawValue), [Float](repeating: 1, count: 33), &sink, 33) == -1)
    }

    @Test("tiny float32 models quantized at load stay close to transformers", arguments: ["llama", "qwen3", "mixtral", "gemma3"])
    func models(arch: String) throws {
        let dir = Fixtures.path("models/hf-tiny/\(arch)")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/golden.json")))
        for (qt, minAgree, maxKL) in [(TensorType.q8_0, 0.9, 0.01), (TensorType.q4_0, 0.5, 0.05)] {
            let model = try CausalLM.load(path: dir, options: ForwardOptions(quantization: qt))
            var n = 0, agree = 0, kl = 0.0
            for c in golden.cases {
                let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 256), allLogits: true)
                for (got, want) in zip(logits, c.logits) {
                    let lp = logSoftmax(want), lq = logSoftmax(got)
                    kl += zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
                    if got.indices.max(by: { got[$0] < got[$1] }) == want.indices.max(by: { want[$0] < want[$1] }) { agree += 1 }
                    n += 1
                }
            }
            print("\(arch) --quantization \(qt): top-1 agreement with transformers \(agree)/\(n), mean KL \(kl / Double(n))")
            #expect(Double(agree) >= minAgree * Double(n), "\(arch) \(qt)")
            #expect(kl / Double(n) < maxKL, "\(arch) \(qt)")
        }
        #expect(throws: FolioError.self) { try CausalLM.load(path: dir, options: ForwardOptions(quantization: .q4_1)) }
    }
}

func logSoftmax(_ x: [Float]) -> [Double] {
    let m = Double(x.max()!), s = x.reduce(0.0) { $0 + exp(Double($1) - m) }
    return x.map { Double($0) - m - log(s) }
}
