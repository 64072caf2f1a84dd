import FolioGrammar
import FolioModels
import FolioTokenizers
import Foundation

/// Turns one position's logits into the next token, applying the request's SamplingParams in vLLM's order:
/// logit bias / allowed tokens / bad words / min_tokens masks, penalties, temperature, top-k, top-p, min-p,
/// then a draw from the sequence's own seeded generator (so the batch a sequence shares never changes its output).
enum Sampler {
    /// log_softmax of `logits` (float64 accumulation).
    static func logSoftmax(_ logits: [Float]) -> [Float] {
        let m = logits.max() ?? 0
        var s = 0.0
        for x in logits { s += exp(Double(x - m)) }
        let lse = Float(log(s)) + m
        return logits.map { $0 - lse }
    }

    static func logprobs(_ logits: [Float], chosen: Int32, k: Int, tokenizer: Tokenizer) -> PositionLogprobs {
        let lp = logSoftmax(logits)
        let c = lp[Int(chosen)]
        let rank = 1 + lp.reduce(0) { $0 + ($1 > c ? 1 : 0) }
        func entry(_ id: Int, _ r: Int) -> Logprob {
            Logprob(tokenId: Int32(id), logprob: lp[id], rank: r, text: tokenizer.decode([Int32(id)], skipSpecialTokens: false, cleanUpSpaces: false))
        }
        var top: [Logprob] = []
        if k > 0 {
            let idx = topIndices(lp, k)
            top = idx.enumerated().map { entry($0.element, $0.offset + 1) }
        }
        return PositionLogprobs(chosen: entry(Int(chosen), rank), top: top)
    }

    /// Indices of the k largest values (ties: lower id first).
    static func topIndices(_ v: [Float], _ k: Int) -> [Int] {
        var heap: [Int] = []
        for i in v.indices {
            if heap.count < k { heap.append(i); if heap.count == k { heap.sort { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) } }; continue }
            if v[i] > v[heap[k - 1]] {
                var j = k - 1
                while j > 0, v[heap[j - 1]] < v[i] { heap[j] = heap[j - 1]; j -= 1 }
                heap[j] = i
            }
        }
        if heap.count < k { heap.sort { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) } }
        return heap
    }

    static func sample(_ raw: [Float], seq s: EngineSequence, tokenizer: Tokenizer, eos: Set<Int32>) -> Int32 {
        let t = draw(raw, seq: s, tokenizer: tokenizer, eos: eos)
        guard s.matcher != nil, !allowedByGrammar(t, s) else { return t }
        // Other processors (min_tokens, allowed_token_ids, bad words) banned every token the grammar allows: the
        // grammar wins, with its most likely token.
        var best: Int32 = -1
        for i in raw.indices where allowedByGrammar(Int32(i), s) && (best < 0 || raw[i] > raw[Int(best)]) { best = Int32(i) }
        return best < 0 ? t : best
    }

    static func allowedByGrammar(_ t: Int32, _ s: EngineSequence) -> Bool {
        let w = Int(t) >> 6
        return t >= 0 && w < s.maskWords.count && s.maskWords[w] >> UInt64(t & 63) & 1 == 1
    }

    static func draw(_ raw: [Float], seq s: EngineSequence, tokenizer: Tokenizer, eos: Set<Int32>) -> Int32 {
        distribution(raw, seq: s, eos: eos).draw(&s.rng)
    }

    /// The distribution the next token is drawn from: every processor applied (greedy: its argmax).
    static func distribution(_ raw: [Float], seq s: EngineSequence, eos: Set<Int32>) -> TokenDistribution {
        let p = s.group.params
        var logits = raw
        let V = logits.count
        if s.matcher != nil { applyGrammar(&logits, s) }
        for (t, b) in p.logitBias where Int(t) < V { logits[Int(t)] += b }
        if let allowed = s.group.prep.allowed {
            // Sorted, unique ids prepared once per request: keep those, mask the rest.
            var kept = [Float](repeating: -.infinity, count: V)
            for t in allowed where Int(t) < V { kept[Int(t)] = logits[Int(t)] }
            logits = kept
        }
        if !s.group.prep.badWordIds.isEmpty { banBadWords(&logits, s) }
        if s.numOutput < p.minTokens {
            for t in eos.union(p.stopTokenIds) where Int(t) < V { logits[Int(t)] = -.infinity }
        }
        if p.repetitionPenalty != 1 {
            // Every token of the prompt and the output so far (kept as tokens are added).
            for t in s.seenTokens where Int(t) < V {
                let x = logits[Int(t)]
                logits[Int(t)] = x > 0 ? x / p.repetitionPenalty : x * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (t, c) in s.outputCounts where Int(t) < V {
                logits[Int(t)] -= p.frequencyPenalty * Float(c) + p.presencePenalty
            }
        }
        if p.temperature == 0 {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            return TokenDistribution(greedy: Int32(best))
        }
        for i in 0..<V { logits[i] /= p.temperature }
        var cand = Array(0..<V)
        let k = p.topK > 0 ? min(p.topK, V) : V
        if k < V { cand = topIndices(logits, k) }
        let m = cand.map { logits[$0] }.max() ?? 0
        var probs = cand.map { Double(exp(logits[$0] - m)) }
        var total = probs.reduce(0, +)
        if p.topP < 1 || p.minP > 0 {
            var order = Array(probs.indices)
            order.sort { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && cand[$0] < cand[$1]) }
            var keep: [Int] = []
            var cum = 0.0
            let minProb = Double(p.minP) * (probs[order[0]] / total)
            for i in order {
                if p.minP > 0, probs[i] / total < minProb { break }
                keep.append(i)
                cum += probs[i] / total
                if cum >= Double(p.topP) { break }
            }
            cand = keep.map { cand[$0] }
            probs = keep.map { probs[$0] }
            total = probs.reduce(0, +)
        }
        return TokenDistribution(candidates: cand, weights: probs, total: total)
    }

    /// Structured outputs: every token the grammar does not allow next gets -inf, before any other processor.
    static func applyGrammar(_ logits: inout [Float], _ s: EngineSequence) {
        s.updateMask()
        let V = logits.count
        s.maskWords.withUnsafeBufferPointer { w in
            logits.withUnsafeMutableBufferPointer { l in
                for word in 0..<(V + 63) / 64 {
                    let bits = word < w.count ? w[word] : 0
                    if bits == ~0 { continue }
                    let base = word * 64
                    for j in 0..<min(64, V - base) where bits >> UInt64(j) & 1 == 0 { l[base + j] = -.infinity }
                }
            }
        }
    }

    /// Bans the last token of each bad word whose other tokens the output just produced (vLLM's bad_words).
    /// The words' token ids were prepared once per request.
    static func banBadWords(_ logits: inout [Float], _ s: EngineSequence) {
        let out = s.tokens, start = s.promptLength
        for ids in s.group.prep.badWordIds {
            let last = ids[ids.count - 1], n = ids.count - 1
            guard out.count - start >= n else { continue }
            var match = true
            for j in 0..<n where out[out.count - n + j] != ids[j] { match = false; break }
            if match, Int(last) < logits.count { logits[Int(last)] = -.infinity }
        }
    }
}

/// A next-token distribution after every logit processor: a point (greedy) or candidate ids with unnormalized
/// weights (`total` their sum).
public struct TokenDistribution: Sendable {
    public var greedy: Int32?
    public var candidates: [Int] = []
    public var weights: [Double] = []
    public var total = 0.0

    public init(greedy: Int32) { self.greedy = greedy }
    public init(candidates: [Int], weights: [Double], total: Double) {
        self.candidates = candidates
        self.weights = weights
        self.total = total
    }

    /// The probability of token `t`.
    public func probability(_ t: Int32) -> Double {
        if let g = greedy { return g == t ? 1 : 0 }
        guard total > 0, let i = candidates.firstIndex(of: Int(t)) else { return 0 }
        return weights[i] / total
    }

    /// One draw (greedy: its token; no randomness used).
    public func draw(_ rng: inout SeededRandom) -> Int32 {
        if let g = greedy { return g }
        guard total > 0, total.isFinite else { return Int32(candidates.first ?? 0) }
        var r = rng.nextUnit() * total
        for (i, pr) in weights.enumerated() {
            r -= pr
            if r < 0 { return Int32(candidates[i]) }
        }
        return Int32(candidates.last!)
    }
}
