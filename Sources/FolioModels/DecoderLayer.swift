import FolioKernels

/// What every layer of one forward step reads and writes: the batch, the paged cache and each sequence's slots, and
/// the step's buffers (the residual stream `x` [T, hidden], the normed input `h`, queries, attention output, new K/V,
/// a block's output `o`), and the batch's LoRA adapters.
struct LayerStep {
    let batch: ForwardBatch
    let kv: PagedKVCache
    /// Per sequence: the cache slot of each position up to its last one in this batch.
    let slots: [[Int32]]
    let T: Int
    let x, h, q, att, kNew, vNew, o: UnsafeMutablePointer<Float>
    let lora: LoRAGroups
    let loraScratch: UnsafeMutablePointer<Float>
}

extension Architecture {
    /// A decoder layer: attention, then the feed-forward, each pre-normed with a residual add (and Gemma 3's norms
    /// after each where the weights have them). A family with another arrangement (parallel attention and MLP, say)
    /// overrides this with the same blocks.
    func forwardLayer(_ m: CausalLM, layer l: Int, _ s: LayerStep) {
        m.attentionBlock(l, s)
        m.feedForwardBlock(l, s)
    }
}

extension CausalLM {
    /// The batch's adapters' share of projection `t` of layer `l`, added to y (nothing for base-only batches).
    func adapt(_ s: LayerStep, _ l: Int, _ t: LoRATarget, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        if !s.lora.isEmpty { applyLoRA(s.lora, l, t, x, y, scratch: s.loraScratch) }
    }

    /// RMSNorm of each of T rows of `x` into `out` (in place when they are the same).
    func normRows(_ w: [Float], _ x: UnsafeMutablePointer<Float>, _ T: Int, _ out: UnsafeMutablePointer<Float>) {
        let H = config.hiddenSize, eps = config.rmsNormEps
        w.withUnsafeBufferPointer { w in for t in 0..<T { rmsNorm(x + t * H, w.baseAddress!, H, eps: eps, out + t * H) } }
    }

    /// x += postNorm(attention(norm(x))): grouped-query attention over the paged cache (the batch's K/V written to
    /// their slots first) or latent attention; under tensor parallelism each rank's heads' share, all-reduced.
    func attentionBlock(_ l: Int, _ s: LayerStep) {
        let c = config, T = s.T, H = c.hiddenSize, lw = weights.layers[l]
        let (h, q, kNew, vNew, att, o) = (s.h, s.q, s.kNew, s.vNew, s.att, s.o)
        normRows(lw.attnNorm, s.x, T, h)
        switch lw.attention {
        case .grouped(let a):
            linear([a.q, a.k, a.v], h, T, [q, kNew, vNew])
            adapt(s, l, .q, h, q)
            adapt(s, l, .k, h, kNew)
            adapt(s, l, .v, h, vNew)
            addBias(a.qBias, q, T, c.qDim)
            addBias(a.kBias, kNew, T, c.kvDim)
            addBias(a.vBias, vNew, T, c.kvDim)
            if let qn = a.qNorm, let kn = a.kNorm {
                headNorm(qn, q, T * c.numHeads)
                headNorm(kn, kNew, T * c.numKVHeads)
            }
            // Gemma 3's sliding layers have their own unscaled RoPE; other models' sliding layers share the global one.
            let local = c.slidingWindow[l] != nil && c.ropeLocalTheta != nil
            let inv = local ? invFreqLocal : invFreqGlobal
            let af: Float = local ? 1 : ropeAttentionFactor
            for t in 0..<T {
                let pos = Int(s.batch.positions[t])
                Rope.apply(q + t * c.qDim, heads: c.numHeads, config: c, position: pos, invFreq: inv, attentionFactor: af)
                Rope.apply(kNew + t * c.kvDim, heads: c.numKVHeads, config: c, position: pos, invFreq: inv, attentionFactor: af)
                s.kv.write(layer: l, slot: Int(s.batch.slots[t]), k: kNew + t * c.kvDim, v: vNew + t * c.kvDim)
            }
            attention(q: q, out: att, batch: s.batch, slots: s.slots, kv: s.kv, layer: l, window: c.slidingWindow[l], sinks: a.sinks)
            linear([a.o], att, T, [o])
            adapt(s, l, .o, att, o)
            addBias(a.oBias, o, T, H)
        case .latent(let a):
            latentAttention(a, layer: l, x: h, batch: s.batch, slots: s.slots, kv: s.kv, out: o)
        }
        tensorGroup?.allreduce(o, T * H)  // each rank's heads' share of o_proj (the bias on rank 0 only)
        if let pn = lw.postAttnNorm { normRows(pn, o, T, o) }
        for i in 0..<(T * H) { s.x[i] += o[i] }
    }

    /// x += postNorm(feedForward(norm(x))): the dense MLP (with the batch's adapters) or the routed experts; under
    /// tensor parallelism each rank's intermediate rows' share, all-reduced.
    func feedForwardBlock(_ l: Int, _ s: LayerStep) {
        let T = s.T, H = config.hiddenSize, lw = weights.layers[l]
        normRows(lw.ffnNorm, s.x, T, s.h)
        switch lw.ffn {
        case .dense(let m): mlp(m, s.h, T, s.o, lora: s.lora.isEmpty ? nil : { t, x, y in self.adapt(s, l, t, x, y) })
        case .moe(let m): moe(m, s.h, T, s.o)
        }
        tensorGroup?.allreduce(s.o, T * H)
        if let pn = lw.postFfnNorm { normRows(pn, s.o, T, s.o) }
        for i in 0..<(T * H) { s.x[i] += s.o[i] }
    }
}
