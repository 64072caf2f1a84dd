import FolioModels
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// Real models fetched by scripts/fetch-models.sh (into $FOLIO_MODELS or ./models).
enum RealModels {
    static let dir: String = ProcessInfo.processInfo.environment["FOLIO_MODELS"]
        ?? URL(fileURLWithPath: Fixtures.root).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("models").path
    static func path(_ name: String) throws -> String {
        let p = dir + "/" + name
        guard FileManager.default.fileExists(atPath: p) else {
            throw FolioError.missing(path: p, what: "model file: run scripts/fetch-models.sh --all")
        }
        return p
    }
    static var smol: String { get throws { try path("smollm2-135m-instruct-q4_1.gguf") } }
    static var gemma: String { get throws { try path("gemma-3-270m-q4_k_m.gguf") } }
}

/// SmolLM2-135M-Instruct (Q4_1 GGUF) against transformers' logits on the same file dequantized to float32
/// (Tests/Fixtures/models/smollm2-golden.json, made by golden_gguf.py).
@Suite("SmolLM2 matches transformers", .serialized)
struct SmolLM2GoldenTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let prompt: String
            let prompt_token_ids: [Int32]
            let top10_ids: [[Int]]
            let top10_logits: [[Float]]
            let last_logits: [Float]
            let greedy_32: [Int32]
            let greedy_32_text: String
        }
        let cases: [Case]
    }

    @Test("prompt ids, argmax at every position, last logits, 32-token greedy")
    func golden() throws {
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/smollm2-golden.json"))))
        let path = try RealModels.smol
        let tok = try Tokenizer.load(modelPath: path)
        let model = try CausalLM.load(path: path)
        var stops = tok.eogIds
        if let e = tok.eosId { stops.insert(e) }
        for c in g.cases {
            let ids = tok.encode(c.prompt, addSpecialTokens: false)
            #expect(ids == c.prompt_token_ids, "\(c.prompt.debugDescription)")
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 128), allLogits: true)
            for (pos, row) in logits.enumerated() {
                var best = 0
                for i in row.indices where row[i] > row[best] { best = i }
                let ref = c.top10_ids[pos]
                #expect(best == ref[0], "\(c.prompt.debugDescription) position \(pos): argmax \(best) vs \(ref[0])")
            }
            let diff = zip(logits.last!, c.last_logits).map { abs($0 - $1) }.max()!
            print("SmolLM2 \(c.prompt.debugDescription): max |last logits - transformers| = \(diff)")
            #expect(diff <= 2e-2)
            let gen = try model.generate(prompt: c.prompt_token_ids, maxTokens: 32, stopTokenIds: stops)
            #expect(gen.tokenIds == c.greedy_32, "\(c.prompt.debugDescription)")
            #expect(tok.decode(gen.tokenIds) == c.greedy_32_text)
        }
    }
}
