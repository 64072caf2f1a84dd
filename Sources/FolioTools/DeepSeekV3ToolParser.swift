import Foundation

/// `deepseek_v3` (DeepSeek-V3, R1-0528): calls between `<｜tool▁calls▁begin｜>` and `<｜tool▁calls▁end｜>`, each
/// `<｜tool▁call▁begin｜>TYPE<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>` on one line of arguments,
/// which are passed through as written. As in vLLM, once the opening marker appears the output counts as a tool
/// call even when no call in it is complete.
public struct DeepSeekV3ToolParser: ToolCallParser {
    static let callsBegin = "<｜tool▁calls▁begin｜>", callBegin = "<｜tool▁call▁begin｜>", sep = "<｜tool▁sep｜>"
    static let argsOpen = "\n```json\n", callEnd = "\n```<｜tool▁call▁end｜>"
    // vLLM's pattern, without DOTALL: every part stays on one line.
    nonisolated(unsafe) static let pattern = try! NSRegularExpression(
        pattern: "<｜tool▁call▁begin｜>(.*)<｜tool▁sep｜>(.*)\\n```json\\n(.*)\\n```<｜tool▁call▁end｜>")
    public init() {}

    public func extract(_ text: String) -> ExtractedToolCalls {
        guard let begin = text.range(of: Self.callsBegin) else { return .text(text) }
        let ns = text as NSString
        var calls: [ToolCall] = []
        for m in Self.pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            calls.append(ToolCall(name: ns.substring(with: m.range(at: 2)), arguments: ns.substring(with: m.range(at: 3)),
                                  type: ns.substring(with: m.range(at: 1))))
        }
        let content = String(text[..<begin.lowerBound])
        return ExtractedToolCalls(calls: calls, content: content.isEmpty ? nil : content, toolsCalled: true)
    }

    public func partial(_ text: String) -> PartialToolCalls {
        guard let begin = text.range(of: Self.callsBegin) else { return PartialToolCalls(content: text.droppingPartial(Self.callsBegin)) }
        var p = PartialToolCalls(content: String(text[..<begin.lowerBound]))
        var rest = text[begin.upperBound...]
        while let cb = rest.range(of: Self.callBegin) {
            rest = rest[cb.upperBound...]
            guard let s = rest.range(of: Self.sep), !rest[..<s.lowerBound].contains("\n"),
                  let open = rest.range(of: Self.argsOpen, range: s.upperBound..<rest.endIndex),
                  !rest[s.upperBound..<open.lowerBound].contains("\n") else { break }
            let name = String(rest[s.upperBound..<open.lowerBound])
            let body = rest[open.upperBound...]
            if let close = body.range(of: Self.callEnd), !body[..<close.lowerBound].contains("\n") {
                p.calls.append(.init(name: name, arguments: String(body[..<close.lowerBound])))
                rest = body[close.upperBound...]
                continue
            }
            // Arguments lie on one line: what has arrived of it is certain.
            p.calls.append(.init(name: name, arguments: String(body.prefix(while: { $0 != "\n" }))))
            break
        }
        return p
    }
}
