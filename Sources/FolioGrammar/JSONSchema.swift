import FolioWeights
import Foundation

/// JSON Schema to grammar, in the language xgrammar gives vLLM by default (any JSON whitespace between tokens,
/// properties in the schema's order, no properties beyond `properties` unless `additionalProperties` says so).
/// JSON Schema keywords it cannot enforce are errors naming the keyword, never ignored (words that are not JSON
/// Schema keywords are, as the specification says). Where Folio's language differs from
/// xgrammar's on purpose, README.md lists it.
///
/// ```swift
/// let g = try JSONSchema.grammar(try JSONValue.parse(Data(#"{"type": "integer", "minimum": 0}"#.utf8)))
/// ```
public enum JSONSchema {
    public static func grammar(_ schema: JSONValue) throws -> Grammar {
        var c = SchemaConverter(root: schema)
        let root = c.b.reserve("root")
        c.b.define(root, try c.expr(schema, name: "root", depth: 0))
        return c.b.build(root: root)
    }

    /// JSON Schema's own keywords (2020-12 and earlier drafts) that constrain what Folio cannot enforce: errors.
    /// Words outside JSON Schema's vocabulary (`optional` in Berkeley's function docs, `x-...` extensions) are
    /// ignored, as the specification says unknown keywords are.
    static let unenforced: Set<String> = [
        "not", "if", "then", "else", "patternProperties", "propertyNames", "minProperties", "maxProperties", "uniqueItems",
        "multipleOf", "contains", "minContains", "maxContains", "dependentRequired", "dependentSchemas", "dependencies",
        "unevaluatedProperties", "unevaluatedItems", "additionalItems", "$dynamicRef", "$recursiveRef", "contentSchema",
    ]
    static let handled: Set<String> = [
        "type", "properties", "required", "additionalProperties", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
        "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable",
    ]
    static let formats: [String: String] = [
        "date": #"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"#,
        "time": #"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"#,
        "date-time": #"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"#,
        "uuid": #"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"#,
        "email": #"([a-zA-Z0-9_!#$%&'*+/=?^`{|}~-]+(\.[a-zA-Z0-9_!#$%&'*+/=?^`{|}~-]+)*|\\"(\\\\([ -!#-\[\]-~]|\\"|\\\\)|[ !#-\[\]-~])*\\")@[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9][-A-Za-z0-9]*[A-Za-z0-9])*"#,
        "ipv4": #"((25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"#,
        "hostname": #"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"#,
    ]
}

struct SchemaConverter {
    let root: JSONValue
    var b = GrammarBuilder()
    var refRules: [String: Int] = [:]
    var basic: [String: Int] = [:]
    static let maxDepth = 64

    init(root: JSONValue) { self.root = root }

    func fail(_ m: String) -> GrammarError { GrammarError("JSON schema: \(m)") }

    static let ws = GrammarExpr.star(.chars([9...10, 13...13, 32...32]))
    var ws: GrammarExpr { Self.ws }

    // MARK: basic values (one rule each, shared)

    mutating func basicRule(_ name: String) -> GrammarExpr {
        if let r = basic[name] { return .ref(r) }
        let r = b.reserve("basic_" + name)
        basic[name] = r
        let body: GrammarExpr
        switch name {
        case "string": body = .seq([.text("\""), .star(jsonChar), .text("\"")])
        case "integer": body = .alt([.text("0"), .seq([.opt(.text("-")), NumberRanges.digits(1, 9), .star(NumberRanges.digit)])])
        case "number":
            body = .seq([.opt(.text("-")), .alt([.text("0"), .seq([NumberRanges.digits(1, 9), .star(NumberRanges.digit)])]),
                         .opt(.seq([.text("."), .plus(NumberRanges.digit)])),
                         .opt(.seq([.set([69...69, 101...101]), .opt(.set([43...43, 45...45])), .plus(NumberRanges.digit)]))])
        case "boolean": body = .alt([.text("true"), .text("false")])
        case "null": body = .text("null")
        case "array":
            let v = basicRule("any")
            body = .alt([.seq([.text("["), ws, v, .star(.seq([ws, .text(","), ws, v])), ws, .text("]")]), .seq([.text("["), ws, .text("]")])])
        case "object":
            let v = basicRule("any"), k = basicRule("string")
            let pair = GrammarExpr.seq([k, ws, .text(":"), ws, v])
            body = .alt([.seq([.text("{"), ws, pair, .star(.seq([ws, .text(","), ws, pair])), ws, .text("}")]), .seq([.text("{"), ws, .text("}")])])
        default:
            body = .alt(["number", "string", "boolean", "null", "array", "object"].map { basicRule($0) })
        }
        b.define(r, body)
        return .ref(r)
    }

    /// A JSON string escape: `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` or `\uXXXX`.
    static let jsonEscape = GrammarExpr.seq([
        .text("\\"), .alt([.set([34...34, 47...47, 92...92, 98...98, 102...102, 110...110, 114...114, 116...116]),
                           .seq([.text("u"), .rep(.set([48...57, 65...70, 97...102]), min: 4, max: 4)])]),
    ])
    /// One character of a JSON string: anything but `"`, `\` and control characters, or an escape.
    static let jsonChar = GrammarExpr.alt([.chars(CharSet.complement([0...0x1F, 34...34, 92...92])), jsonEscape])
    var jsonChar: GrammarExpr { Self.jsonChar }

    // MARK: schemas

    mutating func expr(_ s: JSONValue, name: String, depth: Int) throws -> GrammarExpr {
        guard depth < Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) deep") }
        if let bv = s.boolValue { return bv ? basicRule("any") : try { throw fail("the schema false matches nothing") }() }
        guard let obj = s.objectValue else { throw fail("a schema must be an object or a boolean, got \(s.jsonString)") }
        for (k, _) in obj where JSONSchema.unenforced.contains(k) {
            throw fail("the keyword \"\(k)\" is not supported")
        }
        var e = try inner(s, name: name, depth: depth)
        if s["nullable"]?.boolValue == true { e = .alt([e, basicRule("null")]) }
        return e
    }

    mutating func inner(_ s: JSONValue, name: String, depth: Int) throws -> GrammarExpr {
        if let r = s["$ref"] {
            guard let path = r.stringValue else { throw fail("$ref must be a string") }
            return try ref(path, depth: depth)
        }
        if let c = s["const"] { return .literal(Array(c.jsonString.utf8)) }
        if let en = s["enum"] {
            guard let vals = en.arrayValue, !vals.isEmpty else { throw fail("enum must be a non-empty list") }
            return .alt(vals.map { .literal(Array($0.jsonString.utf8)) })
        }
        for k in ["anyOf", "oneOf"] {
            if let a = s[k] {
                guard let list = a.arrayValue, !list.isEmpty else { throw fail("\(k) must be a non-empty list") }
                var alts: [GrammarExpr] = []
                for (i, x) in list.enumerated() { alts.append(try expr(x, name: "\(name)_case_\(i)", depth: depth + 1)) }
                return .alt(alts)
            }
        }
        if let a = s["allOf"] {
            guard let list = a.arrayValue, !list.isEmpty else { throw fail("allOf must be a non-empty list") }
            if list.count == 1 { return try expr(list[0], name: name, depth: depth + 1) }
            return try objectSchema(merged(list, depth: depth), name: name, depth: depth)
        }
        var types: [String] = []
        if let t = s["type"] {
            if let one = t.stringValue { types = [one] } else if let list = t.arrayValue, list.allSatisfy({ $0.stringValue != nil }) {
                types = list.map { $0.stringValue! }
            } else { throw fail("type must be a string or a list of strings") }
        } else {
            if s["properties"] != nil || s["additionalProperties"] != nil || s["required"] != nil { types = ["object"] } else if s["items"] != nil || s["prefixItems"] != nil { types = ["array"] } else if s["pattern"] != nil || s["format"] != nil || s["minLength"] != nil || s["maxLength"] != nil { types = ["string"] } else if ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].contains(where: { s[$0] != nil }) { types = ["number"] } else { return basicRule("any") }
        }
        guard !types.isEmpty else { throw fail("type must not be an empty list") }
        var alts: [GrammarExpr] = []
        for t in types {
            switch t {
            case "string": alts.append(try string(s))
            case "integer": alts.append(try integer(s))
            case "number": alts.append(try number(s))
            case "boolean": alts.append(basicRule("boolean"))
            case "null": alts.append(basicRule("null"))
            case "array": alts.append(try array(s, name: name, depth: depth))
            case "object": alts.append(try objectSchema(s, name: name, depth: depth))
            default: throw fail("unknown type \"\(t)\"")
            }
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    mutating func ref(_ path: String, depth: Int) throws -> GrammarExpr {
        if let r = refRules[path] { return .ref(r) }
        guard path.hasPrefix("#") else { throw fail("$ref \(path): only references within the schema (#/...) are supported") }
        var target = root
        var ruleName = "root"
        if path != "#" {
            guard path.hasPrefix("#/") else { throw fail("$ref \(path) is not a JSON pointer") }
            let names: [String]
            (target, names) = try pointer(path)
            ruleName = names.map { $0.filter { $0.isLetter || $0.isNumber || $0 == "_" } }.filter { !$0.isEmpty && $0 != "$defs" && $0 != "definitions" }.joined(separator: "_")
            if ruleName.isEmpty { ruleName = "ref" }
        }
        let r = b.reserve("defs_" + ruleName)
        refRules[path] = r
        b.define(r, try expr(target, name: "defs_" + ruleName, depth: depth + 1))
        return .ref(r)
    }

    // MARK: strings

    mutating func string(_ s: JSONValue) throws -> GrammarExpr {
        let minL = try count(s, "minLength") ?? 0, maxL = try count(s, "maxLength")
        if let m = maxL, m < minL { throw fail("maxLength \(m) is below minLength \(minL)") }
        if let p = s["pattern"] {
            guard let pat = p.stringValue else { throw fail("pattern must be a string") }
            if s["format"] != nil { throw fail("pattern and format together are not supported") }
            if minL > 0 || maxL != nil { throw fail("minLength/maxLength with pattern are not supported") }
            let re: GrammarExpr
            do { re = try Regex.expr(pat) } catch let e as GrammarError { throw fail("pattern: \(e.message)") }
            return .seq([.text("\""), try Self.jsonEscaped(re), .text("\"")])
        }
        if let f = s["format"] {
            guard let name = f.stringValue else { throw fail("format must be a string") }
            guard let re = JSONSchema.formats[name] else { throw fail("format \"\(name)\" is not supported (supported: \(JSONSchema.formats.keys.sorted().joined(separator: ", ")))") }
            if minL > 0 || maxL != nil { throw fail("minLength/maxLength with format are not supported") }
            return .seq([.text("\""), try Regex.expr(re), .text("\"")])
        }
        if minL == 0, maxL == nil { return basicRule("string") }
        return .seq([.text("\""), .rep(jsonChar, min: minL, max: maxL), .text("\"")])
    }

    func count(_ s: JSONValue, _ k: String) throws -> Int? {
        guard let v = s[k] else { return nil }
        guard let n = v.intValue, n >= 0 else { throw fail("\(k) must be a non-negative integer") }
        guard n <= Automaton.maxRepeat else { throw fail("\(k) \(n) is above the supported \(Automaton.maxRepeat)") }
        return n
    }

    /// A regex over a string's characters as JSON string content: `"`, `\` and control characters written escaped.
    static func jsonEscaped(_ e: GrammarExpr) throws -> GrammarExpr {
        switch e {
        case .literal(let bytes):
            let text = String(decoding: bytes, as: UTF8.self)
            return .seq(text.unicodeScalars.map { escapedChars([$0.value...$0.value]) })
        case .chars(let set): return escapedChars(set)
        case .ref: return e
        case .seq(let items): return .seq(try items.map(jsonEscaped))
        case .alt(let items): return .alt(try items.map(jsonEscaped))
        case .rep(let x, let lo, let hi): return .rep(try jsonEscaped(x), min: lo, max: hi)
        }
    }

    static func escapedChars(_ set: [ClosedRange<UInt32>]) -> GrammarExpr {
        let special: [ClosedRange<UInt32>] = [0...0x1F, 34...34, 92...92]
        let plain = CharSet.complement(CharSet.normalize(CharSet.complement(set) + special))
        var alts: [GrammarExpr] = plain.isEmpty ? [] : [.chars(plain)]
        let short: [UInt32: String] = [8: "b", 9: "t", 10: "n", 12: "f", 13: "r", 34: "\"", 92: "\\"]
        for r in set where r.lowerBound <= 0x5C {
            for c in r.lowerBound...min(r.upperBound, 0x5C) where c < 0x20 || c == 34 || c == 92 {
                if let s = short[c] { alts.append(.text("\\" + s)) } else {
                    let hex = String(format: "%04x", c)
                    alts.append(.seq([.text("\\u")] + hex.unicodeScalars.map { ch in
                        let u = String(ch).uppercased().unicodeScalars.first!.value
                        return u == ch.value ? GrammarExpr.chars([ch.value...ch.value]) : .set([ch.value...ch.value, u...u])
                    }))
                }
            }
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    // MARK: numbers

    func bounds(_ s: JSONValue) throws -> (lo: (Double, Bool)?, hi: (Double, Bool)?) {
        func num(_ k: String) throws -> Double? {
            guard let v = s[k] else { return nil }
            if v.boolValue != nil { return nil }  // draft-4's boolean exclusiveMinimum, read below
            guard let d = v.doubleValue, d.isFinite else { throw fail("\(k) must be a number") }
            return d
        }
        var lo = try num("minimum").map { ($0, true) }, hi = try num("maximum").map { ($0, true) }
        if s["exclusiveMinimum"]?.boolValue == true, let l = lo { lo = (l.0, false) }
        if s["exclusiveMaximum"]?.boolValue == true, let h = hi { hi = (h.0, false) }
        if let x = try num("exclusiveMinimum"), lo == nil || x >= lo!.0 { lo = (x, false) }
        if let x = try num("exclusiveMaximum"), hi == nil || x <= hi!.0 { hi = (x, false) }
        return (lo, hi)
    }

    mutating func integer(_ s: JSONValue) throws -> GrammarExpr {
        let (lo, hi) = try bounds(s)
        if lo == nil, hi == nil { return basicRule("integer") }
        func clamp(_ d: Double) throws -> Int64 {
            guard abs(d) < 9e18 else { throw fail("integer bound \(d) is too large") }
            return Int64(d)
        }
        let l = try lo.map { b -> Int64 in let c = b.0.rounded(.up); return try clamp(b.1 || c != b.0 ? c : c + 1) }
        let h = try hi.map { b -> Int64 in let f = b.0.rounded(.down); return try clamp(b.1 || f != b.0 ? f : f - 1) }
        guard let e = NumberRanges.integer(lo: l, hi: h) else { throw fail("no integer satisfies the bounds") }
        return e
    }

    mutating func number(_ s: JSONValue) throws -> GrammarExpr {
        let (lo, hi) = try bounds(s)
        if lo == nil, hi == nil { return basicRule("number") }
        let l = try lo.map { b -> NumberRanges.Bound in
            guard let x = NumberRanges.bound(b.0, inclusive: b.1) else { throw fail("bound \(b.0) is out of range") }
            return x
        }
        let h = try hi.map { b -> NumberRanges.Bound in
            guard let x = NumberRanges.bound(b.0, inclusive: b.1) else { throw fail("bound \(b.0) is out of range") }
            return x
        }
        guard let e = NumberRanges.decimal(lo: l, hi: h) else { throw fail("no number satisfies the bounds") }
        return e
    }

    // MARK: arrays

    mutating func array(_ s: JSONValue, name: String, depth: Int) throws -> GrammarExpr {
        if s["uniqueItems"]?.boolValue == true { throw fail("the keyword \"uniqueItems\" is not supported") }
        var prefix: [GrammarExpr] = []
        if let p = s["prefixItems"] {
            guard let list = p.arrayValue else { throw fail("prefixItems must be a list") }
            for (i, x) in list.enumerated() { prefix.append(try expr(x, name: "\(name)_prefix_\(i)", depth: depth + 1)) }
        }
        var item: GrammarExpr? = basicRule("any")
        if let it = s["items"] {
            if it.boolValue == false { item = nil } else if it.arrayValue != nil { throw fail("items as a list (draft 4) is not supported; use prefixItems") } else { item = try expr(it, name: "\(name)_item", depth: depth + 1) }
        } else if !prefix.isEmpty { item = nil }
        let minC = try count(s, "minItems") ?? 0
        var maxC = try count(s, "maxItems")
        if item == nil { maxC = min(maxC ?? prefix.count, prefix.count) }
        if let m = maxC, m < minC { throw fail("no array satisfies minItems \(minC) and maxItems \(m)\(item == nil ? " with \(prefix.count) prefixItems" : "")") }
        let open = GrammarExpr.seq([.text("["), ws]), close = GrammarExpr.seq([ws, .text("]")])
        let empty = GrammarExpr.seq([.text("["), ws, .text("]")])
        if maxC == 0 { return empty }
        let sep = GrammarExpr.seq([ws, .text(","), ws])
        func elem(_ j: Int) -> GrammarExpr { j < prefix.count ? prefix[j] : item! }
        // tail(j): elements j... after j have been written.
        func tail(_ j: Int) -> GrammarExpr {
            if let m = maxC, j >= m { return .empty }
            if j >= prefix.count {
                return .rep(.seq([sep, item!]), min: max(minC - j, 0), max: maxC.map { $0 - j })
            }
            let more = GrammarExpr.seq([sep, elem(j), tail(j + 1)])
            return j >= minC ? .alt([.empty, more]) : more
        }
        let body = GrammarExpr.seq([open, elem(0), tail(1), close])
        return minC == 0 ? .alt([body, empty]) : body
    }

    // MARK: objects

    /// allOf of object schemas: their properties (in order), required lists and the last additionalProperties.
    func merged(_ list: [JSONValue], depth: Int) throws -> JSONValue {
        var props: [(String, JSONValue)] = []
        var req: [JSONValue] = []
        var addl: JSONValue? = nil
        for x in list {
            var x = x
            if let r = x["$ref"]?.stringValue, x.objectValue?.count == 1 { x = try resolve(r) }
            guard let o = x.objectValue, x["type"]?.stringValue ?? "object" == "object" else {
                throw fail("allOf is supported for object schemas only")
            }
            for (k, _) in o where !["type", "properties", "required", "additionalProperties"].contains(k)
                && (JSONSchema.handled.contains(k) || JSONSchema.unenforced.contains(k)) {
                throw fail("the keyword \"\(k)\" inside allOf is not supported")
            }
            for (k, v) in x["properties"]?.objectValue ?? [] {
                if let i = props.firstIndex(where: { $0.0 == k }) { props[i].1 = v } else { props.append((k, v)) }
            }
            req += x["required"]?.arrayValue ?? []
            if let a = x["additionalProperties"] { addl = a }
        }
        var o: [(String, JSONValue)] = [("type", .string("object")), ("properties", .object(props)), ("required", .array(req))]
        if let addl { o.append(("additionalProperties", addl)) }
        return .object(o)
    }

    func resolve(_ path: String) throws -> JSONValue {
        guard path.hasPrefix("#/") else { throw fail("$ref \(path) does not resolve") }
        return try pointer(path).0
    }

    /// The value a `#/...` JSON pointer names in the root schema, and the object keys it passed through.
    func pointer(_ path: String) throws -> (JSONValue, [String]) {
        var target = root
        var names: [String] = []
        for raw in path.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let key = String(raw).replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let arr = target.arrayValue, let i = Int(key), i >= 0, i < arr.count { target = arr[i]; continue }
            guard let next = target[key] else { throw fail("$ref \(path) does not resolve") }
            target = next
            names.append(key)
        }
        return (target, names)
    }

    /// A JSON string that is none of `names` (as xgrammar keys additional properties): a rule per node of the
    /// names' trie, leaving it for any string as soon as a character leaves every name.
    mutating func keyExcluding(_ names: [String], name: String) throws -> GrammarExpr {
        let special: [ClosedRange<UInt32>] = [0...0x1F, 34...34, 92...92]
        let plain = names.filter { n in n.unicodeScalars.allSatisfy { c in !special.contains { $0.contains(c.value) } } }
        if plain.isEmpty { return basicRule("string") }
        let rest = GrammarExpr.seq([.star(jsonChar), .text("\"")])
        func node(_ words: [[Unicode.Scalar]]) -> GrammarExpr {
            let r = b.reserve("\(name)_key")
            var alts: [GrammarExpr] = []
            if !words.contains([]) { alts.append(.text("\"")) }
            var next: [UInt32: [[Unicode.Scalar]]] = [:]
            for w in words where !w.isEmpty { next[w[0].value, default: []].append(Array(w.dropFirst())) }
            for c in next.keys.sorted() { alts.append(.seq([.chars([c...c]), node(next[c]!)])) }
            let others = CharSet.complement(CharSet.normalize(special + next.keys.map { $0...$0 }))
            alts.append(.seq([.chars(others), rest]))
            alts.append(.seq([Self.jsonEscape, rest]))
            b.define(r, .alt(alts))
            return .ref(r)
        }
        return .seq([.text("\""), node(plain.map { Array($0.unicodeScalars) })])
    }

    mutating func objectSchema(_ s: JSONValue, name: String, depth: Int) throws -> GrammarExpr {
        for k in ["patternProperties", "minProperties", "maxProperties", "propertyNames", "dependentRequired"] where s[k] != nil {
            throw fail("the keyword \"\(k)\" is not supported")
        }
        let props = s["properties"]?.objectValue ?? []
        var required = Set<String>()
        if let r = s["required"] {
            guard let list = r.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else { throw fail("required must be a list of strings") }
            required = Set(list.map { $0.stringValue! })
        }
        for r in required where !props.contains(where: { $0.0 == r }) {
            throw fail("required property \"\(r)\" is not in properties")
        }
        if props.isEmpty, s["additionalProperties"] == nil { return basicRule("object") }
        var addl: GrammarExpr? = nil
        if let a = s["additionalProperties"] {
            if a.boolValue == true { addl = basicRule("any") } else if a.boolValue == false { addl = nil } else { addl = try expr(a, name: "\(name)_addl", depth: depth + 1) }
        }
        let sep = GrammarExpr.seq([ws, .text(","), ws])
        var values: [GrammarExpr] = []
        for (i, (k, v)) in props.enumerated() {
            let key = JSONValue.string(k).jsonString
            values.append(.seq([.literal(Array(key.utf8)), ws, .text(":"), ws, try expr(v, name: "\(name)_prop_\(i)", depth: depth + 1)]))
        }
        let extra: GrammarExpr? = try addl.map { .seq([try keyExcluding(props.map(\.0), name: name), ws, .text(":"), ws, $0]) }
        let n = props.count
        // after[i]: the rest once something was written and properties before i are decided; first[i]: nothing yet.
        var after = [Int](repeating: 0, count: n + 1), first = [Int](repeating: 0, count: n + 1)
        for i in 0...n { after[i] = b.reserve("\(name)_part_\(i)") }
        for i in 0...n { first[i] = b.reserve("\(name)_first_\(i)") }
        b.define(after[n], extra.map { .star(.seq([sep, $0])) } ?? .empty)
        b.define(first[n], extra.map { .alt([.empty, .seq([$0, .star(.seq([sep, $0]))])]) } ?? .empty)
        for i in stride(from: n - 1, through: 0, by: -1) {
            let take = GrammarExpr.seq([sep, values[i], .ref(after[i + 1])])
            let takeFirst = GrammarExpr.seq([values[i], .ref(after[i + 1])])
            if required.contains(props[i].0) {
                b.define(after[i], take)
                b.define(first[i], takeFirst)
            } else {
                b.define(after[i], .alt([take, .ref(after[i + 1])]))
                b.define(first[i], .alt([takeFirst, .ref(first[i + 1])]))
            }
        }
        return .seq([.text("{"), ws, .ref(first[0]), ws, .text("}")])
    }
}
