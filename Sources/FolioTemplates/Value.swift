import Foundation

/// An insertion-ordered dictionary (Python dicts keep insertion order; templates print them). Keys are values:
/// Python's 1, 1.0 and True are the same key.
public struct OrderedDict: Sendable, Equatable {
    public private(set) var entries: [(key: Value, value: Value)] = []
    private var index: [String: Int] = [:]
    public init() {}
    public init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[k] = v } }

    static func hashKey(_ k: Value) -> String {
        if let n = k.number { return "n\(n)" }
        switch k {
        case .string(let s): return "s" + s
        case .none: return "N"
        default: return "r" + k.repr
        }
    }
    public subscript(key: Value) -> Value? {
        get { index[Self.hashKey(key)].map { entries[$0].value } }
        set {
            let h = Self.hashKey(key)
            if let v = newValue {
                if let i = index[h] { entries[i].value = v } else { index[h] = entries.count; entries.append((key, v)) }
            } else if let i = index.removeValue(forKey: h) {
                entries.remove(at: i)
                for (k, j) in index where j > i { index[k] = j - 1 }
            }
        }
    }
    public subscript(key: String) -> Value? {
        get { self[.string(key)] }
        set { self[.string(key)] = newValue }
    }
    public var count: Int { entries.count }
    public var keys: [Value] { entries.map(\.key) }
    public var pairs: [(Value, Value)] { entries.map { ($0.key, $0.value) } }
    public static func == (a: OrderedDict, b: OrderedDict) -> Bool {
        a.count == b.count && a.entries.allSatisfy { b[$0.key] == $0.value }
    }
}

/// A callable template value: a macro, a global function, or a bound method.
public final class TemplateFunction: @unchecked Sendable {
    public let name: String
    let body: (Interpreter, [Value], [(String, Value)]) throws -> Value
    init(_ name: String, _ body: @escaping (Interpreter, [Value], [(String, Value)]) throws -> Value) {
        self.name = name
        self.body = body
    }
}

/// `namespace()` objects: the one mutable value templates may change from inner scopes.
public final class Namespace: @unchecked Sendable {
    var attrs = OrderedDict()
}

/// A Jinja value, with Python's semantics for printing, truthiness and comparison.
public indirect enum Value: Sendable, Equatable {
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case array([Value])
    case tuple([Value])
    case dict(OrderedDict)
    case function(TemplateFunction)
    case namespace(Namespace)
    /// What jinja2's map/select/reject filters return: iterable once, not a list (tojson and length fail on it).
    case generator([Value])
    /// jinja2 `Markup` (from `|safe`): adding a plain string to it HTML-escapes that string.
    case markup(String)

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)), (.markup(let x), .markup(let y)), (.string(let x), .markup(let y)),
             (.markup(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)): return x == y
        case (.dict(let x), .dict(let y)): return x == y
        case (.function(let x), .function(let y)): return x === y
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    /// Numeric value of ints, floats and bools (Python: True == 1).
    var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .float(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var isUndefined: Bool { if case .undefined = self { return true }; return false }

    public var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let s), .markup(let s): return !s.isEmpty
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .function, .namespace, .generator: return true
        }
    }

    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .array: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .function: return "function"
        case .namespace: return "Namespace"
        case .generator: return "generator"
        }
    }

    /// Python `str()`.
    public var str: String {
        switch self {
        case .undefined: return ""
        case .string(let s), .markup(let s): return s
        default: return repr
        }
    }

    /// Python `repr()`.
    public var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return Value.pythonFloat(d)
        case .string(let s): return Value.pythonRepr(s)
        case .markup(let s): return "Markup(" + Value.pythonRepr(s) + ")"
        case .array(let a): return "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .tuple(let a): return "(" + a.map(\.repr).joined(separator: ", ") + (a.count == 1 ? ",)" : ")")
        case .dict(let d): return "{" + d.pairs.map { $0.0.repr + ": " + $0.1.repr }.joined(separator: ", ") + "}"
        case .function(let f): return "<function \(f.name)>"
        case .namespace(let n): return "<Namespace " + n.attrs.pairs.map { "\($0.0.str)=\($0.1.repr)" }.joined(separator: ", ") + ">"
        case .generator: return "<generator object at 0x7f0000000000>"
        }
    }

    /// Python's `repr` of a float.
    public static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded(), abs(d) < 1e16 {
            return String(format: "%.1f", d)
        }
        var s = "\(d)"
        // Swift prints 1e-05 like Python; make sure exponents carry a sign and two digits as Python's do.
        if let e = s.firstIndex(of: "e") {
            let mant = s[..<e], exp = s[s.index(after: e)...]
            let sign = exp.hasPrefix("-") ? "-" : "+"
            var digits = exp.drop(while: { $0 == "-" || $0 == "+" })
            if digits.count < 2 { digits = "0" + digits }
            s = mant + "e" + sign + digits
        }
        return s
    }

    static func pythonRepr(_ s: String) -> String {
        let q: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(q)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(u) == q { out += "\\" + String(q) } else if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\x%02x", u.value)
                } else { out.unicodeScalars.append(u) }
            }
        }
        out.append(q)
        return out
    }

    /// Items to iterate: list/tuple elements, dict keys, string characters; undefined iterates as empty.
    func iterate() throws -> [Value] {
        switch self {
        case .array(let a), .tuple(let a), .generator(let a): return a
        case .dict(let d): return d.keys
        case .string(let s), .markup(let s): return s.map { .string(String($0)) }
        case .undefined, .none: if case .none = self { throw TemplateError.type("'NoneType' object is not iterable") }; return []
        default: throw TemplateError.type("'\(typeName)' object is not iterable")
        }
    }
}

/// Errors a template can end in. `raised` carries the message a template passed to `raise_exception`.
public enum TemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    case raised(String)
    case syntax(String)
    case undefined(String)
    case type(String)
    case limit(String)
    case security(String)

    public var description: String {
        switch self {
        case .raised(let m): return m
        case .syntax(let m): return "template syntax error: \(m)"
        case .undefined(let m): return "undefined: \(m)"
        case .type(let m): return "type error: \(m)"
        case .limit(let m): return "template limit: \(m)"
        case .security(let m): return "not allowed in a sandboxed template: \(m)"
        }
    }
}
