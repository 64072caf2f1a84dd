/// A grammar lowered to one deterministic byte automaton per rule whose edges are byte ranges or calls of other
/// rules (a recursive transition network). A matcher state is a stack of automaton states; `Configurations` runs it.
///
/// Every state can still reach an accepting state (dead ends are trimmed), so a byte that has an edge can always be
/// completed: a token is allowed exactly when all of its bytes have edges.
struct Automaton: Sendable {
    struct Edge: Sendable { let lo: UInt8, hi: UInt8, to: Int32 }
    struct Call: Sendable { let rule: Int32, to: Int32 }
    /// Per state: byte edges (sorted, disjoint), calls, and whether the rule may end here.
    var edges: [[Edge]] = []
    var calls: [[Call]] = []
    var accepting: [Bool] = []
    /// Start state of each rule.
    var start: [Int32] = []
    var root: Int32 = 0

    static let maxRepeat = 10_000
    static let maxNFAStates = 400_000
    static let maxDFAStates = 100_000

    init(_ g: Grammar) throws {
        guard !g.rules.isEmpty else { throw GrammarError("the grammar has no rules") }
        var budget = Automaton.maxNFAStates
        for r in g.rules {
            var nfa = NFA()
            let s = nfa.new()
            nfa.end = try nfa.build(r.body, from: s, budget: &budget)
            start.append(Int32(edges.count))
            try determinize(nfa, start: s)
        }
        root = Int32(g.root)
        try trim(g)
        try checkLeftRecursion(g)
    }

    func next(_ s: Int32, _ b: UInt8) -> Int32 {
        for e in edges[Int(s)] where b >= e.lo {
            if b <= e.hi { return e.to }
        }
        return -1
    }

    // MARK: NFA

    struct NFA {
        var eps: [[Int32]] = []
        var bytes: [[(ClosedRange<UInt8>, Int32)]] = []
        var refs: [[(Int32, Int32)]] = []
        var end: Int32 = 0

        mutating func new() -> Int32 {
            eps.append([]); bytes.append([]); refs.append([])
            return Int32(eps.count - 1)
        }

        mutating func build(_ e: GrammarExpr, from s: Int32, budget: inout Int) throws -> Int32 {
            guard budget > eps.count else { throw GrammarError("the grammar is too large (over \(Automaton.maxNFAStates) automaton states)") }
            switch e {
            case .literal(let bs):
                var cur = s
                for b in bs { let t = new(); bytes[Int(cur)].append((b...b, t)); cur = t }
                return cur
            case .chars(let set):
                let t = new()
                for seq in UTF8Ranges.sequences(set) {
                    var cur = s
                    for (k, r) in seq.enumerated() {
                        let to = k == seq.count - 1 ? t : new()
                        bytes[Int(cur)].append((r, to))
                        cur = to
                    }
                }
                return t
            case .ref(let r):
                let t = new()
                refs[Int(s)].append((Int32(r), t))
                return t
            case .seq(let items):
                var cur = s
                for x in items { cur = try build(x, from: cur, budget: &budget) }
                return cur
            case .alt(let alts):
                let t = new()
                for a in alts {
                    let entry = new()
                    eps[Int(s)].append(entry)
                    eps[Int(try build(a, from: entry, budget: &budget))].append(t)
                }
                return t
            case .rep(let x, let lo, let hi):
                guard lo <= Automaton.maxRepeat, (hi ?? 0) <= Automaton.maxRepeat else {
                    throw GrammarError("repetition counts are limited to \(Automaton.maxRepeat)")
                }
                var cur = s
                for _ in 0..<lo { cur = try build(x, from: cur, budget: &budget) }
                if let hi {
                    guard hi > lo else { return cur }
                    let t = new()
                    for _ in lo..<hi {
                        eps[Int(cur)].append(t)
                        let entry = new()
                        eps[Int(cur)].append(entry)
                        cur = try build(x, from: entry, budget: &budget)
                    }
                    eps[Int(cur)].append(t)
                    return t
                }
                let loop = new()
                eps[Int(cur)].append(loop)
                let entry = new()
                eps[Int(loop)].append(entry)
                eps[Int(try build(x, from: entry, budget: &budget))].append(loop)
                let t = new()
                eps[Int(loop)].append(t)
                return t
            }
        }

        func closure(_ seed: [Int32]) -> [Int32] {
            var seen = Set(seed)
            var stack = seed
            while let x = stack.popLast() {
                for y in eps[Int(x)] where seen.insert(y).inserted { stack.append(y) }
            }
            return seen.sorted()
        }
    }

    // MARK: subset construction

    mutating func determinize(_ nfa: NFA, start s: Int32) throws {
        var ids: [[Int32]: Int32] = [:]
        var queue: [[Int32]] = []
        func id(_ set: [Int32]) throws -> Int32 {
            if let x = ids[set] { return x }
            guard edges.count < Automaton.maxDFAStates else { throw GrammarError("the grammar is too large (over \(Automaton.maxDFAStates) automaton states)") }
            let x = Int32(edges.count)
            ids[set] = x
            edges.append([]); calls.append([]); accepting.append(set.contains(nfa.end))
            queue.append(set)
            return x
        }
        _ = try id(nfa.closure([s]))
        var qi = 0
        while qi < queue.count {
            let set = queue[qi]
            let me = ids[set]!
            qi += 1
            // Byte edges: cut 0...255 where any edge starts or ends, then one target set per piece.
            var cuts: Set<Int> = [0, 256]
            var out: [(ClosedRange<UInt8>, Int32)] = []
            var byRule: [Int32: [Int32]] = [:]
            var ruleOrder: [Int32] = []
            for x in set {
                for (r, t) in nfa.bytes[Int(x)] { cuts.insert(Int(r.lowerBound)); cuts.insert(Int(r.upperBound) + 1); out.append((r, t)) }
                for (r, t) in nfa.refs[Int(x)] {
                    if byRule[r] == nil { ruleOrder.append(r) }
                    byRule[r, default: []].append(t)
                }
            }
            var es: [Edge] = []
            if !out.isEmpty {
                let c = cuts.sorted()
                for k in 0..<(c.count - 1) {
                    let lo = c[k], hi = c[k + 1] - 1
                    let targets = out.filter { Int($0.0.lowerBound) <= lo && hi <= Int($0.0.upperBound) }.map(\.1)
                    guard !targets.isEmpty else { continue }
                    let to = try id(nfa.closure(targets))
                    if let last = es.last, last.to == to, Int(last.hi) + 1 == lo {
                        es[es.count - 1] = Edge(lo: last.lo, hi: UInt8(hi), to: to)
                    } else { es.append(Edge(lo: UInt8(lo), hi: UInt8(hi), to: to)) }
                }
            }
            edges[Int(me)] = es
            var cs: [Call] = []
            for r in ruleOrder { cs.append(Call(rule: r, to: try id(nfa.closure(byRule[r]!)))) }
            calls[Int(me)] = cs
        }
    }

    // MARK: trimming and checks

    /// Drops edges into states from which no accepting state is reachable, and calls of rules that match nothing.
    mutating func trim(_ g: Grammar) throws {
        let n = edges.count
        var productive = [Bool](repeating: false, count: start.count)
        var live = accepting
        var changed = true
        while changed {
            changed = false
            for s in 0..<n where !live[s] {
                if edges[s].contains(where: { live[Int($0.to)] }) || calls[s].contains(where: { productive[Int($0.rule)] && live[Int($0.to)] }) {
                    live[s] = true; changed = true
                }
            }
            for r in 0..<start.count where !productive[r] && live[Int(start[r])] { productive[r] = true; changed = true }
        }
        guard productive[Int(root)] else { throw GrammarError("the grammar matches nothing (rule \(g.rules[Int(root)].name))") }
        for s in 0..<n {
            edges[s] = edges[s].filter { live[Int($0.to)] }
            calls[s] = calls[s].filter { productive[Int($0.rule)] && live[Int($0.to)] }
        }
    }

    /// A rule that can call itself before reading a byte would make the matcher's stack grow without end.
    func checkLeftRecursion(_ g: Grammar) throws {
        let R = start.count
        var nullable = [Bool](repeating: false, count: R)
        // States reachable from a rule's start through calls of nullable rules only; recomputed until stable.
        func emptyReach(_ r: Int) -> [Int32] {
            var seen: Set<Int32> = [start[r]]
            var st = [start[r]]
            while let s = st.popLast() {
                for c in calls[Int(s)] where nullable[Int(c.rule)] && seen.insert(c.to).inserted { st.append(c.to) }
            }
            return Array(seen)
        }
        var changed = true
        while changed {
            changed = false
            for r in 0..<R where !nullable[r] && emptyReach(r).contains(where: { accepting[Int($0)] }) { nullable[r] = true; changed = true }
        }
        var leftCalls = [[Int]](repeating: [], count: R)
        for r in 0..<R { leftCalls[r] = Array(Set(emptyReach(r).flatMap { calls[Int($0)].map { Int($0.rule) } })) }
        var color = [UInt8](repeating: 0, count: R)
        for r0 in 0..<R where color[r0] == 0 {
            var st: [(Int, Int)] = [(r0, 0)]
            color[r0] = 1
            while let (r, k) = st.last {
                if k < leftCalls[r].count {
                    st[st.count - 1].1 += 1
                    let x = leftCalls[r][k]
                    if color[x] == 1 { throw GrammarError("rule \(g.rules[x].name) is left-recursive (it can reach itself without reading a character)") }
                    if color[x] == 0 { color[x] = 1; st.append((x, 0)) }
                } else { color[r] = 2; st.removeLast() }
            }
        }
    }
}
