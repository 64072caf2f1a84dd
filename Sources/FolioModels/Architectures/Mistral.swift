import FolioWeights

/// Mistral (`MistralForCausalLM`; GGUF `mistral`): Llama with `sliding_window` on every layer.
struct Mistral: Architecture {
    var name: String { "mistral" }
    var huggingFaceNames: [String] { ["MistralForCausalLM"] }
    var ggufNames: [String] { ["mistral"] }
    var slidingWindow: SlidingWindowRule { .everyLayer }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { try readLlamaFamilyGGUF(&cfg, g) }
}
