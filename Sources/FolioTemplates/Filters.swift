import FolioWeights
import Foundation

extension Interpreter {
    /// A width or count argument that sizes output: negative counts as 0, more than the output limit is an error.
    func sizeArg(_ v: Value?, _ def: Int) throws -> Int {
        let n = intArg(v, def)
        guard n <= limits.maxOutputBytes else { throw TemplateError.limit("width \(n) exceeds the output limit") }
        return max(0, n)
    }
    func intArg(_ v: Value?, _ def: Int) -> Int { if case .int(let i)? = v { return i }; if case .bool(let b)? = v { return b ? 1 : 0 }; return def }
    func boolArg(_ v: Value?, _ def: Bool) -> Bool { v.map(\.truthy) ?? def }

    /// Attribute lookup for filters' `attribute=` (dotted paths, integer parts index lists).
    func attribute(_ v: Value, _ path: String) throws -> Value {
        var cur = v
        for part in path.split(separator: ".") {
            if let i = Int(part) { cur = try getItem(cur, .int(i)) } else { cur = try getItem(cur, .string(String(part))) }
        }
        return cur
    }

    func applyFilter(_ name: String, _ v: Value, _ args: [Value], _ kwargs: [(String, Value)]) throws -> Value {
        func a(_ i: Int, _ n: String) -> Value? { arg(args, kwargs, i, n) }
        switch name {
        case "tojson":
            let indent = try a(0, "indent").flatMap { x -> Int? in if case .int = x { return min(try sizeArg(x, 0), 64) }; return nil }
            return .string(try Interpreter.toJSON(v, indent: indent, sortKeys: boolArg(a(1, "sort_keys"), false), level: 0))
        case "safe", "e", "escape", "forceescape":
            if name == "safe" { return v.isString ? .markup(v.str) : v }
            return .markup(v.isMarkup && name != "forceescape" ? v.str : Interpreter.htmlEscape(v.str))
        case "trim":
            let chars: Set<Character>? = a(0, "chars").flatMap { if case .string(let c) = $0 { return Set(c) }; return nil }
            var sub = Substring(v.str)
            let drop: (Character) -> Bool = { c in chars.map { $0.contains(c) } ?? c.isWhitespace }
            sub = sub.drop(while: drop)
            while let l = sub.last, drop(l) { sub = sub.dropLast() }
            return .string(String(sub))
        case "length", "count":
            switch v {
            case .string(let s), .markup(let s): return .int(s.count)
            case .array(let x), .tuple(let x): return .int(x.count)
            case .generator: throw TemplateError.type("object of type 'generator' has no len()")
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            case .namespace(let n): return .int(n.attrs.count)
            default: throw TemplateError.type("object of type '\(v.typeName)' has no len()")
            }
        case "first":
            let items = try v.iterate()
            return items.first ?? .undefined("first")
        case "last":
            if case .dict = v { throw TemplateError.type("'dict' object is not reversible") }
            if case .generator = v { throw TemplateError.type("'generator' object is not reversible") }
            let items = try v.iterate()
            return items.last ?? .undefined("last")
        case "join":
            let sep = a(0, "d")?.str ?? ""
            var items = try v.iterate()
            if let attr = a(1, "attribute") { items = try items.map { try attribute($0, attr.str) } }
            return .string(items.map(\.str).joined(separator: sep))
        case "default", "d":
            let def = a(0, "default_value") ?? .string("")
            if v.isUndefined || (boolArg(a(1, "boolean"), false) && !v.truthy) { return def }
            return v
        case "list":
            return .array(try v.iterate())
        case "string": return .string(v.str)
        case "int":
            let def = a(0, "default") ?? .int(0)
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .float(let d): return Int(exactly: d.rounded(.towardZero)).map { .int($0) } ?? def
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
                if let i = Int(t) { return .int(i) }
                if let d = Double(t), let i = Int(exactly: d.rounded(.towardZero)) { return .int(i) }
                return def
            default: return def
            }
        case "float":
            let def = a(0, "default") ?? .float(0)
            switch v {
            case .int(let i): return .float(Double(i))
            case .float: return v
            case .bool(let b): return .float(b ? 1 : 0)
            case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces)).map { .float($0) } ?? def
            default: return def
            }
        case "abs":
            switch v {
            case .int(let i): return .int(abs(i))
            case .float(let d): return .float(abs(d))
            default: throw TemplateError.type("bad operand type for abs(): '\(v.typeName)'")
            }
        case "round":
            guard let x = v.number else { throw TemplateError.type("round needs a number") }
            let prec = max(-400, min(400, intArg(a(0, "precision"), 0)))
            let method = a(1, "method")?.str ?? "common"
            let m = pow(10.0, Double(prec))
            let r: Double
            switch method {
            case "ceil": r = (x * m).rounded(.up) / m
            case "floor": r = (x * m).rounded(.down) / m
            default: r = (x * m).rounded(.toNearestOrEven) / m  // Python round(): half to even
            }
            return .float(r)
        case "upper": return .string(v.str.uppercased())
        case "lower": return .string(v.str.lowercased())
        case "capitalize": return .string(Interpreter.capitalize(v.str))
        case "title": return .string(Interpreter.title(v.str))
        case "replace":
            guard let old = a(0, "old"), let new = a(1, "new") else { throw TemplateError.type("replace needs old and new") }
            return .string(Interpreter.replace(v.str, old.str, new.str, count: intArg(a(2, "count"), -1)))
        case "indent":
            let widthV = a(0, "width")
            let pad: String
            if case .string(let s)? = widthV { pad = s } else { pad = String(repeating: " ", count: try sizeArg(widthV, 4)) }
            let first = boolArg(a(1, "first"), false), blank = boolArg(a(2, "blank"), false)
            var s = v.str
            var trailingNL = ""
            if s.hasSuffix("\n") { s.removeLast(); trailingNL = "\n" }
            let lines = s.components(separatedBy: "\n")
            let (grow, o) = pad.utf8.count.multipliedReportingOverflow(by: lines.count)
            guard !o, grow <= limits.maxOutputBytes else { throw TemplateError.limit("indent output too large") }
            var out: [String] = []
            for (i, l) in lines.enumerated() {
                if i == 0 { out.append(first && (blank || !l.isEmpty) ? pad + l : l); continue }
                out.append(blank || !l.trimmingCharacters(in: .whitespaces).isEmpty ? pad + l : l)
            }
            return .string(out.joined(separator: "\n") + trailingNL)
        case "center":
            let w = try sizeArg(a(0, "width"), 80), s = v.str
            guard s.count < w else { return v }
            let total = w - s.count, left = total / 2 + (total % 2 == 1 && w % 2 == 1 ? 1 : 0)
            return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: total - left))
        case "wordcount": return .int(v.str.split(whereSeparator: { $0.isWhitespace }).count)
        case "reverse":
            switch v {
            case .string(let s): return .string(String(s.reversed()))
            default: return .array(try v.iterate().reversed())
            }
        case "unique":
            var seen: [Value] = [], out: [Value] = []
            let attr = a(1, "attribute")
            for x in try v.iterate() {
                let key = try attr.map { try attribute(x, $0.str) } ?? x
                let k2: Value = boolArg(a(0, "case_sensitive"), false) ? key : (key.isString ? .string(key.str.lowercased()) : key)
                if !seen.contains(k2) { seen.append(k2); out.append(x) }
            }
            return .array(out)
        case "sort":
            let reverse = boolArg(a(0, "reverse"), false), cs = boolArg(a(1, "case_sensitive"), false)
            let attr = a(2, "attribute")
            let items = try v.iterate()
            let keys = try items.map { x -> Value in
                let k = try attr.map { try attribute(x, $0.str) } ?? x
                return !cs && k.isString ? .string(k.str.lowercased()) : k
            }
            var idx = Array(items.indices)
            var err: (any Error)? = nil
            idx.sort { i, j in
                do { let c = try order(keys[i], keys[j]); return reverse ? c > 0 : c < 0 } catch { err = error; return false }
            }
            if let err { throw err }
            return .array(idx.map { items[$0] })
        case "dictsort":
            guard case .dict(let d) = v else { throw TemplateError.type("dictsort needs a dict") }
            let byValue = a(1, "by")?.str == "value", reverse = boolArg(a(2, "reverse"), false)
            let cs = boolArg(a(0, "case_sensitive"), false)
            var pairs = d.pairs
            var err: (any Error)? = nil
            pairs.sort { x, y in
                var kx: Value = byValue ? x.1 : x.0, ky: Value = byValue ? y.1 : y.0
                if !cs { if kx.isString { kx = .string(kx.str.lowercased()) }; if ky.isString { ky = .string(ky.str.lowercased()) } }
                do { let c = try order(kx, ky); return reverse ? c > 0 : c < 0 } catch { err = error; return false }
            }
            if let err { throw err }
            return .array(pairs.map { .tuple([$0.0, $0.1]) })
        case "items":
            if case .undefined = v { return .array([]) }
            guard case .dict(let d) = v else { throw TemplateError.type("items needs a dict") }
            return .array(d.pairs.map { .tuple([$0.0, $0.1]) })
        case "batch":
            let n = max(1, try sizeArg(a(0, "linecount"), 1)), fill = a(1, "fill_with")
            var out: [Value] = [], cur: [Value] = []
            for x in try v.iterate() {
                cur.append(x)
                if cur.count == n { out.append(.array(cur)); cur = [] }
            }
            if !cur.isEmpty {
                if let fill { while cur.count < n { cur.append(fill) } }
                out.append(.array(cur))
            }
            return .array(out)
        case "sum":
            var acc: Value = a(1, "start") ?? .int(0)
            let attr = a(0, "attribute")
            for x in try v.iterate() { acc = try binary("+", acc, try attr.map { try attribute(x, $0.str) } ?? x) }
            return acc
        case "min", "max":
            let items = try v.iterate()
            guard var best = items.first else { return .undefined(name) }
            for x in items.dropFirst() {
                let c = try order(x, best)
                if (name == "min" && c < 0) || (name == "max" && c > 0) { best = x }
            }
            return best
        case "map":
            let items = v.truthy ? try v.iterate() : []
            if let attr = kwargs.first(where: { $0.0 == "attribute" })?.1 {
                let def = kwargs.first(where: { $0.0 == "default" })?.1
                return .generator(try items.map { x in
                    let r = try attribute(x, attr.str)
                    return r.isUndefined ? (def ?? r) : r
                })
            }
            guard let f = args.first else { throw TemplateError.type("map needs a filter name or attribute=") }
            return .generator(try items.map { try applyFilter(f.str, $0, Array(args.dropFirst()), []) })
        case "select", "reject":
            // jinja2 yields nothing for a falsy input (None included).
            let items = v.truthy ? try v.iterate() : []
            return .generator(try items.filter { x in
                let r = args.isEmpty ? x.truthy : try applyTest(args[0].str, x, Array(args.dropFirst()))
                return name == "select" ? r : !r
            })
        case "selectattr", "rejectattr":
            guard let attr = args.first else { throw TemplateError.type("\(name) needs an attribute") }
            let items = v.truthy ? try v.iterate() : []
            return .generator(try items.filter { x in
                let val = try attribute(x, attr.str)
                let r = args.count < 2 ? val.truthy : try applyTest(args[1].str, val, Array(args.dropFirst(2)))
                return name == "selectattr" ? r : !r
            })
        case "format":
            return .string(try percentFormat(v.str, .tuple(args)))
        case "truncate":
            let length = intArg(a(0, "length"), 255), end = a(2, "end")?.str ?? "...", s = v.str
            guard s.count > length else { return v }
            return .string(String(s.prefix(length > end.count ? length - end.count : 0)) + end)
        case "striptags":
            return .string(v.str.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression))
        case "attr": return try getAttr(v, a(0, "name")?.str ?? "")
        case "pprint": return .string(v.repr)
        case "urlencode": return .string(v.str.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? v.str)
        default:
            throw TemplateError.syntax("no filter named '\(name)'")
        }
    }

    func applyTest(_ name: String, _ v: Value, _ args: [Value]) throws -> Bool {
        let other = args.first
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": if case .none = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": return v == .bool(true) && v.isBool
        case "false": return v == .bool(false) && v.isBool
        case "string": return v.isString
        case "number": switch v { case .int, .float: return true; default: return false }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .float = v { return true }; return false
        case "mapping": if case .dict = v { return true }; return false
        case "iterable": switch v { case .array, .tuple, .dict, .string, .generator: return true; default: return false }
        case "sequence": switch v { case .array, .tuple, .dict, .string: return true; default: return false }
        case "callable": switch v { case .function, .undefined: return true; default: return false }  // jinja2's Undefined is callable
        case "odd", "even":
            guard case .int(let i) = v.intLike else { throw TemplateError.type("\(name) needs an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case .int(let i) = v.intLike, case .int(let n)? = other?.intLike, n != 0 else { throw TemplateError.type("divisibleby needs integers") }
            return i % n == 0
        case "equalto", "eq", "==", "sameas": return v == (other ?? .undefined("arg"))
        case "ne", "!=": return v != (other ?? .undefined("arg"))
        case "lt", "<", "lessthan": return try order(v, other ?? .none) < 0
        case "gt", ">", "greaterthan": return try order(v, other ?? .none) > 0
        case "le", "<=": return try order(v, other ?? .none) <= 0
        case "ge", ">=": return try order(v, other ?? .none) >= 0
        case "in": return try contains(other ?? .array([]), v)
        case "lower": return v.isString && v.str == v.str.lowercased()
        case "upper": return v.isString && v.str == v.str.uppercased()
        case "escaped": return false
        default: throw TemplateError.syntax("no test named '\(name)'")
        }
    }

    /// Python `json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=...)`.
    static func toJSON(_ v: Value, indent: Int?, sortKeys: Bool, level: Int) throws -> String {
        let nl = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) }
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let itemSep = indent == nil ? ", " : ","
        switch v {
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .float(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
            return Value.pythonFloat(d)
        case .string(let s), .markup(let s): return jsonQuote(s)
        case .array(let a), .tuple(let a):
            if a.isEmpty { return "[]" }
            let parts = try a.map { try toJSON($0, indent: indent, sortKeys: sortKeys, level: level + 1) }
            return "[" + (nl ?? "") + parts.joined(separator: itemSep + (nl ?? "")) + close + "]"
        case .dict(let d):
            if d.count == 0 { return "{}" }
            var pairs = d.pairs
            // json.dumps writes int, float, bool and None keys as strings.
            func keyText(_ k: Value) -> String {
                switch k {
                case .none: return "null"
                case .bool(let b): return b ? "true" : "false"
                default: return k.str
                }
            }
            if sortKeys { pairs.sort { keyText($0.0).unicodeScalars.map(\.value).lexicographicallyPrecedes(keyText($1.0).unicodeScalars.map(\.value)) } }
            let parts = try pairs.map { jsonQuote(keyText($0.0)) + ": " + (try toJSON($0.1, indent: indent, sortKeys: sortKeys, level: level + 1)) }
            return "{" + (nl ?? "") + parts.joined(separator: itemSep + (nl ?? "")) + close + "}"
        case .namespace(let n): return try toJSON(.dict(n.attrs), indent: indent, sortKeys: sortKeys, level: level)
        case .undefined, .function, .generator:
            throw TemplateError.type("Object of type \(v.typeName) is not JSON serializable")
        }
    }

    static func jsonQuote(_ s: String) -> String {
        var out = ""
        JSONValue.quote(s, into: &out)  // the same escapes as Python's json.dumps(ensure_ascii=False)
        return out
    }
}

extension Value {
    var isString: Bool { switch self { case .string, .markup: return true; default: return false } }
    var isMarkup: Bool { if case .markup = self { return true }; return false }
    var isBool: Bool { if case .bool = self { return true }; return false }
}
