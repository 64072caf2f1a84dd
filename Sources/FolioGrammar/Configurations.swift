/// The matcher's states: sets of stacks over an `Automaton`, interned so that a state is one integer and a byte step
/// from it is computed once (`step` is memoized). This makes the pushdown matcher a lazily built finite automaton
/// over the configurations actually met, which is what the token walks need.
///
/// A stack is a linked list of nodes (automaton state, parent node); node -1 is the bottom. A configuration is the
/// sorted list of the stacks' top nodes that can read a byte, plus `Configurations.accept` when the whole grammar may
/// end here. Not thread-safe: `CompiledGrammar` serializes access.
final class Configurations {
    let a: Automaton
    static let accept: Int32 = -1
    static let dead: Int32 = -1

    var nodeState: [Int32] = []
    var nodeParent: [Int32] = []
    var nodeIndex: [UInt64: Int32] = [:]
    var members: [[Int32]] = []
    var index: [[Int32]: Int32] = [:]
    var accepting: [Bool] = []
    var memo: [UInt64: Int32] = [:]
    static let maxMemo = 4_000_000

    init(_ a: Automaton) { self.a = a }

    func node(_ state: Int32, _ parent: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: state)) << 32 | UInt64(UInt32(bitPattern: parent))
        if let n = nodeIndex[key] { return n }
        let n = Int32(nodeState.count)
        nodeState.append(state)
        nodeParent.append(parent)
        nodeIndex[key] = n
        return n
    }

    /// The configuration of a single stack whose top is `state` over nothing: the start of the grammar, or, for the
    /// token-mask cache, a rule's state seen without the stack below it (then "accept" means "the rule may end").
    func start(_ state: Int32) -> Int32 { closure([node(state, -1)]) }

    /// Expands calls and returns from rules that may end, keeping the nodes that read bytes.
    func closure(_ seeds: [Int32]) -> Int32 {
        var seen = Set<Int32>()
        var work = seeds
        var out: [Int32] = []
        var acc = false
        while let n = work.popLast() {
            guard seen.insert(n).inserted else { continue }
            let s = Int(nodeState[Int(n)]), p = nodeParent[Int(n)]
            if !a.edges[s].isEmpty { out.append(n) }
            for c in a.calls[s] { work.append(node(a.start[Int(c.rule)], node(c.to, p))) }
            if a.accepting[s] {
                if p == -1 { acc = true } else { work.append(p) }
            }
        }
        guard !out.isEmpty || acc else { return Configurations.dead }
        out.sort()
        if acc { out.insert(Configurations.accept, at: 0) }
        if let c = index[out] { return c }
        let c = Int32(members.count)
        members.append(out)
        accepting.append(acc)
        index[out] = c
        return c
    }

    /// Byte steps of configurations: a 256-entry row per configuration stepped so far (-2: not computed yet) in one
    /// preallocated table (pages are committed as rows are used), for the first `maxRows` configurations and up to
    /// `maxTableEntries`; others use the `memo` dictionary. Rows make the token walks of the mask cache a load per
    /// byte; the buffers are `let` pointers so those loads carry no exclusivity checks.
    static let maxRows = 1 << 20
    static let maxTableEntries = 1 << 22
    let row = UnsafeMutablePointer<Int32>.allocate(capacity: Configurations.maxRows)
    let table = UnsafeMutablePointer<Int32>.allocate(capacity: Configurations.maxTableEntries)
    /// `accepting` as a flat buffer, for the same reason (mirrors the array up to `maxRows`).
    let acceptingFlags = UnsafeMutablePointer<Bool>.allocate(capacity: Configurations.maxRows)
    var tableUsed = 0
    var rowsKnown = 0

    deinit {
        row.deallocate()
        table.deallocate()
        acceptingFlags.deallocate()
    }

    @inline(__always)
    func step(_ c: Int32, _ b: UInt8) -> Int32 {
        let ci = Int(c)
        if ci < rowsKnown {
            let r = row[ci]
            if r >= 0 {
                let t = table[Int(r) + Int(b)]
                if t != -2 { return t }
            }
        }
        return stepSlow(c, b)
    }

    @inline(__always)
    func isAccepting(_ c: Int32) -> Bool { Int(c) < rowsKnown ? acceptingFlags[Int(c)] : accepting[Int(c)] }

    /// Makes rows (unallocated) known for every configuration interned so far.
    func extendRows() {
        let n = min(members.count, Configurations.maxRows)
        while rowsKnown < n {
            row[rowsKnown] = -1
            acceptingFlags[rowsKnown] = accepting[rowsKnown]
            rowsKnown += 1
        }
    }

    func stepSlow(_ c: Int32, _ b: UInt8) -> Int32 {
        let ci = Int(c)
        extendRows()
        if ci < rowsKnown, row[ci] < 0, tableUsed + 256 <= Configurations.maxTableEntries {
            row[ci] = Int32(tableUsed)
            (table + tableUsed).initialize(repeating: -2, count: 256)
            tableUsed += 256
        }
        let tabled = ci < rowsKnown && row[ci] >= 0
        let key = UInt64(UInt32(bitPattern: c)) << 8 | UInt64(b)
        if !tabled, let t = memo[key] { return t }
        var seeds: [Int32] = []
        for n in members[Int(c)] where n >= 0 {
            let t = a.next(nodeState[Int(n)], b)
            if t >= 0 { seeds.append(node(t, nodeParent[Int(n)])) }
        }
        let t = seeds.isEmpty ? Configurations.dead : closure(seeds)
        extendRows()
        if tabled {
            table[Int(row[ci]) + Int(b)] = t
        } else {
            if memo.count >= Configurations.maxMemo { memo.removeAll(keepingCapacity: true) }
            memo[key] = t
        }
        return t
    }

    /// Whether nothing but the end can follow.
    func onlyEnd(_ c: Int32) -> Bool { members[Int(c)] == [Configurations.accept] }
}
