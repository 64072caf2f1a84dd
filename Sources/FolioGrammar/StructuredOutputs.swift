import FolioWeights
import Foundation

/// What a request's output must match: vLLM's `structured_outputs` (`json`, `regex`, `choice`, `grammar`) and the
/// OpenAI `response_format` (`json_schema`, `json_object`).
///
/// ```swift
/// var p = SamplingParams.greedy
/// p.structuredOutputs = .choice(["yes", "no"])
/// ```
public enum StructuredOutputs: Sendable, Hashable {
    case json(JSONValue)
    case jsonObject
    case regex(String)
    case choice([String])
    case grammar(String)
    /// Free text with triggered tagged sections (tool calls in a model's format, for `"strict": true` tools).
    case triggeredTags(TriggeredTags)

    public func hash(into h: inout Hasher) { h.combine(cacheKey) }
    public static func == (a: Self, b: Self) -> Bool { a.cacheKey == b.cacheKey }

    /// The text a compiled grammar is cached under.
    public var cacheKey: String {
        switch self {
        case .json(let s): return "json:" + s.jsonString
        case .jsonObject: return "json_object"
        case .regex(let r): return "regex:" + r
        case .choice(let c): return "choice:" + JSONValue.array(c.map { .string($0) }).jsonString
        case .grammar(let g): return "grammar:" + g
        case .triggeredTags(let t): return "tags:" + t.cacheKey
        }
    }

    /// The grammar this spec describes; errors say what is wrong with the schema, regex or grammar.
    public func grammar() throws -> Grammar {
        switch self {
        case .json(let s): return try JSONSchema.grammar(s)
        case .jsonObject: return try JSONSchema.grammar(.object([("type", .string("object"))]))
        case .regex(let r): return try Regex.grammar(r)
        case .grammar(let g): return try EBNF.parse(g)
        case .triggeredTags(let t): return try t.grammar()
        case .choice(let c):
            guard !c.isEmpty else { throw GrammarError("choice must not be empty") }
            var b = GrammarBuilder()
            let root = b.add("root", .alt(c.map { .text($0) }))
            return b.build(root: root)
        }
    }
}

/// Compiled grammars by spec for one vocabulary, least recently used dropped first. A compiled grammar keeps its
/// token-mask cache, so repeated schemas (the usual case: one app, one schema) skip both compile and cache warm-up.
public final class GrammarCache: @unchecked Sendable {
    public let vocabulary: TokenVocabulary
    let capacity: Int
    let lock = NSLock()
    var entries: [String: CompiledGrammar] = [:]
    var order: [String] = []

    public init(vocabulary: TokenVocabulary, capacity: Int = 64) {
        self.vocabulary = vocabulary
        self.capacity = capacity
    }

    public func compiled(_ spec: StructuredOutputs) throws -> CompiledGrammar {
        let key = spec.cacheKey
        lock.lock()
        if let c = entries[key] {
            order.removeAll { $0 == key }
            order.append(key)
            lock.unlock()
            return c
        }
        lock.unlock()
        let c = try CompiledGrammar(spec.grammar(), vocabulary: vocabulary)
        lock.lock(); defer { lock.unlock() }
        entries[key] = c
        order.append(key)
        while order.count > capacity { entries[order.removeFirst()] = nil }
        return c
    }
}
