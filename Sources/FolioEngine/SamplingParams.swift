import FolioGrammar
import FolioWeights

/// Per-request generation settings, with vLLM's fields and defaults.
///
/// ```swift
/// let p = SamplingParams(temperature: 0.8, topP: 0.95, maxTokens: 64, seed: 7)
/// ```
public struct SamplingParams: Sendable {
    /// Samples per prompt (they share the prompt's KV blocks).
    public var n: Int = 1
    /// 0 = greedy.
    public var temperature: Float = 1
    public var topP: Float = 1
    /// 0 or -1 = off.
    public var topK: Int = 0
    public var minP: Float = 0
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    public var repetitionPenalty: Float = 1
    /// token id -> added to its logit.
    public var logitBias: [Int32: Float] = [:]
    /// Only these tokens may be sampled (nil = all).
    public var allowedTokenIds: [Int32]? = nil
    /// Token sequences that must never be generated.
    public var badWords: [String] = []
    public var seed: UInt64? = nil
    public var stop: [String] = []
    public var stopTokenIds: [Int32] = []
    public var includeStopStrInOutput = false
    public var ignoreEOS = false
    public var minTokens = 0
    /// nil = up to the model's context length.
    public var maxTokens: Int? = 16
    /// Top-k logprobs per generated token (nil = none); the sampled token's is always included.
    public var logprobs: Int? = nil
    /// Top-k logprobs per prompt token (nil = none).
    public var promptLogprobs: Int? = nil
    public var skipSpecialTokens = true
    /// Scheduling priority with the `priority` policy (lower is served first, as in vLLM).
    public var priority: Int = 0
    /// What each output carries: everything so far, only the step's delta, or only the final output.
    public var outputKind: RequestOutputKind = .cumulative
    /// What the output must match (JSON Schema, regex, choice, grammar): enforced by token masks before every other
    /// logit processor; stop tokens are allowed exactly when the output so far is complete.
    public var structuredOutputs: StructuredOutputs? = nil
    /// Structured outputs start with the token after the output first contains this text (a reasoning model's
    /// end-of-thinking tag, `--reasoning-parser`): the thinking before it is free text. Nil: from the first token.
    public var structuredOutputsAfter: String? = nil
    /// The most logprobs a request may ask for per position (vLLM's `max_logprobs`).
    public static let maxLogprobs = 20
    /// The longest stop string or bad word (each token's stop check reads back this far).
    public static let maxStopLength = 1024

    public init(n: Int = 1, temperature: Float = 1, topP: Float = 1, topK: Int = 0, minP: Float = 0,
                presencePenalty: Float = 0, frequencyPenalty: Float = 0, repetitionPenalty: Float = 1,
                maxTokens: Int? = 16, minTokens: Int = 0, seed: UInt64? = nil, stop: [String] = [],
                stopTokenIds: [Int32] = [], ignoreEOS: Bool = false, logprobs: Int? = nil, promptLogprobs: Int? = nil) {
        self.n = n
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.maxTokens = maxTokens
        self.minTokens = minTokens
        self.seed = seed
        self.stop = stop
        self.stopTokenIds = stopTokenIds
        self.ignoreEOS = ignoreEOS
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
    }

    /// What is wrong with asking for `l` logprobs per position, in vLLM's words (nil: nothing).
    public static func logprobsProblem(_ l: Int, prompt: Bool) -> String? {
        if l < 0 { return "must be non-negative, got \(l)" }
        if l > maxLogprobs { return "Requested \(prompt ? "prompt" : "sample") logprobs of \(l), which is greater than max allowed: \(maxLogprobs)" }
        return nil
    }

    /// Greedy decoding.
    public static var greedy: SamplingParams { SamplingParams(temperature: 0) }

    /// Rejects invalid values with an error naming the field (vLLM's checks).
    public func validate(vocabSize: Int) throws {
        func bad(_ f: String, _ m: String) -> FolioError { .invalidArgument(name: f, message: m) }
        guard n >= 1, n <= 128 else { throw bad("n", "must be in [1, 128], got \(n)") }
        guard temperature >= 0, temperature.isFinite else { throw bad("temperature", "must be non-negative, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw bad("top_p", "must be in (0, 1], got \(topP)") }
        guard topK >= -1 else { throw bad("top_k", "must be -1 (disable), 0 or at least 1, got \(topK)") }
        guard minP >= 0, minP <= 1 else { throw bad("min_p", "must be in [0, 1], got \(minP)") }
        guard presencePenalty >= -2, presencePenalty <= 2 else { throw bad("presence_penalty", "must be in [-2, 2], got \(presencePenalty)") }
        guard frequencyPenalty >= -2, frequencyPenalty <= 2 else { throw bad("frequency_penalty", "must be in [-2, 2], got \(frequencyPenalty)") }
        guard repetitionPenalty > 0, repetitionPenalty <= 2 else { throw bad("repetition_penalty", "must be in (0, 2], got \(repetitionPenalty)") }
        if let m = maxTokens { guard m >= 1 else { throw bad("max_tokens", "must be at least 1, got \(m)") } }
        guard minTokens >= 0 else { throw bad("min_tokens", "must be non-negative, got \(minTokens)") }
        if let m = maxTokens { guard minTokens <= m else { throw bad("min_tokens", "must be <= max_tokens \(m), got \(minTokens)") } }
        if let l = logprobs, let m = Self.logprobsProblem(l, prompt: false) { throw bad("logprobs", m) }
        if let l = promptLogprobs, let m = Self.logprobsProblem(l, prompt: true) { throw bad("prompt_logprobs", m) }
        for (t, b) in logitBias {
            guard t >= 0, Int(t) < vocabSize else { throw bad("logit_bias", "token id \(t) is outside the vocabulary (\(vocabSize))") }
            guard b.isFinite, abs(b) <= 100 else { throw bad("logit_bias", "bias \(b) for token \(t) must be in [-100, 100]") }
        }
        if let a = allowedTokenIds {
            guard !a.isEmpty else { throw bad("allowed_token_ids", "must not be empty") }
            for t in a where t < 0 || Int(t) >= vocabSize { throw bad("allowed_token_ids", "token id \(t) is outside the vocabulary (\(vocabSize))") }
        }
        for t in stopTokenIds where t < 0 || Int(t) >= vocabSize { throw bad("stop_token_ids", "token id \(t) is outside the vocabulary (\(vocabSize))") }
        for s in stop where s.isEmpty { throw bad("stop", "stop strings must not be empty") }
        for s in stop + badWords where s.unicodeScalars.count > Self.maxStopLength {
            throw bad(stop.contains(s) ? "stop" : "bad_words", "strings must be at most \(Self.maxStopLength) characters, got \(s.unicodeScalars.count)")
        }
        if n > 1, temperature == 0 { throw bad("n", "n > 1 needs temperature > 0 (greedy samples would all be the same)") }
    }
}
