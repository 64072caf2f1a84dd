import FolioWeights

/// Llama (`LlamaForCausalLM`; GGUF `llama`): the defaults every other family starts from. Reads `attention_bias`
/// (biases on q/k/v and o_proj) and `mlp_bias` (gate/up/down); a sliding window only on the layers `layer_types`
/// names (as vLLM). A GGUF `llama` file with experts is a Mixtral.
struct Llama: Architecture {
    var name: String { "llama" }
    var huggingFaceNames: [String] { ["LlamaForCausalLM"] }
    var ggufNames: [String] { ["llama"] }
    var slidingWindow: SlidingWindowRule { .layerTypes }
    var configKeys: Set<String> { ["attention_bias", "mlp_bias"] }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws {
        readAttentionBias(&cfg, c)
        cfg.mlpBias = c["mlp_bias"]?.boolValue ?? false
    }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { try readLlamaFamilyGGUF(&cfg, g) }
}
