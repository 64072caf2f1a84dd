/// A context-free grammar over Unicode text, the form every structured-output spec compiles to (JSON Schema, regex,
/// choices, EBNF). Terminals are code-point sets and literal strings; the automaton lowers them to UTF-8 bytes, so
/// masks are computed over tokens' bytes (a token may hold part of a character).
///
/// ```swift
/// let g = try EBNF.parse(#"root ::= "yes" | "no""#)
/// ```
public struct Grammar: Sendable {
    public var rules: [GrammarRule]
    public var root: Int

    public init(rules: [GrammarRule], root: Int) {
        self.rules = rules
        self.root = root
    }
}

public struct GrammarRule: Sendable {
    public var name: String
    public var body: GrammarExpr
    /// xgrammar's lookahead assertion (`rule ::= body (= lookahead)`): what must follow the rule. It is implied by the
    /// rules that use this one in every grammar xgrammar writes, so it is kept for printing and never narrows matches.
    public var lookahead: GrammarExpr?
}

public indirect enum GrammarExpr: Sendable, Hashable {
    /// A literal string (as UTF-8 bytes; EBNF's \xHH may write a single byte).
    case literal([UInt8])
    /// One character from a set of code-point ranges (sorted, disjoint).
    case chars([ClosedRange<UInt32>])
    case ref(Int)
    case seq([GrammarExpr])
    case alt([GrammarExpr])
    /// `max` nil = unbounded.
    case rep(GrammarExpr, min: Int, max: Int?)

    public static let empty = GrammarExpr.seq([])
    public static func text(_ s: String) -> GrammarExpr { .literal(Array(s.utf8)) }
    public static func opt(_ e: GrammarExpr) -> GrammarExpr { .rep(e, min: 0, max: 1) }
    public static func star(_ e: GrammarExpr) -> GrammarExpr { .rep(e, min: 0, max: nil) }
    public static func plus(_ e: GrammarExpr) -> GrammarExpr { .rep(e, min: 1, max: nil) }
    public static func set(_ ranges: [ClosedRange<UInt32>]) -> GrammarExpr { .chars(CharSet.normalize(ranges)) }
}

/// Why a grammar, regex or schema cannot be used (the API answers 400 with this message).
public struct GrammarError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Code-point sets as sorted, disjoint, non-adjacent ranges.
public enum CharSet {
    public static let maxCodePoint: UInt32 = 0x10FFFF
    public static let any: [ClosedRange<UInt32>] = [0...maxCodePoint]

    public static func normalize(_ r: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        let s = r.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<UInt32>] = []
        for x in s {
            if let last = out.last, x.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, x.upperBound)
            } else { out.append(x) }
        }
        return out
    }

    public static func complement(_ r: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for x in normalize(r) {
            if x.lowerBound > next { out.append(next...(x.lowerBound - 1)) }
            if x.upperBound >= maxCodePoint { return out }
            next = x.upperBound + 1
        }
        out.append(next...maxCodePoint)
        return out
    }
}

/// Builds a grammar rule by rule; names are made unique (`base`, `base_1`, ...).
public struct GrammarBuilder {
    public internal(set) var rules: [GrammarRule] = []
    var names: Set<String> = []

    public init() {}

    /// Reserves a rule (its body is set later, so rules may refer to themselves).
    public mutating func reserve(_ base: String) -> Int {
        var name = base
        var k = 1
        while names.contains(name) { name = "\(base)_\(k)"; k += 1 }
        names.insert(name)
        rules.append(GrammarRule(name: name, body: .empty, lookahead: nil))
        return rules.count - 1
    }

    public mutating func define(_ id: Int, _ body: GrammarExpr) { rules[id].body = body }

    public mutating func add(_ base: String, _ body: GrammarExpr) -> Int {
        let id = reserve(base)
        define(id, body)
        return id
    }

    public func build(root: Int) -> Grammar { Grammar(rules: rules, root: root) }
}
