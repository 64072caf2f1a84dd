import FolioWeights

/// Qwen2 (`Qwen2ForCausalLM`; GGUF `qwen2`): Llama with biases on q/k/v (always; not on o_proj, and
/// `attention_bias` is not read) and a sliding window only with `use_sliding_window`, from `max_window_layers` on.
struct Qwen2: Architecture {
    var name: String { "qwen2" }
    var huggingFaceNames: [String] { ["Qwen2ForCausalLM"] }
    var ggufNames: [String] { ["qwen2"] }
    var slidingWindow: SlidingWindowRule { .qwen(maxWindowLayers: true) }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws { cfg.attentionBias = true }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { cfg.attentionBias = g.tensor(named: "blk.0.attn_q.bias") != nil }
}
