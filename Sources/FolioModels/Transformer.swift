import FolioKernels
import FolioWeights
import Foundation

/// Per-sequence key/value cache for the reference forward pass: for each layer, K and V rows by position.
/// (The engine's paged cache replaces this for serving.)
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    let kvDim: Int
    /// [layer][position, kvDim]
    var k: [UnsafeMutablePointer<Float>]
    var v: [UnsafeMutablePointer<Float>]
    /// Tokens whose K/V are stored.
    public internal(set) var count = 0

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        kvDim = config.kvDim
        k = (0..<config.numLayers).map { _ in .allocate(capacity: capacity * config.kvDim) }
        v = (0..<config.numLayers).map { _ in .allocate(capacity: capacity * config.kvDim) }
    }

    deinit {
        for p in k { p.deallocate() }
        for p in v { p.deallocate() }
    }

    /// Forgets positions from `n` on (to re-run from an earlier point).
    public func truncate(to n: Int) { count = min(count, max(0, n)) }
}

/// A decoder-only transformer: config + weights used in place + the float32 reference forward pass.
///
/// ```swift
/// let model = try CausalLM.load(path: "smollm2-135m-instruct-q4_1.gguf")
/// let cache = model.makeCache(capacity: 256)
/// let logits = try model.forward(tokens: [1, 2, 3], cache: cache)   // last position's logits
/// ```
public final class CausalLM: Sendable {
    public let config: ModelConfig
    public let path: String
    let weights: ModelWeights
    let source: any WeightSource
    /// inv_freq per rotary pair for global and (Gemma 3) local layers.
    let invFreqGlobal: [Float]
    let invFreqLocal: [Float]
    let ropeAttentionFactor: Float

    init(config: ModelConfig, weights: ModelWeights, source: any WeightSource, path: String) {
        self.config = config
        self.weights = weights
        self.source = source
        self.path = path
        let (g, af) = Rope.inverseFrequencies(config: config, base: config.ropeTheta, scaling: config.ropeScaling,
                                              factors: weights.ropeFreqFactors)
        invFreqGlobal = g
        ropeAttentionFactor = af
        invFreqLocal = config.ropeLocalTheta.map {
            Rope.inverseFrequencies(config: config, base: $0, scaling: .none, factors: nil).0
        } ?? g
    }

    public func makeCache(capacity: Int? = nil) -> KVCache {
        KVCache(config: config, capacity: capacity ?? config.maxPositionEmbeddings)
    }

    /// Runs `tokens` at positions `cache.count ..< cache.count + tokens.count`, appending their K/V to the cache.
    /// Returns logits [positions][vocab] for every position if `allLogits`, else for the last one only.
    public func forward(tokens: [Int32], cache: KVCache, allLogits: Bool = false) throws -> [[Float]] {
        let c = config, T = tokens.count, H = c.hiddenSize
        guard T > 0 else { return [] }
        let start = cache.count
        guard start + T <= cache.capacity else {
            throw FolioError.invalidArgument(name: "tokens", message: "\(start + T) positions exceed the cache capacity \(cache.capacity)")
        }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize {
            throw FolioError.invalidArgument(name: "token id", message: "\(t) is outside the vocabulary (0..<\(c.vocabSize))")
        }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: T * H)       // residual stream [T, H]
        let h = UnsafeMutablePointer<Float>.allocate(capacity: T * H)       // normed input [T, H]
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * c.qDim)  // [T, heads, headDim]
        let att = UnsafeMutablePointer<Float>.allocate(capacity: T * c.qDim)
        let kvTmp = UnsafeMutablePointer<Float>.allocate(capacity: T * c.kvDim)
        let o = UnsafeMutablePointer<Float>.allocate(capacity: T * H)
        defer { for p in [x, h, q, att, kvTmp, o] { p.deallocate() } }

        for (t, id) in tokens.enumerated() {
            weights.embedding.dequantizeRow(Int(id), into: x + t * H)
            if c.embeddingScale != 1 { for i in 0..<H { x[t * H + i] *= c.embeddingScale } }
        }
        for (l, lw) in weights.layers.enumerated() {
            lw.attnNorm.withUnsafeBufferPointer { w in
                for t in 0..<T { rmsNorm(x + t * H, w.baseAddress!, H, eps: c.rmsNormEps, h + t * H) }
            }
            // Q, K, V projections; K/V go straight into the cache rows.
            matmul(lw.q.ref, h, T, q)
            let kRows = cache.k[l] + start * c.kvDim, vRows = cache.v[l] + start * c.kvDim
            matmul(lw.k.ref, h, T, kRows)
            matmul(lw.v.ref, h, T, vRows)
            addBias(lw.qBias, q, T, c.qDim)
            addBias(lw.kBias, kRows, T, c.kvDim)
            addBias(lw.vBias, vRows, T, c.kvDim)
            if let qn = lw.qNorm, let kn = lw.kNorm {
                headNorm(qn, q, T * c.numHeads)
                headNorm(kn, kRows, T * c.numKVHeads)
            }
            let local = c.slidingWindow[l] != nil
            let inv = local ? invFreqLocal : invFreqGlobal
            let af: Float = local ? 1 : ropeAttentionFactor
            for t in 0..<T {
                Rope.apply(q + t * c.qDim, heads: c.numHeads, config: c, position: start + t, invFreq: inv, attentionFactor: af)
                Rope.apply(kRows + t * c.kvDim, heads: c.numKVHeads, config: c, position: start + t, invFreq: inv, attentionFactor: af)
            }
            attention(q: q, out: att, T: T, start: start, kCache: cache.k[l], vCache: cache.v[l], window: c.slidingWindow[l])
            matmul(lw.o.ref, att, T, o)
            if let pn = lw.postAttnNorm {
                pn.withUnsafeBufferPointer { w in for t in 0..<T { rmsNorm(o + t * H, w.baseAddress!, H, eps: c.rmsNormEps, o + t * H) } }
            }
            for i in 0..<(T * H) { x[i] += o[i] }
            lw.ffnNorm.withUnsafeBufferPointer { w in
                for t in 0..<T { rmsNorm(x + t * H, w.baseAddress!, H, eps: c.rmsNormEps, h + t * H) }
            }
            switch lw.ffn {
            case .dense(let m): mlp(m, h, T, o)
            case .moe(let router, let experts): moe(router, experts, h, T, o)
            }
            if let pn = lw.postFfnNorm {
                pn.withUnsafeBufferPointer { w in for t in 0..<T { rmsNorm(o + t * H, w.baseAddress!, H, eps: c.rmsNormEps, o + t * H) } }
            }
            for i in 0..<(T * H) { x[i] += o[i] }
        }
        cache.count = start + T
        let first = allLogits ? 0 : T - 1
        let n = T - first
        weights.finalNorm.withUnsafeBufferPointer { w in
            for t in first..<T { rmsNorm(x + t * H, w.baseAddress!, H, eps: c.rmsNormEps, h + (t - first) * H) }
        }
        var logits = [Float](repeating: 0, count: n * c.vocabSize)
        logits.withUnsafeMutableBufferPointer { matmul(weights.lmHead.ref, h, n, $0.baseAddress!) }
        if let cap = c.finalLogitSoftcap {
            for i in logits.indices { logits[i] = tanhf(logits[i] / cap) * cap }
        }
        return (0..<n).map { Array(logits[($0 * c.vocabSize)..<(($0 + 1) * c.vocabSize)]) }
    }

    func addBias(_ b: [Float]?, _ y: UnsafeMutablePointer<Float>, _ T: Int, _ n: Int) {
        guard let b else { return }
        for t in 0..<T { for i in 0..<n { y[t * n + i] += b[i] } }
    }

    /// RMSNorm of each head vector (Qwen3 / Gemma 3 q/k norm).
    func headNorm(_ w: [Float], _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let d = config.headDim
        w.withUnsafeBufferPointer { wp in
            for i in 0..<count { rmsNorm(y + i * d, wp.baseAddress!, d, eps: config.rmsNormEps, y + i * d) }
        }
    }

    /// Causal (optionally sliding-window) attention with grouped KV heads. q/out: [T, heads, headDim].
    func attention(q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, T: Int, start: Int,
                   kCache: UnsafeMutablePointer<Float>, vCache: UnsafeMutablePointer<Float>, window: Int?) {
        let c = config, d = c.headDim, kvDim = c.kvDim, group = c.numHeads / c.numKVHeads
        let scale = c.attentionScale, cap = c.attnLogitSoftcap
        let qs = SharedPointer(q), os = SharedPointer(out), ks = SharedPointer(kCache), vs = SharedPointer(vCache)
        parallelFor(T * c.numHeads) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: start + T)
            defer { scores.deallocate() }
            for item in range {
                let t = item / c.numHeads, head = item % c.numHeads, kvh = head / group
                let pos = start + t
                let lo = window.map { max(0, pos - $0 + 1) } ?? 0
                let qv = qs.p + t * c.qDim + head * d
                for j in lo...pos {
                    var s = dot(qv, ks.p + j * kvDim + kvh * d, d) * scale
                    if let cap { s = tanhf(s / cap) * cap }
                    scores[j - lo] = s
                }
                let n = pos - lo + 1
                softmax(scores, n)
                let ov = os.p + t * c.qDim + head * d
                for i in 0..<d { ov[i] = 0 }
                for j in 0..<n {
                    let p = scores[j], vv = vs.p + (lo + j) * kvDim + kvh * d
                    for i in 0..<d { ov[i] += p * vv[i] }
                }
            }
        }
    }

    /// out = down(act(gate(x)) * up(x)); x: [T, hidden], out: [T, hidden].
    func mlp(_ m: MLPWeights, _ x: UnsafePointer<Float>, _ T: Int, _ out: UnsafeMutablePointer<Float>) {
        let ff = m.gate.rows
        let g = UnsafeMutablePointer<Float>.allocate(capacity: T * ff), u = UnsafeMutablePointer<Float>.allocate(capacity: T * ff)
        defer { g.deallocate(); u.deallocate() }
        matmul(m.gate.ref, x, T, g)
        matmul(m.up.ref, x, T, u)
        switch config.activation {
        case .silu: for i in 0..<(T * ff) { g[i] = silu(g[i]) * u[i] }
        case .geluTanh: for i in 0..<(T * ff) { g[i] = geluTanh(g[i]) * u[i] }
        }
        matmul(m.down.ref, g, T, out)
    }

    /// Routed experts: softmax over the router logits, top-k, weighted sum of those experts' MLPs.
    /// Mixtral renormalizes the top-k weights (softmax over the chosen logits); Qwen3-MoE does when norm_topk_prob.
    func moe(_ router: WeightTensor, _ experts: [MLPWeights], _ x: UnsafePointer<Float>, _ T: Int, _ out: UnsafeMutablePointer<Float>) {
        let c = config, H = c.hiddenSize, E = c.numExperts, K = c.numExpertsPerToken
        var logits = [Float](repeating: 0, count: T * E)
        logits.withUnsafeMutableBufferPointer { matmul(router.ref, x, T, $0.baseAddress!) }
        var assigned = [[(token: Int, weight: Float)]](repeating: [], count: E)
        for t in 0..<T {
            var p = Array(logits[(t * E)..<((t + 1) * E)])
            p.withUnsafeMutableBufferPointer { softmax($0.baseAddress!, E) }
            let top = (0..<E).sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }.prefix(K)
            let sum = top.reduce(Float(0)) { $0 + p[$1] }
            let renorm = c.family == .mixtral || c.normTopKProb
            for e in top { assigned[e].append((t, renorm ? p[e] / sum : p[e])) }
        }
        for i in 0..<(T * H) { out[i] = 0 }
        for (e, list) in assigned.enumerated() where !list.isEmpty {
            let n = list.count
            let xin = UnsafeMutablePointer<Float>.allocate(capacity: n * H), y = UnsafeMutablePointer<Float>.allocate(capacity: n * H)
            defer { xin.deallocate(); y.deallocate() }
            for (r, a) in list.enumerated() { (xin + r * H).update(from: x + a.token * H, count: H) }
            mlp(experts[e], xin, n, y)
            for (r, a) in list.enumerated() { for i in 0..<H { out[a.token * H + i] += a.weight * y[r * H + i] } }
        }
    }
}

extension WeightTensor {
    var ref: MatrixRef { MatrixRef(type: type.rawValue, data: data, rowBytes: rowBytes, rows: rows, cols: cols) }
}
