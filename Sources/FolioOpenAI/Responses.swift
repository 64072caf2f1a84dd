import FolioEngine
import FolioWeights
import Foundation

/// Builds OpenAI response bodies and stream chunks from engine outputs, field for field as vLLM writes them.
public struct ResponseBuilder: Sendable {
    public let id: String
    public let model: String
    public let created: Int
    public let endpoint: Endpoint
    public let logprobs: Int?

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
                    choices.append(.object([("index", .int(pi * n + c.index)),
                                            ("message", .object([("role", .string("assistant")), ("content", .string(c.text)),
                                                                 ("refusal", .null), ("annotations", .null), ("audio", .null),
                                                                 ("function_call", .null), ("tool_calls", .array([])),
                                                                 ("reasoning_content", .null)])),
                                            ("logprobs", lp), ("finish_reason", .string(c.finishReason?.rawValue ?? "stop")),
                                            ("stop_reason", stopReason(c))]))
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
