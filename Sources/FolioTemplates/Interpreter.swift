import Foundation

/// Bounds that end a pathological template with an error instead of a hang or a crash.
public struct TemplateLimits: Sendable {
    public var maxOutputBytes = 16 << 20
    public var maxLoopIterations = 1_000_000
    public var maxCallDepth = 200
    public init() {}
}

/// Evaluates a parsed template. Sandboxed: no file, environment or attribute access beyond values' own data.
public final class Interpreter {
    var frames: [[String: Value]]
    var out = ""
    var outBytes = 0
    var iterations = 0
    var depth = 0
    let limits: TemplateLimits

    enum Flow { case normal, breakLoop, continueLoop }

    init(globals: [String: Value], limits: TemplateLimits) {
        frames = [globals, [:]]
        self.limits = limits
    }

    func lookup(_ name: String) -> Value {
        for f in frames.reversed() { if let v = f[name] { return v } }
        return .undefined(name)
    }

    func assign(_ name: String, _ v: Value) { frames[frames.count - 1][name] = v }

    func write(_ s: String) throws {
        outBytes += s.utf8.count
        if outBytes > limits.maxOutputBytes { throw TemplateError.limit("output exceeds \(limits.maxOutputBytes) bytes") }
        out += s
    }

    func run(_ nodes: [Node]) throws -> Flow {
        for n in nodes {
            let f = try exec(n)
            if f != .normal { return f }
        }
        return .normal
    }

    /// Renders nodes into a fresh buffer (block set, macros, call blocks, filter blocks).
    func capture(_ nodes: [Node]) throws -> String {
        let saved = out
        out = ""
        defer { out = saved }
        _ = try run(nodes)
        return out
    }

    func exec(_ n: Node) throws -> Flow {
        switch n {
        case .text(let s): try write(s)
        case .output(let e): try write(try eval(e).str)
        case .ifNode(let branches, let elseBody):
            for (c, body) in branches where try eval(c).truthy { return try run(body) }
            return try run(elseBody)
        case .forNode(let target, let iterE, let filter, let body, let elseBody):
            var items = try eval(iterE).iterate()
            if let filter {
                frames.append([:])
                items = try items.filter { bind(target, $0); return try eval(filter).truthy }
                frames.removeLast()
            }
            if items.isEmpty { return try run(elseBody) }
            frames.append([:])
            defer { frames.removeLast() }
            let n = items.count
            for (i, item) in items.enumerated() {
                iterations += 1
                if iterations > limits.maxLoopIterations { throw TemplateError.limit("more than \(limits.maxLoopIterations) loop iterations") }
                bind(target, item)
                assign("loop", loopValue(index: i, count: n, items: items))
                let f = try run(body)
                if f == .breakLoop { break }
            }
        case .set(let target, let e):
            let v = try eval(e)
            if case .attr(let ns, let attr) = target {
                guard case .namespace(let obj) = lookup(ns) else { throw TemplateError.type("cannot assign attribute on non-namespace object '\(ns)'") }
                obj.attrs[attr] = v
            } else { bind(target, v) }
        case .setBlock(let target, let body, let filters):
            var v = Value.string(try capture(body))
            for (name, args, kwargs) in filters { v = try applyFilter(name, v, try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) }) }
            if case .attr(let ns, let attr) = target, case .namespace(let obj) = lookup(ns) { obj.attrs[attr] = v } else { bind(target, v) }
        case .macro(let name, let params, let body):
            assign(name, .function(makeMacro(name, params, body, caller: nil)))
        case .callBlock(let params, let call, let body):
            let caller = makeMacro("caller", params, body, caller: nil)
            guard case .call(let fnE, let argsE, let kwE) = call else { throw TemplateError.syntax("call block needs a macro call") }
            let fn = try eval(fnE)
            var kwargs = try kwE.map { ($0.0, try eval($0.1)) }
            kwargs.append(("caller", .function(caller)))
            try write(try callValue(fn, try argsE.map(eval), kwargs).str)
        case .filterBlock(let filters, let body):
            var v = Value.string(try capture(body))
            for (name, args, kwargs) in filters { v = try applyFilter(name, v, try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) }) }
            try write(v.str)
        case .breakLoop: return .breakLoop
        case .continueLoop: return .continueLoop
        case .body(let nodes): return try run(nodes)
        }
        return .normal
    }

    func bind(_ t: Target, _ v: Value) {
        switch t {
        case .name(let n): assign(n, v)
        case .attr(let ns, let a): if case .namespace(let obj) = lookup(ns) { obj.attrs[a] = v }
        case .tuple(let ts):
            let items = (try? v.iterate()) ?? []
            for (i, sub) in ts.enumerated() { bind(sub, i < items.count ? items[i] : .undefined("unpack")) }
        }
    }

    func loopValue(index i: Int, count n: Int, items: [Value]) -> Value {
        var d = OrderedDict()
        d["index"] = .int(i + 1); d["index0"] = .int(i)
        d["revindex"] = .int(n - i); d["revindex0"] = .int(n - i - 1)
        d["first"] = .bool(i == 0); d["last"] = .bool(i == n - 1); d["length"] = .int(n)
        d["depth"] = .int(1); d["depth0"] = .int(0)
        d["previtem"] = i > 0 ? items[i - 1] : .undefined("previtem")
        d["nextitem"] = i + 1 < n ? items[i + 1] : .undefined("nextitem")
        d["cycle"] = .function(TemplateFunction("cycle") { _, args, _ in
            guard !args.isEmpty else { throw TemplateError.type("no items for cycling given") }
            return args[i % args.count]
        })
        return .dict(d)
    }

    func makeMacro(_ name: String, _ params: [(String, Expr?)], _ body: [Node], caller: TemplateFunction?) -> TemplateFunction {
        let definingFrames = frames
        return TemplateFunction(name) { interp, args, kwargs in
            interp.depth += 1
            defer { interp.depth -= 1 }
            if interp.depth > interp.limits.maxCallDepth { throw TemplateError.limit("macro calls nested deeper than \(interp.limits.maxCallDepth)") }
            let saved = interp.frames
            // Top-level names resolve at call time (macros may call themselves or macros defined later).
            interp.frames = Array(interp.frames.prefix(2)) + Array(definingFrames.dropFirst(2)) + [[:]]
            defer { interp.frames = saved }
            var extra: [Value] = []
            for (i, (pname, def)) in params.enumerated() {
                if i < args.count { interp.assign(pname, args[i]) } else if let kv = kwargs.first(where: { $0.0 == pname }) {
                    interp.assign(pname, kv.1)
                } else if let def { interp.assign(pname, try interp.eval(def)) } else { interp.assign(pname, .undefined(pname)) }
            }
            if args.count > params.count { extra = Array(args[params.count...]) }
            interp.assign("varargs", .tuple(extra))
            var kw = OrderedDict()
            for (k, v) in kwargs where !params.contains(where: { $0.0 == k }) && k != "caller" { kw[k] = v }
            interp.assign("kwargs", .dict(kw))
            if let c = kwargs.first(where: { $0.0 == "caller" }) { interp.assign("caller", c.1) }
            return .string(try interp.capture(body))
        }
    }

    func callValue(_ fn: Value, _ args: [Value], _ kwargs: [(String, Value)]) throws -> Value {
        guard case .function(let f) = fn else {
            if case .undefined(let n) = fn { throw TemplateError.undefined("'\(n)' is undefined") }
            throw TemplateError.type("'\(fn.typeName)' object is not callable")
        }
        return try f.body(self, args, kwargs)
    }

    // MARK: expressions

    func eval(_ e: Expr) throws -> Value {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map(eval))
        case .tuple(let items): return .tuple(try items.map(eval))
        case .dict(let items):
            var d = OrderedDict()
            for (k, v) in items { d[try eval(k)] = try eval(v) }
            return .dict(d)
        case .attr(let b, let name): return try getAttr(try eval(b), name)
        case .item(let b, let idx): return try getItem(try eval(b), try eval(idx))
        case .slice(let b, let s, let e2, let st):
            return try slice(try eval(b), try s.map(eval), try e2.map(eval), try st.map(eval))
        case .call(let fnE, let argsE, let kwE):
            return try callValue(try eval(fnE), try argsE.map(eval), try kwE.map { ($0.0, try eval($0.1)) })
        case .filter(let b, let name, let argsE, let kwE):
            return try applyFilter(name, try eval(b), try argsE.map(eval), try kwE.map { ($0.0, try eval($0.1)) })
        case .test(let b, let name, let argsE, let negated):
            let r = try applyTest(name, try eval(b), try argsE.map(eval))
            return .bool(negated ? !r : r)
        case .neg(let x):
            switch try eval(x) {
            case .int(let i): return .int(-i)
            case .float(let d): return .float(-d)
            case let v: throw TemplateError.type("bad operand type for unary -: '\(v.typeName)'")
            }
        case .pos(let x): return try eval(x)
        case .not(let x): return .bool(!(try eval(x).truthy))
        case .and(let a, let b):
            let l = try eval(a)
            return l.truthy ? try eval(b) : l
        case .or(let a, let b):
            let l = try eval(a)
            return l.truthy ? l : try eval(b)
        case .binary(let op, let a, let b): return try binary(op, try eval(a), try eval(b))
        case .compare(let first, let ops):
            var l = try eval(first)
            for (op, re) in ops {
                let r = try eval(re)
                if !(try compare(op, l, r)) { return .bool(false) }
                l = r
            }
            return .bool(true)
        case .concat(let items): return .string(try sized(try items.map { try eval($0).str }.joined()))
        case .cond(let test, let then, let other):
            if try eval(test).truthy { return try eval(then) }
            return try other.map(eval) ?? .undefined("conditional")
        }
    }

    func compare(_ op: String, _ l: Value, _ r: Value) throws -> Bool {
        switch op {
        case "==": return l == r
        case "!=": return l != r
        case "in": return try contains(r, l)
        case "notin": return !(try contains(r, l))
        default:
            let c = try order(l, r)
            switch op {
            case "<": return c < 0
            case ">": return c > 0
            case "<=": return c <= 0
            default: return c >= 0
            }
        }
    }

    func order(_ l: Value, _ r: Value) throws -> Int {
        if let a = l.number, let b = r.number { return a < b ? -1 : a > b ? 1 : 0 }
        switch (l, r) {
        case (.string(let a), .string(let b)):
            let x = Array(a.unicodeScalars.map(\.value)), y = Array(b.unicodeScalars.map(\.value))
            return x.lexicographicallyPrecedes(y) ? -1 : x == y ? 0 : 1
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) { let c = try order(x, y); if c != 0 { return c } }
            return a.count < b.count ? -1 : a.count > b.count ? 1 : 0
        default: throw TemplateError.type("'<' not supported between instances of '\(l.typeName)' and '\(r.typeName)'")
        }
    }

    func contains(_ container: Value, _ item: Value) throws -> Bool {
        switch container {
        case .string(let s), .markup(let s):
            guard item.isString, case let sub = item.str else { throw TemplateError.type("'in <string>' requires string as left operand, not \(item.typeName)") }
            return sub.isEmpty || s.contains(sub)
        case .array(let a), .tuple(let a): return a.contains(item)
        case .dict(let d): return d[item] != nil
        case .generator(let a): return a.contains(item)
        case .undefined: return false
        default: throw TemplateError.type("argument of type '\(container.typeName)' is not iterable")
        }
    }

    func binary(_ op: String, _ l: Value, _ r: Value) throws -> Value {
        if case .undefined(let n) = l { throw TemplateError.undefined("'\(n)' is undefined") }
        if case .undefined(let n) = r { throw TemplateError.undefined("'\(n)' is undefined") }
        func bad() -> TemplateError { .type("unsupported operand type(s) for \(op): '\(l.typeName)' and '\(r.typeName)'") }
        switch (op, l, r) {
        case ("+", .string(let a), .string(let b)): return .string(try sized(a + b))
        case ("+", .markup(let a), _): return .markup(a + (r.isMarkup ? r.str : Interpreter.htmlEscape(r.str)))
        case ("+", _, .markup(let b)) where l.isString: return .markup(Interpreter.htmlEscape(l.str) + b)
        case ("+", .array(let a), .array(let b)): return .array(a + b)
        case ("+", .tuple(let a), .tuple(let b)): return .tuple(a + b)
        case ("*", .string(let s), .int(let n)), ("*", .int(let n), .string(let s)):
            let (size, o) = max(0, n).multipliedReportingOverflow(by: s.utf8.count)
            guard !o, size <= limits.maxOutputBytes else { throw TemplateError.limit("string repetition too large") }
            return .string(String(repeating: s, count: max(0, n)))
        case ("*", .array(let a), .int(let n)), ("*", .int(let n), .array(let a)):
            let (size, o) = max(0, n).multipliedReportingOverflow(by: a.count)
            guard !o, size < 1 << 20 else { throw TemplateError.limit("list repetition too large") }
            return .array(Array(repeating: a, count: max(0, n)).flatMap { $0 })
        case ("%", .string(let fmt), _): return .string(try percentFormat(fmt, r))
        default: break
        }
        if case .int(let a) = l.intLike, case .int(let b) = r.intLike, op != "/" {
            switch op {
            case "+": let (v, o) = a.addingReportingOverflow(b); if o { throw bad() }; return .int(v)
            case "-": let (v, o) = a.subtractingReportingOverflow(b); if o { throw bad() }; return .int(v)
            case "*": let (v, o) = a.multipliedReportingOverflow(by: b); if o { throw bad() }; return .int(v)
            case "//":
                guard b != 0 else { throw TemplateError.type("integer division or modulo by zero") }
                guard !(a == .min && b == -1) else { throw bad() }  // the one quotient an Int cannot hold
                var q = a / b; if (a % b != 0) && ((a < 0) != (b < 0)) { q -= 1 }; return .int(q)
            case "%":
                guard b != 0 else { throw TemplateError.type("integer division or modulo by zero") }
                guard b != -1 else { return .int(0) }  // Int.min % -1 traps in Swift; x % -1 is 0 for every x
                let m = a % b; return .int(m != 0 && (m < 0) != (b < 0) ? m + b : m)
            case "**":
                guard b >= 0 else { return .float(pow(Double(a), Double(b))) }
                var v = 1
                for _ in 0..<min(b, 64) { let (x, o) = v.multipliedReportingOverflow(by: a); if o { throw bad() }; v = x }
                return .int(v)
            default: break
            }
        }
        guard let a = l.number, let b = r.number else { throw bad() }
        switch op {
        case "+": return .float(a + b)
        case "-": return .float(a - b)
        case "*": return .float(a * b)
        case "/": guard b != 0 else { throw TemplateError.type("division by zero") }; return .float(a / b)
        case "//": guard b != 0 else { throw TemplateError.type("float floor division by zero") }; return .float((a / b).rounded(.down))
        case "%": guard b != 0 else { throw TemplateError.type("float modulo") }; let m = fmod(a, b); return .float(m != 0 && (m < 0) != (b < 0) ? m + b : m)
        case "**": return .float(pow(a, b))
        default: throw bad()
        }
    }

    /// A string a template built, if within the output limit (so doubling a string in a loop ends with an error).
    func sized(_ s: String) throws -> String {
        guard s.utf8.count <= limits.maxOutputBytes else { throw TemplateError.limit("a string of more than \(limits.maxOutputBytes) bytes") }
        return s
    }

    static func htmlEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;").replacingOccurrences(of: "'", with: "&#39;")
    }

    /// Python `str % args` for %s, %d, %r and %%.
    func percentFormat(_ fmt: String, _ arg: Value) throws -> String {
        var args: [Value]
        if case .tuple(let t) = arg { args = t } else { args = [arg] }
        var out = ""
        var it = fmt.makeIterator()
        while let c = it.next() {
            guard c == "%" else { out.append(c); continue }
            guard let k = it.next() else { throw TemplateError.type("incomplete format") }
            if k == "%" { out.append("%"); continue }
            guard !args.isEmpty else { throw TemplateError.type("not enough arguments for format string") }
            let a = args.removeFirst()
            switch k {
            case "s": out += a.str
            case "r": out += a.repr
            case "d", "i":
                guard let d = a.number else { out += a.str; break }
                guard let i = Int(exactly: d.rounded(.towardZero)) else { throw TemplateError.type("%d format: \(d) is not an integer in range") }
                out += String(i)
            default: throw TemplateError.type("unsupported format character '\(k)'")
            }
        }
        return out
    }

    func getAttr(_ v: Value, _ name: String) throws -> Value {
        switch v {
        case .undefined(let n): throw TemplateError.undefined("'\(n)' is undefined")
        case .dict(let d):
            if let m = try? method(v, name) { return m }
            return d[name] ?? .undefined(name)
        case .namespace(let ns): return ns.attrs[name] ?? .undefined(name)
        default:
            if let m = try? method(v, name) { return m }
            return .undefined(name)
        }
    }

    func getItem(_ v: Value, _ idx: Value) throws -> Value {
        switch (v, idx) {
        case (.undefined(let n), _): throw TemplateError.undefined("'\(n)' is undefined")
        case (.array(let a), .int(let i)), (.tuple(let a), .int(let i)):
            let k = i < 0 ? a.count + i : i
            return k >= 0 && k < a.count ? a[k] : .undefined("index \(i)")
        case (.string(let s), .int(let i)):
            let chars = Array(s)
            let k = i < 0 ? chars.count + i : i
            return k >= 0 && k < chars.count ? .string(String(chars[k])) : .undefined("index \(i)")
        case (.dict(let d), _): return d[idx] ?? .undefined(idx.str)
        case (.namespace(let ns), .string(let k)): return ns.attrs[k] ?? .undefined(k)
        case (_, .string(let k)): return try getAttr(v, k)
        default: return .undefined("item")
        }
    }

    func slice(_ v: Value, _ s: Value?, _ e: Value?, _ st: Value?) throws -> Value {
        func int(_ x: Value?) throws -> Int? {
            guard let x else { return nil }
            switch x {
            case .none, .undefined: return nil
            case .int(let i): return i
            default: throw TemplateError.type("slice indices must be integers or None")
            }
        }
        let step = try int(st) ?? 1
        guard step != 0 else { throw TemplateError.type("slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            var lo = try int(s), hi = try int(e)
            if step > 0 {
                var a = lo ?? 0, b = hi ?? n
                if a < 0 { a = max(0, a + n) }; if b < 0 { b = max(0, b + n) }
                a = min(a, n); b = min(b, n)
                return a < b ? Array(stride(from: a, to: b, by: step)) : []
            }
            if let l = lo, l < 0 { lo = l + n }
            if let h = hi, h < 0 { hi = h + n }
            let a = min(lo ?? n - 1, n - 1), b = hi ?? -1
            return a > b ? Array(stride(from: a, to: max(b, -1), by: step)) : []
        }
        switch v {
        case .array(let a): return .array(try indices(a.count).map { a[$0] })
        case .tuple(let a): return .tuple(try indices(a.count).map { a[$0] })
        case .string(let str):
            let c = Array(str)
            return .string(String(try indices(c.count).map { c[$0] }))
        case .undefined(let n): throw TemplateError.undefined("'\(n)' is undefined")
        default: throw TemplateError.type("'\(v.typeName)' object is not subscriptable")
        }
    }
}

extension Value {
    /// Ints and bools as ints (Python: True + 1 == 2).
    var intLike: Value {
        switch self {
        case .bool(let b): return .int(b ? 1 : 0)
        default: return self
        }
    }
}
