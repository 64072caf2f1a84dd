/// EBNF in the GBNF / xgrammar dialect that vLLM's `grammar` field and llama.cpp accept:
///
/// ```
/// root   ::= "{" ws pair ("," ws pair)* "}"   # comments run to the end of the line
/// pair   ::= [a-z]+ ws ":" ws ([0-9]{1,3} | "null")
/// ws     ::= [ \t\n]*
/// ```
/// Strings and classes take `\n \r \t \\ \" \' \[ \] \- \0 \xHH \uHHHH \UHHHHHHHH`; `.` is any character;
/// postfix `* + ? {m} {m,} {m,n}` (`{m,-1}` as xgrammar prints it); a trailing `(= ...)` lookahead is accepted.
/// The start rule is `root`.
public enum EBNF {
    static let maxDepth = 200

    public static func parse(_ text: String, root: String = "root") throws -> Grammar {
        var p = EBNFParser(Array(text.unicodeScalars))
        return try p.grammar(root: root)
    }
}

struct EBNFParser {
    let s: [Unicode.Scalar]
    var i = 0
    var ruleIds: [String: Int] = [:]
    var defined: Set<String> = []
    var b = GrammarBuilder()

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func fail(_ m: String) -> GrammarError {
        let line = s[..<min(i, s.count)].reduce(1) { $0 + ($1 == "\n" ? 1 : 0) }
        return GrammarError("EBNF line \(line): \(m)")
    }

    var atEnd: Bool { i >= s.count }
    var cur: Unicode.Scalar? { i < s.count ? s[i] : nil }

    mutating func skipSpace() {
        while let c = cur {
            if c == "#" { while let d = cur, d != "\n" { _ = d; i += 1 }; continue }
            if c == " " || c == "\t" || c == "\n" || c == "\r" { i += 1; continue }
            break
        }
    }

    static func isNameChar(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic && c.isASCII || ("0"..."9").contains(c) || c == "_" || c == "-" || c == "."
    }

    mutating func name() -> String? {
        let st = i
        while let c = cur, Self.isNameChar(c) { i += 1 }
        return i > st ? String(String.UnicodeScalarView(s[st..<i])) : nil
    }

    /// Whether a rule definition (`name ::=`) starts at the cursor.
    func atDefinition() -> Bool {
        var j = i
        while j < s.count, Self.isNameChar(s[j]) { j += 1 }
        guard j > i else { return false }
        while j < s.count, s[j] == " " || s[j] == "\t" || s[j] == "\n" || s[j] == "\r" { j += 1 }
        return j + 2 < s.count && s[j] == ":" && s[j + 1] == ":" && s[j + 2] == "="
    }

    mutating func id(_ n: String) -> Int {
        if let r = ruleIds[n] { return r }
        let r = b.reserve(n)
        ruleIds[n] = r
        return r
    }

    mutating func grammar(root: String) throws -> Grammar {
        skipSpace()
        while !atEnd {
            let at = i
            guard let n = name() else { throw fail("expected a rule name, found \"\(cur.map(String.init) ?? "")\"") }
            skipSpace()
            guard i + 2 < s.count, s[i] == ":", s[i + 1] == ":", s[i + 2] == "=" else { i = at; throw fail("expected ::= after \(n)") }
            i += 3
            guard !defined.contains(n) else { throw fail("rule \(n) is defined twice") }
            defined.insert(n)
            let r = id(n)
            var look: GrammarExpr? = nil
            let body = try alternatives(depth: 0, lookahead: &look)
            b.define(r, body)
            if let look { b.rules[r].lookahead = look }
            skipSpace()
        }
        for (n, _) in ruleIds where !defined.contains(n) { throw GrammarError("EBNF: rule \(n) is used but not defined") }
        guard let r = ruleIds[root] else { throw GrammarError("EBNF: the grammar has no \(root) rule") }
        // Names as written (the builder may have suffixed none, since EBNF names are unique).
        return b.build(root: r)
    }

    mutating func alternatives(depth: Int, lookahead: inout GrammarExpr?) throws -> GrammarExpr {
        guard depth < EBNF.maxDepth else { throw fail("nested more than \(EBNF.maxDepth) deep") }
        var alts = [try sequence(depth: depth, lookahead: &lookahead)]
        while true {
            skipSpace()
            guard cur == "|" else { break }
            i += 1
            alts.append(try sequence(depth: depth, lookahead: &lookahead))
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    mutating func sequence(depth: Int, lookahead: inout GrammarExpr?) throws -> GrammarExpr {
        var items: [GrammarExpr] = []
        while true {
            skipSpace()
            guard let c = cur, c != "|", c != ")" else { break }
            if depth == 0, atDefinition() { break }
            if c == "(", i + 1 < s.count, s[i + 1] == "=" {
                guard depth == 0 else { throw fail("a lookahead (= ...) may only end a rule") }
                i += 2
                var none: GrammarExpr? = nil
                lookahead = try alternatives(depth: 1, lookahead: &none)
                skipSpace()
                guard cur == ")" else { throw fail("expected ) to close the lookahead") }
                i += 1
                skipSpace()
                if !atEnd, !atDefinition() { throw fail("a lookahead (= ...) must end its rule") }
                break
            }
            var e = try primary(depth: depth)
            e = try postfix(e)
            items.append(e)
        }
        return items.count == 1 ? items[0] : .seq(items)
    }

    mutating func postfix(_ e0: GrammarExpr) throws -> GrammarExpr {
        var e = e0
        while let c = cur {
            if c == "*" { i += 1; e = .star(e) } else if c == "+" { i += 1; e = .plus(e) } else if c == "?" { i += 1; e = .opt(e) } else if c == "{" {
                i += 1
                let lo = try number()
                var hi: Int? = lo
                skipInline()
                if cur == "," {
                    i += 1
                    skipInline()
                    if cur == "}" { hi = nil } else if cur == "-" {
                        i += 1
                        guard try number() == 1 else { throw fail("a repetition's upper bound must be a number or -1") }
                        hi = nil
                    } else { hi = try number() }
                }
                skipInline()
                guard cur == "}" else { throw fail("expected } to close the repetition") }
                i += 1
                if let h = hi, h < lo { throw fail("repetition {\(lo),\(h)}: the upper bound is below the lower") }
                e = .rep(e, min: lo, max: hi)
            } else { break }
        }
        return e
    }

    mutating func skipInline() { while cur == " " || cur == "\t" { i += 1 } }

    mutating func number() throws -> Int {
        skipInline()
        var v = 0
        var n = 0
        while let c = cur, ("0"..."9").contains(c) {
            v = v * 10 + Int(c.value - 48)
            guard v <= Automaton.maxRepeat else { throw fail("repetition counts are limited to \(Automaton.maxRepeat)") }
            i += 1; n += 1
        }
        guard n > 0 else { throw fail("expected a number in the repetition") }
        return v
    }

    mutating func primary(depth: Int) throws -> GrammarExpr {
        guard let c = cur else { throw fail("unexpected end of grammar") }
        switch c {
        case "\"", "'":
            i += 1
            var out: [UInt8] = []
            while true {
                guard let d = cur else { throw fail("unterminated string") }
                if d == c { i += 1; break }
                if d == "\n" { throw fail("newline inside a string") }
                let v = try char()
                out += Array(String(Unicode.Scalar(v)!).utf8)
            }
            return .literal(out)
        case "[":
            i += 1
            var neg = false
            if cur == "^" { neg = true; i += 1 }
            var ranges: [ClosedRange<UInt32>] = []
            while true {
                guard let d = cur else { throw fail("unterminated character class") }
                if d == "]" { i += 1; break }
                let lo = try char()
                var hi = lo
                if cur == "-", i + 1 < s.count, s[i + 1] != "]" {
                    i += 1
                    hi = try char()
                    guard hi >= lo else { throw fail("character range is out of order") }
                }
                ranges.append(lo...hi)
            }
            let set = neg ? CharSet.complement(ranges) : CharSet.normalize(ranges)
            guard !set.isEmpty else { throw fail("empty character class") }
            return .chars(set)
        case ".":
            i += 1
            return .chars(CharSet.any)
        case "(":
            i += 1
            var none: GrammarExpr? = nil
            let e = try alternatives(depth: depth + 1, lookahead: &none)
            skipSpace()
            guard cur == ")" else { throw fail("expected )") }
            i += 1
            return e
        default:
            guard Self.isNameChar(c) else { throw fail("unexpected \"\(c)\"") }
            let n = name()!
            return .ref(id(n))
        }
    }

    /// One character of a string or class, escapes decoded, as a code point.
    mutating func char() throws -> UInt32 {
        guard let c = cur else { throw fail("unexpected end") }
        i += 1
        guard c == "\\" else { return c.value }
        guard let e = cur else { throw fail("unterminated escape") }
        i += 1
        switch e {
        case "n": return 10
        case "r": return 13
        case "t": return 9
        case "f": return 12
        case "v": return 11
        case "0": return 0
        case "x": return try hex(2)
        case "u": return try hex(4)
        case "U": return try hex(8)
        case "\\", "\"", "'", "[", "]", "-", "^", "/", ".", "(", ")", "|", "*", "+", "?", "{", "}": return e.value
        default: throw fail("unknown escape \\\(e)")
        }
    }

    mutating func hex(_ n: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<n {
            guard let c = cur, c.isASCII, let d = UInt32(String(c), radix: 16) else {
                throw fail("expected \(n) hex digits")
            }
            v = v * 16 + d
            i += 1
        }
        guard v <= CharSet.maxCodePoint, !(0xD800...0xDFFF).contains(v) else { throw fail("\\u escape \(String(v, radix: 16)) is not a character") }
        return v
    }
}
