import FolioKernels
import FolioWeights
import Foundation

/// How a mixture-of-experts layer picks each token's experts from its router logits: softmax or sigmoid scores,
/// optionally limited to the best groups of experts first (DeepSeek), top-k, optionally renormalized, then scaled.
/// With a correction bias (DeepSeek V3's `e_score_correction_bias`) the bias steers the choice only: groups are
/// ranked by the sum of their two best biased scores, experts by biased score, and the weights are the unbiased
/// scores. Without one, a group's score is its best expert's (DeepSeek V2's group-limited greedy).
public struct ExpertRouting: Sendable, Equatable {
    public enum Scoring: String, Sendable { case softmax, sigmoid }
    public var scoring: Scoring = .softmax
    /// The experts fall in `groups` equal groups; a token chooses among those of its `topGroups` best groups only.
    public var groups = 1
    public var topGroups = 1
    /// Multiplies the chosen experts' weights (DeepSeek's `routed_scaling_factor`).
    public var scale: Float = 1
    /// Experts every token runs besides the routed ones (DeepSeek's `n_shared_experts`), loaded as one MLP.
    public var sharedExperts = 0

    func validate(experts: Int, perToken: Int, path: String) throws {
        func bad(_ m: String) -> FolioError { .malformedFile(path: path, problem: m) }
        guard groups >= 1, topGroups >= 1, topGroups <= groups else { throw bad("config topk_group \(topGroups) must be in [1, n_group \(groups)]") }
        guard scale.isFinite, scale > 0 else { throw bad("config routed_scaling_factor \(scale) must be a finite positive number") }
        guard sharedExperts >= 0, sharedExperts <= 1 << 10 else { throw bad("config n_shared_experts \(sharedExperts) is invalid") }
        guard experts > 0, groups > 1 else { return }
        guard experts % groups == 0 else { throw bad("config n_routed_experts \(experts) is not a multiple of n_group \(groups)") }
        guard topGroups * (experts / groups) >= perToken else {
            throw bad("config num_experts_per_tok \(perToken) is more than the \(topGroups * (experts / groups)) experts of topk_group \(topGroups) groups")
        }
    }

    /// The chosen experts of one token and their weights, best first (ties: the lower index).
    /// `logits`: [experts] router outputs; `bias`: the correction bias, if the model has one.
    func choose(_ logits: [Float], k: Int, renormalize: Bool, bias: [Float]?) -> [(expert: Int, weight: Float)] {
        let E = logits.count
        var scores = logits
        switch scoring {
        case .softmax: scores.withUnsafeMutableBufferPointer { softmax($0.baseAddress!, E) }
        case .sigmoid: scores = scores.map { 1 / (1 + expf(-$0)) }
        }
        let choice = bias.map { b in zip(scores, b).map { $0 + $1 } } ?? scores
        var allowed = [Bool](repeating: true, count: E)
        if groups > 1 {
            let n = E / groups
            let groupScore = (0..<groups).map { g -> Float in
                let s = choice[(g * n)..<((g + 1) * n)].sorted(by: >)
                return bias == nil ? s[0] : s.prefix(2).reduce(0, +)
            }
            let best = Set((0..<groups).sorted { groupScore[$0] > groupScore[$1] || (groupScore[$0] == groupScore[$1] && $0 < $1) }.prefix(topGroups))
            for e in 0..<E where !best.contains(e / n) { allowed[e] = false }
        }
        let top = (0..<E).filter { allowed[$0] }.sorted { choice[$0] > choice[$1] || (choice[$0] == choice[$1] && $0 < $1) }.prefix(k)
        var weights = top.map { scores[$0] }
        if renormalize {
            let sum = weights.reduce(0, +) + (scoring == .sigmoid ? 1e-20 : 0)
            weights = weights.map { $0 / sum }
        }
        return zip(top, weights).map { ($0, $1 * scale) }
    }
}
