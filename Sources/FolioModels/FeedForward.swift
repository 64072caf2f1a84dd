import CFolioKernels
import FolioKernels
import FolioWeights
import Foundation

/// One feed-forward expert (or the dense MLP): down(act(gate(x)) * up(x)).
struct MLPWeights: Sendable {
    let gate: WeightTensor  // [ff, hidden]
    let up: WeightTensor    // [ff, hidden]
    let down: WeightTensor  // [hidden, ff]
    /// Llama's `mlp_bias`.
    var gateBias: [Float]? = nil, upBias: [Float]? = nil, downBias: [Float]? = nil
}

/// Routed experts: a router, the experts, and for DeepSeek the shared experts every token runs and V3's routing bias.
struct MoEWeights: Sendable {
    let router: WeightTensor       // [experts, hidden]
    let experts: [MLPWeights]
    var shared: MLPWeights? = nil
    var scoreBias: [Float]? = nil  // [experts]
    var routerBias: [Float]? = nil // [experts], added to the router logits (GPT-OSS)
}

enum FeedForward: Sendable {
    case dense(MLPWeights)
    case moe(MoEWeights)
}

extension CausalLM {
    /// out = down(act(gate(x)) * up(x)); x: [T, hidden], out: [T, hidden].
    /// `lora` adds a batch's adapters to gate, up and down (dense layers).
    func mlp(_ m: MLPWeights, _ x: UnsafePointer<Float>, _ T: Int, _ out: UnsafeMutablePointer<Float>,
             lora: ((LoRATarget, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void)? = nil) {
        let ff = m.gate.rows
        let g = UnsafeMutablePointer<Float>.allocate(capacity: T * ff), u = UnsafeMutablePointer<Float>.allocate(capacity: T * ff)
        defer { g.deallocate(); u.deallocate() }
        linear([m.gate, m.up], x, T, [g, u])
        lora?(.gate, x, g)
        lora?(.up, x, u)
        addBias(m.gateBias, g, T, ff)
        addBias(m.upBias, u, T, ff)
        switch config.activation {
        case .silu:
            if options.reference { for i in 0..<(T * ff) { g[i] = silu(g[i]) * u[i] } } else { folio_silu_mul(g, u, Int64(T * ff)) }
        case .geluTanh:
            if options.reference { for i in 0..<(T * ff) { g[i] = geluTanh(g[i]) * u[i] } } else { folio_gelu_tanh_mul(g, u, Int64(T * ff)) }
        case .gelu:
            if options.reference { for i in 0..<(T * ff) { g[i] = geluErf(g[i]) * u[i] } } else {
                folio_bias_act(g, nil, Int64(T), Int64(ff), Int32(FOLIO_ACT_GELU))
                for i in 0..<(T * ff) { g[i] *= u[i] }
            }
        case .swigluClamped:
            let alpha = config.swigluAlpha, limit = config.swigluLimit
            for i in 0..<(T * ff) {
                let x = min(g[i], limit), y = max(min(u[i], limit), -limit)
                g[i] = x / (1 + expf(-alpha * x)) * (y + 1)
            }
        }
        linear([m.down], g, T, [out])
        lora?(.down, g, out)
        addBias(m.downBias, out, T, config.hiddenSize)
    }

    /// Routed experts: each token's experts chosen from the router logits (ExpertRouting), the weighted sum of their
    /// MLPs, plus the shared experts' MLP (DeepSeek); the top-k weights renormalized under `normTopKProb` (always for
    /// Mixtral and GPT-OSS).
    func moe(_ m: MoEWeights, _ x: UnsafePointer<Float>, _ T: Int, _ out: UnsafeMutablePointer<Float>) {
        let c = config, H = c.hiddenSize, E = c.numExperts, K = c.numExpertsPerToken
        var logits = [Float](repeating: 0, count: T * E)
        logits.withUnsafeMutableBufferPointer { linear([m.router], x, T, [$0.baseAddress!]) }
        addBias(m.routerBias, &logits, T, E)
        var assigned = [[(token: Int, weight: Float)]](repeating: [], count: E)
        for t in 0..<T {
            for (e, w) in c.routing.choose(Array(logits[(t * E)..<((t + 1) * E)]), k: K, renormalize: c.normTopKProb, bias: m.scoreBias) {
                assigned[e].append((t, w))
            }
        }
        if let shared = m.shared { mlp(shared, x, T, out) } else { for i in 0..<(T * H) { out[i] = 0 } }
        for (e, list) in assigned.enumerated() where !list.isEmpty {
            let n = list.count
            let xin = UnsafeMutablePointer<Float>.allocate(capacity: n * H), y = UnsafeMutablePointer<Float>.allocate(capacity: n * H)
            defer { xin.deallocate(); y.deallocate() }
            for (r, a) in list.enumerated() { (xin + r * H).update(from: x + a.token * H, count: H) }
            mlp(m.experts[e], xin, n, y)
            for (r, a) in list.enumerated() { for i in 0..<H { out[a.token * H + i] += a.weight * y[r * H + i] } }
        }
    }
}
