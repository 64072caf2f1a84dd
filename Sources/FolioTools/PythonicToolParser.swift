import Foundation

/// `pythonic` (Llama 3.2, Llama 4, ToolACE): the whole output is a Python list of calls,
/// `[get_weather(city="Paris"), get_time()]`, keyword arguments holding Python or JSON literals. Read as vLLM reads
/// it: the output must pass vLLM's pattern and parse as Python (`ast.parse`); anything else is content.
/// Folio reads Python literals itself, and accepts after the list only blank lines and comments.
public struct PythonicToolParser: ToolCallParser {
    public init() {}

    public func extract(_ text: String) -> ExtractedToolCalls {
        let s = Array(text.unicodeScalars)
        guard Self.matchesPattern(s) else { return .text(text) }
        var p = PythonReader(s)
        guard let calls = try? p.callList(), p.atEndOfModule() else { return .text(text) }
        return ExtractedToolCalls(calls: calls, content: nil)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        guard text.hasPrefix("[") else { return PartialToolCalls(content: text) }
        // A list of calls: each call is sent once its closing parenthesis has arrived.
        var p = PythonReader(Array(text.unicodeScalars))
        return PartialToolCalls(content: "", calls: p.completeCalls().map { .init(name: $0.name, arguments: $0.arguments) })
    }

    /// vLLM's `TOOL_CALL_REGEX.match`, decided without backtracking: `[`, then calls `name(...)` where a call with
    /// arguments (`name(key=...`) may run to any later `)` followed by optional whitespace and `]`.
    static func matchesPattern(_ s: [Unicode.Scalar]) -> Bool {
        guard s.first == "[" else { return false }
        func isWord(_ c: Unicode.Scalar) -> Bool { c.properties.isAlphabetic || c.properties.numericType != nil || c == "_" || c.properties.generalCategory == .nonspacingMark }
        func asciiLetter(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
        func ident(_ i: Int) -> Int? {
            guard i < s.count, asciiLetter(s[i]) else { return nil }
            var j = i + 1
            while j < s.count, isWord(s[j]) { j += 1 }
            return j
        }
        func closesLater(_ i: Int) -> Bool {
            var k = i
            while k < s.count {
                if s[k] == ")" {
                    var j = k + 1
                    while j < s.count, s[j].properties.isWhitespace { j += 1 }
                    if j < s.count, s[j] == "]" { return true }
                }
                k += 1
            }
            return false
        }
        func call(_ i: Int, depth: Int) -> Bool {
            guard depth < 10_000, let n = ident(i), n < s.count, s[n] == "(" else { return false }
            let a = n + 1
            if let e = ident(a), e < s.count, s[e] == "=" { return closesLater(e + 1) }
            guard a < s.count, s[a] == ")" else { return false }
            var j = a + 1
            if j < s.count, s[j] == "," {
                j += 1
                while j < s.count, s[j].properties.isWhitespace { j += 1 }
                return call(j, depth: depth + 1)
            }
            while j < s.count, s[j].properties.isWhitespace { j += 1 }
            if j < s.count, s[j] == "]" { return true }
            return call(j, depth: depth + 1)
        }
        return call(1, depth: 0)
    }
}

/// Reads the Python that pythonic tool calls are written in: a list of calls with literal keyword arguments,
/// turned into JSON as vLLM's `get_parameter_value` does (tuples and sets become lists, `true`/`false`/`null`
/// are accepted, dict keys become strings as `json.dumps` writes them).
struct PythonReader {
    struct Failure: Error {}
    let s: [Unicode.Scalar]
    var i = 0
    init(_ s: [Unicode.Scalar]) { self.s = s }

    /// Whitespace (newlines included, as inside brackets) and comments.
    mutating func skip() {
        while i < s.count {
            if s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r" || s[i] == "\u{0C}" { i += 1; continue }
            if s[i] == "#" { while i < s.count, s[i] != "\n" { i += 1 }; continue }
            if s[i] == "\\", i + 1 < s.count, s[i + 1] == "\n" { i += 2; continue }
            break
        }
    }

    mutating func atEndOfModule() -> Bool { skip(); return i == s.count }

    mutating func expect(_ c: Unicode.Scalar) throws { skip(); guard i < s.count, s[i] == c else { throw Failure() }; i += 1 }
    mutating func peek() -> Unicode.Scalar? { skip(); return i < s.count ? s[i] : nil }

    static func identStart(_ c: Unicode.Scalar) -> Bool { c == "_" || c.properties.isXIDStart }
    static func identContinue(_ c: Unicode.Scalar) -> Bool { c.properties.isXIDContinue }

    mutating func identifier() throws -> String {
        skip()
        guard i < s.count, Self.identStart(s[i]) else { throw Failure() }
        let start = i
        while i < s.count, Self.identContinue(s[i]) { i += 1 }
        return String(String.UnicodeScalarView(s[start..<i]))
    }

    mutating func callList() throws -> [ToolCall] {
        try expect("[")
        var calls: [ToolCall] = []
        while true {
            if peek() == "]" { i += 1; break }
            calls.append(try call())
            guard let c = peek() else { throw Failure() }
            i += 1
            if c == "]" { break }
            guard c == "," else { throw Failure() }
        }
        return calls
    }

    /// The calls of a list that is still arriving, up to the first that is not complete.
    mutating func completeCalls() -> [ToolCall] {
        guard (try? expect("[")) != nil else { return [] }
        var calls: [ToolCall] = []
        while let c = try? call() {
            calls.append(c)
            guard let n = peek(), n == "," else { break }
            i += 1
        }
        return calls
    }

    /// `name(key=value, ...)` or `a.b.name(...)`; positional arguments are read and ignored, as vLLM ignores them.
    mutating func call() throws -> ToolCall {
        var name = try identifier()
        while peek() == "." { i += 1; name += "." + (try identifier()) }
        try expect("(")
        var args: [(String, PyJSON)] = []
        var sawKeyword = false
        while true {
            if peek() == ")" { i += 1; break }
            let save = i
            if let key = try? identifier(), peek() == "=", i + 1 < s.count, s[i + 1] != "=" {
                i += 1
                guard !args.contains(where: { $0.0 == key }) else { throw Failure() }  // a SyntaxError in Python
                args.append((key, try value()))
                sawKeyword = true
            } else {
                i = save
                guard !sawKeyword else { throw Failure() }  // positional after keyword: a SyntaxError
                _ = try value()
            }
            guard let c = peek() else { throw Failure() }
            i += 1
            if c == ")" { break }
            guard c == "," else { throw Failure() }
        }
        return ToolCall(name: name, arguments: PyJSON.object(args).dumps)
    }

    mutating func value(depth: Int = 0) throws -> PyJSON {
        guard depth < 200, let c = peek() else { throw Failure() }
        switch c {
        case "-", "+":
            i += 1
            let v = try value(depth: depth + 1)
            switch v {
            case .int(let d): return c == "+" ? v : .int(d == "0" ? "0" : d.hasPrefix("-") ? String(d.dropFirst()) : "-" + d)
            case .float(let f): return .float(c == "+" ? f : -f)
            default: throw Failure()
            }
        case "[":
            i += 1
            return .array(try items(until: "]", depth: depth))
        case "(":
            i += 1
            let save = i
            if peek() == ")" { i += 1; return .array([]) }
            let first = try value(depth: depth + 1)
            if peek() == ")" { i += 1; return first }  // parentheses, not a tuple
            i = save
            return .array(try items(until: ")", depth: depth))
        case "{":
            i += 1
            if peek() == "}" { i += 1; return .object([]) }
            let first = try value(depth: depth + 1)
            if peek() == ":" {
                var kv: [(String, PyJSON)] = []
                var key = first
                while true {
                    try expect(":")
                    let v = try value(depth: depth + 1)
                    let k = try Self.keyText(key)
                    if let at = kv.firstIndex(where: { $0.0 == k }) { kv[at].1 = v } else { kv.append((k, v)) }
                    guard let n = peek() else { throw Failure() }
                    i += 1
                    if n == "}" { return .object(kv) }
                    guard n == "," else { throw Failure() }
                    if peek() == "}" { i += 1; return .object(kv) }
                    key = try value(depth: depth + 1)
                }
            }
            var a = [first]
            while true {  // a set: a list, in source order
                guard let n = peek() else { throw Failure() }
                i += 1
                if n == "}" { return .array(a) }
                guard n == "," else { throw Failure() }
                if peek() == "}" { i += 1; return .array(a) }
                a.append(try value(depth: depth + 1))
            }
        case "\"", "'": return .string(try strings())
        default:
            if c == "." || (c >= "0" && c <= "9") { return try number() }
            let save = i
            let word = try identifier()
            if i < s.count, s[i] == "\"" || s[i] == "'", let prefix = StringPrefix(word) {
                guard !prefix.bytes, !prefix.format else { throw Failure() }
                i = save
                return .string(try strings())
            }
            switch word {
            case "True", "true": return .bool(true)
            case "False", "false": return .bool(false)
            case "None", "null": return .null
            default: throw Failure()
            }
        }
    }

    /// `json.dumps` writes non-string keys as these strings.
    static func keyText(_ k: PyJSON) throws -> String {
        switch k {
        case .string(let s): return s
        case .int(let d): return d
        case .float(let f): return PyJSON.floatText(f)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        default: throw Failure()
        }
    }

    mutating func items(until close: Unicode.Scalar, depth: Int) throws -> [PyJSON] {
        var a: [PyJSON] = []
        while true {
            if peek() == close { i += 1; return a }
            a.append(try value(depth: depth + 1))
            guard let n = peek() else { throw Failure() }
            i += 1
            if n == close { return a }
            guard n == "," else { throw Failure() }
        }
    }

    struct StringPrefix {
        var raw = false, bytes = false, format = false
        init?(_ w: String) {
            guard w.count <= 2 else { return nil }
            for c in w.lowercased() {
                switch c {
                case "r": raw = true
                case "b": bytes = true
                case "f": format = true
                case "u": if w.count > 1 { return nil }
                default: return nil
                }
            }
        }
    }

    /// Adjacent string literals, joined (`"a" "b"` is `"ab"`).
    mutating func strings() throws -> String {
        var out = try string()
        while true {
            let save = i
            skip()
            var j = i
            while j < s.count, j - i < 2, s[j] != "\"", s[j] != "'", Self.identContinue(s[j]) { j += 1 }
            guard j < s.count, s[j] == "\"" || s[j] == "'" else { i = save; return out }
            out += try string()
        }
    }

    /// One literal, prefix included.
    mutating func string() throws -> String {
        skip()
        var prefix = StringPrefix("")!
        let start = i
        while i < s.count, s[i] != "\"", s[i] != "'" { i += 1 }
        if i > start {
            guard let p = StringPrefix(String(String.UnicodeScalarView(s[start..<i]))), !p.bytes else { throw Failure() }
            prefix = p
        }
        guard i < s.count else { throw Failure() }
        let q = s[i]
        let triple = i + 2 < s.count && s[i + 1] == q && s[i + 2] == q
        i += triple ? 3 : 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw Failure() }
            let c = s[i]
            if c == q {
                if !triple { i += 1; break }
                if i + 2 < s.count, s[i + 1] == q, s[i + 2] == q { i += 3; break }
            }
            if (c == "\n" || c == "\r") && !triple { throw Failure() }
            if c == "\0" { throw Failure() }
            if prefix.format && (c == "{" || c == "}") { throw Failure() }  // placeholders are not literals
            if c != "\\" { out.append(c); i += 1; continue }
            guard i + 1 < s.count else { throw Failure() }
            let e = s[i + 1]
            if prefix.raw { out.append(c); out.append(e); i += 2; continue }
            i += 2
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var v = e.value - 48, n = 1
                while n < 3, i < s.count, s[i] >= "0", s[i] <= "7" { v = v * 8 + s[i].value - 48; i += 1; n += 1 }
                guard let u = Unicode.Scalar(v) else { throw Failure() }
                out.append(u)
            case "x", "u", "U":
                let n = e == "x" ? 2 : e == "u" ? 4 : 8
                guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + n)])), radix: 16),
                      s[i..<(i + n)].allSatisfy({ $0.properties.isASCIIHexDigit }) else { throw Failure() }
                i += n
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default:
                out.append("\\"); out.append(e)
            }
        }
        return String(out)
    }

    /// An int (decimal, hex, octal, binary; underscores between digits) or a float; complex numbers are refused.
    mutating func number() throws -> PyJSON {
        skip()
        let start = i
        while i < s.count, s[i].properties.isASCIIHexDigit || "._xXoObB".unicodeScalars.contains(s[i])
            || ((s[i] == "+" || s[i] == "-") && (s[i - 1] == "e" || s[i - 1] == "E")) {
            i += 1
        }
        if i < s.count, s[i] == "j" || s[i] == "J" || Self.identContinue(s[i]) { throw Failure() }
        let raw = String(String.UnicodeScalarView(s[start..<i]))
        guard !raw.hasPrefix("_"), !raw.hasSuffix("_"), !raw.contains("__") else { throw Failure() }
        let t = raw.replacingOccurrences(of: "_", with: "").lowercased()
        for (p, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where t.hasPrefix(p) {
            guard let v = Int(t.dropFirst(2), radix: radix) else { throw Failure() }
            return .int(String(v))
        }
        if t.allSatisfy({ $0.isASCII && $0.isNumber }) {
            if t.count > 1, t.hasPrefix("0") { guard t.allSatisfy({ $0 == "0" }) else { throw Failure() }; return .int("0") }
            return .int(t)
        }
        guard t.allSatisfy({ "0123456789.e+-".contains($0) }), t.filter({ $0 == "." }).count <= 1, let d = Double(t) else { throw Failure() }
        return .float(d)
    }
}
