import FolioWeights
import Foundation

/// `mistral`: `[TOOL_CALLS]name[ARGS]{...}` per call (tokenizers v11 and later, what vLLM's parser reads), and the
/// older `[TOOL_CALLS][{"name": ..., "arguments": {...}}]` list. Arguments keep the model's text unless the tool's
/// schema changes a value's type (as vLLM repairs them); text after a call's arguments is dropped, and content is
/// trimmed when there are calls.
///
/// Deliberate difference: vLLM 0.32 reads the older list form as one call named `[`; Folio reads its calls.
public struct MistralToolParser: ToolCallParser {
    static let marker = "[TOOL_CALLS]", args = "[ARGS]"
    let tools: ToolSchemas
    public init(tools: ToolSchemas = .none) { self.tools = tools }

    /// Calls after the first marker; `complete` is false when the last one may still grow.
    func calls(_ text: String, final: Bool) -> [PartialToolCalls.Call] {
        guard let first = text.range(of: Self.marker) else { return [] }
        let rest = String(text[first.upperBound...])
        let s = Array(rest.unicodeScalars)
        var k = 0
        while k < s.count, s[k].properties.isWhitespace { k += 1 }
        if k < s.count, s[k] == "[" { return listCalls(s, from: k, final: final) }
        var out: [PartialToolCalls.Call] = []
        let segments = rest.components(separatedBy: Self.marker)
        for (i, seg) in segments.enumerated() {
            let last = i == segments.count - 1
            let parts = seg.components(separatedBy: Self.args)
            if parts.count == 1 {
                // A name still arriving, or a call without arguments.
                let name = seg.trimmingCharacters(in: .whitespacesAndNewlines)
                if last && !final { break }
                if !name.isEmpty { out.append(.init(name: name, arguments: "{}")) }
                continue
            }
            let name = parts[0].trimmingCharacters(in: .whitespacesAndNewlines)
            let body = parts[1...].joined(separator: Self.args)
            let b = Array(body.unicodeScalars)
            var j = 0
            while j < b.count, b[j].properties.isWhitespace { j += 1 }
            var arguments: String
            var done = true
            if let (_, end) = PyJSON.rawDecode(b, from: j) {
                arguments = String(String.UnicodeScalarView(b[j..<end]))
            } else {
                arguments = body.trimmingCharacters(in: .whitespacesAndNewlines)
                done = !last || final
            }
            if arguments.isEmpty { arguments = "{}" }
            guard !name.isEmpty else { continue }
            out.append(.init(name: name, arguments: done ? SchemaCoercion.fix(arguments, parameters: tools.parameters[name]) : ""))
            if !done { break }
        }
        return out
    }

    /// The older form: a JSON list of `{"name", "arguments"}` objects.
    func listCalls(_ s: [Unicode.Scalar], from start: Int, final: Bool) -> [PartialToolCalls.Call] {
        if final {
            guard let (v, _) = PyJSON.rawDecode(s, from: start), case .array(let items) = v else { return [] }
            var out: [PartialToolCalls.Call] = []
            for item in items {
                guard let name = item["name"]?.stringValue, let a = item["arguments"] ?? item["parameters"] else { return [] }
                out.append(.init(name: name, arguments: a.dumps))
            }
            return out
        }
        return PartialToolCalls.jsonList(s, from: start, argumentKeys: ["arguments", "parameters"])
    }

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard let first = text.range(of: Self.marker) else { return text.isEmpty ? ExtractedToolCalls(calls: [], content: nil, toolsCalled: false) : .text(text) }
        let found = calls(text, final: true)
        let before = String(text[..<first.lowerBound])
        if found.isEmpty { return ExtractedToolCalls(calls: [], content: before.isEmpty ? nil : before, toolsCalled: false) }
        let content = before.trimmingCharacters(in: .whitespacesAndNewlines)
        return ExtractedToolCalls(calls: found.map { ToolCall(name: $0.name ?? "", arguments: $0.arguments) },
                                  content: content.isEmpty ? nil : content)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        guard let first = text.range(of: Self.marker) else {
            // Content may lose trailing whitespace if a call follows: hold it back.
            return PartialToolCalls(content: trimmedEnd(text.droppingPartial(Self.marker)))
        }
        return PartialToolCalls(content: String(text[..<first.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines),
                                calls: calls(text, final: false))
    }
}

/// `s` without trailing whitespace (what may still be trimmed away).
func trimmedEnd(_ s: String) -> String {
    var u = s.unicodeScalars[...]
    while let l = u.last, l.properties.isWhitespace { u = u.dropLast() }
    return String(String.UnicodeScalarView(u))
}
