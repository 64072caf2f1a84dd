import FolioWeights
import Foundation

/// GPT-OSS (`GptOssForCausalLM`; GGUF `gpt-oss`): grouped-query attention with biases and a learned sink logit per
/// head (AttentionShape.sinks), sliding-window and full layers alternating (`layer_types`), YaRN without truncation,
/// and an MoE of every layer: router with a bias, top-k logits softmaxed, experts with biases and the clamped SwiGLU
/// (Activation.swigluClamped). Hugging Face stores each layer's experts fused and transposed (`gate_up_proj`
/// [experts, hidden, 2 * ff] with gate and up interleaved column by column, `down_proj` [experts, ff, hidden]);
/// they are rearranged at load into the [out, in] matrices every other MoE uses. llama.cpp's converter writes them
/// split (ffn_gate_exps / ffn_up_exps / ffn_down_exps with biases), in MXFP4 when the checkpoint is.
struct GptOss: Architecture {
    var name: String { "gptOss" }
    var huggingFaceNames: [String] { ["GptOssForCausalLM"] }
    var ggufNames: [String] { ["gpt-oss"] }
    /// `layer_types`, else even layers sliding (transformers' default).
    var slidingWindow: SlidingWindowRule { .pattern(key: nil, every: 2) }
    var configKeys: Set<String> { ["attention_bias", "swiglu_alpha", "swiglu_limit"] }
    /// The released checkpoints' experts: MXFP4 blocks and scales (`*_blocks`, `*_scales`), run on the MXFP4 kernel.
    var quantizationMethods: Set<String> { ["mxfp4"] }
    var ggufNorms: LayerNormNames { LayerNormNames(attention: "attn_norm.weight", feedForward: "post_attention_norm.weight") }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws {
        readAttentionBias(&cfg, c)
        try cfg.readGptOss(c, path: path)
    }
    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { cfg.readGptOssGGUF(g) }
    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward { .moe(try w.hfGptOssExperts(i)) }
}

extension ModelConfig {
    fileprivate mutating func readGptOss(_ c: JSONValue, path: String) throws {
        attentionSinks = true
        activation = .swigluClamped
        swigluAlpha = Float(c["swiglu_alpha"]?.doubleValue ?? 1.702)
        swigluLimit = Float(c["swiglu_limit"]?.doubleValue ?? 7)
        guard swigluAlpha.isFinite, swigluLimit.isFinite, swigluLimit > 0 else {
            throw FolioError.malformedFile(path: path, problem: "config swiglu_alpha \(swigluAlpha) / swiglu_limit \(swigluLimit) is invalid")
        }
        normTopKProb = true   // softmax over the chosen experts' logits
        moeIntermediateSize = intermediateSize
        guard numExperts > 0 else { throw FolioError.missing(path: path, what: "config key num_local_experts") }
    }

    /// The `gpt-oss.*` metadata: llama.cpp's fixed alpha 1.702 and limit 7, sliding window on even layers, YaRN as the
    /// checkpoints configure it (untruncated).
    fileprivate mutating func readGptOssGGUF(_ g: GGUFFile) {
        attentionSinks = true
        activation = .swigluClamped
        normTopKProb = true
        ropeTruncate = false
        let w = g.archValue("attention.sliding_window")?.intValue ?? 128
        for i in 0..<numLayers where i % 2 == 0 { slidingWindow[i] = w }
    }
}

extension WeightLoader {
    /// Expert e's gate, up and down as [out, in] matrices.
    fileprivate typealias ExpertMatrices = (Int) throws -> (gate: WeightTensor, up: WeightTensor, down: WeightTensor)

    /// One layer's experts from a Hugging Face checkpoint, float or MXFP4 as released, with their biases (gate and up
    /// interleaved like their rows), and the router with its bias.
    fileprivate func hfGptOssExperts(_ i: Int) throws -> MoEWeights {
        let c = config, h = c.hiddenSize, E = c.numExperts, ff = c.moeIntermediateSize, p = "model.layers.\(i).mlp."
        let mxfp4 = source.tensor(named: p + "experts.gate_up_proj_blocks") != nil
        let (matrices, mapped) = try mxfp4 ? mxfp4ExpertMatrices(i) : (floatExpertMatrices(i), [])
        let guB = try vector(p + "experts.gate_up_proj_bias", E * 2 * ff), dB = try vector(p + "experts.down_proj_bias", E * h)
        guard let guB, let dB else { throw FolioError.missing(path: source.path, what: "tensor \(p)experts.gate_up_proj_bias / down_proj_bias") }
        var experts: [MLPWeights] = []
        for e in 0..<E {
            let (gate, up, down) = try matrices(e)
            let b = Array(guB[(e * 2 * ff)..<((e + 1) * 2 * ff)])
            experts.append(MLPWeights(gate: gate, up: up, down: down, gateBias: stride(from: 0, to: 2 * ff, by: 2).map { b[$0] },
                                      upBias: stride(from: 1, to: 2 * ff, by: 2).map { b[$0] }, downBias: Array(dB[(e * h)..<((e + 1) * h)])))
        }
        // The rearranged copies are all that is read from now on: the mapped MXFP4 blocks stop counting as resident memory.
        for t in mapped { (t.owner as? MappedFile)?.release(t.data, t.byteCount) }
        var m = MoEWeights(router: try matrix(p + "router.weight", E, h), experts: experts)
        m.routerBias = try vector(p + "router.bias", E)
        return m
    }

    /// Float experts: `gate_up_proj` [experts, hidden, 2 * ff] (gate and up interleaved column by column) and
    /// `down_proj` [experts, ff, hidden], transposed into float32 [out, in] matrices.
    private func floatExpertMatrices(_ i: Int) throws -> ExpertMatrices {
        let c = config, h = c.hiddenSize, E = c.numExperts, ff = c.moeIntermediateSize, p = "model.layers.\(i).mlp.experts."
        let gu = try source.require(p + "gate_up_proj"), d = try source.require(p + "down_proj")
        guard gu.shape == [E, h, 2 * ff], d.shape == [E, ff, h] else {
            throw FolioError.malformedFile(path: source.path, problem: "experts of layer \(i) have shapes \(gu.shape), \(d.shape), expected [\(E), \(h), \(2 * ff)], [\(E), \(ff), \(h)]")
        }
        let guF = try gu.toFloats(), dF = try d.toFloats(), name = "model.layers.\(i).mlp.experts"
        return { e in
            var gate = [Float](repeating: 0, count: ff * h), up = gate, down = [Float](repeating: 0, count: h * ff)
            for r in 0..<h {
                for j in 0..<ff {
                    gate[j * h + r] = guF[(e * h + r) * 2 * ff + 2 * j]
                    up[j * h + r] = guF[(e * h + r) * 2 * ff + 2 * j + 1]
                }
            }
            for j in 0..<ff { for o in 0..<h { down[o * ff + j] = dF[(e * ff + j) * h + o] } }
            return (.float32(name: "\(name)[\(e)].gate", rows: ff, cols: h, values: gate), .float32(name: "\(name)[\(e)].up", rows: ff, cols: h, values: up),
                    .float32(name: "\(name)[\(e)].down", rows: h, cols: ff, values: down))
        }
    }

    /// MXFP4 experts as the released checkpoints store them: gate_up and down as blocks and scales with rows = outputs
    /// (gate and up interleaved row by row), rearranged into GGUF MXFP4 matrices (MXFP4Checkpoint); with the mapped
    /// tensors they are copied from.
    private func mxfp4ExpertMatrices(_ i: Int) throws -> (ExpertMatrices, [WeightTensor]) {
        let c = config, h = c.hiddenSize, E = c.numExperts, ff = c.moeIntermediateSize, p = "model.layers.\(i).mlp.experts."
        let gub = try source.require(p + "gate_up_proj_blocks"), gus = try source.require(p + "gate_up_proj_scales")
        let db = try source.require(p + "down_proj_blocks"), ds = try source.require(p + "down_proj_scales")
        guard gub.shape == [E, 2 * ff, h / 32, 16], db.shape == [E, h, ff / 32, 16], h % 32 == 0, ff % 32 == 0 else {
            throw FolioError.malformedFile(path: source.path, problem: "MXFP4 experts of layer \(i) have shapes \(gub.shape), \(db.shape), expected [\(E), \(2 * ff), \(h / 32), 16], [\(E), \(h), \(ff / 32), 16]")
        }
        let path = source.path
        func mx(_ n: String, _ b: WeightTensor, _ s: WeightTensor, _ e: Int, _ rows: [Int]) throws -> WeightTensor {
            try MXFP4Checkpoint.matrix(name: "\(p)\(n)[\(e)]", blocks: b, scales: s, entry: e, rows: rows, path: path)
        }
        return ({ e in
            (try mx("gate", gub, gus, e, Array(stride(from: 0, to: 2 * ff, by: 2))), try mx("up", gub, gus, e, Array(stride(from: 1, to: 2 * ff, by: 2))),
             try mx("down", db, ds, e, Array(0..<h)))
        }, [gub, gus, db, ds])
    }
}
