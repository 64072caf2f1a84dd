/// Assignment targets: `x`, `a, b`, `ns.attr`.
indirect enum Target {
    case name(String)
    case tuple([Target])
    case attr(String, String)
}

indirect enum Expr {
    case literal(Value)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attr(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], Bool)
    case neg(Expr), pos(Expr), not(Expr)
    case binary(String, Expr, Expr)
    case and(Expr, Expr), or(Expr, Expr)
    case compare(Expr, [(String, Expr)])
    case concat([Expr])
    case cond(Expr, Expr, Expr?)  // test, then, else
}

indirect enum Node {
    case text(String)
    case output(Expr)
    case ifNode([(Expr, [Node])], [Node])
    case forNode(Target, Expr, Expr?, [Node], [Node])
    case set(Target, Expr)
    case setBlock(Target, [Node], [(String, [Expr], [(String, Expr)])])
    case macro(String, [(String, Expr?)], [Node])
    case callBlock([(String, Expr?)], Expr, [Node])
    case filterBlock([(String, [Expr], [(String, Expr)])], [Node])
    case breakLoop, continueLoop
    case body([Node])
}

/// Recursive-descent parser with jinja2's grammar and operator precedence.
struct Parser {
    let toks: [(Token, Int)]
    var p = 0
    /// Bounds on the trees a template can build, so neither parsing, evaluating nor freeing one can exhaust the
    /// stack: nesting (parentheses, unary operators, blocks inside blocks) and operators chained in one expression.
    static let maxNesting = 100, maxChain = 1000
    var nesting = 0
    var chained = 0

    mutating func nest<T>(_ body: (inout Parser) throws -> T) throws -> T {
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= Self.maxNesting else { throw fail("expressions or blocks nested deeper than \(Self.maxNesting) levels") }
        return try body(&self)
    }

    /// Counts one more operator, call, attribute or filter in the current expression.
    mutating func chain() throws {
        chained += 1
        guard chained <= Self.maxChain else { throw fail("more than \(Self.maxChain) operators in one expression") }
    }

    init(_ toks: [(Token, Int)]) { self.toks = toks }

    static func parse(_ source: String) throws -> [Node] {
        var parser = Parser(try Lexer.tokenize(source))
        let (nodes, end) = try parser.parseNodes(until: [])
        if let end { throw TemplateError.syntax("unexpected '\(end)'") }
        return nodes
    }

    var tok: Token { toks[p].0 }
    var line: Int { toks[p].1 }
    mutating func next() -> Token { let t = toks[p].0; if p < toks.count - 1 { p += 1 }; return t }
    func fail(_ m: String) -> TemplateError { .syntax("\(m) (line \(line))") }

    func isName(_ n: String) -> Bool { if case .name(let x) = tok, x == n { return true }; return false }
    func isOp(_ o: String) -> Bool { if case .op(let x) = tok, x == o { return true }; return false }
    mutating func skipName(_ n: String) -> Bool { if isName(n) { p += 1; return true }; return false }
    mutating func skipOp(_ o: String) -> Bool { if isOp(o) { p += 1; return true }; return false }
    mutating func expectOp(_ o: String) throws { guard skipOp(o) else { throw fail("expected '\(o)'") } }
    mutating func expectName() throws -> String {
        guard case .name(let n) = tok else { throw fail("expected a name") }
        p += 1
        return n
    }
    mutating func expectBlockEnd() throws { guard tok == .blockEnd else { throw fail("expected end of block tag") }; p += 1 }

    /// Parses nodes until a block tag whose keyword is in `until`; returns that keyword (its tag not consumed
    /// beyond the keyword).
    mutating func parseNodes(until: Set<String>) throws -> ([Node], String?) {
        var nodes: [Node] = []
        while true {
            switch tok {
            case .eof:
                if !until.isEmpty { throw fail("unexpected end of template, expected \(until.sorted().joined(separator: " or "))") }
                return (nodes, nil)
            case .text(let s): p += 1; nodes.append(.text(s))
            case .varBegin:
                p += 1
                chained = 0
                let e = try parseExpression()
                guard tok == .varEnd else { throw fail("expected '}}'") }
                p += 1
                nodes.append(.output(e))
            case .blockBegin:
                p += 1
                guard case .name(let kw) = tok else { throw fail("expected a statement") }
                if until.contains(kw) { p += 1; return (nodes, kw) }
                p += 1
                chained = 0
                nodes.append(try nest { try $0.parseStatement(kw) })
            default: throw fail("unexpected token \(tok)")
            }
        }
    }

    mutating func parseStatement(_ kw: String) throws -> Node {
        switch kw {
        case "if":
            var branches: [(Expr, [Node])] = []
            var cond = try parseExpression()
            try expectBlockEnd()
            while true {
                let (body, end) = try parseNodes(until: ["elif", "else", "endif"])
                branches.append((cond, body))
                if end == "elif" { cond = try parseExpression(); try expectBlockEnd(); continue }
                if end == "else" {
                    try expectBlockEnd()
                    let (eb, _) = try parseNodes(until: ["endif"])
                    try expectBlockEnd()
                    return .ifNode(branches, eb)
                }
                try expectBlockEnd()
                return .ifNode(branches, [])
            }
        case "for":
            let target = try parseTarget()
            guard skipName("in") else { throw fail("expected 'in'") }
            let iter = try parseTupleOrExpr(withCondExpr: false)
            var filter: Expr? = nil
            if skipName("if") { filter = try parseExpression() }
            _ = skipName("recursive")
            try expectBlockEnd()
            let (body, end) = try parseNodes(until: ["else", "endfor"])
            var elseBody: [Node] = []
            try expectBlockEnd()
            if end == "else" {
                (elseBody, _) = try parseNodes(until: ["endfor"])
                try expectBlockEnd()
            }
            return .forNode(target, iter, filter, body, elseBody)
        case "set":
            let target = try parseTarget()
            if skipOp("=") {
                let e = try parseTupleOrExpr(withCondExpr: true)
                try expectBlockEnd()
                return .set(target, e)
            }
            var filters: [(String, [Expr], [(String, Expr)])] = []
            while skipOp("|") { filters.append(try parseFilterApplication()) }
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endset"])
            try expectBlockEnd()
            return .setBlock(target, body, filters)
        case "macro":
            let name = try expectName()
            let params = try parseParams()
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endmacro"])
            if case .name = tok { p += 1 }
            try expectBlockEnd()
            return .macro(name, params, body)
        case "call":
            var params: [(String, Expr?)] = []
            if isOp("(") { params = try parseParams() }
            let call = try parseExpression()
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endcall"])
            try expectBlockEnd()
            return .callBlock(params, call, body)
        case "filter":
            var filters = [try parseFilterApplication()]
            while skipOp("|") { filters.append(try parseFilterApplication()) }
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters, body)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseNodes(until: ["endgeneration"])
            try expectBlockEnd()
            return .body(body)
        case "break": try expectBlockEnd(); return .breakLoop
        case "continue": try expectBlockEnd(); return .continueLoop
        case "include", "import", "from", "extends", "block":
            throw TemplateError.security("'\(kw)' (templates cannot load other templates)")
        default:
            throw fail("unknown statement '\(kw)'")
        }
    }

    mutating func parseParams() throws -> [(String, Expr?)] {
        try expectOp("(")
        var params: [(String, Expr?)] = []
        while !skipOp(")") {
            if !params.isEmpty { try expectOp(",") ; if skipOp(")") { break } }
            let n = try expectName()
            params.append((n, skipOp("=") ? try parseExpression() : nil))
        }
        return params
    }

    mutating func parseFilterApplication() throws -> (String, [Expr], [(String, Expr)]) {
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        if isOp("(") { (args, kwargs) = try parseCallArgs() }
        return (name, args, kwargs)
    }

    mutating func parseTarget() throws -> Target {
        var items: [Target] = []
        repeat {
            if skipOp("(") { items.append(try parseTarget()); try expectOp(")"); continue }
            let n = try expectName()
            if skipOp(".") { items.append(.attr(n, try expectName())) } else { items.append(.name(n)) }
        } while skipOp(",") && !isName("in") && !isOp("=")
        return items.count == 1 ? items[0] : .tuple(items)
    }

    mutating func parseTupleOrExpr(withCondExpr: Bool) throws -> Expr {
        let first = withCondExpr ? try parseExpression() : try parseOr()
        guard isOp(",") else { return first }
        var items = [first]
        while skipOp(",") {
            if tok == .blockEnd || tok == .varEnd || isName("if") { break }
            items.append(withCondExpr ? try parseExpression() : try parseOr())
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws -> Expr {
        var e = try parseOr()
        while skipName("if") {
            try chain()
            let test = try parseOr()
            let other: Expr? = skipName("else") ? try nest { try $0.parseExpression() } : nil
            e = .cond(test, e, other)
        }
        return e
    }

    mutating func parseOr() throws -> Expr {
        var l = try parseAnd()
        while skipName("or") { try chain(); l = .or(l, try parseAnd()) }
        return l
    }

    mutating func parseAnd() throws -> Expr {
        var l = try parseNot()
        while skipName("and") { try chain(); l = .and(l, try parseNot()) }
        return l
    }

    mutating func parseNot() throws -> Expr {
        if skipName("not") { return .not(try nest { try $0.parseNot() }) }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> Expr {
        let e = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            try chain()
            if case .op(let o) = tok, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                p += 1; ops.append((o, try parseMath1()))
            } else if skipName("in") {
                ops.append(("in", try parseMath1()))
            } else if isName("not"), p + 1 < toks.count, toks[p + 1].0 == .name("in") {
                p += 2; ops.append(("notin", try parseMath1()))
            } else { break }
        }
        return ops.isEmpty ? e : .compare(e, ops)
    }

    mutating func parseMath1() throws -> Expr {
        var l = try parseConcat()
        while true {
            try chain()
            if skipOp("+") { l = .binary("+", l, try parseConcat()) } else if skipOp("-") { l = .binary("-", l, try parseConcat()) } else { break }
        }
        return l
    }

    mutating func parseConcat() throws -> Expr {
        var items = [try parseMath2()]
        while skipOp("~") { try chain(); items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : .concat(items)
    }

    mutating func parseMath2() throws -> Expr {
        var l = try parsePow()
        while case .op(let o) = tok, ["*", "/", "//", "%"].contains(o) {
            p += 1
            try chain()
            l = .binary(o, l, try parsePow())
        }
        return l
    }

    mutating func parsePow() throws -> Expr {
        var l = try parseUnary(withFilter: true)
        while skipOp("**") { try chain(); l = .binary("**", l, try parseUnary(withFilter: true)) }
        return l
    }

    mutating func parseUnary(withFilter: Bool) throws -> Expr {
        var e: Expr
        if skipOp("-") { e = .neg(try nest { try $0.parseUnary(withFilter: false) }) } else if skipOp("+") {
            e = .pos(try nest { try $0.parseUnary(withFilter: false) })
        } else {
            e = try parsePostfix(try nest { try $0.parsePrimary() })
        }
        if withFilter { e = try parseFilterExpr(e) }
        return e
    }

    mutating func parsePrimary() throws -> Expr {
        let t = next()
        switch t {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            while case .string(let more) = tok { s += more; p += 1 }
            return .literal(.string(s))
        case .int(let v): return .literal(.int(v))
        case .float(let v): return .literal(.float(v))
        case .op("("):
            if skipOp(")") { return .tuple([]) }
            let first = try parseExpression()
            if skipOp(")") { return first }
            var items = [first]
            while skipOp(",") {
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return .tuple(items)
        case .op("["):
            var items: [Expr] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(","); if skipOp("]") { break } }
                items.append(try parseExpression())
            }
            return .list(items)
        case .op("{"):
            var items: [(Expr, Expr)] = []
            while !skipOp("}") {
                if !items.isEmpty { try expectOp(","); if skipOp("}") { break } }
                let k = try parseExpression()
                try expectOp(":")
                items.append((k, try parseExpression()))
            }
            return .dict(items)
        default:
            p -= 1
            throw fail("unexpected \(t)")
        }
    }

    mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            try chain()
            if skipOp(".") {
                if case .int(let i) = tok { p += 1; e = .item(e, .literal(.int(i))); continue }
                e = .attr(e, try expectName())
            } else if skipOp("[") {
                e = try parseSubscript(e)
            } else if isOp("(") {
                let (a, k) = try parseCallArgs()
                e = .call(e, a, k)
            } else { break }
        }
        return e
    }

    mutating func parseSubscript(_ base: Expr) throws -> Expr {
        var parts: [Expr?] = []
        var cur: Expr? = nil
        var isSlice = false
        while true {
            if skipOp("]") { parts.append(cur); break }
            if skipOp(":") { parts.append(cur); cur = nil; isSlice = true; continue }
            cur = try parseExpression()
        }
        if !isSlice {
            guard let idx = parts[0] else { throw fail("empty subscript") }
            return .item(base, idx)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2])
    }

    mutating func parseCallArgs() throws -> ([Expr], [(String, Expr)]) {
        try expectOp("(")
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        var first = true
        while !skipOp(")") {
            if !first { try expectOp(","); if skipOp(")") { break } }
            first = false
            if case .name(let n) = tok, p + 1 < toks.count, toks[p + 1].0 == .op("=") {
                p += 2
                kwargs.append((n, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
        }
        return (args, kwargs)
    }

    mutating func parseFilterExpr(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            try chain()
            if skipOp("|") {
                let (n, a, k) = try parseFilterApplication()
                e = .filter(e, n, a, k)
            } else if skipName("is") {
                let negated = skipName("not")
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                var args: [Expr] = []
                if isOp("(") {
                    args = try parseCallArgs().0
                } else {
                    switch tok {
                    case .name(let n) where !["else", "or", "and", "if", "in", "not", "is"].contains(n):
                        args = [try parsePostfix(try parsePrimary())]
                    case .string, .int, .float, .op("["), .op("{"):
                        args = [try parsePostfix(try parsePrimary())]
                    case .op("-"):
                        args = [try parseUnary(withFilter: false)]
                    default: break
                    }
                }
                e = .test(e, name, args, negated)
            } else if isOp("(") {
                let (a, k) = try parseCallArgs()
                e = .call(e, a, k)
            } else { break }
        }
        return e
    }
}
