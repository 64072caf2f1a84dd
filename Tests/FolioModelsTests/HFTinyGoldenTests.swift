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
                        "qwen3-moe-dense-layers", "qwen3-moe-sparse-step", "deepseek-v2", "deepseek-v3", "deepseek-v3-plain-rope", "gpt-oss",
                        "qwen2-sliding", "qwen3-moe-sliding", "gemma3-pattern", "phi3-partial-rotary"]

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

    /// A scratch folder holding tiny model `arch`'s weights, for configs edited by the test (removed afterwards).
    func withScratchCopy(of arch: String, _ body: (_ dir: String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("folio-flags-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: Fixtures.path("models/hf-tiny/\(arch)/model.safetensors"), toPath: dir + "/model.safetensors")
        try body(dir)
    }

    /// A config flag Folio cannot honour is an error naming it, and one it honours needs its tensors.
    @Test("hidden_act outside ACT2FN's supported names and biases the config asks for but the file lacks are errors")
    func flagsRefused() throws { try withScratchCopy(of: "llama") { dir in
        let base = try String(contentsOfFile: Fixtures.path("models/hf-tiny/llama/config.json"), encoding: .utf8)
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
        #expect(throws: FolioError.unsupported(path: dir + "/config.json", what: "quantization_config (quant_method gptq); use a GGUF file, or an unquantized checkpoint with --quantization")) {
            try load { $0.replacingOccurrences(of: "\"mlp_bias\": false", with: "\"mlp_bias\": false, \"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4}") }
        }
    } }

    /// Gemma 3 configs: one that turns Gemma into an encoder, and scaled RoPE on the sliding layers, are refused.
    @Test("Gemma 3's use_bidirectional_attention and a scaled sliding-layer RoPE are refused by name")
    func gemmaFlagsRefused() throws { try withScratchCopy(of: "gemma3") { dir in
        let base = try JSONValue.parse(file: Fixtures.path("models/hf-tiny/gemma3/config.json"))
        func load(_ extra: [(String, JSONValue)]) throws {
            guard case .object(var o) = base else { return }
            o.removeAll { k, _ in extra.contains { $0.0 == k } }
            try JSONValue.object(o + extra).jsonString.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            _ = try CausalLM.load(path: dir)
        }
        #expect(throws: FolioError.unsupported(path: dir + "/config.json", what: "use_bidirectional_attention true (an encoder; Folio runs Gemma 3 as a causal LM)")) {
            try load([("use_bidirectional_attention", .bool(true))])
        }
        let rp: JSONValue = .object([("full_attention", .object([("rope_type", .string("default")), ("rope_theta", .number(1e6))])),
                                     ("sliding_attention", .object([("rope_type", .string("linear")), ("factor", .number(8)), ("rope_theta", .number(1e4))]))])
        #expect(throws: FolioError.unsupported(path: dir + "/config.json", what: "rope_parameters.sliding_attention.rope_type linear (Gemma 3's sliding layers run unscaled RoPE)")) {
            try load([("rope_parameters", rp)])
        }
    } }
}

/// Every key of every supported family's transformers config is one Folio reads or knows to have no effect
/// (Sources/FolioModels/ConfigKeys.swift; the keys from scripts/list_config_keys.py).
@Suite("config.json keys")
struct ConfigKeysTests {
    struct Listing: Decodable { let reference: String; let keys: [String: [String]] }

    @Test("each supported family's transformers config keys are all known to Folio")
    func everyKeyKnown() throws {
        let l = try JSONDecoder().decode(Listing.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/config-keys.json"))))
        #expect(l.keys.count == 11)
        for (arch, keys) in l.keys.sorted(by: { $0.key < $1.key }) {
            let unread = ConfigKeys.unread(keys, architecture: arch)
            #expect(unread == [], "\(arch) (\(l.reference)): \(unread.map(String.init(describing:)) ?? "not a supported architecture")")
        }
    }

    @Test("a key no family reads is reported, and one family's key is unread in another")
    func unknownReported() {
        #expect(ConfigKeys.unread(["hidden_size", "fancy_new_attention"], architecture: "LlamaForCausalLM") == ["fancy_new_attention"])
        #expect(ConfigKeys.unread(["swiglu_limit", "kv_lora_rank"], architecture: "GptOssForCausalLM") == ["kv_lora_rank"])
        #expect(ConfigKeys.unread(["hidden_size"], architecture: "BertModel") == nil)
    }
}
