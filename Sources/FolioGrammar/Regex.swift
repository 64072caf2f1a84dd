/// Regular expressions as people write them in schemas (`pattern`) and in vLLM's `regex` field, compiled to a
/// grammar: literals, classes (`[a-z]`, `[^...]`, `\d \w \s` and their negations), `.`, groups (`(...)`, `(?:...)`,
/// named), alternation, `* + ? {m} {m,} {m,n}` (lazy forms match the same strings), and `^`/`$` at the ends.
/// As xgrammar does, the whole output must match, `.` matches any character (newline too) and `\s` is Unicode's
/// white space. Lookarounds, backreferences and word boundaries are errors: they are not regular, or not per token.
public enum Regex {
    public static func grammar(_ pattern: String) throws -> Grammar {
        var b = GrammarBuilder()
        let root = b.reserve("root")
        b.define(root, try expr(pattern))
        return b.build(root: root)
    }

    /// The expression for `pattern`, to embed in a larger grammar (JSON Schema's `pattern`).
    public static func expr(_ pattern: String) throws -> GrammarExpr {
        var p = RegexParser(Array(pattern.unicodeScalars))
        if p.cur == "^" { p.i += 1 }
        let e = try p.alternation(depth: 0)
        if p.cur == "$", p.i == p.s.count - 1 { p.i += 1 }
        guard p.atEnd else { throw p.fail(p.cur == ")" ? "unbalanced )" : p.cur == "$" || p.cur == "^" ? "anchors are only supported at the ends" : "unexpected \(p.cur.map(String.init) ?? "")") }
        return e
    }

    static let digit: [ClosedRange<UInt32>] = [48...57]
    static let word: [ClosedRange<UInt32>] = CharSet.normalize([48...57, 65...90, 95...95, 97...122])
    /// Unicode white space, as xgrammar's `\s`.
    static let space: [ClosedRange<UInt32>] = CharSet.normalize([9...13, 32...32, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A,
                                                                  0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF])
}

struct RegexParser {
    let s: [Unicode.Scalar]
    var i = 0
    init(_ s: [Unicode.Scalar]) { self.s = s }
    var atEnd: Bool { i >= s.count }
    var cur: Unicode.Scalar? { i < s.count ? s[i] : nil }

    func fail(_ m: String) -> GrammarError { GrammarError("regex at \(i): \(m)") }

    mutating func alternation(depth: Int) throws -> GrammarExpr {
        guard depth < EBNF.maxDepth else { throw fail("nested more than \(EBNF.maxDepth) deep") }
        var alts = [try concatenation(depth: depth)]
        while cur == "|" {
            i += 1
            alts.append(try concatenation(depth: depth))
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    mutating func concatenation(depth: Int) throws -> GrammarExpr {
        var items: [GrammarExpr] = []
        while let c = cur, c != "|", c != ")" {
            if c == "$", i == s.count - 1 { break }
            var e = try atom(depth: depth)
            e = try quantifiers(e)
            items.append(e)
        }
        return items.count == 1 ? items[0] : .seq(items)
    }

    mutating func quantifiers(_ e0: GrammarExpr) throws -> GrammarExpr {
        var e = e0
        var quantified = false
        while let c = cur {
            var q: GrammarExpr? = nil
            if c == "*" { i += 1; q = .star(e) } else if c == "+" { i += 1; q = .plus(e) } else if c == "?" { i += 1; q = .opt(e) } else if c == "{", let (lo, hi, len) = braces() {
                i += len
                if let h = hi, h < lo { throw fail("{\(lo),\(h)}: the upper bound is below the lower") }
                q = .rep(e, min: lo, max: hi)
            }
            guard let qq = q else { break }
            if quantified { throw fail("nothing to repeat (two quantifiers in a row)") }
            e = qq
            quantified = true
            if cur == "?" { i += 1 } else if cur == "+" { throw fail("possessive quantifiers are not supported") }
        }
        return e
    }

    /// `{m}`, `{m,}`, `{m,n}` at the cursor: (m, n, length). Anything else is a literal `{` (as Python's re).
    func braces() -> (Int, Int?, Int)? {
        var j = i + 1
        func num() -> Int? {
            var v = 0, n = 0
            while j < s.count, ("0"..."9").contains(s[j]) { v = min(v * 10 + Int(s[j].value - 48), Automaton.maxRepeat + 1); j += 1; n += 1 }
            return n > 0 ? v : nil
        }
        guard let lo = num() else { return nil }
        var hi: Int? = lo
        if j < s.count, s[j] == "," { j += 1; hi = num() }
        guard j < s.count, s[j] == "}" else { return nil }
        return (lo, hi, j + 1 - i)
    }

    mutating func atom(depth: Int) throws -> GrammarExpr {
        let c = cur!
        switch c {
        case "(":
            i += 1
            if cur == "?" {
                i += 1
                if cur == ":" { i += 1 } else if cur == "P" || cur == "<" {
                    if cur == "P" { i += 1 }
                    guard cur == "<" else { throw fail("unsupported group syntax") }
                    if i + 1 < s.count, s[i + 1] == "=" || s[i + 1] == "!" { throw fail("lookbehind is not supported") }
                    while let d = cur, d != ">" { _ = d; i += 1 }
                    guard cur == ">" else { throw fail("unterminated group name") }
                    i += 1
                } else if cur == "=" || cur == "!" { throw fail("lookahead is not supported") } else { throw fail("unsupported group syntax (?\(cur.map(String.init) ?? "")") }
            }
            let e = try alternation(depth: depth + 1)
            guard cur == ")" else { throw fail("missing )") }
            i += 1
            return e
        case "[":
            i += 1
            return .chars(try charClass())
        case ".":
            i += 1
            return .chars(CharSet.any)
        case "\\":
            i += 1
            return try escape(inClass: false).expr
        case "*", "+", "?":
            throw fail("nothing to repeat")
        case "^", "$":
            throw fail("anchors are only supported at the ends")
        default:
            if c == "{", braces() != nil { throw fail("nothing to repeat") }
            i += 1
            return .literal(Array(String(c).utf8))
        }
    }

    enum Escaped { case char(UInt32), set([ClosedRange<UInt32>]) }

    mutating func escape(inClass: Bool) throws -> (expr: GrammarExpr, value: Escaped) {
        guard let e = cur else { throw fail("trailing backslash") }
        i += 1
        func one(_ v: UInt32) -> (GrammarExpr, Escaped) { (.chars([v...v]), .char(v)) }
        func set(_ r: [ClosedRange<UInt32>]) -> (GrammarExpr, Escaped) { (.chars(r), .set(r)) }
        switch e {
        case "d": return set(Regex.digit)
        case "D": return set(CharSet.complement(Regex.digit))
        case "w": return set(Regex.word)
        case "W": return set(CharSet.complement(Regex.word))
        case "s": return set(Regex.space)
        case "S": return set(CharSet.complement(Regex.space))
        case "n": return one(10)
        case "r": return one(13)
        case "t": return one(9)
        case "f": return one(12)
        case "v": return one(11)
        case "0": return one(0)
        case "x": return one(try hex(2))
        case "u": return one(try hex(4))
        case "b": if inClass { return one(8) }; throw fail("word boundaries (\\b) are not supported")
        case "B", "A", "Z", "z", "G": throw fail("\\\(e) is not supported")
        default:
            if ("1"..."9").contains(e) { throw fail("backreferences are not supported") }
            if e.properties.isAlphabetic, e.isASCII { throw fail("unknown escape \\\(e)") }
            return one(e.value)
        }
    }

    mutating func hex(_ n: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<n {
            guard let c = cur, c.isASCII, let d = UInt32(String(c), radix: 16) else { throw fail("expected \(n) hex digits") }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func charClass() throws -> [ClosedRange<UInt32>] {
        var neg = false
        if cur == "^" { neg = true; i += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let c = cur else { throw fail("unterminated character class") }
            if c == "]", !first { i += 1; break }
            first = false
            var lo: UInt32
            if c == "\\" {
                i += 1
                switch try escape(inClass: true).value {
                case .set(let r): ranges += r; continue
                case .char(let v): lo = v
                }
            } else { i += 1; lo = c.value }
            if cur == "-", i + 1 < s.count, s[i + 1] != "]" {
                i += 1
                var hi: UInt32
                if cur == "\\" {
                    i += 1
                    guard case .char(let v) = try escape(inClass: true).value else { throw fail("a class escape cannot end a range") }
                    hi = v
                } else { hi = cur!.value; i += 1 }
                guard hi >= lo else { throw fail("character range is out of order") }
                ranges.append(lo...hi)
            } else { ranges.append(lo...lo) }
        }
        let set = neg ? CharSet.complement(ranges) : CharSet.normalize(ranges)
        guard !set.isEmpty else { throw fail("empty character class") }
        return set
    }
}
