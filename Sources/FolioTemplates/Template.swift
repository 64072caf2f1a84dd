import FolioWeights
import Foundation

/// A compiled Jinja template, rendered the way Hugging Face transformers renders chat templates with jinja2
/// (sandboxed, `trim_blocks`, `lstrip_blocks`, loop controls, `{% generation %}`, `tojson`, `raise_exception`,
/// `strftime_now`).
///
/// ```swift
/// let t = try Template("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
/// let s = try t.render(["messages": .array([.dict(OrderedDict([("role", .string("user")), ("content", .string("Hi"))]))])])
/// ```
public struct Template: Sendable {
    let nodes: [NodeBox]
    public var limits = TemplateLimits()

    final class NodeBox: @unchecked Sendable { let nodes: [Node]; init(_ n: [Node]) { nodes = n } }

    public init(_ source: String) throws {
        nodes = [NodeBox(try Parser.parse(source))]
    }

    /// Renders with `context` as the template's variables. `now` is what `strftime_now` formats.
    public func render(_ context: [String: Value], now: Date = Date()) throws -> String {
        var globals = Template.globals(now: now)
        for (k, v) in context { globals[k] = v }
        let interp = Interpreter(globals: globals, limits: limits)
        _ = try interp.run(nodes[0].nodes)
        return interp.out
    }

    static func globals(now: Date) -> [String: Value] {
        var g: [String: Value] = [:]
        g["raise_exception"] = .function(TemplateFunction("raise_exception") { _, a, _ in
            throw TemplateError.raised(a.first?.str ?? "")
        })
        g["strftime_now"] = .function(TemplateFunction("strftime_now") { _, a, _ in
            .string(Template.strftime(a.first?.str ?? "", now))
        })
        g["range"] = .function(TemplateFunction("range") { interp, a, _ in
            let ints = a.map { v -> Int in if case .int(let i) = v.intLike { return i }; return 0 }
            let (lo, hi, st) = ints.count == 1 ? (0, ints[0], 1) : ints.count == 2 ? (ints[0], ints[1], 1) : ints.count >= 3 ? (ints[0], ints[1], ints[2]) : (0, 0, 1)
            guard st != 0 else { throw TemplateError.type("range() arg 3 must not be zero") }
            // Counted as it is built (no length arithmetic that could overflow on huge bounds).
            var out: [Value] = [], x = lo
            while st > 0 ? x < hi : x > hi {
                guard out.count < interp.limits.maxLoopIterations else { throw TemplateError.limit("range of more than \(interp.limits.maxLoopIterations) items") }
                out.append(.int(x))
                let (next, o) = x.addingReportingOverflow(st)
                if o { break }
                x = next
            }
            return .array(out)
        })
        g["namespace"] = .function(TemplateFunction("namespace") { _, a, k in
            let ns = Namespace()
            if case .dict(let d)? = a.first { for (key, v) in d.pairs { ns.attrs[key] = v } }
            for (key, v) in k { ns.attrs[key] = v }
            return .namespace(ns)
        })
        g["dict"] = .function(TemplateFunction("dict") { _, a, k in
            var d = OrderedDict()
            if case .dict(let base)? = a.first { d = base }
            for (key, v) in k { d[key] = v }
            return .dict(d)
        })
        g["joiner"] = .function(TemplateFunction("joiner") { _, a, _ in
            let sep = a.first?.str ?? ", "
            let box = Namespace()
            return .function(TemplateFunction("joiner") { _, _, _ in
                if box.attrs["used"] == nil { box.attrs["used"] = .bool(true); return .string("") }
                return .string(sep)
            })
        })
        return g
    }

    /// C `strftime` for the directives chat templates use (%d %m %Y %y %B %b %A %a %H %M %S %j %p %%).
    static func strftime(_ fmt: String, _ date: Date) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        func two(_ v: Int?) -> String { String(format: "%02d", v ?? 0) }
        var out = ""
        var it = fmt.makeIterator()
        while let ch = it.next() {
            guard ch == "%", let d = it.next() else { out.append(ch); continue }
            switch d {
            case "d": out += two(c.day)
            case "-": if let e = it.next() { out += e == "d" ? String(c.day ?? 0) : e == "m" ? String(c.month ?? 0) : "%-\(e)" }
            case "m": out += two(c.month)
            case "Y": out += String(c.year ?? 0)
            case "y": out += two((c.year ?? 0) % 100)
            case "B": out += months[(c.month ?? 1) - 1]
            case "b": out += String(months[(c.month ?? 1) - 1].prefix(3))
            case "A": out += days[(c.weekday ?? 1) - 1]
            case "a": out += String(days[(c.weekday ?? 1) - 1].prefix(3))
            case "H": out += two(c.hour)
            case "I": out += two(((c.hour ?? 0) + 11) % 12 + 1)
            case "M": out += two(c.minute)
            case "S": out += two(c.second)
            case "p": out += (c.hour ?? 0) < 12 ? "AM" : "PM"
            case "j": out += String(format: "%03d", cal.ordinality(of: .day, in: .year, for: date) ?? 0)
            case "%": out += "%"
            default: out += "%\(d)"
            }
        }
        return out
    }
}

extension Value {
    /// Converts JSON (key order kept; integers stay ints as in Python's json).
    public init(json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .number(let d): self = .float(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map { Value(json: $0) })
        case .object(let kv): self = .dict(OrderedDict(kv.map { ($0.0, Value(json: $0.1)) }))
        }
    }
}
