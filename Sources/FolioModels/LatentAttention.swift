import CFolioKernels
import FolioKernels
import FolioWeights
import Foundation

/// DeepSeek's multi-head latent attention (MLA) sizes. Each token's keys and values are compressed into one latent
/// of `kvLoraRank` values plus a rotary key of `ropeDim` shared by every head: that row is all the KV cache holds.
public struct LatentAttention: Sendable, Equatable {
    /// Queries through a low-rank bottleneck of this size (nil: one q_proj).
    public var qLoraRank: Int?
    public var kvLoraRank: Int
    /// Per head: the query/key dimensions without and with rotary embedding, and the value dimension.
    public var nopeDim: Int
    public var ropeDim: Int
    public var valueDim: Int

    public var qkDim: Int { nopeDim + ropeDim }
    /// Elements cached per token and layer.
    public var cacheWidth: Int { kvLoraRank + ropeDim }

    func validate(path: String) throws {
        let sizes = [kvLoraRank, nopeDim, ropeDim, valueDim] + (qLoraRank.map { [$0] } ?? [])
        guard sizes.allSatisfy({ $0 > 0 && $0 <= 1 << 14 }), ropeDim % 2 == 0 else {
            throw FolioError.malformedFile(path: path, problem: "config has invalid latent attention sizes (kv_lora_rank \(kvLoraRank), q_lora_rank \(qLoraRank.map(String.init) ?? "null"), qk_nope_head_dim \(nopeDim), qk_rope_head_dim \(ropeDim), v_head_dim \(valueDim))")
        }
    }
}

/// One layer's MLA projections. The key/value up-projection is kept per head in the three forms the two paths use:
/// `kUp` [nope, latent] and `vUp` [value, latent] decompress cached latents (prefill), `kAbsorb` [latent, nope]
/// folds the key up-projection into the query (decode reads the latents directly).
struct LatentAttentionWeights: Sendable {
    var q: WeightTensor? = nil                       // [heads * qk, hidden] without a q LoRA
    var qA: WeightTensor? = nil, qANorm: [Float]? = nil, qB: WeightTensor? = nil  // [qLoraRank, hidden], [heads * qk, qLoraRank]
    let kvA: WeightTensor                            // [kvLoraRank + ropeDim, hidden]
    let kvANorm: [Float]                             // [kvLoraRank]
    let kUp: [WeightTensor], vUp: [WeightTensor], kAbsorb: [WeightTensor]
    let o: WeightTensor                              // [hidden, heads * valueDim]

    func mapProjections(_ f: (WeightTensor) throws -> WeightTensor) throws -> LatentAttentionWeights {
        LatentAttentionWeights(q: try q.map(f), qA: try qA.map(f), qANorm: qANorm, qB: try qB.map(f), kvA: try f(kvA), kvANorm: kvANorm,
                               kUp: try kUp.map(f), vUp: try vUp.map(f), kAbsorb: try kAbsorb.map(f), o: try f(o))
    }
}

extension WeightLoader {
    /// Hugging Face names (DeepseekV2/V3 `self_attn.*`).
    func hfLatentAttention(_ i: Int) throws -> LatentAttentionWeights {
        let c = config, m = c.latentAttention!, h = c.hiddenSize, H = c.numHeads, p = "model.layers.\(i).self_attn."
        let (kUp, vUp, kAbsorb) = try perHead(try matrix(p + "kv_b_proj.weight", H * (m.nopeDim + m.valueDim), m.kvLoraRank))
        let w = LatentAttentionWeights(
            kvA: try matrix(p + "kv_a_proj_with_mqa.weight", m.cacheWidth, h), kvANorm: try norm(p + "kv_a_layernorm.weight", m.kvLoraRank),
            kUp: kUp, vUp: vUp, kAbsorb: kAbsorb, o: try matrix(p + "o_proj.weight", h, H * m.valueDim))
        return try withQuery(w, q: p + "q_proj.weight", qA: p + "q_a_proj.weight", qANorm: p + "q_a_layernorm.weight", qB: p + "q_b_proj.weight")
    }

    /// llama.cpp's `deepseek2` names: the key/value up-projection split per head (`attn_k_b` stored [heads, latent,
    /// nope], already the absorbed form; `attn_v_b` [heads, value, latent]), or one `attn_kv_b` in older files.
    func ggufLatentAttention(_ i: Int) throws -> LatentAttentionWeights {
        let c = config, m = c.latentAttention!, h = c.hiddenSize, H = c.numHeads, p = "blk.\(i)."
        let kUp, vUp, kAbsorb: [WeightTensor]
        if let kvB = source.tensor(named: p + "attn_kv_b.weight") {
            (kUp, vUp, kAbsorb) = try perHead(try check(kvB, H * (m.nopeDim + m.valueDim), m.kvLoraRank))
        } else {
            let kb = try source.require(p + "attn_k_b.weight"), vb = try source.require(p + "attn_v_b.weight")
            guard kb.shape == [H, m.kvLoraRank, m.nopeDim], vb.shape == [H, m.valueDim, m.kvLoraRank] else {
                throw FolioError.malformedFile(path: source.path, problem: "attn_k_b/attn_v_b of layer \(i) have shapes \(kb.shape), \(vb.shape), expected [\(H), \(m.kvLoraRank), \(m.nopeDim)], [\(H), \(m.valueDim), \(m.kvLoraRank)]")
            }
            kAbsorb = (0..<H).map { kb.stackedEntry($0) }
            kUp = try kAbsorb.map { try $0.transposedFloat32() }
            vUp = (0..<H).map { vb.stackedEntry($0) }
        }
        let w = LatentAttentionWeights(
            kvA: try matrix(p + "attn_kv_a_mqa.weight", m.cacheWidth, h), kvANorm: try norm(p + "attn_kv_a_norm.weight", m.kvLoraRank),
            kUp: kUp, vUp: vUp, kAbsorb: kAbsorb, o: try matrix(p + "attn_output.weight", h, H * m.valueDim))
        return try withQuery(w, q: p + "attn_q.weight", qA: p + "attn_q_a.weight", qANorm: p + "attn_q_a_norm.weight", qB: p + "attn_q_b.weight")
    }

    /// One fused key/value up-projection [heads * (nope + value), latent] as per-head views, and the absorbed copies.
    private func perHead(_ kvB: WeightTensor) throws -> ([WeightTensor], [WeightTensor], [WeightTensor]) {
        let m = config.latentAttention!, n = m.nopeDim + m.valueDim
        let kUp = (0..<config.numHeads).map { kvB.rowSlice($0 * n, m.nopeDim) }
        return (kUp, (0..<config.numHeads).map { kvB.rowSlice($0 * n + m.nopeDim, m.valueDim) }, try kUp.map { try $0.transposedFloat32() })
    }

    /// The query projection: through the q LoRA (down, norm, up) when the config has one, else one matrix.
    private func withQuery(_ w: LatentAttentionWeights, q: String, qA: String, qANorm: String, qB: String) throws -> LatentAttentionWeights {
        let c = config, m = c.latentAttention!, h = c.hiddenSize
        var w = w
        if let r = m.qLoraRank {
            w.qA = try matrix(qA, r, h)
            w.qANorm = try norm(qANorm, r)
            w.qB = try matrix(qB, c.numHeads * m.qkDim, r)
        } else {
            w.q = try matrix(q, c.numHeads * m.qkDim, h)
        }
        return w
    }
}

extension CausalLM {
    /// MLA for layer `l`: x [T, hidden] (normed) -> out [T, hidden]. Each token's latent row (normed latent, rotated
    /// shared key) is written to the cache once. Tokens of a sequence with several new tokens in this batch (prefill)
    /// decompress the sequence's cached latents into per-head keys and values and attend as ordinary multi-head
    /// attention; decode tokens fold the key up-projection into the query and attend over the latents themselves
    /// (one "KV head" of kv_lora_rank + rope elements, V the latent part), then up-project the result. The reference
    /// path decompresses for every token, as transformers does.
    func latentAttention(_ a: LatentAttentionWeights, layer l: Int, x: UnsafeMutablePointer<Float>, batch: ForwardBatch,
                         slots: [[Int32]], kv: PagedKVCache, out: UnsafeMutablePointer<Float>) {
        let c = config, m = c.latentAttention!, T = batch.tokens.count, H = c.numHeads, qk = m.qkDim, W = m.cacheWidth, dv = m.valueDim
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * H * qk), lat = UnsafeMutablePointer<Float>.allocate(capacity: T * W)
        let att = UnsafeMutablePointer<Float>.allocate(capacity: T * H * dv)
        defer { q.deallocate(); lat.deallocate(); att.deallocate() }
        if let qA = a.qA, let qB = a.qB, let qn = a.qANorm {
            let r = qA.rows, qa = UnsafeMutablePointer<Float>.allocate(capacity: T * r)
            defer { qa.deallocate() }
            linear([qA, a.kvA], x, T, [qa, lat])
            qn.withUnsafeBufferPointer { w in for t in 0..<T { rmsNorm(qa + t * r, w.baseAddress!, r, eps: c.rmsNormEps, qa + t * r) } }
            linear([qB], qa, T, [q])
        } else {
            linear([a.q!, a.kvA], x, T, [q, lat])
        }
        a.kvANorm.withUnsafeBufferPointer { w in
            for t in 0..<T { rmsNorm(lat + t * W, w.baseAddress!, m.kvLoraRank, eps: c.rmsNormEps, lat + t * W) }
        }
        for t in 0..<T {
            let pos = Int(batch.positions[t])
            Rope.rotate(q + t * H * qk, count: H, stride: qk, offset: m.nopeDim, style: c.ropeStyle, position: pos, invFreq: invFreqGlobal,
                        attentionFactor: ropeAttentionFactor)
            Rope.rotate(lat + t * W, count: 1, stride: W, offset: m.kvLoraRank, style: c.ropeStyle, position: pos, invFreq: invFreqGlobal,
                        attentionFactor: ropeAttentionFactor)
            kv.write(layer: l, slot: Int(batch.slots[t]), k: lat + t * W, v: lat + t * W)
        }
        var newTokens = [Int](repeating: 0, count: batch.blockTables.count)
        for s in batch.sequence { newTokens[Int(s)] += 1 }
        let decompress = (0..<T).map { options.reference || newTokens[Int(batch.sequence[$0])] > 1 }
        let plain = (0..<T).filter { decompress[$0] }, absorbed = (0..<T).filter { !decompress[$0] }
        if !plain.isEmpty { decompressedAttention(a, layer: l, tokens: plain, q: q, batch: batch, slots: slots, kv: kv, out: att) }
        if !absorbed.isEmpty { absorbedAttention(a, layer: l, tokens: absorbed, q: q, batch: batch, slots: slots, kv: kv, out: att) }
        linear([a.o], att, T, [out])
    }

    /// The batch restricted to `tokens` (their ids, positions and sequences; block tables unchanged).
    private func subBatch(_ b: ForwardBatch, _ tokens: [Int]) -> ForwardBatch {
        var s = ForwardBatch()
        s.tokens = tokens.map { b.tokens[$0] }
        s.positions = tokens.map { b.positions[$0] }
        s.sequence = tokens.map { b.sequence[$0] }
        s.slots = tokens.map { b.slots[$0] }
        s.blockTables = b.blockTables
        return s
    }

    /// Decode: q_latent = kAbsorb_h q_nope per head, attention over the cached latent rows (K = the row, V = the row,
    /// whose first kv_lora_rank outputs are kept), then vUp_h per head.
    private func absorbedAttention(_ a: LatentAttentionWeights, layer l: Int, tokens: [Int], q: UnsafeMutablePointer<Float>,
                                   batch: ForwardBatch, slots: [[Int32]], kv: PagedKVCache, out: UnsafeMutablePointer<Float>) {
        let c = config, m = c.latentAttention!, n = tokens.count, H = c.numHeads, qk = m.qkDim, W = m.cacheWidth
        let L = m.kvLoraRank, dn = m.nopeDim, dv = m.valueDim
        let qf = UnsafeMutablePointer<Float>.allocate(capacity: n * H * W), of = UnsafeMutablePointer<Float>.allocate(capacity: n * H * W)
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: n * max(L, dn)), res = UnsafeMutablePointer<Float>.allocate(capacity: n * max(L, dv))
        defer { for p in [qf, of, tmp, res] { p.deallocate() } }
        for h in 0..<H {
            for (i, t) in tokens.enumerated() { (tmp + i * dn).update(from: q + (t * H + h) * qk, count: dn) }
            linear([a.kAbsorb[h]], tmp, n, [res])
            for (i, t) in tokens.enumerated() {
                (qf + (i * H + h) * W).update(from: res + i * L, count: L)
                (qf + (i * H + h) * W + L).update(from: q + (t * H + h) * qk + dn, count: m.ropeDim)
            }
        }
        attention(q: qf, out: of, batch: subBatch(batch, tokens), slots: slots, heads: [kv.head(layer: l, 0)],
                  shape: AttentionShape(heads: H, kvHeads: 1, headDim: W, scale: c.attentionScale, softcap: 0), window: nil)
        for h in 0..<H {
            for i in 0..<n { (tmp + i * L).update(from: of + (i * H + h) * W, count: L) }
            linear([a.vUp[h]], tmp, n, [res])
            for (i, t) in tokens.enumerated() { (out + (t * H + h) * dv).update(from: res + i * dv, count: dv) }
        }
    }

    /// Prefill: each sequence's cached latents (positions 0 through its last new one) up-projected to per-head keys
    /// [nope | shared rotary key] and values, zero-padded to one width, then ordinary causal multi-head attention.
    private func decompressedAttention(_ a: LatentAttentionWeights, layer l: Int, tokens: [Int], q: UnsafeMutablePointer<Float>,
                                       batch: ForwardBatch, slots: [[Int32]], kv: PagedKVCache, out: UnsafeMutablePointer<Float>) {
        let c = config, m = c.latentAttention!, n = tokens.count, H = c.numHeads, qk = m.qkDim, W = m.cacheWidth
        let L = m.kvLoraRank, dn = m.nopeDim, dv = m.valueDim, D = (max(qk, dv) + 7) / 8 * 8
        var last = [Int](repeating: -1, count: batch.blockTables.count)
        for t in tokens { last[Int(batch.sequence[t])] = max(last[Int(batch.sequence[t])], Int(batch.positions[t])) }
        var base = [Int](repeating: 0, count: last.count), rows = 0
        for s in last.indices where last[s] >= 0 { base[s] = rows; rows += last[s] + 1 }
        let K = UnsafeMutablePointer<Float>.allocate(capacity: rows * H * D), V = UnsafeMutablePointer<Float>.allocate(capacity: rows * H * D)
        K.initialize(repeating: 0, count: rows * H * D)
        V.initialize(repeating: 0, count: rows * H * D)
        defer { K.deallocate(); V.deallocate() }
        var local = [[Int32]](repeating: [], count: last.count)
        for s in last.indices where last[s] >= 0 {
            let P = last[s] + 1, row = UnsafeMutablePointer<Float>.allocate(capacity: W)
            let C = UnsafeMutablePointer<Float>.allocate(capacity: P * L), y = UnsafeMutablePointer<Float>.allocate(capacity: P * max(dn, dv))
            defer { row.deallocate(); C.deallocate(); y.deallocate() }
            for j in 0..<P {
                kv.readK(layer: l, slot: Int(slots[s][j]), into: row)
                (C + j * L).update(from: row, count: L)
                for h in 0..<H { (K + ((base[s] + j) * H + h) * D + dn).update(from: row + L, count: m.ropeDim) }
            }
            for h in 0..<H {
                linear([a.kUp[h]], C, P, [y])
                for j in 0..<P { (K + ((base[s] + j) * H + h) * D).update(from: y + j * dn, count: dn) }
                linear([a.vUp[h]], C, P, [y])
                for j in 0..<P { (V + ((base[s] + j) * H + h) * D).update(from: y + j * dv, count: dv) }
            }
            local[s] = (0..<P).map { Int32(base[s] + $0) }
        }
        let qp = UnsafeMutablePointer<Float>.allocate(capacity: n * H * D), op = UnsafeMutablePointer<Float>.allocate(capacity: n * H * D)
        defer { qp.deallocate(); op.deallocate() }
        qp.initialize(repeating: 0, count: n * H * D)
        for (i, t) in tokens.enumerated() { for h in 0..<H { (qp + (i * H + h) * D).update(from: q + (t * H + h) * qk, count: qk) } }
        let heads = (0..<H).map { h in
            folio_kv_head(k: UnsafeRawPointer(K + h * D), v: UnsafeRawPointer(V + h * D), ks: nil, vs: nil, fmt: Int32(FOLIO_KV_F32),
                          stride: Int64(H * D), scale_stride: 0)
        }
        attention(q: qp, out: op, batch: subBatch(batch, tokens), slots: local, heads: heads,
                  shape: AttentionShape(heads: H, kvHeads: H, headDim: D, scale: c.attentionScale, softcap: 0), window: nil)
        for (i, t) in tokens.enumerated() { for h in 0..<H { (out + (t * H + h) * dv).update(from: op + (i * H + h) * D, count: dv) } }
    }
}
