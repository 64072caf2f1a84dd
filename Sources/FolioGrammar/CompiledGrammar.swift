import Foundation

/// A grammar ready to constrain one model's tokens: its automaton, the configurations met so far, and the adaptive
/// token-mask cache. Shared by every request with the same spec (see `GrammarCache`); matchers are values over it.
///
/// The cache (xgrammar's adaptive token mask): for each automaton state, the tokens every stack with that state on
/// top accepts without looking below it ("accepted", a bitmap), and the tokens that leave the rule before their last
/// byte ("uncertain": the stack below decides). A step's mask is the union of its tops' bitmaps plus the uncertain
/// tokens checked against the real stacks, so the common step is a few bitmap ORs.
public final class CompiledGrammar: @unchecked Sendable {
    public let vocabulary: TokenVocabulary
    let automaton: Automaton
    let conf: Configurations
    let lock = NSLock()
    var local: [Int32: LocalMask] = [:]
    /// The configuration before any output.
    let initial: Int32

    struct LocalMask {
        var accepted: [UInt64]
        /// Positions in the vocabulary's byte order.
        var uncertain: [Int32]
    }

    public init(_ g: Grammar, vocabulary: TokenVocabulary) throws {
        automaton = try Automaton(g)
        self.vocabulary = vocabulary
        conf = Configurations(automaton)
        initial = conf.start(automaton.start[Int(automaton.root)])
        guard initial >= 0 else { throw GrammarError("the grammar matches nothing") }
    }

    public func matcher() -> GrammarMatcher { GrammarMatcher(grammar: self, state: initial) }

    /// Automaton states of the grammar (a size measure for tests and logs).
    public var stateCount: Int { automaton.edges.count }

    // MARK: walking tokens

    enum Outcome { case accepted, uncertain, rejected }

    /// Runs the tokens at `positions` (ascending, in byte order; nil: every token) from configuration `c0`,
    /// stepping each shared prefix once. `ends`: whether a token that fails after the configuration could end counts
    /// as uncertain (the local cache) or rejected (real stacks, where "accept" is the end of the output).
    func walk(from c0: Int32, positions: [Int32]?, ends: Bool, _ f: (Int32, Outcome) -> Void) {
        let v = vocabulary
        let n = positions?.count ?? v.sorted.count
        var path = [Int32](repeating: 0, count: v.maxLength + 1)
        var saw = [Bool](repeating: false, count: v.maxLength + 1)
        path[0] = c0
        saw[0] = conf.accepting[Int(c0)]
        var depth = 0  // path[0...depth] holds the previous token's configurations
        var prev = -1
        var diedAt = Int.max
        v.storage.withUnsafeBufferPointer { st in
            v.offsets.withUnsafeBufferPointer { off in
                v.lcp.withUnsafeBufferPointer { lcp in
                    path.withUnsafeMutableBufferPointer { path in
                        saw.withUnsafeMutableBufferPointer { saw in
                            var k = -1
                            while k + 1 < n {
                                k += 1
                                let pos = positions.map { Int($0[k]) } ?? k
                                let s = Int(off[pos]), len = Int(off[pos + 1]) - s
                                var l = 0
                                if prev >= 0 {
                                    if positions == nil { l = Int(lcp[pos]) } else {
                                        let ps = Int(off[prev]), m = min(len, Int(off[prev + 1]) - ps)
                                        while l < m, st[s + l] == st[ps + l] { l += 1 }
                                    }
                                }
                                prev = pos
                                if diedAt <= l {
                                    f(Int32(pos), ends && saw[diedAt - 1] ? .uncertain : .rejected)
                                    continue
                                }
                                diedAt = Int.max
                                var d = min(l, depth)
                                while d < len {
                                    let nx = conf.step(path[d], st[s + d])
                                    if nx < 0 { diedAt = d + 1; break }
                                    path[d + 1] = nx
                                    saw[d + 1] = saw[d] || conf.isAccepting(nx)
                                    d += 1
                                }
                                depth = d
                                if diedAt == Int.max { f(Int32(pos), .accepted); continue }
                                let out: Outcome = ends && saw[diedAt - 1] ? .uncertain : .rejected
                                f(Int32(pos), out)
                                // Every token after this one that shares the dead prefix of 1 or 2 bytes has the same
                                // outcome: rejected runs are skipped at once.
                                if positions == nil, out == .rejected, diedAt <= 2 {
                                    k = Int((diedAt == 1 ? v.end1 : v.end2)[pos]) - 1
                                    prev = -1
                                    diedAt = Int.max
                                    depth = 0
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func localMask(_ state: Int32) -> LocalMask {
        if let m = local[state] { return m }
        var m = LocalMask(accepted: [UInt64](repeating: 0, count: vocabulary.words), uncertain: [])
        let c0 = conf.start(state)
        let sorted = vocabulary.sorted
        walk(from: c0, positions: nil, ends: true) { pos, o in
            switch o {
            case .accepted: let id = Int(sorted[Int(pos)]); m.accepted[id >> 6] |= 1 << UInt64(id & 63)
            case .uncertain: m.uncertain.append(pos)
            case .rejected: break
            }
        }
        local[state] = m
        return m
    }

    // MARK: the matcher's operations (under the lock)

    func fillMask(_ c: Int32, stopIds: [Int32], into out: UnsafeMutableBufferPointer<UInt64>) {
        lock.lock(); defer { lock.unlock() }
        for i in out.indices { out[i] = 0 }
        var unc: [Int32] = []
        var states: [Int32] = []
        for n in conf.members[Int(c)] where n >= 0 { states.append(conf.nodeState[Int(n)]) }
        states = Array(Set(states))
        for s in states {
            let m = localMask(s)
            m.accepted.withUnsafeBufferPointer { a in for i in 0..<min(a.count, out.count) { out[i] |= a[i] } }
            unc += m.uncertain
        }
        if !unc.isEmpty {
            if states.count > 1 { unc = Array(Set(unc)).sorted() }
            let sorted = vocabulary.sorted
            walk(from: c, positions: unc, ends: false) { pos, o in
                if o == .accepted { let id = Int(sorted[Int(pos)]); out[id >> 6] |= 1 << UInt64(id & 63) }
            }
        }
        if conf.accepting[Int(c)] {
            for t in stopIds where t >= 0 && Int(t) < out.count * 64 { out[Int(t) >> 6] |= 1 << UInt64(t & 63) }
        }
    }

    /// The configuration after `token`'s bytes, or nil when the grammar does not allow them.
    func advance(_ c: Int32, bytes: [UInt8]) -> Int32? {
        guard !bytes.isEmpty else { return nil }
        lock.lock(); defer { lock.unlock() }
        var x = c
        for b in bytes {
            x = conf.step(x, b)
            if x < 0 { return nil }
        }
        return x
    }

    func isAccepting(_ c: Int32) -> Bool { lock.lock(); defer { lock.unlock() }; return conf.accepting[Int(c)] }
    func onlyEnd(_ c: Int32) -> Bool { lock.lock(); defer { lock.unlock() }; return conf.onlyEnd(c) }
}

/// One sequence's position in a grammar: a value (copying it forks the sequence's constraint, as `n > 1` needs).
///
/// ```swift
/// var m = compiled.matcher()
/// m.fillMask(&bits, stopIds: [eos])      // allowed tokens as a bitmap
/// try m.accept(token, stopIds: [eos])    // after sampling
/// ```
public struct GrammarMatcher: Sendable {
    public let grammar: CompiledGrammar
    var state: Int32
    /// Set once a stop token was accepted: the output is complete.
    public private(set) var isTerminated = false

    init(grammar: CompiledGrammar, state: Int32) {
        self.grammar = grammar
        self.state = state
    }

    /// Identifies the matcher's position: equal keys of one grammar allow the same tokens (a mask can be reused).
    public var stateKey: Int64 { isTerminated ? -1 : Int64(state) }

    /// Whether the output so far is a complete match (a stop token is allowed).
    public var isAccepting: Bool { grammar.isAccepting(state) }
    /// Whether nothing but a stop token can follow.
    public var mustEnd: Bool { isTerminated || grammar.onlyEnd(state) }

    /// The allowed next tokens as a bitmap of `vocabulary.size` bits (`out.count` words): stop tokens exactly when the
    /// output is complete.
    public func fillMask(_ out: inout [UInt64], stopIds: [Int32]) {
        if out.count != grammar.vocabulary.words { out = [UInt64](repeating: 0, count: grammar.vocabulary.words) }
        if isTerminated { for i in out.indices { out[i] = 0 }; return }
        out.withUnsafeMutableBufferPointer { grammar.fillMask(state, stopIds: stopIds, into: $0) }
    }

    /// Advances over `token`; false (and no change) when the grammar does not allow it.
    @discardableResult
    public mutating func accept(_ token: Int32, stopIds: [Int32]) -> Bool {
        guard !isTerminated else { return false }
        if stopIds.contains(token) {
            guard grammar.isAccepting(state) else { return false }
            isTerminated = true
            return true
        }
        guard token >= 0, Int(token) < grammar.vocabulary.byId.count,
              let next = grammar.advance(state, bytes: grammar.vocabulary.byId[Int(token)]) else { return false }
        state = next
        return true
    }

    /// The allowed token ids (a convenience over `fillMask`).
    public func allowedTokens(stopIds: [Int32]) -> [Int32] {
        var bits: [UInt64] = []
        fillMask(&bits, stopIds: stopIds)
        var out: [Int32] = []
        for (w, x) in bits.enumerated() where x != 0 {
            var y = x
            while y != 0 { let b = y.trailingZeroBitCount; out.append(Int32(w * 64 + b)); y &= y - 1 }
        }
        return out.filter { Int($0) < grammar.vocabulary.size }
    }
}

extension CompiledGrammar {
    /// Whether `text` is a complete match (`complete`) or can still be extended to one (`prefix`), by its bytes.
    public func match(_ text: String) -> (prefix: Bool, complete: Bool) {
        guard let c = text.isEmpty ? initial : advance(initial, bytes: Array(text.utf8)) else { return (false, false) }
        return (true, isAccepting(c))
    }

    /// A grammar over single-byte tokens (ids 0...255 are the bytes, 256 is the stop token): for tests and tools
    /// that match text rather than a model's tokens.
    public static func bytes(_ g: Grammar) throws -> CompiledGrammar {
        try CompiledGrammar(g, vocabulary: TokenVocabulary(tokens: (0..<256).map { [UInt8($0)] } + [nil]))
    }
}
