/// A model's tokens as byte strings, sorted so that tokens sharing a prefix are neighbours: a walk over them in this
/// order steps each shared prefix once (a trie walk without the trie).
public final class TokenVocabulary: Sendable {
    /// Width of a mask (the model's logits), at least the number of tokens.
    public let size: Int
    /// Token ids of the matchable tokens (non-empty, not special) in byte order.
    let sorted: [Int32]
    let offsets: [Int32]
    let storage: [UInt8]
    /// Tokens' bytes by id (empty: never allowed), for advancing a matcher.
    let byId: [[UInt8]]
    /// Bytes each sorted token shares with the one before it; the longest token.
    let lcp: [Int32]
    let maxLength: Int
    /// For each sorted token, the first position after the run of tokens sharing its first byte (`end1`) and its
    /// first two bytes (`end2`): a walk that dies there skips the run at once.
    let end1: [Int32]
    let end2: [Int32]

    /// `tokens[id]`: the token's bytes, or nil for tokens the grammar never allows (special and control tokens).
    public init(tokens: [[UInt8]?], size: Int? = nil) {
        self.size = max(size ?? tokens.count, tokens.count)
        byId = tokens.map { $0 ?? [] }
        let ids = tokens.indices.filter { !(tokens[$0]?.isEmpty ?? true) }.sorted { tokens[$0]!.lexicographicallyPrecedes(tokens[$1]!) }
        sorted = ids.map { Int32($0) }
        var off: [Int32] = [0]
        var st: [UInt8] = []
        for i in ids { st += tokens[i]!; off.append(Int32(st.count)) }
        offsets = off
        storage = st
        var l = [Int32](repeating: 0, count: ids.count)
        for k in ids.indices.dropFirst() {
            let a = tokens[ids[k - 1]]!, b = tokens[ids[k]]!
            var n = 0
            while n < a.count, n < b.count, a[n] == b[n] { n += 1 }
            l[k] = Int32(n)
        }
        lcp = l
        var e1 = [Int32](repeating: Int32(ids.count), count: ids.count), e2 = e1
        for k in stride(from: ids.count - 2, through: 0, by: -1) {
            e1[k] = l[k + 1] >= 1 ? e1[k + 1] : Int32(k + 1)
            e2[k] = l[k + 1] >= 2 ? e2[k + 1] : Int32(k + 1)
        }
        end1 = e1
        end2 = e2
        maxLength = ids.map { tokens[$0]!.count }.max() ?? 0
    }

    var words: Int { (size + 63) / 64 }
}
