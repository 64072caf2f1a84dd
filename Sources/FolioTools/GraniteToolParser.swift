import Foundation

/// `granite` (Granite 3.0 `<|tool_call|>`, 3.1 `<tool_call>`): a JSON list of `{"name", "arguments"}` objects after
/// the marker. As vLLM does, arguments keep the model's text unless the schema retypes a value, text after the
/// list is dropped, and content is trimmed when there are calls.
public struct GraniteToolParser: ToolCallParser {
    static let markers = ["<|tool_call|>", "<tool_call>"]
    let tools: ToolSchemas
    public init(tools: ToolSchemas = .none) { self.tools = tools }

    static func marker(_ text: String) -> Range<String.Index>? {
        markers.compactMap { text.range(of: $0) }.min { $0.lowerBound < $1.lowerBound }
    }

    /// The list's complete calls.
    func calls(_ s: [Unicode.Scalar], from start: Int) -> [PartialToolCalls.Call] {
        var at = start
        while at < s.count, s[at].properties.isWhitespace { at += 1 }
        guard at < s.count, s[at] == "[" else { return [] }
        at += 1
        var out: [PartialToolCalls.Call] = []
        while at < s.count {
            while at < s.count, s[at] == "," || s[at].properties.isWhitespace { at += 1 }
            guard at < s.count, s[at] == "{", let (obj, end) = PyJSON.rawDecode(s, from: at) else { break }
            let name = obj["name"]?.stringValue ?? ""
            var args = "{}"
            // The `arguments` member's own text, as the model wrote it.
            if obj["arguments"] != nil, let span = Self.memberText(s, from: at, key: "arguments") { args = span }
            if !name.isEmpty { out.append(.init(name: name, arguments: SchemaCoercion.fix(args, parameters: tools.parameters[name]))) }
            at = end
        }
        return out
    }

    /// The source text of top-level member `key` of the object starting at `start`.
    static func memberText(_ s: [Unicode.Scalar], from start: Int, key: String) -> String? {
        var r = JSONScanner(scalars: s, at: start + 1)
        while true {
            r.skipWS()
            guard !r.atEnd, r.s[r.i] == "\"", let k = try? r.string() else { return nil }
            r.skipWS()
            guard !r.atEnd, r.s[r.i] == ":" else { return nil }
            r.i += 1
            r.skipWS()
            let vs = r.i
            guard (try? r.value(depth: 1)) != nil else { return nil }
            if k == key { return String(String.UnicodeScalarView(s[vs..<r.i])) }
            r.skipWS()
            guard !r.atEnd, r.s[r.i] == "," else { return nil }
            r.i += 1
        }
    }

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard let m = Self.marker(text) else { return text.isEmpty ? ExtractedToolCalls(calls: [], content: nil, toolsCalled: false) : .text(text) }
        let found = calls(Array(text[m.upperBound...].unicodeScalars), from: 0)
        let before = String(text[..<m.lowerBound])
        if found.isEmpty { return ExtractedToolCalls(calls: [], content: before.isEmpty ? nil : before, toolsCalled: false) }
        let content = before.trimmingCharacters(in: .whitespacesAndNewlines)
        return ExtractedToolCalls(calls: found.map { ToolCall(name: $0.name ?? "", arguments: $0.arguments) }, content: content.isEmpty ? nil : content)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        guard let m = Self.marker(text) else {
            var t = text
            for k in Self.markers { t = t.droppingPartial(k) }
            return PartialToolCalls(content: trimmedEnd(t))
        }
        return PartialToolCalls(content: String(text[..<m.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines),
                                calls: calls(Array(text[m.upperBound...].unicodeScalars), from: 0))
    }
}

/// `phi4_mini_json` (Phi-4-mini): `functools[{"name": ..., "arguments": {...}}, ...]`. vLLM cuts the list at the
/// first `]` and reads it as JSON; when that fails it reports a tool call with no calls and no content.
public struct Phi4MiniToolParser: ToolCallParser {
    static let marker = "functools["
    public init() {}

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard let m = text.range(of: Self.marker), let close = text.range(of: "]", range: m.upperBound..<text.endIndex) else {
            return .text(text)
        }
        guard case .array(let items)? = PyJSON.loads("[" + text[m.upperBound..<close.lowerBound] + "]") else {
            return ExtractedToolCalls(calls: [], content: nil, toolsCalled: true)
        }
        var calls: [ToolCall] = []
        for item in items {
            guard item.isObject, let name = item["name"]?.stringValue, let a = item["arguments"] ?? item["parameters"] else { return .text(text) }
            calls.append(ToolCall(name: name, arguments: a.dumps))
        }
        return ExtractedToolCalls(calls: calls, content: nil, toolsCalled: true)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        // vLLM streams nothing of these calls; Folio sends them when the output ends.
        guard text.range(of: "functools") == nil else { return PartialToolCalls(content: "") }
        return PartialToolCalls(content: text.droppingPartial("functools"))
    }
}
