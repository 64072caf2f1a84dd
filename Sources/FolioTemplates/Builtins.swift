import Foundation

extension Interpreter {
    func arg(_ args: [Value], _ kwargs: [(String, Value)], _ i: Int, _ name: String) -> Value? {
        if let kv = kwargs.first(where: { $0.0 == name }) { return kv.1 }
        return i < args.count ? args[i] : nil
    }

    func bound(_ name: String, _ f: @escaping ([Value], [(String, Value)]) throws -> Value) -> Value {
        .function(TemplateFunction(name) { _, a, k in try f(a, k) })
    }

    /// Methods of strings, lists and dicts that jinja2's sandbox lets templates call.
    func method(_ v: Value, _ name: String) throws -> Value {
        switch v {
        case .string(let s):
            switch name {
            case "strip", "lstrip", "rstrip":
                return bound(name) { a, _ in
                    let chars: Set<Character>? = a.first.flatMap { if case .string(let c) = $0 { return Set(c) }; return nil }
                    func drop(_ c: Character) -> Bool { chars.map { $0.contains(c) } ?? c.isWhitespace }
                    var sub = Substring(s)
                    if name != "rstrip" { sub = sub.drop(while: drop) }
                    if name != "lstrip" { while let l = sub.last, drop(l) { sub = sub.dropLast() } }
                    return .string(String(sub))
                }
            case "upper": return bound(name) { _, _ in .string(s.uppercased()) }
            case "lower": return bound(name) { _, _ in .string(s.lowercased()) }
            case "title": return bound(name) { _, _ in .string(Interpreter.title(s)) }
            case "capitalize": return bound(name) { _, _ in .string(Interpreter.capitalize(s)) }
            case "startswith", "endswith":
                return bound(name) { a, _ in
                    let opts: [Value]
                    if case .tuple(let t)? = a.first { opts = t } else { opts = a.isEmpty ? [] : [a[0]] }
                    return .bool(opts.contains { o in
                        guard case .string(let p) = o else { return false }
                        return name == "startswith" ? s.hasPrefix(p) : s.hasSuffix(p)
                    })
                }
            case "split", "rsplit":
                return bound(name) { a, k in
                    let sep = self.arg(a, k, 0, "sep")
                    let maxsplit = self.arg(a, k, 1, "maxsplit").flatMap { if case .int(let i) = $0 { return i }; return nil } ?? -1
                    if case .string(let sp)? = sep, !sp.isEmpty {
                        var parts = s.components(separatedBy: sp)
                        if maxsplit >= 0, parts.count > maxsplit + 1 {
                            if name == "split" { parts = Array(parts[..<maxsplit]) + [parts[maxsplit...].joined(separator: sp)] } else {
                                let keep = parts.count - maxsplit
                                parts = [parts[..<keep].joined(separator: sp)] + Array(parts[keep...])
                            }
                        }
                        return .array(parts.map { .string($0) })
                    }
                    return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
                }
            case "splitlines": return bound(name) { _, _ in .array(s.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }).map { .string(String($0)) }.dropLastIfEmpty()) }
            case "replace":
                return bound(name) { a, _ in
                    guard a.count >= 2, case .string(let old) = a[0], case .string(let new) = a[1] else { throw TemplateError.type("replace() needs two strings") }
                    if a.count > 2, case .int(let n) = a[2] { return .string(Interpreter.replace(s, old, new, count: n)) }
                    return .string(Interpreter.replace(s, old, new, count: -1))
                }
            case "format": return bound(name) { a, k in .string(try Interpreter.pythonFormat(s, a, k)) }
            case "join":
                return bound(name) { a, _ in .string(try (a.first ?? .array([])).iterate().map(\.str).joined(separator: s)) }
            case "count": return bound(name) { a, _ in
                guard case .string(let sub)? = a.first, !sub.isEmpty else { return .int(s.count + 1) }
                return .int(s.components(separatedBy: sub).count - 1)
            }
            case "find", "index", "rfind":
                return bound(name) { a, _ in
                    guard case .string(let sub)? = a.first else { throw TemplateError.type("\(name)() needs a string") }
                    let r = name == "rfind" ? s.range(of: sub, options: .backwards) : s.range(of: sub)
                    guard let r else {
                        if name == "index" { throw TemplateError.type("substring not found") }
                        return .int(-1)
                    }
                    return .int(s.distance(from: s.startIndex, to: r.lowerBound))
                }
            case "isdigit": return bound(name) { _, _ in .bool(!s.isEmpty && s.allSatisfy(\.isNumber)) }
            case "isalpha": return bound(name) { _, _ in .bool(!s.isEmpty && s.allSatisfy(\.isLetter)) }
            case "isspace": return bound(name) { _, _ in .bool(!s.isEmpty && s.allSatisfy(\.isWhitespace)) }
            case "islower": return bound(name) { _, _ in .bool(s.contains(where: \.isLetter) && s == s.lowercased()) }
            case "isupper": return bound(name) { _, _ in .bool(s.contains(where: \.isLetter) && s == s.uppercased()) }
            case "removeprefix": return bound(name) { a, _ in
                guard case .string(let p)? = a.first else { return .string(s) }
                return .string(s.hasPrefix(p) ? String(s.dropFirst(p.count)) : s)
            }
            case "removesuffix": return bound(name) { a, _ in
                guard case .string(let p)? = a.first else { return .string(s) }
                return .string(s.hasSuffix(p) && !p.isEmpty ? String(s.dropLast(p.count)) : s)
            }
            default: break
            }
        case .array(let arr), .tuple(let arr):
            switch name {
            case "index": return bound(name) { a, _ in
                guard let x = a.first, let i = arr.firstIndex(of: x) else { throw TemplateError.type("value is not in list") }
                return .int(i)
            }
            case "count": return bound(name) { a, _ in .int(arr.filter { $0 == a.first }.count) }
            case "append", "pop", "insert", "extend", "remove", "sort", "reverse", "clear":
                return bound(name) { _, _ in throw TemplateError.security("modifying a list (\(name)) in an immutable sandbox") }
            default: break
            }
        case .dict(let d):
            switch name {
            case "items": return bound(name) { _, _ in .array(d.pairs.map { .tuple([$0.0, $0.1]) }) }
            case "keys": return bound(name) { _, _ in .array(d.keys) }
            case "values": return bound(name) { _, _ in .array(d.pairs.map(\.1)) }
            case "get": return bound(name) { a, _ in
                guard let k = a.first else { throw TemplateError.type("get() needs a key") }
                return d[k] ?? (a.count > 1 ? a[1] : .none)
            }
            case "update", "pop", "setdefault", "clear":
                return bound(name) { _, _ in throw TemplateError.security("modifying a dict (\(name)) in an immutable sandbox") }
            default: break
            }
        default: break
        }
        throw TemplateError.undefined("no method \(name)")
    }

    static func title(_ s: String) -> String {
        var out = ""
        var prevLetter = false
        for c in s {
            out += prevLetter ? c.lowercased() : c.uppercased()
            prevLetter = c.isLetter
        }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let f = s.first else { return s }
        return f.uppercased() + s.dropFirst().lowercased()
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        if count < 0 {
            if old.isEmpty { return new + s.map { String($0) + new }.joined() }
            return s.replacingOccurrences(of: old, with: new)
        }
        var out = "", rest = Substring(s), n = 0
        while n < count, let r = rest.range(of: old), !old.isEmpty {
            out += rest[..<r.lowerBound] + new
            rest = rest[r.upperBound...]
            n += 1
        }
        return out + rest
    }

    /// Python `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}`.
    static func pythonFormat(_ fmt: String, _ args: [Value], _ kwargs: [(String, Value)]) throws -> String {
        var out = "", auto = 0
        var it = Array(fmt), i = 0
        while i < it.count {
            let c = it[i]
            if c == "{", i + 1 < it.count, it[i + 1] == "{" { out += "{"; i += 2; continue }
            if c == "}", i + 1 < it.count, it[i + 1] == "}" { out += "}"; i += 2; continue }
            if c == "{" {
                guard let close = it[i...].firstIndex(of: "}") else { throw TemplateError.type("single '{' in format string") }
                let field = String(it[(i + 1)..<close]).split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
                let v: Value
                if field.isEmpty { v = auto < args.count ? args[auto] : .undefined("format"); auto += 1 } else if let n = Int(field) {
                    v = n < args.count ? args[n] : .undefined("format")
                } else { v = kwargs.first(where: { $0.0 == field })?.1 ?? .undefined(field) }
                out += v.str
                i = close + 1
                continue
            }
            out.append(c)
            i += 1
        }
        it = []
        return out
    }
}

extension Array where Element == Value {
    func dropLastIfEmpty() -> [Value] {
        if case .string("")? = last { return Array(dropLast()) }
        return self
    }
}
