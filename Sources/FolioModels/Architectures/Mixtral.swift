import FolioWeights

/// Mixtral (`MixtralForCausalLM`; GGUF `mixtral`, or `llama` with experts): Mistral with a sparse MoE of
/// `intermediate_size` experts in every layer (`block_sparse_moe`, experts w1/w3/w2 = gate/up/down), the top-k
/// routing weights always renormalized.
struct Mixtral: Architecture {
    var name: String { "mixtral" }
    var huggingFaceNames: [String] { ["MixtralForCausalLM"] }
    var ggufNames: [String] { ["mixtral"] }
    var slidingWindow: SlidingWindowRule { .everyLayer }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws { experts(&cfg) }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws {
        cfg.ropeStyle = .interleaved   // llama.cpp's converter permutes its Q/K rows as Llama's
        experts(&cfg)
    }

    private func experts(_ cfg: inout ModelConfig) {
        cfg.moeIntermediateSize = cfg.intermediateSize
        cfg.normTopKProb = true
    }

    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward {
        let c = w.config, h = c.hiddenSize, ff = c.moeIntermediateSize, p = "model.layers.\(i).block_sparse_moe."
        return .moe(MoEWeights(router: try w.matrix(p + "gate.weight", c.numExperts, h), experts: try (0..<c.numExperts).map {
            let e = "\(p)experts.\($0)."
            return MLPWeights(gate: try w.matrix(e + "w1.weight", ff, h), up: try w.matrix(e + "w3.weight", ff, h), down: try w.matrix(e + "w2.weight", h, ff))
        }))
    }
}
