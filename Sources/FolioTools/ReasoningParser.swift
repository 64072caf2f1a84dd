import Foundation

/// A reasoning model's split of its output into thinking and answer, under vLLM's `--reasoning-parser` name.
public protocol ReasoningParser: Sendable {
    /// The whole output, as vLLM's `extract_reasoning` splits it.
    func extract(_ text: String) -> (reasoning: String?, content: String?)
    /// An output cut anywhere: the reasoning and content that are certain (each only grows as text arrives).
    func partial(_ text: String) -> (reasoning: String, content: String)
    /// Text that ends the reasoning: structured outputs constrain only what follows it. Nil when reasoning is off.
    var endTag: String? { get }
}

public enum ReasoningParsers {
    public static let names = ["deepseek_r1", "granite", "qwen3"]

    /// The parser called `name`; `enableThinking` is the request's `chat_template_kwargs.enable_thinking`.
    public static func make(_ name: String, enableThinking: Bool = true) -> (any ReasoningParser)? {
        switch name {
        case "deepseek_r1": return ThinkTagReasoningParser()
        case "qwen3": return Qwen3ReasoningParser(thinking: enableThinking)
        case "granite": return GraniteReasoningParser()
        default: return nil
        }
    }
}

/// `deepseek_r1` (DeepSeek-R1 and its distills): reasoning up to `</think>`; the `<think>` before it is optional
/// (templates often open it in the prompt), and text before `<think>` is dropped. Without `</think>` the whole
/// output is reasoning.
public struct ThinkTagReasoningParser: ReasoningParser {
    static let start = "<think>", end = "</think>"
    public init() {}
    public var endTag: String? { Self.end }

    static func afterStart(_ text: String) -> Substring {
        if let r = text.range(of: start) { return text[r.upperBound...] }
        return text[...]
    }

    public func extract(_ text: String) -> (reasoning: String?, content: String?) {
        let t = Self.afterStart(text)
        guard let e = t.range(of: Self.end) else { return (String(t), nil) }
        let content = String(t[e.upperBound...])
        return (String(t[..<e.lowerBound]), content.isEmpty ? nil : content)
    }

    public func partial(_ text: String) -> (reasoning: String, content: String) {
        let t = Self.afterStart(text.range(of: Self.start) == nil ? text.droppingPartial(Self.start) : text)
        guard let e = t.range(of: Self.end) else { return (String(t).droppingPartial(Self.end), "") }
        return (String(t[..<e.lowerBound]), String(t[e.upperBound...]))
    }
}

/// `qwen3` (Qwen3, QwQ): vLLM's state machine. The output starts in reasoning (the template opens `<think>`);
/// `</think>` or a `<tool_call>` ends it (the call stays in content for the tool parser). A `<think>` inside
/// reasoning and a repeated `</think>` in content are dropped. With `enable_thinking: false` everything is content.
public struct Qwen3ReasoningParser: ReasoningParser {
    let thinking: Bool
    public init(thinking: Bool = true) { self.thinking = thinking }
    public var endTag: String? { thinking ? "</think>" : nil }

    /// Reasoning, content, a tail that may be the start of a tag, and whether that tail is in reasoning.
    func scan(_ text: String) -> (reasoning: String, content: String, pending: String, inReasoning: Bool) {
        var reasoning = "", content = ""
        var inReasoning = true
        var rest = Substring(text)
        while !rest.isEmpty {
            if inReasoning {
                let tags = ["<think>", "</think>", "<tool_call>"]
                let hit = tags.compactMap { t in rest.range(of: t).map { ($0, t) } }.min { $0.0.lowerBound < $1.0.lowerBound }
                guard let (r, tag) = hit else {
                    let s = String(rest)
                    let n = tags.map { s.partialOverlap(with: $0) }.max() ?? 0
                    reasoning += s.dropLastScalars(n)
                    return (reasoning, content, s.lastScalars(n), true)
                }
                reasoning += rest[..<r.lowerBound]
                rest = rest[r.upperBound...]
                if tag == "</think>" { inReasoning = false }
                if tag == "<tool_call>" { inReasoning = false; content += "<tool_call>" }
            } else {
                guard let r = rest.range(of: "</think>") else {
                    let s = String(rest)
                    let n = s.partialOverlap(with: "</think>")
                    content += s.dropLastScalars(n)
                    return (reasoning, content, s.lastScalars(n), false)
                }
                content += rest[..<r.lowerBound]
                rest = rest[r.upperBound...]
            }
        }
        return (reasoning, content, "", inReasoning)
    }

    public func extract(_ text: String) -> (reasoning: String?, content: String?) {
        guard thinking else { return (nil, text) }
        var (r, c, pending, inReasoning) = scan(text)
        if inReasoning { r += pending } else { c += pending }
        return (r.isEmpty ? nil : r, c.isEmpty ? nil : c)
    }

    public func partial(_ text: String) -> (reasoning: String, content: String) {
        guard thinking else { return ("", text) }
        let (r, c, _, _) = scan(text)
        return (r, c)
    }
}

/// `granite` (Granite 3.2/3.3): "Here is my thought process:" ... "Here is my response:" ... (or "Here's").
/// Output without both phrases, in that order, is all content.
public struct GraniteReasoningParser: ReasoningParser {
    static let starts = ["Here's my thought process:", "Here is my thought process:"]
    static let responses = ["Here's my response:", "Here is my response:"]
    public init() {}
    public var endTag: String? { "my response:" }

    static func first(_ tags: [String], in s: Substring) -> Range<Substring.Index>? {
        tags.compactMap { s.range(of: $0) }.min { $0.lowerBound < $1.lowerBound }
    }

    public func extract(_ text: String) -> (reasoning: String?, content: String?) {
        // vLLM's regex: the first thought-process phrase, the first response phrase after it, the rest.
        let all = text[...]
        guard let s = Self.first(Self.starts, in: all), let r = Self.first(Self.responses, in: all[s.upperBound...]) else {
            return (nil, text)
        }
        let content = String(all[r.upperBound...])
        return (String(all[s.upperBound..<r.lowerBound]), content.isEmpty ? nil : content)
    }

    public func partial(_ text: String) -> (reasoning: String, content: String) {
        let all = text[...]
        guard let s = Self.first(Self.starts, in: all) else {
            var t = text
            for p in Self.starts { let n = t.partialOverlap(with: p); if n > 0 { t = t.dropLastScalars(n); break } }
            return ("", t)
        }
        let after = all[s.upperBound...]
        guard let r = Self.first(Self.responses, in: after) else {
            var t = String(after)
            t = t.droppingPartial(Self.responses[0]).droppingPartial(Self.responses[1])
            return (t, "")
        }
        return (String(after[..<r.lowerBound]), String(all[r.upperBound...]))
    }
}
