import Foundation

/// Speculative decoding counters (vLLM's `spec_decode_*` metrics).
public struct SpecDecodeStats: Sendable {
    public init() {}
    /// Verifications with at least one proposed token, proposed tokens, accepted tokens.
    public var numDrafts = 0
    public var numDraftTokens = 0
    public var numAcceptedTokens = 0
    /// Accepted tokens by draft position (0 = the first proposed token).
    public var numAcceptedTokensPerPos: [Int] = []
    /// Accepted / proposed.
    public var acceptanceRate: Double { numDraftTokens > 0 ? Double(numAcceptedTokens) / Double(numDraftTokens) : 0 }
    /// Tokens emitted per verification: 1 + accepted per draft (vLLM's mean acceptance length).
    public var meanAcceptanceLength: Double { numDrafts > 0 ? 1 + Double(numAcceptedTokens) / Double(numDrafts) : 0 }
}

/// Decides how many tokens each decoding sample speculates in a step, and keeps the counters.
///
/// The choice maximizes the step's expected tokens per second: a sample whose proposals are accepted with
/// probability a gains a^j expected tokens from its j-th proposed token, and each token added to the step costs
/// what this machine measured for a forward over one more token (plus, for a draft model, its own forwards). Tokens
/// go, one at a time, to whichever sample gains most, while the step's rate still rises: a batch that is already
/// compute-bound gets none, and a sample whose proposals keep failing stops proposing (its estimate drifts back
/// toward the prior while it does not speculate, so it tries again later).
public final class Speculator {
    static let priorAcceptance = 0.6
    let config: SpeculativeConfig
    let tokens: (any TokenProposer)?
    let draft: DraftModelProposer?
    var stats = SpecDecodeStats()
    /// Seconds for a target forward over n tokens (index n - 1, n = 1...costs.count); the draft's likewise.
    var costs: [Double] = []
    var draftCosts: [Double] = []
    /// What steps really cost, learned as they run: the target forward's time over the table's price (context
    /// length, other load), and the time a step spends outside forwards (scheduling, sampling, detokenizing).
    var scale = 1.0, overhead = 0.0

    /// Learns from a finished step: its target forward over `tokens` tokens took `forward` seconds, and the rest of
    /// the step (the draft's forwards excepted) `other`.
    func observe(tokens: Int, forward: Double, other: Double) {
        guard !costs.isEmpty, tokens > 0 else { return }
        let priced = Self.cost(costs, tokens)
        if priced > 0 { scale += 0.1 * (forward / priced - scale) }
        overhead += 0.1 * (max(0, other) - overhead)
    }

    init(config: SpeculativeConfig, draft: DraftModelProposer?) {
        self.config = config
        self.draft = draft
        switch config.method {
        case .ngram: tokens = NgramProposer(min: config.promptLookupMin, max: config.promptLookupMax)
        case .suffix: tokens = SuffixProposer(depth: config.suffixMaxTreeDepth, maxCached: config.suffixMaxCachedRequests,
                                              maxFactor: config.suffixMaxSpecFactor, minProb: config.suffixMinTokenProb)
        case .draftModel: tokens = nil
        }
        stats.numAcceptedTokensPerPos = Array(repeating: 0, count: config.numSpeculativeTokens)
    }

    /// Cost of a forward over `n` tokens from a measured table (linear between and beyond its points).
    static func cost(_ table: [Double], _ n: Int) -> Double {
        guard !table.isEmpty, n > 0 else { return 0 }
        if n <= table.count { return table[n - 1] }
        let m = table.count
        let slope = m >= 2 ? max(0, table[m - 1] - table[m - 2]) : table[0]
        return table[m - 1] + slope * Double(n - m)
    }

    /// Proposals for this step's decoding samples: `limits[i]` is the most sample i may take (context, max_tokens,
    /// budget). `baseTokens`: the step's tokens without speculation; `sampling`: the samples that emit a token.
    /// Model-free proposals are made here (so the step reserves exactly what it verifies); a draft model's
    /// tokens are only counted (the model runner proposes them). Returns each sample's speculated length.
    func plan(_ seqs: [EngineSequence], limits: [Int], baseTokens: Int, sampling: Int, budget: Int) -> [Int] {
        var avail = limits.map { min($0, config.numSpeculativeTokens) }
        if let t = tokens {
            for (i, s) in seqs.enumerated() where avail[i] > 0 {
                s.draft = t.propose(s, max: avail[i])
                avail[i] = s.draft.count
            }
        }
        let k = !config.adaptive || costs.isEmpty
            ? Self.fill(avail, budget: budget)
            : Self.lengths(acceptance: seqs.map(\.acceptance), available: avail, baseTokens: baseTokens, sampling: sampling,
                           budget: budget, stepTime: stepTime)
        for (i, s) in seqs.enumerated() {
            if k[i] == 0 { s.acceptance += 0.02 * (Self.priorAcceptance - s.acceptance) }
            if tokens != nil { s.draft = Array(s.draft.prefix(k[i])) }
        }
        return k
    }

    /// Every sample its whole proposal, in order, while the budget lasts.
    static func fill(_ avail: [Int], budget: Int) -> [Int] {
        var left = budget
        return avail.map { a in let k = min(a, left); left -= k; return k }
    }

    /// The adaptive choice (see the type's note): `acceptance[i]` is sample i's estimated acceptance, `available[i]`
    /// the most it may take, `stepTime(n, k)` the step's cost with n tokens and lengths k. A forward's cost can
    /// jump at one token and stay flat for the next few (kernels change with the token count), so each round tries
    /// every longer length of every sample and takes the one that raises the rate most (in big batches, one more
    /// token at a time).
    public static func lengths(acceptance: [Double], available: [Int], baseTokens: Int, sampling: Int, budget: Int,
                               stepTime: (Int, [Int]) -> Double) -> [Int] {
        var k = [Int](repeating: 0, count: available.count)
        var n = baseTokens, expected = Double(sampling)
        var rate = expected / stepTime(n, k)
        let stepwise = available.reduce(0, +) > 512
        while n - baseTokens < budget {
            var best: (i: Int, to: Int, rate: Double, gain: Double)? = nil
            for i in available.indices where k[i] < available[i] {
                let from = k[i]
                var gain = 0.0, power = pow(acceptance[i], Double(from))
                let top = min(available[i], from + budget - (n - baseTokens), stepwise ? from + 1 : .max)
                guard top > from else { continue }
                for to in (from + 1)...top {
                    power *= acceptance[i]
                    gain += power
                    k[i] = to
                    let r = (expected + gain) / stepTime(n + to - from, k)
                    if r > (best?.rate ?? rate) { best = (i, to, r, gain) }
                }
                k[i] = from
            }
            guard let b = best else { break }
            n += b.to - k[b.i]
            k[b.i] = b.to
            expected += b.gain
            rate = b.rate
        }
        return k
    }

    /// The step's forward time with `n` tokens, and for a draft model its rounds (round r runs every sample
    /// speculating at least r tokens).
    func stepTime(_ n: Int, _ k: [Int]) -> Double {
        var t = scale * Self.cost(costs, n) + overhead
        if draft != nil, let top = k.max(), top > 0 {
            for r in 1...top { t += Self.cost(draftCosts, k.reduce(0) { $0 + ($1 >= r ? 1 : 0) }) }
        }
        return t
    }

    /// Counts a verification of `proposed` tokens of which `accepted` were, and updates the sample's estimate.
    func record(_ s: EngineSequence, proposed: Int, accepted: Int) {
        guard proposed > 0 else { return }
        stats.numDrafts += 1
        stats.numDraftTokens += proposed
        stats.numAcceptedTokens += accepted
        for j in 0..<min(accepted, stats.numAcceptedTokensPerPos.count) { stats.numAcceptedTokensPerPos[j] += 1 }
        // Each accepted token is a success; the first rejected one (if any) a failure; later ones were not tried.
        for j in 0..<min(proposed, accepted + 1) { s.acceptance += 0.15 * ((j < accepted ? 1 : 0) - s.acceptance) }
    }

    func finished(_ s: EngineSequence) { tokens?.finished(s) }
}
