import FolioWeights

/// Qwen3-MoE (`Qwen3MoeForCausalLM`; GGUF `qwen3moe`): Qwen3 attention with routed experts (`mlp.experts.N`,
/// router `mlp.gate`) in every `decoder_sparse_step`-th layer not listed in `mlp_only_layers`, the others dense;
/// `norm_topk_prob` renormalizes the top-k weights; the sliding window (with `use_sliding_window`) on every layer.
struct Qwen3MoE: Architecture {
    var name: String { "qwen3MoE" }
    var huggingFaceNames: [String] { ["Qwen3MoeForCausalLM"] }
    var ggufNames: [String] { ["qwen3moe"] }
    var slidingWindow: SlidingWindowRule { .qwen(maxWindowLayers: false) }
    var configKeys: Set<String> { ["attention_bias", "decoder_sparse_step", "mlp_only_layers"] }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws {
        readAttentionBias(&cfg, c)
        cfg.qkNorm = true
        let step = c["decoder_sparse_step"]?.intValue ?? 1
        guard step >= 1 else { throw FolioError.malformedFile(path: path, problem: "config decoder_sparse_step \(step) must be at least 1") }
        let only = c["mlp_only_layers"]?.arrayValue?.compactMap(\.intValue) ?? []
        cfg.denseLayers = Set((0..<cfg.numLayers).filter { only.contains($0) || ($0 + 1) % step != 0 })
    }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { cfg.qkNorm = true }

    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward {
        w.config.denseLayers.contains(i) ? .dense(try w.huggingFaceMLP(i)) : .moe(try w.huggingFaceExperts(i))
    }
}
