import FolioWeights

/// How a model splits across `size` tensor-parallel ranks (Megatron's splits): KV heads (and each one's group of
/// query heads) across ranks, so q/k/v take those rows and o_proj those columns; gate/up take a range of the
/// intermediate rows and down_proj those columns (every expert of an MoE layer likewise, the router whole on every
/// rank: each rank routes its tokens the same way and computes its share of each chosen expert); the embedding and
/// LM head a range of the vocabulary. Multi-head latent attention (DeepSeek) splits its heads the same way, the
/// latent projection whole on every rank. Counts that do not divide evenly give ranks one more or one less (SmolLM2's
/// 3 KV heads on 2 ranks: 1 and 2).
public struct ShardPlan: Sendable, Equatable {
    public let rank: Int, size: Int
    public let kvHeads: [Range<Int>]
    public let groupSize: Int
    public let intermediate: [Range<Int>]
    /// Each routed expert's intermediate rows (moe_intermediate_size), and the shared experts' (DeepSeek).
    public let expertIntermediate: [Range<Int>]
    public let vocab: [Range<Int>]
    let align: Int

    public init(config c: ModelConfig, rank: Int, size: Int, intermediateAlign: Int) throws {
        func refuse(_ m: String) -> FolioError { FolioError.invalidArgument(name: "--tensor-parallel-size", message: m) }
        // Multi-head latent attention has numKVHeads = numHeads: its heads split like KV heads of one query each.
        guard c.numKVHeads >= size else {
            throw refuse("\(size) ranks need at least \(size) \(c.latentAttention == nil ? "KV heads" : "attention heads"); \(c.architecture) has \(c.numKVHeads)")
        }
        self.rank = rank
        self.size = size
        func split(_ n: Int, align: Int = 1) -> [Range<Int>] { Self.split(n, align: align, size: size) }
        /// Intermediate rows in whole blocks of the down projections' encoding, at least one block per rank.
        func rows(_ n: Int, _ what: String) throws -> [Range<Int>] {
            guard n % intermediateAlign == 0, n / intermediateAlign >= size else {
                throw refuse("\(what) \(n) does not split into \(size) ranges of whole \(intermediateAlign)-element blocks")
            }
            return split(n, align: intermediateAlign)
        }
        kvHeads = split(c.numKVHeads)
        groupSize = c.numHeads / c.numKVHeads
        intermediate = try rows(c.intermediateSize, "intermediate size")
        expertIntermediate = c.numExperts > 0 ? try rows(c.moeIntermediateSize, "expert intermediate size") : split(0)
        vocab = split(c.vocabSize)
        align = intermediateAlign
    }

    /// `n` rows split into `size` contiguous ranges of whole `align`-row blocks (the last takes the rest).
    static func split(_ n: Int, align: Int, size: Int) -> [Range<Int>] {
        let units = n / align
        return (0..<size).map { r in (r * units / size * align)..<((r + 1) == size ? n : (r + 1) * units / size * align) }
    }

    /// This rank's range of `n` intermediate rows, in whole blocks of the down projection's encoding.
    func myRange(of n: Int) -> Range<Int> { Self.split(n, align: align, size: size)[rank] }

    public var myKV: Range<Int> { kvHeads[rank] }

    /// This rank's rows of the query and of the key/value projections, heads of `d` rows each.
    func myRows(headDim d: Int) -> (q: Range<Int>, kv: Range<Int>) {
        ((myHeads.lowerBound * d)..<(myHeads.upperBound * d), (myKV.lowerBound * d)..<(myKV.upperBound * d))
    }
    public var myHeads: Range<Int> { (myKV.lowerBound * groupSize)..<(myKV.upperBound * groupSize) }

    /// This rank's config: its heads and intermediate rows (hidden size and vocabulary stay whole).
    func local(_ c: ModelConfig) -> ModelConfig {
        var l = c
        l.numKVHeads = myKV.count
        l.numHeads = myHeads.count
        l.intermediateSize = intermediate[rank].count
        l.moeIntermediateSize = expertIntermediate[rank].count
        return l
    }

    /// The whole model's config from a rank's (`local`'s inverse).
    func full(_ l: ModelConfig) -> ModelConfig {
        var c = l
        c.numKVHeads = kvHeads.last!.upperBound
        c.numHeads = c.numKVHeads * groupSize
        c.intermediateSize = intermediate.last!.upperBound
        c.moeIntermediateSize = expertIntermediate.last!.upperBound
        return c
    }

    /// A LoRA adapter's share of projection `t` (of the whole model `c`): the output rows this rank computes (its
    /// heads' rows of q/k/v, its intermediate rows of gate/up; o and down keep every row), and the input columns
    /// it sees (its heads' columns of o, its intermediate columns of down; the others read the whole hidden state).
    /// Row-split projections' partial outputs B (A_rank x_rank) add up in the all-reduce that follows them.
    func lora(_ t: LoRATarget, _ c: ModelConfig) -> (rows: Range<Int>, columns: Range<Int>?) {
        let (q, kv) = myRows(headDim: c.headDim)
        switch t {
        case .q: return (q, nil)
        case .k, .v: return (kv, nil)
        case .gate, .up: return (intermediate[rank], nil)
        case .o: return (0..<c.hiddenSize, q)
        case .down: return (0..<c.hiddenSize, intermediate[rank])
        }
    }

    /// This rank's weights: row slices (views) of q/k/v, gate/up, embedding and LM head; column copies of o and
    /// down; the biases that follow; o's and down's biases on rank 0 only (the all-reduce adds them once).
    func shard(_ w: ModelWeights, config c: ModelConfig) throws -> ModelWeights {
        let d = c.headDim, h = myHeads, ff = intermediate[rank]
        func cols(_ t: WeightTensor, _ r: Range<Int>) throws -> WeightTensor {
            guard let s = t.columnSlice(r.lowerBound, r.count) else {
                throw FolioError.invalidArgument(name: "--tensor-parallel-size",
                                                 message: "\(t.name) (\(t.type)) cannot be split at column \(r.lowerBound): not a block boundary")
            }
            return s
        }
        func part(_ v: [Float]?, _ r: Range<Int>) -> [Float]? { v.map { Array($0[r]) } }
        let (qRows, kvRows) = myRows(headDim: d)
        /// An MLP's share: rows `r` of gate/up, those columns of down; down's bias on rank 0 only.
        func mlp(_ m: MLPWeights, _ r: Range<Int>) throws -> MLPWeights {
            MLPWeights(gate: m.gate.rowSlice(r.lowerBound, r.count), up: m.up.rowSlice(r.lowerBound, r.count), down: try cols(m.down, r),
                       gateBias: part(m.gateBias, r), upBias: part(m.upBias, r), downBias: rank == 0 ? m.downBias : nil)
        }
        /// Multi-head latent attention's share: this rank's heads of the query (up-)projection, of the per-head key
        /// and value up-projections and of o_proj's columns; the latent projection and its norm whole on every rank,
        /// so each rank caches the whole latent row (one row per token, shared by every head).
        func latent(_ a: LatentAttentionWeights) throws -> LatentAttentionWeights {
            let m = c.latentAttention!, qr = myRows(headDim: m.qkDim).q
            return LatentAttentionWeights(q: a.q?.rowSlice(qr.lowerBound, qr.count), qA: a.qA, qANorm: a.qANorm, qB: a.qB?.rowSlice(qr.lowerBound, qr.count),
                                          kvA: a.kvA, kvANorm: a.kvANorm, kUp: Array(a.kUp[h]), vUp: Array(a.vUp[h]), kAbsorb: Array(a.kAbsorb[h]),
                                          o: try cols(a.o, myRows(headDim: m.valueDim).q))
        }
        let layers = try w.layers.map { l -> LayerWeights in
            let ffn: FeedForward
            switch l.ffn {
            case .dense(let m): ffn = .dense(try mlp(m, ff))
            case .moe(let m):
                // A routed expert's output on each rank is its share times the routing weight; the all-reduce sums
                // the shares (the weight multiplies rank 0's down bias once).
                ffn = .moe(MoEWeights(router: m.router, experts: try m.experts.map { try mlp($0, expertIntermediate[rank]) },
                                      shared: try m.shared.map { try mlp($0, myRange(of: $0.gate.rows)) }, scoreBias: m.scoreBias,
                                      routerBias: m.routerBias))
            }
            let attention: AttentionWeights
            switch l.attention {
            case .latent(let a): attention = .latent(try latent(a))
            case .grouped(let a):
                var at = GroupedAttentionWeights(q: a.q.rowSlice(qRows.lowerBound, qRows.count), k: a.k.rowSlice(kvRows.lowerBound, kvRows.count),
                                                 v: a.v.rowSlice(kvRows.lowerBound, kvRows.count), o: try cols(a.o, qRows),
                                                 qBias: part(a.qBias, qRows), kBias: part(a.kBias, kvRows), vBias: part(a.vBias, kvRows),
                                                 qNorm: a.qNorm, kNorm: a.kNorm)
                at.oBias = rank == 0 ? a.oBias : nil
                at.sinks = part(a.sinks, h)   // one per query head (GPT-OSS)
                attention = .grouped(at)
            }
            return LayerWeights(attnNorm: l.attnNorm, attention: attention, postAttnNorm: l.postAttnNorm, ffnNorm: l.ffnNorm,
                                ffn: ffn, postFfnNorm: l.postFfnNorm)
        }
        let v = vocab[rank]
        return ModelWeights(embedding: w.embedding.rowSlice(v.lowerBound, v.count), layers: layers, finalNorm: w.finalNorm,
                            lmHead: w.lmHead.rowSlice(v.lowerBound, v.count), ropeFreqFactors: w.ropeFreqFactors)
    }
}

extension CausalLM {
    /// The config of the rank holding the most KV heads or layers (this model's own without model parallelism): what
    /// a KV budget shared by every rank is sized by.
    public var largestShardConfig: ModelConfig {
        var c = config
        if let p = shard {
            c.numKVHeads = p.kvHeads.map(\.count).max()!
            c.numHeads = c.numKVHeads * p.groupSize
        }
        if let p = pipeline {
            c.numLayers = p.layers.map(\.count).max()!
            c.slidingWindow = Array(repeating: nil, count: c.numLayers)
        }
        return c
    }
}
