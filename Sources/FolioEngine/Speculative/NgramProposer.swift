/// A proposer that reads only a request's tokens (no model): asked while the step is scheduled, so the step
/// reserves exactly the tokens it verifies.
protocol TokenProposer: AnyObject {
    /// At most `max` tokens likely to follow `s.tokens` (empty: nothing to propose).
    func propose(_ s: EngineSequence, max: Int) -> [Int32]
    /// A sample finished (the suffix proposer keeps its response for later requests).
    func finished(_ s: EngineSequence)
}

/// Prompt lookup (vLLM's `ngram`): the longest suffix of the tokens, `min...max` long, that occurred earlier in
/// them; the tokens after its earliest occurrence are the proposal. O(tokens) per call (KMP on the reversed tokens).
public final class NgramProposer: TokenProposer {
    let minN: Int, maxN: Int
    var lps: [Int32]

    init(min: Int, max: Int) {
        minN = min
        maxN = max
        lps = [Int32](repeating: 0, count: max)
    }

    func propose(_ s: EngineSequence, max k: Int) -> [Int32] { Self.lookup(s.tokens, minN: minN, maxN: maxN, k: k, lps: &lps) }

    func finished(_ s: EngineSequence) {}

    /// The proposal for `tokens` (at most `k` tokens).
    public static func lookup(_ tokens: [Int32], minN: Int, maxN: Int, k: Int) -> [Int32] {
        var lps = [Int32](repeating: 0, count: maxN)
        return lookup(tokens, minN: minN, maxN: maxN, k: k, lps: &lps)
    }

    /// vLLM's `_find_longest_matched_ngram_and_propose_tokens`, read from the end: `lps[i]` is the longest prefix
    /// of the reversed tokens that is also a suffix of its first i + 1 (capped at `maxN`); the longest match wins,
    /// and among equally long ones the earliest in the original order.
    static func lookup(_ t: [Int32], minN: Int, maxN: Int, k: Int, lps: inout [Int32]) -> [Int32] {
        let total = t.count
        guard total >= minN, k > 0 else { return [] }
        @inline(__always) func rev(_ i: Int) -> Int32 { t[total - 1 - i] }
        for i in lps.indices { lps[i] = 0 }
        var longest = 0, position = 0, prev = 0, i = 1
        while i < total {
            if rev(prev) == rev(i) {
                prev += 1
                if prev >= longest { longest = prev; position = i }
                if i < maxN { lps[i] = Int32(prev) }
                if prev == maxN { prev = Int(lps[maxN - 1]) }
                i += 1
            } else if prev != 0 {
                prev = Int(lps[prev - 1])
            } else {
                i += 1
            }
        }
        guard longest >= minN else { return [] }
        let start = total - 1 - position + longest
        return Array(t[start..<min(total, start + k)])
    }
}
