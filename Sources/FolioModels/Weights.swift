import FolioKernels
import FolioWeights

struct LayerWeights: Sendable {
    let attnNorm: [Float]          // [hidden]
    let attention: AttentionWeights
    let postAttnNorm: [Float]?     // Gemma 3 sandwich norm
    let ffnNorm: [Float]           // [hidden]
    let ffn: FeedForward
    let postFfnNorm: [Float]?
}

struct ModelWeights: Sendable {
    let embedding: WeightTensor    // [vocab, hidden]
    let layers: [LayerWeights]
    let finalNorm: [Float]
    let lmHead: WeightTensor       // [vocab, hidden]
    /// GGUF `rope_freqs.weight` (Llama 3.1 RoPE scaling baked in): divides each frequency.
    let ropeFreqFactors: [Float]?
}

extension WeightTensor {
    /// Entry `i` of a stacked 3-D tensor ([n, rows, cols] -> [rows, cols]).
    func stackedEntry(_ i: Int) -> WeightTensor {
        let s = rowSlice(i, 1)
        return WeightTensor(name: "\(name)[\(i)]", type: type, shape: Array(shape.dropFirst()), data: s.data,
                            byteCount: s.byteCount, owner: owner)
    }
}

/// Weight names and layout of a checkpoint. Hugging Face and GGUF files name the same tensors differently.
struct WeightLoader {
    let source: any WeightSource
    let config: ModelConfig
    let isGGUF: Bool

    /// A norm weight of exactly `length` elements (the kernels read that many through raw pointers).
    func norm(_ name: String, _ length: Int) throws -> [Float] {
        let t = try source.require(name)
        guard t.elementCount == t.cols else { throw FolioError.malformedFile(path: source.path, problem: "\(name) is not a vector") }
        guard t.cols == length else {
            throw FolioError.malformedFile(path: source.path, problem: "\(name) has \(t.cols) elements, expected \(length)")
        }
        var v = try t.toFloats()
        if config.normWeightOffset != 0 { for i in v.indices { v[i] += config.normWeightOffset } }
        return v
    }

    /// A bias the config says is there (an error naming it when missing), or nil when it says there is none.
    func bias(_ name: String, _ length: Int, if present: Bool) throws -> [Float]? {
        guard present else { return nil }
        guard let v = try vector(name, length) else { throw FolioError.missing(path: source.path, what: "tensor \(name) (the config asks for biases)") }
        return v
    }

    /// An optional bias vector of exactly `length` elements.
    func vector(_ name: String, _ length: Int) throws -> [Float]? {
        guard let t = source.tensor(named: name) else { return nil }
        guard t.elementCount == length else {
            throw FolioError.malformedFile(path: source.path, problem: "\(name) has \(t.elementCount) elements, expected \(length)")
        }
        return try t.toFloats()
    }

    /// A matrix with the expected shape [rows, cols], or an error naming the mismatch.
    func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> WeightTensor {
        try check(try source.require(name), rows, cols)
    }

    func check(_ t: WeightTensor, _ rows: Int, _ cols: Int) throws -> WeightTensor {
        guard t.cols == cols, t.rows == rows, t.type.isSupported else {
            throw FolioError.malformedFile(path: source.path, problem: "tensor \(t.name) has shape \(t.shape) (\(t.type)), expected [\(rows), \(cols)]")
        }
        return t
    }

    func load() throws -> ModelWeights {
        let c = config
        let h = c.hiddenSize
        let embName = isGGUF ? "token_embd.weight" : "model.embed_tokens.weight"
        let embedding = try matrix(embName, c.vocabSize, h)
        var layers: [LayerWeights] = []
        for i in 0..<c.numLayers { layers.append(try layer(i)) }
        let finalNorm = try norm(isGGUF ? "output_norm.weight" : "model.norm.weight", h)
        let headName = isGGUF ? "output.weight" : "lm_head.weight"
        let lmHead = c.tieWordEmbeddings ? (source.tensor(named: headName).map { try? check($0, c.vocabSize, h) } ?? nil) ?? embedding
                                         : try matrix(headName, c.vocabSize, h)
        var freq: [Float]? = nil
        if isGGUF, let f = source.tensor(named: "rope_freqs.weight") {
            freq = try f.toFloats()
            guard freq!.count == c.ropeDim / 2 else {
                throw FolioError.malformedFile(path: source.path, problem: "rope_freqs.weight has \(freq!.count) entries, expected \(c.ropeDim / 2)")
            }
        }
        return ModelWeights(embedding: embedding, layers: layers, finalNorm: finalNorm, lmHead: lmHead, ropeFreqFactors: freq)
    }

    /// q, k and v: views of a fused [q; k; v] projection where the file has one (Phi-3), else the three tensors.
    func projections(fused: String, q: String, k: String, v: String) throws -> (WeightTensor, WeightTensor, WeightTensor) {
        let c = config, h = c.hiddenSize
        if let t = source.tensor(named: fused) {
            let qkv = try check(t, c.qDim + 2 * c.kvDim, h)
            return (qkv.rowSlice(0, c.qDim), qkv.rowSlice(c.qDim, c.kvDim), qkv.rowSlice(c.qDim + c.kvDim, c.kvDim))
        }
        return (try matrix(q, c.qDim, h), try matrix(k, c.kvDim, h), try matrix(v, c.kvDim, h))
    }

    /// Layer i: the blocks its family names, under the names of this file's format.
    func layer(_ i: Int) throws -> LayerWeights {
        let c = config, h = c.hiddenSize, arch = c.arch
        let p = isGGUF ? "blk.\(i)." : "model.layers.\(i).", n = isGGUF ? arch.ggufNorms : arch.huggingFaceNorms
        return LayerWeights(
            attnNorm: try norm(p + n.attention, h), attention: try arch.attention(self, layer: i),
            postAttnNorm: try n.postAttention.map { try norm(p + $0, h) }, ffnNorm: try norm(p + n.feedForward, h),
            ffn: try isGGUF ? ggufFeedForward(i) : arch.huggingFaceFeedForward(self, layer: i),
            postFfnNorm: try n.postFeedForward.map { try norm(p + $0, h) })
    }

    /// Grouped-query attention's projections of layer i, in either format.
    func groupedAttention(_ i: Int) throws -> GroupedAttentionWeights { try isGGUF ? ggufAttention(i) : hfAttention(i) }

    /// The dense MLP of a Hugging Face layer (`mlp.gate_proj`/`up_proj`/`down_proj`, with biases under `mlp_bias`).
    func huggingFaceMLP(_ i: Int) throws -> MLPWeights {
        let c = config, h = c.hiddenSize, ff = c.intermediateSize, mb = c.mlpBias, p = "model.layers.\(i).mlp."
        return MLPWeights(gate: try matrix(p + "gate_proj.weight", ff, h), up: try matrix(p + "up_proj.weight", ff, h),
                          down: try matrix(p + "down_proj.weight", h, ff), gateBias: try bias(p + "gate_proj.bias", ff, if: mb),
                          upBias: try bias(p + "up_proj.bias", ff, if: mb), downBias: try bias(p + "down_proj.bias", h, if: mb))
    }

    /// Routed experts as Qwen3-MoE and DeepSeek name them (`mlp.gate`, `mlp.experts.N.*`), with DeepSeek's shared
    /// experts and routing bias where the config has them.
    func huggingFaceExperts(_ i: Int) throws -> MoEWeights {
        let c = config, h = c.hiddenSize, ff = c.moeIntermediateSize, p = "model.layers.\(i).mlp."
        func mlp(_ e: String, _ ff: Int) throws -> MLPWeights {
            MLPWeights(gate: try matrix(e + "gate_proj.weight", ff, h), up: try matrix(e + "up_proj.weight", ff, h),
                       down: try matrix(e + "down_proj.weight", h, ff))
        }
        var m = MoEWeights(router: try matrix(p + "gate.weight", c.numExperts, h), experts: try (0..<c.numExperts).map { try mlp("\(p)experts.\($0).", ff) })
        if c.routing.sharedExperts > 0 { m.shared = try mlp(p + "shared_experts.", ff * c.routing.sharedExperts) }
        m.scoreBias = try vector(p + "gate.e_score_correction_bias", c.numExperts)
        return m
    }

    func hfAttention(_ i: Int) throws -> GroupedAttentionWeights {
        let c = config, h = c.hiddenSize, p = "model.layers.\(i).self_attn."
        let (q, k, v) = try projections(fused: p + "qkv_proj.weight", q: p + "q_proj.weight", k: p + "k_proj.weight", v: p + "v_proj.weight")
        var a = GroupedAttentionWeights(
            q: q, k: k, v: v, o: try matrix(p + "o_proj.weight", h, c.qDim),
            qBias: try bias(p + "q_proj.bias", c.qDim, if: c.attentionBias),
            kBias: try bias(p + "k_proj.bias", c.kvDim, if: c.attentionBias),
            vBias: try bias(p + "v_proj.bias", c.kvDim, if: c.attentionBias),
            qNorm: c.qkNorm ? try norm(p + "q_norm.weight", c.headDim) : nil,
            kNorm: c.qkNorm ? try norm(p + "k_norm.weight", c.headDim) : nil)
        a.oBias = try bias(p + "o_proj.bias", h, if: c.outputBias)
        if c.attentionSinks { a.sinks = try bias(p + "sinks", c.numHeads, if: true) }
        return a
    }

    /// The expert biases llama.cpp's converter writes beside stacked expert weights ([experts, n] each), per expert.
    func ggufExpertBiases(_ name: String, experts: Int, length: Int) throws -> [[Float]]? {
        guard let v = try vector(name, experts * length) else { return nil }
        return (0..<experts).map { Array(v[($0 * length)..<(($0 + 1) * length)]) }
    }

    /// Layer i's feed-forward from a GGUF file, whatever the family: routed experts (stacked or one tensor each, with
    /// shared experts and biases) where the layer has a router, else a dense MLP (gate and up fused as Phi-3's).
    func ggufFeedForward(_ i: Int) throws -> FeedForward {
        let c = config, h = c.hiddenSize, p = "blk.\(i)."
        let ffn: FeedForward
        if c.numExperts > 0, source.tensor(named: p + "ffn_gate_inp.weight") != nil {   // a layer without a router is dense
            let ff = c.moeIntermediateSize
            let router = try matrix(p + "ffn_gate_inp.weight", c.numExperts, h)
            var experts: [MLPWeights] = []
            if let g = source.tensor(named: p + "ffn_gate_exps.weight") {
                let u = try source.require(p + "ffn_up_exps.weight"), d = try source.require(p + "ffn_down_exps.weight")
                guard g.shape.count == 3, g.shape[0] == c.numExperts, u.shape == g.shape, d.shape.count == 3, d.shape[0] == c.numExperts else {
                    throw FolioError.malformedFile(path: source.path, problem: "expert tensors of layer \(i) have shapes \(g.shape), \(u.shape), \(d.shape)")
                }
                let gb = try ggufExpertBiases(p + "ffn_gate_exps.bias", experts: c.numExperts, length: ff)
                let ub = try ggufExpertBiases(p + "ffn_up_exps.bias", experts: c.numExperts, length: ff)
                let db = try ggufExpertBiases(p + "ffn_down_exps.bias", experts: c.numExperts, length: h)
                for e in 0..<c.numExperts {
                    experts.append(MLPWeights(gate: try check(g.stackedEntry(e), ff, h), up: try check(u.stackedEntry(e), ff, h),
                                              down: try check(d.stackedEntry(e), h, ff), gateBias: gb?[e], upBias: ub?[e], downBias: db?[e]))
                }
            } else {
                for e in 0..<c.numExperts {
                    experts.append(MLPWeights(gate: try matrix(p + "ffn_gate.\(e).weight", ff, h), up: try matrix(p + "ffn_up.\(e).weight", ff, h),
                                              down: try matrix(p + "ffn_down.\(e).weight", h, ff)))
                }
            }
            var m = MoEWeights(router: router, experts: experts)
            if c.routing.sharedExperts > 0 {
                let sf = ff * c.routing.sharedExperts
                m.shared = MLPWeights(gate: try matrix(p + "ffn_gate_shexp.weight", sf, h), up: try matrix(p + "ffn_up_shexp.weight", sf, h),
                                      down: try matrix(p + "ffn_down_shexp.weight", h, sf))
            }
            m.scoreBias = try vector(p + "exp_probs_b.bias", c.numExperts)
            m.routerBias = try vector(p + "ffn_gate_inp.bias", c.numExperts)
            ffn = .moe(m)
        } else if source.tensor(named: p + "ffn_gate.weight") == nil, let up = source.tensor(named: p + "ffn_up.weight"),
                  up.rows == 2 * c.intermediateSize {
            // Phi-3: gate and up fused, gate first.
            ffn = .dense(MLPWeights(gate: up.rowSlice(0, c.intermediateSize), up: up.rowSlice(c.intermediateSize, c.intermediateSize),
                                    down: try matrix(p + "ffn_down.weight", h, c.intermediateSize)))
        } else {
            let ff = c.intermediateSize
            ffn = .dense(MLPWeights(gate: try matrix(p + "ffn_gate.weight", ff, h), up: try matrix(p + "ffn_up.weight", ff, h),
                                    down: try matrix(p + "ffn_down.weight", h, ff), gateBias: try vector(p + "ffn_gate.bias", ff),
                                    upBias: try vector(p + "ffn_up.bias", ff), downBias: try vector(p + "ffn_down.bias", h)))
        }
        return ffn
    }

    func ggufAttention(_ i: Int) throws -> GroupedAttentionWeights {
        let c = config, h = c.hiddenSize, p = "blk.\(i)."
        let (q, k, v) = try projections(fused: p + "attn_qkv.weight", q: p + "attn_q.weight", k: p + "attn_k.weight", v: p + "attn_v.weight")
        var a = GroupedAttentionWeights(
            q: q, k: k, v: v, o: try matrix(p + "attn_output.weight", h, c.qDim),
            qBias: try vector(p + "attn_q.bias", c.qDim), kBias: try vector(p + "attn_k.bias", c.kvDim), vBias: try vector(p + "attn_v.bias", c.kvDim),
            qNorm: c.qkNorm ? try norm(p + "attn_q_norm.weight", c.headDim) : nil,
            kNorm: c.qkNorm ? try norm(p + "attn_k_norm.weight", c.headDim) : nil)
        a.oBias = try vector(p + "attn_output.bias", h)
        if c.attentionSinks { a.sinks = try bias(p + "attn_sinks.weight", c.numHeads, if: true) }
        return a
    }
}

extension ModelWeights {
    /// The same weights with `transform` applied to every projection (q/k/v/o, MLP, experts, output head);
    /// embeddings, norms and MoE routers stay as they are.
    func mapProjections(_ transform: (WeightTensor) throws -> WeightTensor) throws -> ModelWeights {
        func mlp(_ m: MLPWeights) throws -> MLPWeights {
            MLPWeights(gate: try transform(m.gate), up: try transform(m.up), down: try transform(m.down),
                       gateBias: m.gateBias, upBias: m.upBias, downBias: m.downBias)
        }
        let layers = try self.layers.map { l -> LayerWeights in
            let ffn: FeedForward
            switch l.ffn {
            case .dense(let m): ffn = .dense(try mlp(m))
            case .moe(let m):
                ffn = .moe(MoEWeights(router: m.router, experts: try m.experts.map(mlp), shared: try m.shared.map(mlp), scoreBias: m.scoreBias,
                                      routerBias: m.routerBias))
            }
            let attention: AttentionWeights
            switch l.attention {
            case .grouped(let a):
                var t = GroupedAttentionWeights(q: try transform(a.q), k: try transform(a.k), v: try transform(a.v), o: try transform(a.o),
                                                qBias: a.qBias, kBias: a.kBias, vBias: a.vBias, qNorm: a.qNorm, kNorm: a.kNorm)
                t.oBias = a.oBias
                t.sinks = a.sinks
                attention = .grouped(t)
            case .latent(let a): attention = .latent(try a.mapProjections(transform))
            }
            return LayerWeights(attnNorm: l.attnNorm, attention: attention, postAttnNorm: l.postAttnNorm, ffnNorm: l.ffnNorm, ffn: ffn,
                                postFfnNorm: l.postFfnNorm)
        }
        return ModelWeights(embedding: embedding, layers: layers, finalNorm: finalNorm, lmHead: try transform(lmHead),
                            ropeFreqFactors: ropeFreqFactors)
    }

    /// Projections (and a tied embedding, which then shares the packed output head) repacked into 16-row panels
    /// where this CPU has the packed kernels; the others stay as they are.
    func packed(threads: Int) throws -> ModelWeights {
        func pack(_ w: WeightTensor) throws -> WeightTensor {
            guard w.isPackable else { return w }
            return try w.packed { n, body in parallelFor(n, minChunk: 4, threads: threads, body) }
        }
        let tied = embedding.data == lmHead.data && embedding.type == lmHead.type
        let p = try mapProjections(pack)
        return ModelWeights(embedding: tied ? p.lmHead : embedding, layers: p.layers, finalNorm: finalNorm, lmHead: p.lmHead,
                            ropeFreqFactors: ropeFreqFactors)
    }

    /// Float projection weights re-encoded as `target` (Q8_0 or Q4_0) for `--quantization`.
    func quantized(to target: TensorType, threads: Int) throws -> ModelWeights {
        try mapProjections { w in
            guard w.isQuantizable else { return w }
            return try w.quantized(to: target) { n, body in parallelFor(n, minChunk: 64, threads: threads, body) }
        }
    }

}
