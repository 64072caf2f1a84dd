import FolioTemplates
import FolioWeights

/// A JSON value as Python's `json` module reads and writes it, which is what vLLM's tool parsers do: integers keep
/// every digit, `NaN`/`Infinity` are accepted, a repeated key keeps its first position and its last value, and
/// `dumps` writes `", "` and `": "` separators without escaping non-ASCII text (`ensure_ascii=False`).
public indirect enum PyJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Decimal digits with an optional sign, as written (never `-0`).
    case int(String)
    case float(Double)
    case string(String)
    case array([PyJSON])
    case object([(String, PyJSON)])

    public static func == (a: PyJSON, b: PyJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.float(let x), .float(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> PyJSON? {
        if case .object(let kv) = self { return kv.first(where: { $0.0 == key })?.1 }
        return nil
    }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var isObject: Bool { if case .object = self { return true }; return false }

    /// `json.dumps(value, ensure_ascii=False)`.
    public var dumps: String {
        var s = ""
        write(to: &s)
        return s
    }

    func write(to s: inout String) {
        switch self {
        case .null: s += "null"
        case .bool(let b): s += b ? "true" : "false"
        case .int(let digits): s += digits
        case .float(let d): s += PyJSON.floatText(d)
        case .string(let str): JSONValue.quote(str, into: &s)
        case .array(let a):
            s += "["
            for (i, v) in a.enumerated() { if i > 0 { s += ", " }; v.write(to: &s) }
            s += "]"
        case .object(let kv):
            s += "{"
            for (i, (k, v)) in kv.enumerated() {
                if i > 0 { s += ", " }
                JSONValue.quote(k, into: &s); s += ": "; v.write(to: &s)
            }
            s += "}"
        }
    }

    /// `json.dumps` of a float: Python's `repr`, with `NaN`, `Infinity` and `-Infinity` for the non-finite ones.
    static func floatText(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
        return Value.pythonFloat(d)
    }

    /// The value as Folio's order-keeping JSON (non-finite floats become null; huge integers become doubles).
    public var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let d): return Int(d).map { .int($0) } ?? .number(Double(d) ?? 0)
        case .float(let d): return d.isFinite ? .number(d) : .null
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(\.jsonValue))
        case .object(let kv): return .object(kv.map { ($0.0, $0.1.jsonValue) })
        }
    }

    public init(_ v: JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(String(i))
        case .number(let d): self = .float(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(PyJSON.init))
        case .object(let kv): self = .object(kv.map { ($0.0, PyJSON($0.1)) })
        }
    }

    /// `json.loads(text)`: the whole text (whitespace around it allowed) must be one value.
    public static func loads(_ text: String) -> PyJSON? {
        var r = JSONScanner(text)
        r.skipWS()
        guard let v = try? r.value(depth: 0) else { return nil }
        r.skipWS()
        return r.atEnd ? v : nil
    }

    /// `json.JSONDecoder().raw_decode(text[start...])`: the value starting exactly at `start` (a scalar offset) and
    /// the offset just past it.
    public static func rawDecode(_ scalars: [Unicode.Scalar], from start: Int) -> (PyJSON, Int)? {
        var r = JSONScanner(scalars: scalars, at: start)
        guard let v = try? r.value(depth: 0) else { return nil }
        return (v, r.i)
    }
}

/// Reads JSON over Unicode scalars with Python's `json` rules (see `PyJSON`). Text that ends early throws
/// `.incomplete`; anything else wrong throws `.invalid`.
struct JSONScanner {
    enum Failure: Error { case incomplete, invalid }
    let s: [Unicode.Scalar]
    var i: Int
    static let maxDepth = 256

    init(_ text: String) { s = Array(text.unicodeScalars); i = 0 }
    init(scalars: [Unicode.Scalar], at start: Int) { s = scalars; i = start }

    var atEnd: Bool { i >= s.count }
    mutating func skipWS() { while i < s.count, s[i] == " " || s[i] == "\n" || s[i] == "\r" || s[i] == "\t" { i += 1 } }
    func peek() throws -> Unicode.Scalar { guard i < s.count else { throw Failure.incomplete }; return s[i] }

    mutating func value(depth: Int) throws -> PyJSON {
        guard depth < Self.maxDepth else { throw Failure.invalid }
        switch try peek() {
        case "{":
            i += 1
            var kv: [(String, PyJSON)] = []
            var index: [String: Int] = [:]
            skipWS()
            if try peek() == "}" { i += 1; return .object(kv) }
            while true {
                skipWS()
                guard try peek() == "\"" else { throw Failure.invalid }
                let k = try string()
                skipWS()
                guard try peek() == ":" else { throw Failure.invalid }
                i += 1; skipWS()
                let v = try value(depth: depth + 1)
                if let at = index[k] { kv[at].1 = v } else { index[k] = kv.count; kv.append((k, v)) }
                skipWS()
                let c = try peek(); i += 1
                if c == "," { continue }
                if c == "}" { return .object(kv) }
                throw Failure.invalid
            }
        case "[":
            i += 1
            var a: [PyJSON] = []
            skipWS()
            if try peek() == "]" { i += 1; return .array(a) }
            while true {
                skipWS()
                a.append(try value(depth: depth + 1))
                skipWS()
                let c = try peek(); i += 1
                if c == "," { continue }
                if c == "]" { return .array(a) }
                throw Failure.invalid
            }
        case "\"": return .string(try string())
        case "t": try literal("true"); return .bool(true)
        case "f": try literal("false"); return .bool(false)
        case "n": try literal("null"); return .null
        case "N": try literal("NaN"); return .float(.nan)
        case "I": try literal("Infinity"); return .float(.infinity)
        default:
            if s[i] == "-", i + 1 < s.count, s[i + 1] == "I" { i += 1; try literal("Infinity"); return .float(-.infinity) }
            return try number().value
        }
    }

    mutating func literal(_ word: String) throws {
        for u in word.unicodeScalars {
            guard i < s.count else { throw Failure.incomplete }
            guard s[i] == u else { throw Failure.invalid }
            i += 1
        }
    }

    /// A number as Python's scanner takes it: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`. `complete` is false when the
    /// text ends inside it (more digits could follow).
    mutating func number() throws -> (value: PyJSON, complete: Bool) {
        func digit(_ k: Int) -> Bool { k < s.count && s[k].value >= 48 && s[k].value <= 57 }
        let start = i
        if i < s.count, s[i] == "-" { i += 1 }
        guard i < s.count else { throw Failure.incomplete }
        guard digit(i) else { throw Failure.invalid }
        if s[i] == "0" { i += 1 } else { while digit(i) { i += 1 } }
        var integral = true
        if i + 1 < s.count, s[i] == ".", digit(i + 1) {
            integral = false
            i += 1
            while digit(i) { i += 1 }
        }
        if i < s.count, s[i] == "e" || s[i] == "E" {
            var k = i + 1
            if k < s.count, s[k] == "+" || s[k] == "-" { k += 1 }
            if digit(k) {
                integral = false
                i = k
                while digit(i) { i += 1 }
            }
        }
        var text = ""
        text.unicodeScalars.append(contentsOf: s[start..<i])
        // At the end of the text the number may still grow ("1" -> "12", "1." -> "1.5").
        let complete = i < s.count
        if integral {
            let neg = text.hasPrefix("-")
            let digits = text.drop(while: { $0 == "-" })
            return (.int(digits.allSatisfy { $0 == "0" } ? "0" : (neg ? "-" : "") + digits), complete)
        }
        return (.float(Double(text) ?? (text.hasPrefix("-") ? -.infinity : .infinity)), complete)
    }

    mutating func hex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < s.count else { throw Failure.incomplete }
            let c = s[i].value
            switch c {
            case 48...57: v = v << 4 | (c - 48)
            case 65...70: v = v << 4 | (c - 55)
            case 97...102: v = v << 4 | (c - 87)
            default: throw Failure.invalid
            }
            i += 1
        }
        return v
    }

    /// A string starting at the opening quote. Control characters are refused (Python's `strict=True`); a lone
    /// surrogate escape becomes U+FFFD (a Swift string cannot hold one).
    mutating func string() throws -> String {
        var out = String.UnicodeScalarView()
        try string { out.append($0) }
        return String(out)
    }

    /// The same, handing each decoded scalar to `emit` as soon as it is known (streaming writes partial strings).
    mutating func string(_ emit: (Unicode.Scalar) -> Void) throws {
        i += 1
        while true {
            guard i < s.count else { throw Failure.incomplete }
            let c = s[i]
            if c == "\"" { i += 1; return }
            if c.value < 0x20 { throw Failure.invalid }
            if c != "\\" { emit(c); i += 1; continue }
            guard i + 1 < s.count else { throw Failure.incomplete }
            let e = s[i + 1]
            i += 2
            switch e {
            case "\"": emit("\"")
            case "\\": emit("\\")
            case "/": emit("/")
            case "b": emit("\u{08}")
            case "f": emit("\u{0C}")
            case "n": emit("\n")
            case "r": emit("\r")
            case "t": emit("\t")
            case "u":
                let save = i - 2
                let hi: UInt32
                do { hi = try hex4() } catch Failure.incomplete { i = save; throw Failure.incomplete }
                if (0xD800..<0xDC00).contains(hi) {
                    // A high surrogate: its pair must follow to know the character.
                    if i + 1 >= s.count || (s[i] == "\\" && i + 6 > s.count) { i = save; throw Failure.incomplete }
                    if s[i] == "\\", s[i + 1] == "u" {
                        let mark = i
                        i += 2
                        let lo = try hex4()
                        if (0xDC00..<0xE000).contains(lo) {
                            emit(Unicode.Scalar(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))!)
                            continue
                        }
                        i = mark
                    }
                    emit("\u{FFFD}")
                } else {
                    emit(Unicode.Scalar(hi) ?? "\u{FFFD}")
                }
            default: throw Failure.invalid
            }
        }
    }
}
