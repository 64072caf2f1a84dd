import Foundation

/// Rotary position embeddings, with the frequency scalings of Hugging Face `ROPE_INIT_FUNCTIONS`.
enum Rope {
    /// inv_freq for each of the ropeDim/2 pairs, and the attention factor (YaRN) that scales cos/sin.
    static func inverseFrequencies(config c: ModelConfig, base: Double, scaling: RopeScaling, factors: [Float]?) -> ([Float], Float) {
        let dim = c.ropeDim
        var inv = (0..<(dim / 2)).map { 1.0 / pow(base, Double(2 * $0) / Double(dim)) }
        var attentionFactor = 1.0
        switch scaling {
        case .none: break
        case .linear(let f): inv = inv.map { $0 / f }
        case .dynamic(let f, let orig):
            // Evaluated at the model's full context (Hugging Face recomputes it per sequence length).
            let seq = Double(max(c.maxPositionEmbeddings, orig))
            let b = base * pow(f * seq / Double(orig) - (f - 1), Double(dim) / Double(dim - 2))
            if seq > Double(orig) { inv = (0..<(dim / 2)).map { 1.0 / pow(b, Double(2 * $0) / Double(dim)) } }
        case .llama3(let f, let lowF, let highF, let orig):
            let lowWave = Double(orig) / lowF, highWave = Double(orig) / highF
            inv = inv.map { fr in
                let wave = 2 * Double.pi / fr
                if wave < highWave { return fr }
                if wave > lowWave { return fr / f }
                let smooth = (Double(orig) / wave - lowF) / (highF - lowF)
                return (1 - smooth) * fr / f + smooth * fr
            }
        case .yarn(let f, let orig, let betaFast, let betaSlow, let af):
            func corrDim(_ rot: Double) -> Double {
                Double(dim) * log(Double(orig) / (rot * 2 * Double.pi)) / (2 * log(base))
            }
            let lo = corrDim(betaFast), hi0 = corrDim(betaSlow)
            let low = max(c.ropeTruncate ? floor(lo) : lo, 0), high = min(c.ropeTruncate ? ceil(hi0) : hi0, Double(dim - 1))
            let hi = low == high ? high + 0.001 : high
            inv = inv.enumerated().map { (i, fr) in
                let ramp = min(max((Double(i) - low) / (hi - low), 0), 1)
                let extrap = 1 - ramp
                return fr / f * (1 - extrap) + fr * extrap
            }
            attentionFactor = af ?? yarnMscale(f, 1)
        }
        if let factors { inv = inv.enumerated().map { $0.element / Double(factors[$0.offset]) } }
        return (inv.map { Float($0) }, Float(attentionFactor))
    }

    /// YaRN's magnitude correction for a context `scale` times the original: 0.1 * mscale * ln(scale) + 1.
    static func yarnMscale(_ scale: Double, _ mscale: Double) -> Double { scale <= 1 ? 1 : 0.1 * mscale * log(scale) + 1 }

    /// Rotates `heads` head vectors of x (laid out [heads, headDim]) to `position`.
    @inline(__always)
    static func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, config c: ModelConfig, position: Int,
                      invFreq: [Float], attentionFactor: Float) {
        rotate(x, count: heads, stride: c.headDim, offset: 0, style: c.ropeStyle, position: position, invFreq: invFreq,
               attentionFactor: attentionFactor)
    }

    /// Rotates `count` vectors of x, `stride` apart, in their 2 * invFreq.count dimensions from `offset` on (DeepSeek's
    /// rotary part follows the non-rotary one in each head).
    @inline(__always)
    static func rotate(_ x: UnsafeMutablePointer<Float>, count: Int, stride: Int, offset: Int, style: RopeStyle, position: Int,
                       invFreq: [Float], attentionFactor: Float) {
        let half = invFreq.count
        invFreq.withUnsafeBufferPointer { inv in
            for i in 0..<half {
                let angle = Double(position) * Double(inv[i])
                let cs = Float(cos(angle)) * attentionFactor, sn = Float(sin(angle)) * attentionFactor
                let (a, b) = style == .neox ? (i, i + half) : (2 * i, 2 * i + 1)
                for h in 0..<count {
                    let v = x + h * stride + offset
                    let x0 = v[a], x1 = v[b]
                    v[a] = x0 * cs - x1 * sn
                    v[b] = x0 * sn + x1 * cs
                }
            }
        }
    }
}
