import FolioEngine
import FolioModels
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// The embedding engine: concurrent callers share batches and get what each gets alone; vLLM's length rules.
@Suite("Embedding engine")
struct EmbeddingEngineTests {
    static let path = Fixtures.path("embeddings/tiny-qwen3-embed")

    @Test("16 concurrent requests through batches of at most 300 tokens equal the model's own embeddings")
    func concurrent() async throws {
        let m = try EmbeddingModel.load(path: Self.path)
        let e = try EmbeddingEngine(model: m, tokenizer: try Tokenizer.load(modelPath: Self.path), maxNumBatchedTokens: 300, maxNumSeqs: 5)
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("embeddings/texts.json"))))
        let ids = try texts.prefix(48).map { try e.prepare(text: $0, truncatePromptTokens: -1) }
        let alone = try ids.map { try m.embed([$0])[0] }
        let got = try await withThrowingTaskGroup(of: (Int, [[Float]]).self) { g in
            for r in 0..<16 { g.addTask { (r, try await e.embed(Array(ids[(r * 3)..<(r * 3 + 3)]))) } }
            var out = [[Float]](repeating: [], count: 48)
            for try await (r, v) in g { for (k, x) in v.enumerated() { out[r * 3 + k] = x } }
            return out
        }
        #expect(got == alone)
        #expect(e.stats.promptTokens == ids.reduce(0) { $0 + $1.count } && e.stats.numWaiting == 0)
    }

    @Test("lengths: refused past max_model_len with vLLM's message, cut by truncate_prompt_tokens, --max-model-len caps")
    func lengths() throws {
        let m = try EmbeddingModel.load(path: Self.path)
        let e = try EmbeddingEngine(model: m, tokenizer: try Tokenizer.load(modelPath: Self.path), maxModelLen: 16)
        let long = String(repeating: "model search ", count: 20)
        let n = e.tokenizer.encode(long).count
        #expect(throws: FolioError.invalidArgument(name: "input", message: "This model's maximum context length is 16 tokens. However, your prompt contains \(n) input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt.")) {
            try e.prepare(text: long)
        }
        let cut = try e.prepare(text: long, truncatePromptTokens: 5)
        #expect(cut.count == 5 && cut.last == e.tokenizer.encode("x").last)   // the appended <|endoftext|> stays
        #expect(throws: FolioError.invalidArgument(name: "truncate_prompt_tokens", message: "truncate_prompt_tokens=17 cannot be greater than max_model_len = 16. Please request a smaller truncation size.")) {
            try e.prepare(text: long, truncatePromptTokens: 17)
        }
        #expect(throws: FolioError.invalidArgument(name: "input", message: "token id 512 is out of vocabulary (512)")) { try e.prepare(tokens: [1, 512]) }
        #expect(throws: FolioError.invalidArgument(name: "--max-model-len", message: "600 is outside 1...128, the model's longest input")) {
            try EmbeddingEngine(model: m, tokenizer: e.tokenizer, maxModelLen: 600)
        }
    }
}
