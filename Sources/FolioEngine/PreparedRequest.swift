import FolioGrammar
import FolioModels
import FolioTokenizers
import FolioWeights

/// A request made ready before it enters the engine: prompt tokenized and checked against the context, parameters
/// validated, and every per-step table built once (bad-word token sequences, the allowed-token list, stop strings as
/// scalars). `EngineCore.prepare` only reads immutable state, so servers call it off the engine's thread; the step
/// loop then does O(new tokens) work per request.
public struct PreparedRequest: Sendable {
    public let prompt: String?
    public let promptTokenIds: [Int32]
    public let params: SamplingParams
    /// Output tokens allowed: `max_tokens`, or what the context leaves.
    public let maxTokens: Int
    /// Each bad word's token ids (with and without a leading space), as vLLM bans them.
    let badWordIds: [[Int32]]
    /// `allowed_token_ids` sorted without duplicates.
    let allowed: [Int32]?
    /// Stop strings as Unicode scalars, and the longest one's length.
    let stops: [[Unicode.Scalar]]
    let maxStopScalars: Int
    let stopIds: Set<Int32>
    /// Prefix-cache keys of every block (LoRA id, ...) and the cache salt (first block).
    let extraKeys: [String]
    let cacheSalt: String?
    /// The compiled structured-output grammar, and the tokens that end its output (EOS unless ignored, stop ids).
    let grammar: CompiledGrammar?
    let grammarStops: [Int32]
    /// The LoRA adapter the request runs with (read when the request was prepared; held until it ends).
    public let lora: LoRARequest?
    let adapter: LoRAAdapter?
}

extension EngineCore {
    /// Tokenizes and checks a request without touching the engine's mutable state (safe from any thread).
    /// Errors name the field and the limit (vLLM's messages where vLLM has one).
    public func prepare(prompt: PromptInput, params: SamplingParams, extraKeys: [String] = [], cacheSalt: String? = nil,
                        lora: LoRARequest? = nil) throws -> PreparedRequest {
        try params.validate(vocabSize: model.config.vocabSize)
        if lora != nil, loras == nil {
            throw FolioError.invalidArgument(name: "lora", message: "LoRA is not enabled; start the engine with LoRA enabled (--enable-lora) to use adapters")
        }
        if let m = params.maxTokens, m > maxModelLen {
            throw FolioError.invalidArgument(name: "max_tokens", message: "max_tokens=\(m) cannot be greater than max_model_len=\(maxModelLen). Please request fewer output tokens.")
        }
        if let s = cacheSalt, s.isEmpty { throw FolioError.invalidArgument(name: "cache_salt", message: "must not be empty") }
        let ids: [Int32], text: String?
        switch prompt {
        case .text(let t): ids = tokenizer.encode(t); text = t
        case .tokens(let t): ids = t; text = nil
        case .tokenized(let t, let i): ids = i; text = t
        }
        guard !ids.isEmpty else { throw FolioError.invalidArgument(name: "prompt", message: "is empty") }
        for t in ids where t < 0 || Int(t) >= model.config.vocabSize {
            throw FolioError.invalidArgument(name: "prompt", message: "token id \(t) is outside the vocabulary (\(model.config.vocabSize))")
        }
        guard ids.count < maxModelLen else {
            throw FolioError.invalidArgument(name: "prompt", message: "This model's maximum context length is \(maxModelLen) tokens, but the prompt has \(ids.count) tokens")
        }
        // max_tokens <= max_model_len here, so the sum cannot overflow.
        if let m = params.maxTokens, ids.count + m > maxModelLen {
            throw FolioError.invalidArgument(name: "max_tokens", message: "This model's maximum context length is \(maxModelLen) tokens. However, you requested \(ids.count + m) tokens (\(ids.count) in the messages, \(m) in the completion). Please reduce the length of the messages or completion.")
        }
        // A sliding-window-only model holds just the window's blocks of a sequence (KVCacheManager.window).
        guard kv.window != nil || ids.count + 1 <= kvCapacityTokens else {
            throw FolioError.invalidArgument(name: "prompt", message: "\(ids.count) tokens do not fit the KV cache (\(kvCapacityTokens) tokens)")
        }
        var bad: [[Int32]] = []
        for w in params.badWords {
            for variant in [w, " " + w] {
                let t = tokenizer.encode(variant, addSpecialTokens: false)
                if !t.isEmpty, !bad.contains(t) { bad.append(t) }
            }
        }
        let stops = params.stop.map { Array($0.unicodeScalars) }
        var grammar: CompiledGrammar? = nil
        if let so = params.structuredOutputs {
            do { grammar = try grammars.compiled(so) } catch let e as GrammarError {
                // A whole sentence (the API prints it as it is): "Rule x is left-recursive ...", "The grammar is too large ...".
                throw FolioError.invalidArgument(name: "structured_outputs", message: e.message.prefix(1).uppercased() + e.message.dropFirst())
            }
        }
        let grammarStops = (params.ignoreEOS ? Set<Int32>() : eosIds).union(params.stopTokenIds).sorted()
        // Last: an adapter may be read from disk (and move others out of memory), which a request failing the cheap
        // checks above should not cause.
        let adapter = try lora.map { try loras!.adapter(for: $0) }
        return PreparedRequest(prompt: text, promptTokenIds: ids, params: params, maxTokens: params.maxTokens ?? (maxModelLen - ids.count),
                               badWordIds: bad, allowed: params.allowedTokenIds.map { Array(Set($0)).sorted() },
                               stops: stops, maxStopScalars: stops.map(\.count).max() ?? 0, stopIds: Set(params.stopTokenIds),
                               extraKeys: (lora.map { ["lora:\($0.id)"] } ?? []) + extraKeys, cacheSalt: cacheSalt, grammar: grammar,
                               grammarStops: grammarStops, lora: lora, adapter: adapter)
    }
}
