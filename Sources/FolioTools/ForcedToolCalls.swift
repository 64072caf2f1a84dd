import Foundation

/// `tool_choice: "required"`: the output is held by a grammar to vLLM's JSON list
/// `[{"name": ..., "parameters": {...}}, ...]`; the calls are read from it as vLLM reads them (arguments are
/// `json.dumps` of `parameters`; output that is not such a list has no calls and no content).
public struct RequiredToolCalls: ToolCallParser {
    public init() {}

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard case .array(let items)? = PyJSON.loads(text) else { return ExtractedToolCalls(calls: [], content: nil, toolsCalled: false) }
        var calls: [ToolCall] = []
        for item in items {
            guard item.isObject, let name = item["name"]?.stringValue else { return ExtractedToolCalls(calls: [], content: nil, toolsCalled: false) }
            let params = item["parameters"] ?? .null
            if case .object = params {} else if params != .null { return ExtractedToolCalls(calls: [], content: nil, toolsCalled: false) }
            calls.append(ToolCall(name: name, arguments: params.dumps))
        }
        return ExtractedToolCalls(calls: calls, content: nil)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        let s = Array(text.unicodeScalars)
        guard let at = s.firstIndex(where: { !$0.properties.isWhitespace }), s[at] == "[" else { return PartialToolCalls(content: "") }
        return PartialToolCalls(content: "", calls: PartialToolCalls.jsonList(s, from: at, argumentKeys: ["parameters"]))
    }
}

/// A named `tool_choice`: the output is the arguments object itself (held by the tool's schema), passed through
/// as written, as vLLM does. Empty output has no call.
public struct NamedToolCall: ToolCallParser {
    let name: String
    public init(name: String) { self.name = name }

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return ExtractedToolCalls(calls: [], content: nil, toolsCalled: false) }
        return ExtractedToolCalls(calls: [ToolCall(name: name, arguments: text)], content: nil)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        let started = !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        return PartialToolCalls(content: "", calls: started ? [.init(name: name, arguments: text)] : [])
    }
}
