import Foundation

/// `hermes` (Hermes 2 Pro, Qwen2.5, Qwen3): `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, any number
/// of them; text before the first call is content, text after the calls is dropped. A call without `arguments`, or
/// any call that is not JSON, makes the whole output content (as vLLM does).
public struct HermesToolParser: ToolCallParser {
    static let start = "<tool_call>", end = "</tool_call>"
    public init() {}

    /// The body of each `<tool_call>` region (the last may be unterminated) and whether it was closed.
    static func regions(_ text: String) -> [(body: Substring, closed: Bool)] {
        var out: [(Substring, Bool)] = []
        var pos = text.startIndex
        while let s = text.range(of: start, range: pos..<text.endIndex) {
            if let e = text.range(of: end, range: s.upperBound..<text.endIndex) {
                out.append((text[s.upperBound..<e.lowerBound], true))
                pos = e.upperBound
            } else {
                out.append((text[s.upperBound...], false))
                break
            }
        }
        return out
    }

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard let first = text.range(of: Self.start) else { return .text(text) }
        var calls: [ToolCall] = []
        for (body, _) in Self.regions(text) {
            guard let obj = PyJSON.loads(String(body)), obj.isObject, let name = obj["name"]?.stringValue,
                  let args = obj["arguments"] else { return .text(text) }
            calls.append(ToolCall(name: name, arguments: args.dumps))
        }
        let content = String(text[..<first.lowerBound])
        return ExtractedToolCalls(calls: calls, content: content.isEmpty ? nil : content, toolsCalled: true)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        guard let first = text.range(of: Self.start) else { return PartialToolCalls(content: text.droppingPartial(Self.start)) }
        var p = PartialToolCalls(content: String(text[..<first.lowerBound]))
        for (body, closed) in Self.regions(text) {
            let json = StableJSON(closed ? String(body) : String(body).droppingPartial(Self.end))
            guard !json.invalid, let name = json.completeString("name") else { break }
            p.calls.append(.init(name: name, arguments: json.member("arguments")?.text ?? ""))
        }
        return p
    }
}
