import FolioWeights

/// One function call the model made.
public struct ToolCall: Sendable, Equatable {
    public var name: String
    /// JSON text of the arguments, exactly as vLLM's parser of the same name writes it.
    public var arguments: String
    /// OpenAI's `type` (vLLM's deepseek_v3 passes the model's word through).
    public var type: String
    public init(name: String, arguments: String, type: String = "function") {
        self.name = name
        self.arguments = arguments
        self.type = type
    }
}

/// What a tool parser found in a model's whole output (vLLM's `ExtractedToolCallInformation`).
public struct ExtractedToolCalls: Sendable, Equatable {
    public var calls: [ToolCall]
    /// Text for `message.content`; nil when there is none.
    public var content: String?
    public var toolsCalled: Bool
    public init(calls: [ToolCall], content: String?, toolsCalled: Bool? = nil) {
        self.calls = calls
        self.content = content
        self.toolsCalled = toolsCalled ?? !calls.isEmpty
    }
    /// No call: the whole text is content.
    public static func text(_ s: String) -> ExtractedToolCalls { ExtractedToolCalls(calls: [], content: s, toolsCalled: false) }
}

/// What is certain of an output that is still being generated: content that can be sent, and the calls begun so
/// far. Every field only grows as text arrives (a stream sends the difference).
public struct PartialToolCalls: Sendable, Equatable {
    /// The calls of a JSON list of `{"name": ..., KEY: {...}}` objects still arriving, from its `[` at `start`: each
    /// call with a complete name and the certain text of its first `argumentKeys` member, up to the first call that
    /// is not complete.
    static func jsonList(_ s: [Unicode.Scalar], from start: Int, argumentKeys: [String]) -> [Call] {
        var out: [Call] = []
        var at = start + 1
        while at < s.count {
            while at < s.count, s[at] == "," || s[at].properties.isWhitespace { at += 1 }
            guard at < s.count, s[at] == "{" else { break }
            let json = StableJSON(s, from: at)
            guard !json.invalid, let name = json.completeString("name") else { break }
            out.append(.init(name: name, arguments: argumentKeys.lazy.compactMap { json.member($0) }.first?.text ?? ""))
            guard json.complete else { break }
            at = json.end
        }
        return out
    }

    public struct Call: Sendable, Equatable {
        /// Known once complete (names are sent whole).
        public var name: String?
        /// A prefix of the final `arguments` text.
        public var arguments: String
        public init(name: String?, arguments: String) { self.name = name; self.arguments = arguments }
    }
    public var content: String
    public var calls: [Call]
    public init(content: String, calls: [Call] = []) { self.content = content; self.calls = calls }
}

/// A model family's tool-call format, under vLLM's `--tool-call-parser` name.
public protocol ToolCallParser: Sendable {
    /// The whole output, as vLLM's `extract_tool_calls` reads it.
    func extract(_ text: String) -> ExtractedToolCalls
    /// An output cut anywhere: what a stream may send now (see `ToolCallStream`).
    func partial(_ text: String) -> PartialToolCalls
}

/// The tools a request offered, for parsers that read argument types from the schemas (as vLLM's do).
public struct ToolSchemas: Sendable {
    /// Name -> `parameters` schema.
    public var parameters: [String: JSONValue]
    public init(_ tools: JSONValue?) {
        var p: [String: JSONValue] = [:]
        for t in tools?.arrayValue ?? [] {
            if let f = t["function"], let n = f["name"]?.stringValue { p[n] = f["parameters"] ?? .null }
        }
        parameters = p
    }
    public static let none = ToolSchemas(nil)
}

public enum ToolParsers {
    /// `--tool-call-parser` names, as vLLM spells them.
    public static let names = ["deepseek_v3", "granite", "hermes", "llama3_json", "llama4_json", "mistral", "phi4_mini_json",
                               "pythonic", "qwen3_coder", "qwen3_json", "qwen3_xml"]

    /// The parser called `name` for a request offering `tools`; nil for an unknown name.
    public static func make(_ name: String, tools: ToolSchemas = .none) -> (any ToolCallParser)? {
        switch name {
        case "hermes", "qwen3_json": return HermesToolParser()
        case "llama3_json", "llama4_json": return Llama3JSONToolParser()
        case "mistral": return MistralToolParser(tools: tools)
        case "pythonic": return PythonicToolParser()
        case "qwen3_xml", "qwen3_coder": return Qwen3XMLToolParser(tools: tools)
        case "deepseek_v3": return DeepSeekV3ToolParser()
        case "granite": return GraniteToolParser(tools: tools)
        case "phi4_mini_json": return Phi4MiniToolParser()
        default: return nil
        }
    }
}

extension String {
    /// Length of the longest suffix of `self` that is a proper prefix of `tag` (a tag that may be arriving).
    func partialOverlap(with tag: String) -> Int {
        // Only the last tag-length scalars matter (streams call this on the whole output at every token).
        let t = Array(tag.unicodeScalars), s = Array(unicodeScalars.suffix(max(t.count - 1, 0)))
        var n = min(t.count - 1, s.count)
        while n > 0 {
            if Array(s[(s.count - n)...]) == Array(t[..<n]) { return n }
            n -= 1
        }
        return 0
    }

    /// `self` without a trailing partial `tag`.
    func droppingPartial(_ tag: String) -> String { dropLastScalars(partialOverlap(with: tag)) }

    func dropLastScalars(_ n: Int) -> String { n == 0 ? self : String(String.UnicodeScalarView(unicodeScalars.dropLast(n))) }
    func lastScalars(_ n: Int) -> String { String(String.UnicodeScalarView(unicodeScalars.suffix(n))) }
}
