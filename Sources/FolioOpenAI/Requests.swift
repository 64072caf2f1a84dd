import FolioEngine
import FolioGrammar
import FolioTemplates
import FolioTools
import FolioWeights
import Foundation

/// Reads request fields with vLLM's validation: a wrong type is a 400 naming the field.
struct Fields {
    let obj: JSONValue
    func has(_ k: String) -> Bool { if let v = obj[k] { return !v.isNull }; return false }
    /// Field `k` read by `get`: nil when absent or null, a 400 saying it "must be `what`" when `get` refuses it.
    func typed<T>(_ k: String, _ what: String, _ get: (JSONValue) -> T?) throws -> T? {
        guard let v = obj[k], !v.isNull else { return nil }
        guard let x = get(v) else { throw APIError.invalid("\(k) must be \(what)", param: k) }
        return x
    }
    func double(_ k: String) throws -> Double? { try typed(k, "a number") { $0.doubleValue } }
    func int(_ k: String) throws -> Int? { try typed(k, "an integer") { $0.intValue } }
    func bool(_ k: String) throws -> Bool? { try typed(k, "a boolean") { $0.boolValue } }
    func string(_ k: String) throws -> String? { try typed(k, "a string") { $0.stringValue } }
    func strings(_ k: String) throws -> [String]? {
        try typed(k, "a string or a list of strings") { v in v.stringValue.map { [$0] } ?? Self.each(v) { $0.stringValue } }
    }
    func ints(_ k: String) throws -> [Int32]? {
        try typed(k, "a list of 32-bit integers") { v in Self.each(v) { $0.intValue.flatMap { Int32(exactly: $0) } } }
    }
    /// A prompt as /v1/completions' `prompt` and /v1/embeddings' `input` take it: a string, a list of strings, a
    /// list of 32-bit token ids or a list of such lists; a 400 naming `field` otherwise.
    static func prompts(_ v: JSONValue, field: String) throws -> [PromptInput] {
        if let s = v.stringValue { return [.text(s)] }
        let bad = APIError.invalid("\(field) must be a string, a list of strings, or token ids", param: field)
        guard let a = v.arrayValue else { throw bad }
        guard !a.isEmpty else { throw APIError.invalid("\(field) must not be empty", param: field) }
        let token: (JSONValue) -> Int32? = { $0.intValue.flatMap { Int32(exactly: $0) } }
        if let strings = each(v, { $0.stringValue }) { return strings.map { .text($0) } }
        if let ids = each(v, token) { return [.tokens(ids)] }
        if let lists = each(v, { each($0, token) }) { return lists.map { .tokens($0) } }
        throw bad
    }

    /// Every element of array `v` read by `get`, or nil when `v` is not an array or `get` refuses an element.
    static func each<T>(_ v: JSONValue, _ get: (JSONValue) -> T?) -> [T]? {
        guard let a = v.arrayValue else { return nil }
        let out = a.compactMap(get)
        return out.count == a.count ? out : nil
    }
}

public enum Endpoint: Sendable { case completions, chat }

/// Per-request bounds that vLLM does not have, checked at the door (`folio serve` flags).
public struct RequestLimits: Sendable {
    /// Prompts in one `/v1/completions` list (`--max-prompts-per-request`).
    public var maxPromptsPerRequest = 64
    /// `stop` strings per request (`--max-stop-sequences`); `bad_words` share the bound.
    public var maxStopSequences = 64
    public init() {}
}

/// A parsed `/v1/completions` or `/v1/chat/completions` request.
public struct GenerationRequest: Sendable {
    public var model: String?
    public var prompts: [PromptInput]
    /// Prompt text per prompt, for `echo`.
    public var promptTexts: [String?]
    public var params: SamplingParams
    public var stream: Bool
    public var includeUsage: Bool
    public var continuousUsage: Bool
    public var echo: Bool
    /// Completions: top-k logprobs per token; chat: `logprobs: true` with `top_logprobs`.
    public var logprobs: Int?
    public var endpoint: Endpoint
    /// vLLM's `cache_salt`: prefix-cache entries are shared only between requests with the same salt.
    public var cacheSalt: String?
    /// Chat: the tools offered and how calls are chosen.
    public var tools = ToolRequest(tools: nil, choice: .none, parallel: nil, schemas: .none)
    /// Chat: `chat_template_kwargs` (`enable_thinking` turns a reasoning parser off).
    public var templateKwargs: [(String, JSONValue)] = []

    static let known: Set<String> = [
        "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "n",
        "stream", "stream_options", "logprobs", "top_logprobs", "echo", "stop", "presence_penalty", "frequency_penalty",
        "repetition_penalty", "seed", "logit_bias", "user", "ignore_eos", "min_tokens", "stop_token_ids",
        "include_stop_str_in_output", "skip_special_tokens", "allowed_token_ids", "bad_words", "prompt_logprobs",
        "response_format", "chat_template_kwargs", "add_generation_prompt", "continue_final_message", "tools", "tool_choice",
        "documents", "priority", "best_of", "suffix", "parallel_tool_calls", "chat_template", "spaces_between_special_tokens",
        "cache_salt", "structured_outputs", "guided_json", "guided_regex", "guided_choice", "guided_grammar",
        "guided_decoding_backend", "guided_whitespace_pattern",
    ]

    /// Field names of `body` that this server does not use (logged, as vLLM does).
    public static func unknownFields(_ body: JSONValue) -> [String] {
        (body.objectValue ?? []).map(\.0).filter { !known.contains($0) }
    }

    /// Parses and validates a request body. `render` turns chat messages into a prompt (the model's template).
    public static func parse(_ body: JSONValue, endpoint: Endpoint, defaults: SamplingParams, limits: RequestLimits = RequestLimits(),
                             render: (JSONValue, JSONValue?, Bool, Bool, [(String, JSONValue)]) throws -> String) throws -> GenerationRequest {
        guard body.objectValue != nil else { throw APIError.invalid("the request body must be a JSON object") }
        let f = Fields(obj: body)
        var p = defaults
        p.maxTokens = nil
        if endpoint == .completions { p.maxTokens = 16 }
        if let v = try f.int("max_tokens") { p.maxTokens = v }
        if endpoint == .chat, let v = try f.int("max_completion_tokens") { p.maxTokens = v }
        if let v = try f.double("temperature") { p.temperature = Float(v) }
        if let v = try f.double("top_p") { p.topP = Float(v) }
        if let v = try f.int("top_k") { p.topK = v }
        if let v = try f.double("min_p") { p.minP = Float(v) }
        if let v = try f.int("n") { p.n = v }
        if let v = try f.double("presence_penalty") { p.presencePenalty = Float(v) }
        if let v = try f.double("frequency_penalty") { p.frequencyPenalty = Float(v) }
        if let v = try f.double("repetition_penalty") { p.repetitionPenalty = Float(v) }
        if let v = try f.int("seed") { p.seed = UInt64(bitPattern: Int64(v)) }
        if let v = try f.strings("stop") {
            guard v.count <= limits.maxStopSequences else {
                throw APIError.invalid("stop has \(v.count) sequences; at most \(limits.maxStopSequences) are allowed (--max-stop-sequences)", param: "stop")
            }
            p.stop = v
        }
        if let v = try f.ints("stop_token_ids") { p.stopTokenIds = v }
        if let v = try f.bool("ignore_eos") { p.ignoreEOS = v }
        if let v = try f.int("min_tokens") { p.minTokens = v }
        if let v = try f.bool("include_stop_str_in_output") { p.includeStopStrInOutput = v }
        if let v = try f.bool("skip_special_tokens") { p.skipSpecialTokens = v }
        if let v = try f.ints("allowed_token_ids") { p.allowedTokenIds = v }
        if let v = try f.strings("bad_words") {
            guard v.count <= limits.maxStopSequences else {
                throw APIError.invalid("bad_words has \(v.count) entries; at most \(limits.maxStopSequences) are allowed (--max-stop-sequences)", param: "bad_words")
            }
            p.badWords = v
        }
        if let v = try f.int("prompt_logprobs") { p.promptLogprobs = v }
        if let v = try f.int("priority") { p.priority = v }
        if let lb = body["logit_bias"], !lb.isNull {
            guard let o = lb.objectValue else { throw APIError.invalid("logit_bias must be an object of token id -> bias", param: "logit_bias") }
            for (k, v) in o {
                guard let t = Int32(k), let b = v.doubleValue else { throw APIError.invalid("logit_bias entry \(k) must map a token id to a number", param: "logit_bias") }
                p.logitBias[t] = Float(b)
            }
        }
        p.structuredOutputs = try StructuredOutputsField.parse(body)
        var logprobs: Int? = nil
        switch endpoint {
        case .completions:
            logprobs = try f.int("logprobs")
        case .chat:
            if try f.bool("logprobs") == true { logprobs = try f.int("top_logprobs") ?? 0 } else if f.has("top_logprobs") {
                throw APIError.invalid("top_logprobs needs logprobs to be true", param: "top_logprobs")
            }
        }
        if let l = logprobs {
            // Checked here to name the field the client sent (chat: top_logprobs).
            if let m = SamplingParams.logprobsProblem(l, prompt: false) {
                throw APIError.from(FolioError.invalidArgument(name: endpoint == .chat ? "top_logprobs" : "logprobs", message: m))
            }
            p.logprobs = l
        }
        let so = body["stream_options"]
        var r = GenerationRequest(model: try f.string("model"), prompts: [], promptTexts: [], params: p,
                                  stream: try f.bool("stream") ?? false,
                                  includeUsage: so?["include_usage"]?.boolValue ?? false,
                                  continuousUsage: so?["continuous_usage_stats"]?.boolValue ?? false,
                                  echo: try f.bool("echo") ?? false, logprobs: logprobs, endpoint: endpoint,
                                  cacheSalt: try f.string("cache_salt"))
        if so != nil, !(so!.isNull), !r.stream { throw APIError.invalid("stream_options is only allowed when stream is true", param: "stream_options") }
        switch endpoint {
        case .completions:
            guard let prompt = body["prompt"], !prompt.isNull else { throw APIError.invalid("prompt is required", param: "prompt") }
            r.prompts = try Fields.prompts(prompt, field: "prompt")
            r.promptTexts = r.prompts.map { if case .text(let s) = $0 { return s }; return nil }
            guard r.prompts.count <= limits.maxPromptsPerRequest else {
                throw APIError.invalid("prompt has \(r.prompts.count) prompts; at most \(limits.maxPromptsPerRequest) are allowed per request (--max-prompts-per-request)", param: "prompt")
            }
        case .chat:
            guard let messages = body["messages"], let list = messages.arrayValue else {
                throw APIError.invalid("messages must be a list of messages", param: "messages")
            }
            guard !list.isEmpty else { throw APIError.invalid("messages must not be empty", param: "messages") }
            for (i, m) in list.enumerated() {
                guard m.objectValue != nil, m["role"]?.stringValue != nil else { throw APIError.invalid("messages[\(i)] needs a role", param: "messages") }
            }
            let kwargs = body["chat_template_kwargs"]?.objectValue ?? []
            r.templateKwargs = kwargs
            let cont = try f.bool("continue_final_message") ?? false
            let addGen = try f.bool("add_generation_prompt") ?? !cont
            if cont, addGen { throw APIError.invalid("continue_final_message and add_generation_prompt cannot both be true", param: "continue_final_message") }
            r.tools = try ToolsField.parse(body)
            let constrained = ["structured_outputs", "guided_json", "guided_regex", "guided_choice"].contains { body[$0].map { !$0.isNull } ?? false }
            if case .named = r.tools.choice, constrained {
                throw APIError.invalid("You can only either use constraints for structured outputs or tools, not both.")
            }
            // `required` and named choices hold the output to the calls (replacing any response_format, as vLLM does).
            if let schema = r.tools.forcedSchema { r.params.structuredOutputs = .json(schema) }
            let text = try render(Self.templateMessages(messages), r.tools.tools, addGen, cont, kwargs)
            r.prompts = [.text(text)]
            r.promptTexts = [text]
        }
        return r
    }

    /// Messages as templates expect them: an assistant's tool-call `arguments` (a JSON string on the wire) become
    /// objects, as vLLM passes them.
    public static func templateMessages(_ messages: JSONValue) -> JSONValue {
        guard let list = messages.arrayValue else { return messages }
        return .array(list.map { m in
            guard case .object(var kv) = m, let ti = kv.firstIndex(where: { $0.0 == "tool_calls" }), let calls = kv[ti].1.arrayValue else { return m }
            kv[ti].1 = .array(calls.map { c in
                guard case .object(var ckv) = c, let fi = ckv.firstIndex(where: { $0.0 == "function" }), case .object(var fkv) = ckv[fi].1,
                      let ai = fkv.firstIndex(where: { $0.0 == "arguments" }), let text = fkv[ai].1.stringValue,
                      let parsed = try? JSONValue.parse(Data(text.utf8)), parsed.objectValue != nil else { return c }
                fkv[ai].1 = parsed
                ckv[fi].1 = .object(fkv)
                return .object(ckv)
            })
            return .object(kv)
        })
    }
}
