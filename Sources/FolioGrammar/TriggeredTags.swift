import FolioWeights

/// Free text in which a trigger starts a tagged section (xgrammar's `TriggeredTagsFormat`, what vLLM uses to hold a
/// tool call written in a model's own format): the text may not contain `trigger` except as the start of one of the
/// `tags`, each `begin` + a JSON value matching `schema` + `end`; then free text again. With `stopAfterFirst` the
/// output ends after the first tag.
///
/// ```swift
/// let t = TriggeredTags(trigger: "<tool_call>", tags: [.init(begin: "<tool_call>\n{\"name\": \"f\", \"arguments\": ",
///                        schema: .object([("type", .string("object"))]), end: "}\n</tool_call>")])
/// ```
public struct TriggeredTags: Sendable {
    public struct Tag: Sendable {
        public var begin: String
        public var schema: JSONValue
        public var end: String
        public init(begin: String, schema: JSONValue, end: String) {
            self.begin = begin
            self.schema = schema
            self.end = end
        }
    }
    public var trigger: String
    public var tags: [Tag]
    public var stopAfterFirst: Bool

    public init(trigger: String, tags: [Tag], stopAfterFirst: Bool = false) {
        self.trigger = trigger
        self.tags = tags
        self.stopAfterFirst = stopAfterFirst
    }

    var cacheKey: String {
        JSONValue.object([("trigger", .string(trigger)), ("stop_after_first", .bool(stopAfterFirst)),
                          ("tags", .array(tags.map { .object([("begin", .string($0.begin)), ("schema", $0.schema), ("end", .string($0.end))]) }))]).jsonString
    }

    func grammar() throws -> Grammar {
        let t = Array(trigger.unicodeScalars).map(\.value)
        guard !t.isEmpty, !tags.isEmpty else { throw GrammarError("triggered tags need a trigger and at least one tag") }
        for tag in tags where !tag.begin.hasPrefix(trigger) { throw GrammarError("tag begin \(tag.begin) does not start with its trigger \(trigger)") }
        var b = GrammarBuilder()
        // text_j: free text after j characters of the trigger have matched (KMP states); reaching all of them starts a tag.
        let text = t.indices.map { _ in b.reserve("text") }
        let section = b.reserve("tag")
        func next(_ j: Int, _ c: UInt32) -> Int {
            var k = j
            while true {
                if t[k] == c { return k + 1 }
                if k == 0 { return 0 }
                // The longest proper border of t[0..<k] (small tags: computed directly).
                var border = k - 1
                while border > 0, Array(t[(k - border)..<k]) != Array(t[0..<border]) { border -= 1 }
                k = border
            }
        }
        let alphabet = Array(Set(t)).sorted()
        for j in t.indices {
            var alts: [GrammarExpr] = [.empty]
            let others = CharSet.complement(alphabet.map { $0...$0 })
            if !others.isEmpty { alts.append(.seq([.chars(others), .ref(text[0])])) }
            for c in alphabet {
                let n = next(j, c)
                let ch = GrammarExpr.chars([c...c])
                alts.append(n == t.count ? .seq([ch, .ref(section)]) : .seq([ch, .ref(text[n])]))
            }
            b.define(text[j], .alt(alts))
        }
        var bodies: [GrammarExpr] = []
        for tag in tags {
            let json = b.embed(try JSONSchema.grammar(tag.schema))
            bodies.append(.seq([.text(String(tag.begin.dropFirst(trigger.count))), .ref(json), .text(tag.end)]))
        }
        b.define(section, .seq([.alt(bodies), stopAfterFirst ? .empty : .ref(text[0])]))
        return b.build(root: text[0])
    }
}

extension GrammarBuilder {
    /// Adds every rule of `g` (renamed where names clash); returns the id of its root.
    public mutating func embed(_ g: Grammar) -> Int {
        let base = rules.count
        for r in g.rules { _ = reserve(r.name) }
        func shift(_ e: GrammarExpr) -> GrammarExpr {
            switch e {
            case .ref(let i): return .ref(i + base)
            case .seq(let a): return .seq(a.map(shift))
            case .alt(let a): return .alt(a.map(shift))
            case .rep(let x, let lo, let hi): return .rep(shift(x), min: lo, max: hi)
            default: return e
            }
        }
        for (i, r) in g.rules.enumerated() {
            rules[base + i].body = shift(r.body)
            rules[base + i].lookahead = r.lookahead.map(shift)
        }
        return g.root + base
    }
}
