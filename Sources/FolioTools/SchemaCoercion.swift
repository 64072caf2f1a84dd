import FolioWeights
import Foundation

/// vLLM's schema-aware argument repair (`_fix_arg_types` of its parser engine, used by `mistral`, `qwen3_xml` and
/// `granite`): argument values are converted to the types the tool's `parameters` declare (`"1"` -> `1` for an
/// integer, `1` -> `"1"` for a string). Arguments that need no change keep the model's exact text.
enum SchemaCoercion {
    /// The arguments text after repair against `parameters` (a tool's JSON Schema), as vLLM writes it.
    static func fix(_ arguments: String, parameters: JSONValue?) -> String {
        guard let p = parameters, let props = p["properties"]?.objectValue, !props.isEmpty,
              case .object(var kv)? = PyJSON.loads(arguments) else { return arguments }
        var changed = false
        for i in kv.indices {
            guard let schema = props.first(where: { $0.0 == kv[i].0 })?.1, schema.objectValue != nil else { continue }
            if let v = coerce(kv[i].1, schema) { kv[i].1 = v; changed = true }
        }
        return changed ? PyJSON.object(kv).dumps : arguments
    }

    /// The value converted for `schema`, or nil when it stays as it is.
    static func coerce(_ value: PyJSON, _ schema: JSONValue) -> PyJSON? {
        switch value {
        case .string(let s):
            return convert(s, types: types(schema))
        case .object(var kv):
            guard let props = schema["properties"]?.objectValue else { return nil }
            var changed = false
            for i in kv.indices {
                guard let sub = props.first(where: { $0.0 == kv[i].0 })?.1, sub.objectValue != nil else { continue }
                if let v = coerce(kv[i].1, sub) { kv[i].1 = v; changed = true }
            }
            return changed ? .object(kv) : nil
        case .array(var a):
            guard let items = schema["items"], items.objectValue != nil else { return nil }
            var changed = false
            for i in a.indices { if let v = coerce(a[i], items) { a[i] = v; changed = true } }
            return changed ? .array(a) : nil
        default:
            // vLLM converts the value's JSON text; a result that stays text is a string now (`1` -> `"1"`).
            let v = convert(value.dumps, types: types(schema)) ?? .string(value.dumps)
            return v == value ? nil : v
        }
    }

    static let aliases: [String: String] = [
        "str": "string", "text": "string", "varchar": "string", "char": "string", "enum": "string", "int": "integer",
        "int32": "integer", "int64": "integer", "uint": "integer", "uint32": "integer", "uint64": "integer", "long": "integer",
        "short": "integer", "unsigned": "integer", "float": "number", "float32": "number", "float64": "number",
        "double": "number", "bool": "boolean", "dict": "object", "arr": "array", "list": "array", "sequence": "array",
    ]

    /// `extract_types_from_schema`: `type`, the kinds of `enum` values, and `anyOf`/`oneOf`/`allOf`; `string` when
    /// nothing is said.
    static func types(_ schema: JSONValue) -> Set<String> {
        guard schema.objectValue != nil else { return ["string"] }
        var t: Set<String> = []
        if let s = schema["type"]?.stringValue { t.insert(s) }
        for x in schema["type"]?.arrayValue ?? [] { if let s = x.stringValue { t.insert(s) } }
        for v in schema["enum"]?.arrayValue ?? [] {
            switch v {
            case .null: t.insert("null")
            case .bool: t.insert("boolean")
            case .int: t.insert("integer")
            case .number: t.insert("number")
            case .string: t.insert("string")
            case .array: t.insert("array")
            case .object: t.insert("object")
            }
        }
        for k in ["anyOf", "oneOf", "allOf"] { for c in schema[k]?.arrayValue ?? [] { t.formUnion(types(c)) } }
        return t.isEmpty ? ["string"] : t
    }

    /// `coerce_to_schema_type`: the first of null, integer, number, boolean, object, array, string that `s` reads as;
    /// else `s` as JSON when it is; nil when `s` stays the string it is.
    static func convert(_ s: String, types: Set<String>) -> PyJSON? {
        let norm = Set(types.map { let k = $0.trimmingCharacters(in: .whitespaces).lowercased(); return aliases[k] ?? k })
        for kind in ["null", "integer", "number", "boolean", "object", "array", "string"] where norm.contains(kind) {
            switch kind {
            case "null": if s.lowercased() == "null" { return .null }
            case "string": return nil
            case "integer": if let i = pythonInt(s) { return .int(i) }
            case "number":
                if let d = pythonFloat(s), d.isFinite {
                    if d == d.rounded(.towardZero), abs(d) < 1e300 { return .int(integerDigits(d)) }
                    return .float(d)
                }
            case "boolean":
                let l = s.lowercased().trimmingCharacters(in: .whitespaces)
                if l == "true" || l == "1" { return .bool(true) }
                if l == "false" || l == "0" { return .bool(false) }
            default:
                if let v = PyJSON.loads(s), v.isFinite { return v }
            }
        }
        if let v = PyJSON.loads(s), v.isFinite { return v }
        return nil
    }

    /// Python's `int(s)`: optional surrounding whitespace and sign, decimal digits (underscores between them).
    static func pythonInt(_ s: String) -> String? {
        var t = Substring(s.trimmingCharacters(in: .whitespacesAndNewlines))
        var neg = false
        if let f = t.first, f == "+" || f == "-" { neg = f == "-"; t = t.dropFirst() }
        guard let f = t.first, f.isASCII, f.isNumber, let l = t.last, l.isASCII, l.isNumber, !t.contains("__") else { return nil }
        guard t.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "_" }) else { return nil }
        var digits = String(t.filter { $0 != "_" }.drop(while: { $0 == "0" }))
        if digits.isEmpty { digits = "0" }
        return (neg && digits != "0" ? "-" : "") + digits
    }

    /// Python's `float(s)` for the forms models write (digits, exponents, inf, nan).
    static func pythonFloat(_ s: String) -> Double? {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines).lowercased().replacingOccurrences(of: "_", with: "")
        switch t {
        case "inf", "+inf", "infinity", "+infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        case "nan", "+nan", "-nan": return .nan
        default:
            guard !t.isEmpty, t.allSatisfy({ "0123456789.eE+-".contains($0) }) else { return nil }
            return Double(t)
        }
    }

    /// Python's `int(d)` of an integral double, in digits.
    static func integerDigits(_ d: Double) -> String {
        if abs(d) < 9e18 { return String(Int64(d)) }
        return String(format: "%.0f", d)
    }
}

extension PyJSON {
    /// `json.dumps(self, allow_nan=False)` would succeed.
    var isFinite: Bool {
        switch self {
        case .float(let d): return d.isFinite
        case .array(let a): return a.allSatisfy(\.isFinite)
        case .object(let kv): return kv.allSatisfy { $0.1.isFinite }
        default: return true
        }
    }
}
