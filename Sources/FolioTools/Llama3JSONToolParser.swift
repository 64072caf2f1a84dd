import Foundation

/// `llama3_json` / `llama4_json` (Llama 3.1-3.3, Llama 4 JSON): `{"name": ..., "parameters": {...}}` objects, after
/// an optional `<|python_tag|>`, several joined by `; `. As in vLLM, every `{` outside a call must start a call:
/// one that is not a call (or not JSON) makes the whole output content, and text around the calls is dropped.
public struct Llama3JSONToolParser: ToolCallParser {
    static let botToken = "<|python_tag|>"
    public init() {}

    static func call(_ obj: PyJSON) -> ToolCall? {
        guard obj.isObject, let name = obj["name"]?.stringValue, let args = obj["arguments"] ?? obj["parameters"] else { return nil }
        return ToolCall(name: name, arguments: args.dumps)
    }

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard text.contains(Self.botToken) || text.contains("{") else { return .text(text) }
        let s = Array(text.unicodeScalars)
        var calls: [ToolCall] = []
        var endIndex = -1
        for i in s.indices where s[i] == "{" {
            // vLLM skips braces up to and including the offset just past the previous call.
            if i <= endIndex { continue }
            guard let (obj, end) = PyJSON.rawDecode(s, from: i), let c = Self.call(obj) else { return .text(text) }
            endIndex = end
            calls.append(c)
        }
        return calls.isEmpty ? .text(text) : ExtractedToolCalls(calls: calls, content: nil)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        var s = Array(text.unicodeScalars)
        if text.hasPrefix(Self.botToken) { s.removeFirst(Self.botToken.unicodeScalars.count) } else if s.first != "{" {
            // Prose: sendable up to the first brace (or a python tag that may be arriving).
            let cut = s.firstIndex(of: "{") ?? s.count
            return PartialToolCalls(content: String(String.UnicodeScalarView(s[..<cut])).droppingPartial(Self.botToken))
        }
        var p = PartialToolCalls(content: "")
        var at = 0
        while at < s.count {
            let json = StableJSON(s, from: at)
            guard !json.invalid, let name = json.completeString("name") else { break }
            let args = json.member("arguments") ?? json.member("parameters")
            p.calls.append(.init(name: name, arguments: args?.text ?? ""))
            guard json.complete else { break }
            at = json.end
            while at < s.count, s[at] == ";" || s[at] == " " || s[at] == "\n" { at += 1 }
        }
        return p
    }
}
