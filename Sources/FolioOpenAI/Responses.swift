import FolioEngine
import FolioTools
import FolioWeights
import Foundation

/// Builds OpenAI response bodies and stream chunks from engine outputs, field for field as vLLM writes them.
public struct ResponseBuilder: Sendable {
    public let id: String
    public let model: String
    public let created: Int
    public let endpoint: Endpoint
    public let logprobs: Int?
    /// Chat: splits each output into reasoning, content and tool calls (nil: all of it is content).
    public var chatParser: ChatOutputParser? = nil
    public var toolChoice: ToolChoice = .none

    public init(endpoint: Endpoint, model: String, logprobs: Int?) {
        self.endpoint = endpoint
        self.model = model
        self.logprobs = logprobs
        id = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        created = Int(Date().timeIntervalSince1970)
    }

    var object: String { endpoint == .chat ? "chat.completion" : "text_completion" }
    var chunkObject: String { endpoint == .chat ? "chat.completion.chunk" : "text_completion" }

    public static func usage(prompt: Int, completion: Int) -> JSONValue {
        .object([("prompt_tokens", .int(prompt)), ("total_tokens", .int(prompt + completion)), ("completion_tokens", .int(completion)),
                 ("prompt_tokens_details", .null)])
    }

    func stopReason(_ c: CompletionOutput) -> JSONValue {
        guard let s = c.stopReason else { return .null }
        if c.tokenIds.last.map({ String($0) == s }) == true, let i = Int(s) { return .int(i) }
        return .string(s)
    }

    func logprobsJSON(_ lps: [PositionLogprobs], textOffset: Int) -> JSONValue {
        switch endpoint {
        case .chat:
            return .object([("content", .array(lps.map { p in
                .object([("token", .string(p.chosen.text)), ("logprob", .number(Double(max(p.chosen.logprob, -9999)))),
                         ("bytes", .array(Array(p.chosen.text.utf8).map { .int(Int($0)) })),
                         ("top_logprobs", .array(p.top.map { t in
                             .object([("token", .string(t.text)), ("logprob", .number(Double(max(t.logprob, -9999)))),
                                      ("bytes", .array(Array(t.text.utf8).map { .int(Int($0)) }))])
                         }))])
            }))])
        case .completions:
            var offsets: [JSONValue] = []
            var off = textOffset
            for p in lps { offsets.append(.int(off)); off += p.chosen.text.count }
            return .object([
                ("text_offset", .array(offsets)),
                ("token_logprobs", .array(lps.map { .number(Double(max($0.chosen.logprob, -9999))) })),
                ("tokens", .array(lps.map { .string($0.chosen.text) })),
                ("top_logprobs", .array(lps.map { p in .object(p.top.map { ($0.text, .number(Double(max($0.logprob, -9999)))) }) })),
            ])
        }
    }

    /// The whole (non-streaming) response for `outputs` (one per prompt; choices numbered prompt-major).
    public func response(_ outputs: [RequestOutput], echoTexts: [String?]) -> JSONValue {
        var choices: [JSONValue] = []
        var promptTokens = 0, completionTokens = 0
        for (pi, o) in outputs.enumerated() {
            promptTokens += o.promptTokenIds.count
            let n = o.outputs.count
            for c in o.outputs {
                completionTokens += c.tokenIds.count
                let lp: JSONValue = logprobs != nil ? logprobsJSON(c.logprobs ?? [], textOffset: 0) : .null
                switch endpoint {
                case .chat:
                    let m = chatParser?.parse(c.text) ?? ParsedMessage(reasoning: nil, content: c.text, toolCalls: [], toolsCalled: false)
                    var finish = c.finishReason?.rawValue ?? "stop"
                    // OpenAI's rule: "tool_calls" for auto and required calls, "stop" for a named one.
                    if (toolChoice == .auto && m.toolsCalled) || (toolChoice == .required && finish == "stop") { finish = "tool_calls" }
                    choices.append(.object([("index", .int(pi * n + c.index)), ("message", Self.message(m)),
                                            ("logprobs", lp), ("finish_reason", .string(finish)), ("stop_reason", stopReason(c))]))
                case .completions:
                    let text = (echoTexts[pi] ?? "") + c.text
                    choices.append(.object([("index", .int(pi * n + c.index)), ("text", .string(text)), ("logprobs", lp),
                                            ("finish_reason", .string(c.finishReason?.rawValue ?? "stop")), ("stop_reason", stopReason(c)),
                                            ("prompt_logprobs", .null)]))
                }
            }
        }
        return .object([("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
                        ("choices", .array(choices)), ("usage", Self.usage(prompt: promptTokens, completion: completionTokens))])
    }

    /// A whole assistant message as vLLM writes it (`tool_calls` only when there are calls), with the reasoning
    /// under both names clients read: `reasoning` (vLLM) and `reasoning_content` (DeepSeek's API, older vLLM).
    static func message(_ m: ParsedMessage) -> JSONValue {
        var kv: [(String, JSONValue)] = [("role", .string("assistant")), ("content", m.content.map { .string($0) } ?? .null),
                                          ("refusal", .null), ("annotations", .null), ("audio", .null), ("function_call", .null)]
        if !m.toolCalls.isEmpty {
            kv.append(("tool_calls", .array(m.toolCalls.map { c in
                .object([("id", .string(ChatOutputParser.makeCallID())), ("type", .string(c.type)),
                         ("function", .object([("name", .string(c.name)), ("arguments", .string(c.arguments))]))])
            })))
        }
        let r: JSONValue = m.reasoning.map { .string($0) } ?? .null
        kv.append(("reasoning", r))
        kv.append(("reasoning_content", r))
        return .object(kv)
    }

    /// A stream delta's fields (only those set, as vLLM's `exclude_unset`).
    public static func deltaFields(_ d: MessageDelta) -> [(String, JSONValue)] {
        var kv: [(String, JSONValue)] = []
        if let r = d.reasoning { kv.append(("reasoning", .string(r))); kv.append(("reasoning_content", .string(r))) }
        if let c = d.content { kv.append(("content", .string(c))) }
        if !d.toolCalls.isEmpty {
            kv.append(("tool_calls", .array(d.toolCalls.map { t in
                var o: [(String, JSONValue)] = []
                if let id = t.id { o.append(("id", .string(id))); o.append(("type", .string("function"))) }
                o.append(("index", .int(t.index)))
                var f: [(String, JSONValue)] = []
                if let n = t.name { f.append(("name", .string(n))) }
                if let a = t.arguments { f.append(("arguments", .string(a))) }
                o.append(("function", .object(f)))
                return .object(o)
            })))
        }
        return kv
    }

    /// A chat stream chunk carrying a parsed delta (reasoning, content, tool-call pieces) for one choice.
    public func chunk(index: Int, message d: MessageDelta, logprobs lps: [PositionLogprobs]? = nil, finish: CompletionOutput? = nil,
                      finishReason: String? = nil, usage: JSONValue? = nil) -> JSONValue {
        let lp: JSONValue = (logprobs != nil && lps != nil) ? logprobsJSON(lps!, textOffset: 0) : .null
        var choice: [(String, JSONValue)] = [("index", .int(index)), ("delta", .object(Self.deltaFields(d))), ("logprobs", lp)]
        choice.append(("finish_reason", finish.map { _ in .string(finishReason ?? "stop") } ?? .null))
        if let f = finish { choice.append(("stop_reason", stopReason(f))) }
        var obj: [(String, JSONValue)] = [("id", .string(id)), ("object", .string(chunkObject)), ("created", .int(created)),
                                          ("model", .string(model)), ("choices", .array([.object(choice)]))]
        if let usage { obj.append(("usage", usage)) }
        return .object(obj)
    }

    /// A stream chunk for one choice.
    public func chunk(index: Int, delta: String, role: Bool = false, logprobs lps: [PositionLogprobs]? = nil, textOffset: Int = 0,
                      finish: CompletionOutput? = nil, usage: JSONValue? = nil) -> JSONValue {
        let lp: JSONValue = (logprobs != nil && lps != nil) ? logprobsJSON(lps!, textOffset: textOffset) : .null
        var choice: [(String, JSONValue)] = [("index", .int(index))]
        switch endpoint {
        case .chat:
            var d: [(String, JSONValue)] = []
            if role { d.append(("role", .string("assistant"))) }
            if role || !delta.isEmpty || finish == nil { d.append(("content", .string(delta))) }
            choice.append(("delta", .object(d)))
        case .completions:
            choice.append(("text", .string(delta)))
        }
        choice.append(("logprobs", lp))
        choice.append(("finish_reason", finish?.finishReason.map { .string($0.rawValue) } ?? .null))
        if let f = finish { choice.append(("stop_reason", stopReason(f))) }
        var obj: [(String, JSONValue)] = [("id", .string(id)), ("object", .string(chunkObject)), ("created", .int(created)),
                                          ("model", .string(model)), ("choices", .array([.object(choice)]))]
        if let usage { obj.append(("usage", usage)) }
        return .object(obj)
    }

    /// The final usage chunk (`stream_options.include_usage`): no choices.
    public func usageChunk(prompt: Int, completion: Int) -> JSONValue {
        .object([("id", .string(id)), ("object", .string(chunkObject)), ("created", .int(created)), ("model", .string(model)),
                 ("choices", .array([])), ("usage", Self.usage(prompt: prompt, completion: completion))])
    }

    /// `data: <json>\n\n`.
    public static func sse(_ v: JSONValue) -> String { "data: " + v.jsonString + "\n\n" }
    public static let done = "data: [DONE]\n\n"
}
