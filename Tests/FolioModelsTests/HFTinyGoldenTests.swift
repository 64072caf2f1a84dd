import FolioModels
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

struct Golden: Decodable {
    struct Case: Decodable {
        let prompt_token_ids: [Int32]
        let logits: [[Float]]
        let greedy_16: [Int32]
    }
    let cases: [Case]
}

/// Tiny random models of each architecture against transformers' float32 logits (Tests/Fixtures/models/hf-tiny,
/// made by make_tiny_hf.py / scripts/make_tiny_goldens.py).
@Suite("Hugging Face tiny models match transformers")
struct HFTinyGoldenTests {
    static let archs = ["llama", "llama3-rope-scaling", "mistral", "qwen2", "qwen3", "mixtral", "qwen3-moe", "phi3",
                        "llama-yarn", "llama-linear", "mistral-sliding", "gemma3", "llama-bias", "qwen3-bias-gelu",
                        "qwen3-moe-dense-layers", "qwen3-moe-sparse-step", "deepseek-v2", "deepseek-v3", "deepseek-v3-plain-rope", "gpt-oss"]

    @Test("logits at every position and the 16-token greedy continuation", arguments: archs)
    func matchesTransformers(arch: String) throws {
        let dir = Fixtures.path("models/hf-tiny/\(arch)")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/golden.json")))
        struct Unmasked: Decodable { let greedy_16: [[Int32]] }
        let unmasked = try JSONDecoder().decode(Unmasked.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/greedy_unmasked.json")))
        let model = try CausalLM.load(path: dir)
        for (ci, c) in golden.cases.enumerated() {
            let cache = model.makeCache(capacity: 256)
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: cache, allLogits: true)
            #expect(logits.count == c.logits.count)
            var worst: Float = 0
            for (got, want) in zip(logits, c.logits) {
                let scale = want.map(abs).max() ?? 1
                let diff = zip(got, want).map { abs($0 - $1) }.max() ?? 0
                worst = max(worst, diff / scale)
            }
            print("\(arch) L=\(c.prompt_token_ids.count): max |diff| / max|logit| = \(worst)")
            #expect(worst <= 1e-3, "\(arch) prompt of \(c.prompt_token_ids.count): relative error \(worst)")
            let gen = try model.generate(prompt: c.prompt_token_ids, maxTokens: 16)
            // The shared goldens' generate() masked prompt tokens with id 0 (pad_token_id=0, no attention_mask):
            // those cases are compared with the all-ones-mask continuation (scripts/make_tiny_goldens.py).
            if !c.prompt_token_ids.contains(0) {
                #expect(gen.tokenIds == c.greedy_16, "\(arch) prompt of \(c.prompt_token_ids.count)")
            }
            #expect(gen.tokenIds == unmasked.greedy_16[ci], "\(arch) prompt of \(c.prompt_token_ids.count) (unmasked)")
        }
    }

    /// A config flag Folio cannot honour is an error naming it, and one it honours needs its tensors.
    @Test("hidden_act outside ACT2FN's supported names and biases the config asks for but the file lacks are errors")
    func flagsRefused() throws {
        let src = Fixtures.path("models/hf-tiny/llama")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("folio-flags-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: src + "/model.safetensors", toPath: dir + "/model.safetensors")
        let base = try String(contentsOfFile: src + "/config.json", encoding: .utf8)
        func load(_ edit: (String) -> String) throws { try edit(base).write(toFile: dir + "/config.json", atomically: true, encoding: .utf8); _ = try CausalLM.load(path: dir) }
        #expect(throws: FolioError.unsupported(path: dir + "/config.json", what: "hidden_act relu (supported: silu, swish, gelu, gelu_pytorch_tanh, gelu_new, gelu_fast)")) {
            try load { $0.replacingOccurrences(of: "\"hidden_act\": \"silu\"", with: "\"hidden_act\": \"relu\"") }
        }
        #expect(throws: FolioError.missing(path: dir, what: "tensor model.layers.0.self_attn.q_proj.bias (the config asks for biases)")) {
            try load { $0.replacingOccurrences(of: "\"attention_bias\": false", with: "\"attention_bias\": true") }
        }
        #expect(throws: FolioError.missing(path: dir, what: "tensor model.layers.0.mlp.gate_proj.bias (the config asks for biases)")) {
            try load { $0.replacingOccurrences(of: "\"mlp_bias\": false", with: "\"mlp_bias\": true") }
        }
    }
}
