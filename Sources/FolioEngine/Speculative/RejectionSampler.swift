import FolioModels
import FolioTokenizers

/// Verifies proposed tokens against the target model's logits so that what is emitted is distributed exactly as
/// without speculation (Leviathan et al. 2023, Chen et al. 2023): draft token d at a position is accepted with
/// probability min(1, p(d) / q(d)), where p is the target's distribution there after every sampling parameter and
/// q the proposer's (a point mass for n-gram, suffix and greedy drafts); on a rejection a token is drawn from
/// max(p - q, 0) and the rest is dropped; when every draft is accepted, one more token is drawn from p at the
/// next position. Greedy requests accept exactly while the draft equals the target's choice.
///
/// Positions are verified in order, each after the previous accepted token was appended, so penalties,
/// min_tokens, bad words, grammars and stop conditions see what they would without speculation.
public enum RejectionSampler {
    /// Verifies `draft` (rows[j] are the target's logits after the first j drafts; rows has draft.count + 1).
    /// `append` adds a token with its position's logits and says whether the sample goes on. Returns how many
    /// drafts were accepted.
    static func verify(_ s: EngineSequence, rows: ArraySlice<[Float]>, draft: [Int32], draftProbs: [[Float]]?,
                       tokenizer: Tokenizer, eos: Set<Int32>, append: (Int32, [Float]) -> Bool) -> Int {
        let greedy = s.group.params.temperature == 0
        for (j, d) in draft.enumerated() {
            let row = rows[rows.startIndex + j]
            if greedy {
                let t = Sampler.sample(row, seq: s, tokenizer: tokenizer, eos: eos)
                guard t == d else { _ = append(t, row); return j }
            } else {
                let p = Sampler.distribution(row, seq: s, eos: eos)
                if let t = decide(p, draft: d, q: draftProbs?[j], rng: &s.rng) { _ = append(t, row); return j }
            }
            if !append(d, row) { return j + 1 }
        }
        let last = rows[rows.startIndex + draft.count]
        _ = append(Sampler.sample(last, seq: s, tokenizer: tokenizer, eos: eos), last)
        return draft.count
    }

    /// One position's test: nil when draft token `d` is accepted (probability min(1, p(d) / q(d))), else the token
    /// drawn from max(p - q, 0) to emit instead. `q`: the draft's whole distribution, nil for a point mass at `d`.
    public static func decide(_ p: TokenDistribution, draft d: Int32, q: [Float]?, rng: inout SeededRandom) -> Int32? {
        let qd = q.map { Double($0[Int(d)]) } ?? 1
        if p.greedy == nil, rng.nextUnit() * qd < p.probability(d) { return nil }
        if let g = p.greedy { return g == d ? nil : g }
        return residual(p, d: d, q: q, rng: &rng)
    }

    /// A draw from max(p - q, 0), normalized: q a point mass at `d` (nil) or the draft's whole distribution.
    static func residual(_ p: TokenDistribution, d: Int32, q: [Float]?, rng: inout SeededRandom) -> Int32 {
        var r = p
        for (i, t) in p.candidates.enumerated() {
            let pt = p.weights[i] / p.total
            let qt = q.map { Double($0[t]) } ?? (t == Int(d) ? 1 : 0)
            r.weights[i] = max(pt - qt, 0)
        }
        r.total = r.weights.reduce(0, +)
        // Nothing left (p and q agree to rounding): p itself.
        return r.total > 0 ? r.draw(&rng) : p.draw(&rng)
    }
}
