import FolioModels
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// PEFT adapters (Tests/Fixtures/lora, made by scripts/make_lora_goldens.py with nonzero random lora_B) against
/// transformers+peft's float32 logits: the tiny models within the base models' tolerance (1e-3 of the largest
/// logit), SmolLM2 (GGUF Q4_1, whose q/k rows llama.cpp permuted) as its base golden test checks it.
@Suite("LoRA adapters match transformers+peft")
struct LoRAGoldenTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let prompt_token_ids: [Int32]
            let argmax: [Int]
            let greedy: [Int32]
            let logits: [[Float]]?
            let last_logits: [Float]?
        }
        let base: String
        let cases: [Case]
    }

    static func golden(_ name: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("lora/\(name)/golden.json"))))
    }

    static let tiny = ["llama-r4-qv", "llama-r16-all-rslora", "llama-r8-regex", "llama-r64-pattern", "qwen2-r8-all", "phi3-r8-fused",
                       "gemma3-r16-all", "qwen3-r4-attn"]

    @Test("tiny models: logits at every position and the 16-token greedy continuation", arguments: tiny)
    func tinyModels(name: String) throws {
        let g = try Self.golden(name)
        let model = try CausalLM.load(path: Fixtures.path("models/\(g.base)"))
        let adapter = try LoRAAdapter.load(path: Fixtures.path("lora/\(name)"), for: model, maxRank: 64)
        for c in g.cases {
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 64), allLogits: true, lora: adapter)
            let base = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 64), allLogits: true)
            var worst: Float = 0, moved: Float = 0
            for ((got, want), b) in zip(zip(logits, c.logits!), base) {
                let scale = want.map(abs).max() ?? 1
                worst = max(worst, (zip(got, want).map { abs($0 - $1) }.max() ?? 0) / scale)
                moved = max(moved, (zip(b, want).map { abs($0 - $1) }.max() ?? 0) / scale)
            }
            print("LoRA \(name) L=\(c.prompt_token_ids.count): max |diff| / max|logit| = \(worst) (the base model alone: \(moved))")
            #expect(worst <= 1e-3, "\(name): relative error \(worst)")
            #expect(moved > 1e-2, "\(name): the adapter hardly changes the logits (\(moved)); the comparison would not show a wrong adapter")
            let gen = try model.generate(prompt: c.prompt_token_ids, maxTokens: c.greedy.count, lora: adapter)
            #expect(gen.tokenIds == c.greedy, "\(name) prompt of \(c.prompt_token_ids.count)")
        }
    }

    /// SmolLM2 (GGUF Q4_1, reference path) with `dtype` against transformers+peft: the base golden test's checks.
    static func checkSmolLM2(dtype: LoRADType) throws -> LoRAAdapter {
        let g = try golden("smollm2-r4-attn")
        let model = try CausalLM.load(path: try RealModels.smol, options: ForwardOptions(reference: true))
        let adapter = try LoRAAdapter.load(path: Fixtures.path("lora/smollm2-r4-attn"), for: model, maxRank: 16, dtype: dtype)
        for c in g.cases {
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 128), allLogits: true, lora: adapter)
            for (pos, row) in logits.enumerated() {
                var best = 0
                for i in row.indices where row[i] > row[best] { best = i }
                #expect(best == c.argmax[pos], "\(dtype) position \(pos): argmax \(best) vs transformers+peft \(c.argmax[pos])")
            }
            let diff = zip(logits.last!, c.last_logits!).map { abs($0 - $1) }.max()!
            print("LoRA SmolLM2 (\(dtype)) L=\(c.prompt_token_ids.count): max |last logits - transformers+peft| = \(diff)")
            #expect(diff <= 2e-2)
            #expect(try model.generate(prompt: c.prompt_token_ids, maxTokens: c.greedy.count, lora: adapter).tokenIds == c.greedy)
        }
        return adapter
    }

    @Test("SmolLM2 GGUF (permuted q/k rows): argmax at every position, last logits, 24-token greedy")
    func smolLM2() throws {
        let adapter = try Self.checkSmolLM2(dtype: .float32)
        #expect(adapter.rank == 4 && adapter.targets == ["q", "k", "v", "o"])
    }

    /// The SmolLM2 fixture adapter is saved in float16, so holding it as float16 loses nothing: the same checks as
    /// float32, in half the memory.
    @Test("--lora-dtype float16 on a float16 adapter file: SmolLM2 as transformers+peft, half the bytes")
    func smolLM2Half() throws {
        let half = try Self.checkSmolLM2(dtype: .float16)
        let full = try LoRAAdapter.load(path: Fixtures.path("lora/smollm2-r4-attn"), for: try CausalLM.load(path: try RealModels.smol), maxRank: 16)
        #expect(half.byteCount * 2 == full.byteCount)
    }

    /// float32 adapters held as float16: the README's bound for `--lora-dtype float16`, 5e-3 of the largest logit, on
    /// these tiny models' random adapters (whose updates are as large as the base projections).
    @Test("--lora-dtype float16 on float32 adapter files: logits within 5e-3 of the largest", arguments: tiny)
    func tinyHalf(name: String) throws {
        let g = try Self.golden(name)
        let model = try CausalLM.load(path: Fixtures.path("models/\(g.base)"))
        let adapter = try LoRAAdapter.load(path: Fixtures.path("lora/\(name)"), for: model, maxRank: 64, dtype: .float16)
        var worst: Float = 0
        for c in g.cases {
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 64), allLogits: true, lora: adapter)
            for (got, want) in zip(logits, c.logits!) {
                worst = max(worst, (zip(got, want).map { abs($0 - $1) }.max() ?? 0) / (want.map(abs).max() ?? 1))
            }
        }
        print("LoRA \(name) float16 weights: max |diff| / max|logit| = \(worst)")
        #expect(worst <= 5e-3, "\(name): relative error \(worst)")
    }

    /// A copy of a fixture adapter with its config edited.
    static func edited(_ name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = NSTemporaryDirectory() + "folio-lora-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Fixtures.path("lora/\(name)"), toPath: dir)
        let p = dir + "/adapter_config.json"
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p))) as! [String: Any]
        edit(&cfg)
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: p))
        return dir
    }

    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    @Test("bad adapters fail at load with what is wrong")
    func errors() throws {
        let llama = try CausalLM.load(path: Fixtures.path("models/hf-tiny/llama"))
        let qwen3 = try CausalLM.load(path: Fixtures.path("models/hf-tiny/qwen3"))
        func load(_ path: String, _ model: CausalLM, maxRank: Int = 64) -> String {
            Self.message { _ = try LoRAAdapter.load(path: path, for: model, maxRank: maxRank) }
        }
        #expect(load(Fixtures.path("lora/llama-r64-pattern"), llama, maxRank: 16).contains("LoRA rank 64 is greater than max_lora_rank 16."))
        #expect(load(try Self.edited("llama-r4-qv") { $0["use_dora"] = true }, llama).contains("Folio does not yet support DoRA."))
        #expect(load(try Self.edited("llama-r4-qv") { $0["modules_to_save"] = ["lm_head"] }, llama)
            .contains("Folio only supports modules_to_save being None. Unsupported modules_to_save: [\"lm_head\"]"))
        #expect(load(try Self.edited("llama-r4-qv") { $0["bias"] = "all" }, llama).contains("Adapter bias is not supported."))
        #expect(load(try Self.edited("llama-r4-qv") { $0["peft_type"] = "IA3" }, llama).contains("peft_type IA3 (only LORA adapters are served)"))
        #expect(load(try Self.edited("llama-r4-qv") { $0["r"] = 0 }, llama).contains("LoRA rank `r` must be a positive integer, got 0"))
        #expect(load("/nonexistent/adapter", llama).contains("no such adapter directory"))
        #expect(load(Fixtures.path("models/hf-tiny/llama"), llama).contains("missing adapter_config.json"))
        // An adapter made for another model: its shapes do not fit (qwen3's tiny model has other widths or layers).
        let other = load(Fixtures.path("lora/phi3-r8-fused"), qwen3)
        #expect(other.contains("do not fit the base projection") || other.contains("the model has"), "\(other)")
    }
}
