import FolioWeights

/// Qwen3 (`Qwen3ForCausalLM`; GGUF `qwen3`): Llama with RMSNorm on each query and key head (q_norm, k_norm),
/// `attention_bias` as Llama, and Qwen2's sliding-window rule.
struct Qwen3: Architecture {
    var name: String { "qwen3" }
    var huggingFaceNames: [String] { ["Qwen3ForCausalLM"] }
    var ggufNames: [String] { ["qwen3"] }
    var slidingWindow: SlidingWindowRule { .qwen(maxWindowLayers: true) }
    var configKeys: Set<String> { ["attention_bias"] }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws {
        readAttentionBias(&cfg, c)
        cfg.qkNorm = true
    }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { cfg.qkNorm = true }
}
