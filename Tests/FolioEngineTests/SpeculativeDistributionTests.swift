import FolioEngine
import FolioModels
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// The chi-square statistic of `counts` against probabilities `expected` (cells expecting fewer than 5 pooled)
/// and its upper-tail p-value.
func chiSquare(_ counts: [Int], _ expected: [Double]) -> (stat: Double, df: Int, p: Double) {
    let n = Double(counts.reduce(0, +))
    var cells: [(Double, Double)] = []
    var pooled = (0.0, 0.0)
    for (c, e) in zip(counts, expected) {
        if e * n < 5 { pooled.0 += Double(c); pooled.1 += e * n } else { cells.append((Double(c), e * n)) }
    }
    if pooled.1 > 0 { cells.append(pooled) }
    let stat = cells.reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / max($1.1, 1e-300) }
    let df = max(cells.count - 1, 1)
    return (stat, df, upperGamma(Double(df) / 2, stat / 2))
}

/// The regularized upper incomplete gamma Q(a, x): a series below a + 1, a continued fraction above.
func upperGamma(_ a: Double, _ x: Double) -> Double {
    if x <= 0 { return 1 }
    let lnPrefix = a * log(x) - x - lgamma(a)
    if x < a + 1 {
        var term = 1 / a, sum = term, ap = a
        for _ in 0..<10_000 {
            ap += 1
            term *= x / ap
            sum += term
            if abs(term) < abs(sum) * 1e-15 { break }
        }
        return max(0, 1 - sum * exp(lnPrefix))
    }
    // Lentz's method for the continued fraction of Q.
    var b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d
    for i in 1..<10_000 {
        let an = -Double(i) * (Double(i) - a)
        b += 2
        d = an * d + b; if abs(d) < 1e-300 { d = 1e-300 }
        c = b + an / c; if abs(c) < 1e-300 { c = 1e-300 }
        d = 1 / d
        let delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15 { break }
    }
    return exp(lnPrefix) * h
}

@Suite("Speculative decoding: the output distribution is the target's")
struct SpeculativeDistributionTests {
    @Test("chi-square: the test statistic's p-value is right on known values")
    func chiSquareSelfCheck() {
        // Q(1, x) = exp(-x); chi-square with 2 degrees of freedom at 13.8155 has p = 0.001.
        #expect(abs(upperGamma(1, 3) - exp(-3)) < 1e-12)
        #expect(abs(upperGamma(1, 13.8155 / 2) - 0.001) < 1e-6)
        // chi-square, 10 degrees of freedom: P(X > 18.307) = 0.05.
        #expect(abs(upperGamma(5, 18.307 / 2) - 0.05) < 1e-4)
    }

    @Test("rejection sampling over 4 positions with drafts from another distribution (and from a point mass): each position's tokens follow the target (10^5 samples)")
    func rejectionChain() {
        let seed = UInt64(20261201)
        print("[spec] rejectionChain seed \(seed)")
        var rng = SeededRandom(seed: seed)
        let V = 7, K = 4
        // Target distributions with a token left out (as top-k / top-p leave tokens out); drafts that differ.
        let p: [TokenDistribution] = (0...K).map { j in
            let w = (0..<V).map { t in t == j ? 0 : Double(1 + (t * 7 + j * 3) % 5) }
            let cand = (0..<V).filter { w[$0] > 0 }
            return TokenDistribution(candidates: cand, weights: cand.map { w[$0] }, total: cand.reduce(0) { $0 + w[$1] })
        }
        let q: [[Float]] = (0..<K).map { j in
            let w = (0..<V).map { t in Float(1 + (t * 3 + j) % 4) }
            let s = w.reduce(0, +)
            return w.map { $0 / s }
        }
        for pointMass in [false, true] {
            let n = 100_000
            var counts = [[Int]](repeating: [Int](repeating: 0, count: V), count: K + 1)
            for _ in 0..<n {
                var emitted: [Int32] = []
                var j = 0
                while j < K {
                    // The draft token: a draw from q_j, or a fixed guess (n-gram style).
                    var d = Int32(V - 1)
                    if !pointMass {
                        var u = Float(rng.nextUnit())
                        d = Int32(V - 1)
                        for (t, x) in q[j].enumerated() { u -= x; if u < 0 { d = Int32(t); break } }
                    }
                    if let t = RejectionSampler.decide(p[j], draft: d, q: pointMass ? nil : q[j], rng: &rng) { emitted.append(t); j += 1; break }
                    emitted.append(d)
                    j += 1
                }
                // After a rejection the next steps draw plainly; after K acceptances the bonus token comes from p_K.
                while emitted.count <= K { emitted.append(p[emitted.count].draw(&rng)) }
                for (pos, t) in emitted.enumerated() { counts[pos][Int(t)] += 1 }
            }
            for pos in 0...K {
                let want = (0..<V).map { p[pos].probability(Int32($0)) }
                let r = chiSquare(counts[pos], want)
                #expect(r.p > 0.001, "point mass \(pointMass), position \(pos): chi2 \(r.stat) df \(r.df) p \(r.p)")
            }
        }
    }

    @Test("through the engine: a probabilistic draft model (another tiny model) and the target's joint distribution of 4 tokens (10^5 samples)")
    func engineJoint() throws {
        let allowed: [Int32] = [11, 42, 97, 230, 301, 477]
        let temperature: Float = 0.8
        let prompt: [Int32] = [5, 17, 42, 230, 8, 97, 11]
        // The target's probabilities straight from the model (no engine): p(t1), p(t2 | t1), p(t3 | t1 t2).
        let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/llama"))
        func probs(_ ctx: [Int32]) throws -> [Double] {
            let cache = KVCache(config: model.config, capacity: 64)
            let l = try model.forward(tokens: ctx, cache: cache)[0]
            let z = allowed.map { Double(l[Int($0)] / temperature) }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        let A = allowed.count, L = 4
        // joint[index of (t1 ... tL) in base A] = p(t1) p(t2 | t1) ... p(tL | t1 ... tL-1).
        var joint = [Double](repeating: 0, count: Int(pow(Double(A), Double(L))))
        func fill(_ ctx: [Int], _ pr: Double) throws {
            if ctx.count == L { joint[ctx.reduce(0) { $0 * A + $1 }] = pr; return }
            let p = try probs(prompt + ctx.map { allowed[$0] })
            for a in 0..<A { try fill(ctx + [a], pr * p[a]) }
        }
        try fill([], 1)
        var sc = spec(.draftModel, k: 3, draft: Fixtures.path("models/hf-tiny/qwen2"))
        sc.draftSampleMethod = .probabilistic
        let e = try tinySpecEngine(sc) { $0.numKVBlocks = 2048; $0.maxNumSeqs = 256; $0.enablePrefixCaching = true }
        let seed = UInt64(424242)
        print("[spec] engineJoint seed \(seed)")
        var sp = SamplingParams(n: 100, temperature: temperature, maxTokens: L, seed: nil, ignoreEOS: true)
        sp.allowedTokenIds = allowed
        var reqs: [(String, PromptInput, SamplingParams)] = []
        for i in 0..<1000 {
            sp.seed = seed &+ UInt64(i)
            reqs.append(("r\(i)", .tokens(prompt), sp))
        }
        // A few requests in flight at a time (each is 100 samples).
        var counts = [Int](repeating: 0, count: joint.count)
        var next = 0, inFlight = 0
        while next < reqs.count || e.hasUnfinishedRequests {
            while inFlight < 3, next < reqs.count {
                try e.addRequest(id: reqs[next].0, prompt: reqs[next].1, params: reqs[next].2)
                next += 1
                inFlight += 1
            }
            for o in try e.step() where o.finished {
                inFlight -= 1
                for s in o.outputs { counts[s.tokenIds.reduce(0) { $0 * A + allowed.firstIndex(of: $1)! }] += 1 }
            }
        }
        let r = chiSquare(counts, joint)
        let st = e.stats.specDecode!
        print("[spec] engineJoint: chi2 \(r.stat) df \(r.df) p \(r.p); proposed \(st.numDraftTokens), accepted \(st.numAcceptedTokens)")
        #expect(counts.reduce(0, +) == 100_000)
        #expect(st.numAcceptedTokens > 1000 && st.numAcceptedTokens < st.numDraftTokens)
        #expect(r.p > 0.001, "chi2 \(r.stat) df \(r.df) p \(r.p)")
    }
}
