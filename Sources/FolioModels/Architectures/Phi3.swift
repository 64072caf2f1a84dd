import FolioWeights

/// Phi-3 (`Phi3ForCausalLM`; GGUF `phi3`): Llama with q/k/v fused in one `qkv_proj` (split at load into views;
/// `WeightLoader.projections`), gate and up fused in `gate_up_proj` (gate first), and `sliding_window` on every layer.
struct Phi3: Architecture {
    var name: String { "phi3" }
    var huggingFaceNames: [String] { ["Phi3ForCausalLM"] }
    var ggufNames: [String] { ["phi3"] }
    var slidingWindow: SlidingWindowRule { .everyLayer }

    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward {
        let c = w.config, h = c.hiddenSize, ff = c.intermediateSize, p = "model.layers.\(i).mlp."
        let gu = try w.matrix(p + "gate_up_proj.weight", 2 * ff, h)
        return .dense(MLPWeights(gate: gu.rowSlice(0, ff), up: gu.rowSlice(ff, ff), down: try w.matrix(p + "down_proj.weight", h, ff)))
    }
}
