/// Occurrence counts of every substring (up to `depth` tokens) of the documents added: a depth-bounded suffix
/// trie. Adding a token costs O(depth) (the open paths ending at it grow by one), removing a document replays it.
final class SuffixTrie {
    /// Most nodes have one child: it is kept inline, a dictionary only for the rest (a fifth of the memory).
    struct Node {
        var count: Int32 = 0
        var firstToken: Int32 = -1
        var firstChild: Int32 = -1
        var more: [Int32: Int32]? = nil

        func child(_ t: Int32) -> Int32? { t == firstToken ? firstChild : more?[t] }
        var hasChildren: Bool { firstChild >= 0 || !(more?.isEmpty ?? true) }
        /// Every (token, child) pair.
        var children: [(Int32, Int32)] {
            (firstChild >= 0 ? [(firstToken, firstChild)] : []) + (more.map { $0.map { ($0.key, $0.value) } } ?? [])
        }
        mutating func setChild(_ t: Int32, _ c: Int32?) {
            if t == firstToken || (firstChild < 0 && c != nil) {
                firstToken = c == nil ? -1 : t
                firstChild = c ?? -1
            } else {
                if more == nil { more = [:] }
                more![t] = c
            }
        }
    }
    /// A document being added: the paths that end at its last token and are shorter than `depth`.
    struct Cursor { var open: [Int32] = [] }

    let depth: Int
    var nodes = [Node()]
    var freeList: [Int32] = []

    init(depth: Int) { self.depth = depth }

    func append(_ t: Int32, _ c: inout Cursor) {
        var next: [Int32] = []
        next.reserveCapacity(min(depth, c.open.count + 1))
        nodes[0].count += 1
        for n in c.open + [0] {
            let child = childOrNew(n, t)
            nodes[Int(child)].count += 1
            next.append(child)
        }
        // Paths of length `depth` stop growing (the oldest open path is the longest).
        c.open = next.count >= depth ? Array(next.dropFirst(next.count - depth + 1)) : next
    }

    /// Undoes `append` for every token of a document (its counts go, nodes left with none are reused).
    func remove(_ tokens: [Int32]) {
        var open: [Int32] = []
        for t in tokens {
            var next: [Int32] = []
            nodes[0].count -= 1
            for n in open + [0] {
                guard let child = nodes[Int(n)].child(t) else { continue }
                nodes[Int(child)].count -= 1
                next.append(child)
                if nodes[Int(child)].count == 0 {
                    nodes[Int(n)].setChild(t, nil)
                    freeList.append(child)
                }
            }
            open = next.count >= depth ? Array(next.dropFirst(next.count - depth + 1)) : next
        }
    }

    func childOrNew(_ n: Int32, _ t: Int32) -> Int32 {
        if let c = nodes[Int(n)].child(t) { return c }
        let c: Int32
        if let f = freeList.popLast() { c = f; nodes[Int(f)] = Node() } else { c = Int32(nodes.count); nodes.append(Node()) }
        nodes[Int(n)].setChild(t, c)
        return c
    }

    /// The node of `path` (nil: it never occurred).
    func find(_ path: ArraySlice<Int32>) -> Int32? {
        var n: Int32 = 0
        for t in path {
            guard let c = nodes[Int(n)].child(t) else { return nil }
            n = c
        }
        return n
    }

    /// SuffixDecoding's path speculation: the longest suffix of `pattern` that occurred with a continuation, then
    /// the most frequent next token while the estimated probability (product of count ratios) stays at least
    /// `minProb`; at most `maxFactor` x the matched length and `max` tokens. Returns the tokens and their score
    /// (the sum of the estimated probabilities: the expected number accepted).
    func speculate(_ pattern: ArraySlice<Int32>, max: Int, maxFactor: Double, minProb: Double) -> ([Int32], Double) {
        var len = pattern.count
        while len > 0 {
            if let n = find(pattern.suffix(len)), nodes[Int(n)].hasChildren {
                let limit = Swift.min(max, Int(maxFactor * Double(len)))
                var out: [Int32] = [], score = 0.0, prob = 1.0, cur = n
                while out.count < limit {
                    let node = nodes[Int(cur)]
                    guard let (t, c) = node.children.max(by: { a, b in
                        nodes[Int(a.1)].count != nodes[Int(b.1)].count ? nodes[Int(a.1)].count < nodes[Int(b.1)].count : a.0 > b.0
                    }) else { break }
                    prob *= Double(nodes[Int(c)].count) / Double(node.count)
                    if prob < minProb { break }
                    out.append(t)
                    score += prob
                    cur = c
                }
                return (out, score)
            }
            len -= 1
        }
        return ([], 0)
    }
}

/// SuffixDecoding (vLLM's `suffix`, after Arctic Inference): each request's prompt and output so far in a trie of
/// its own, the responses of earlier requests in a shared one (the newest `maxCached`); each step proposes from
/// whichever trie gives the higher score, as many tokens as the match supports.
final class SuffixProposer: TokenProposer {
    /// A sample's own trie, and how many of its tokens it holds.
    final class Local {
        let trie: SuffixTrie
        var cursor = SuffixTrie.Cursor()
        var added = 0
        init(depth: Int) { trie = SuffixTrie(depth: depth) }
    }

    let depth: Int, maxCached: Int, maxFactor: Double, minProb: Double
    let global: SuffixTrie
    /// The responses in `global`, oldest first.
    var cached: [[Int32]] = []
    var cachedStart = 0

    init(depth: Int, maxCached: Int, maxFactor: Double, minProb: Double) {
        self.depth = depth
        self.maxCached = maxCached
        self.maxFactor = maxFactor
        self.minProb = minProb
        global = SuffixTrie(depth: depth)
    }

    func propose(_ s: EngineSequence, max: Int) -> [Int32] {
        let local = (s.proposerState as? Local) ?? Local(depth: depth)
        s.proposerState = local
        while local.added < s.tokens.count {
            local.trie.append(s.tokens[local.added], &local.cursor)
            local.added += 1
        }
        let pattern = s.tokens.suffix(depth)
        let (a, sa) = local.trie.speculate(pattern, max: max, maxFactor: maxFactor, minProb: minProb)
        guard cached.count > cachedStart else { return a }
        let (b, sb) = global.speculate(pattern, max: max, maxFactor: maxFactor, minProb: minProb)
        return sb > sa ? b : a
    }

    func finished(_ s: EngineSequence) {
        s.proposerState = nil
        guard maxCached > 0, s.numOutput > 0 else { return }
        let response = Array(s.outputIds)
        var c = SuffixTrie.Cursor()
        for t in response { global.append(t, &c) }
        cached.append(response)
        if cached.count - cachedStart > maxCached {
            global.remove(cached[cachedStart])
            cached[cachedStart] = []
            cachedStart += 1
            if cachedStart > 1024, cachedStart * 2 > cached.count { cached.removeFirst(cachedStart); cachedStart = 0 }
        }
    }
}
