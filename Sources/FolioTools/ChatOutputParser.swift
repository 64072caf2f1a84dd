import Foundation

/// An assistant message as the OpenAI API returns it: reasoning, content and tool calls.
public struct ParsedMessage: Sendable, Equatable {
    public var reasoning: String?
    public var content: String?
    public var toolCalls: [ToolCall]
    /// A tool parser found calls (finish_reason becomes `tool_calls`).
    public var toolsCalled: Bool
    public init(reasoning: String?, content: String?, toolCalls: [ToolCall], toolsCalled: Bool) {
        self.reasoning = reasoning
        self.content = content
        self.toolCalls = toolCalls
        self.toolsCalled = toolsCalled
    }
}

/// One streamed change: new reasoning text, new content text, and tool-call pieces (OpenAI's `delta`).
public struct MessageDelta: Sendable, Equatable {
    public struct ToolCallPiece: Sendable, Equatable {
        public var index: Int
        /// Sent with the call's first piece, with `name`.
        public var id: String?
        public var name: String?
        public var arguments: String?
    }
    public var reasoning: String?
    public var content: String?
    public var toolCalls: [ToolCallPiece] = []
    public var isEmpty: Bool { reasoning == nil && content == nil && toolCalls.isEmpty }
}

/// Splits a model's output into the message the API returns: the reasoning parser first, then the tool parser on
/// what is left (vLLM's order). The same object streams: `update` takes the whole text so far and returns what is
/// new, and `finish` sends what the non-streaming result holds beyond it, so the deltas add up to `parse`'s
/// message (see the README for the cases where a stream has already sent text the final parse drops).
public struct ChatOutputParser: Sendable {
    public let reasoning: (any ReasoningParser)?
    public let tools: (any ToolCallParser)?
    var sentReasoning = ""
    var sentContent = ""
    var sentCalls: [(id: String, arguments: String)] = []

    public init(reasoning: (any ReasoningParser)?, tools: (any ToolCallParser)?) {
        self.reasoning = reasoning
        self.tools = tools
    }

    /// vLLM's tool-call ids: `chatcmpl-tool-` and 32 hex digits.
    public static func makeCallID() -> String {
        "chatcmpl-tool-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// The whole output.
    public func parse(_ text: String) -> ParsedMessage {
        var reasoningText: String? = nil
        var content: String? = text
        if let r = reasoning { (reasoningText, content) = r.extract(text) }
        guard let t = tools else { return ParsedMessage(reasoning: reasoningText, content: content, toolCalls: [], toolsCalled: false) }
        let x = t.extract(content ?? "")
        var c = content == nil ? nil : x.content
        if x.toolsCalled, let s = c, s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { c = nil }
        return ParsedMessage(reasoning: reasoningText, content: c, toolCalls: x.calls, toolsCalled: x.toolsCalled)
    }

    /// What became certain since the last call, given the whole output so far.
    public mutating func update(_ text: String) -> MessageDelta {
        var reasoningText = "", content = text
        if let r = reasoning { (reasoningText, content) = r.partial(text) }
        var view = PartialToolCalls(content: content)
        if let t = tools { view = t.partial(content) }
        return delta(reasoning: reasoningText, content: view.content, calls: view.calls)
    }

    /// The rest, once the output is complete.
    public mutating func finish(_ text: String) -> MessageDelta {
        let m = parse(text)
        return delta(reasoning: m.reasoning ?? "", content: m.content ?? "",
                     calls: m.toolCalls.map { PartialToolCalls.Call(name: $0.name, arguments: $0.arguments) })
    }

    mutating func delta(reasoning r: String, content c: String, calls: [PartialToolCalls.Call]) -> MessageDelta {
        var d = MessageDelta()
        d.reasoning = Self.growth(from: &sentReasoning, to: r)
        // Whitespace alone is held back: with calls after it, vLLM's message has no content at all.
        if !c.unicodeScalars.allSatisfy(\.properties.isWhitespace) { d.content = Self.growth(from: &sentContent, to: c) }
        for (i, call) in calls.enumerated() {
            guard let name = call.name else { break }
            if i == sentCalls.count {
                // As OpenAI streams a call: id, type and name first (arguments ""), then argument fragments.
                let id = Self.makeCallID()
                sentCalls.append((id, ""))
                d.toolCalls.append(.init(index: i, id: id, name: name, arguments: ""))
            }
            guard i < sentCalls.count, let piece = Self.growth(from: &sentCalls[i].arguments, to: call.arguments) else { continue }
            d.toolCalls.append(.init(index: i, id: nil, name: nil, arguments: piece))
        }
        return d
    }

    /// The text `now` adds to `sent` (compared by Unicode scalars: a combining mark may still join the last
    /// character), recorded as sent; nil when nothing was added or `now` does not extend `sent`.
    static func growth(from sent: inout String, to now: String) -> String? {
        let a = sent.unicodeScalars, b = now.unicodeScalars
        guard b.count > a.count, b.starts(with: a) else { return nil }
        sent = now
        return String(String.UnicodeScalarView(b.dropFirst(a.count)))
    }
}
