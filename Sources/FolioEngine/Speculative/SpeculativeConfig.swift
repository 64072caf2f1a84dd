import FolioModels
import FolioWeights
import Foundation

/// Speculative decoding settings: vLLM's `--speculative-config` JSON (its keys, defaults and error messages).
///
/// ```swift
/// let spec = try SpeculativeConfig.parse(#"{"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_max": 4}"#)
/// ```
public struct SpeculativeConfig: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable { case ngram, suffix, draftModel = "draft_model" }
    /// How a draft model picks its tokens: its argmax (vLLM's default; the draft is a point mass in the ratio test)
    /// or a draw from its own distribution at the request's temperature (the ratio test then uses it whole).
    public enum DraftSampleMethod: String, Sendable { case greedy, probabilistic }

    public var method: Method
    /// The most tokens proposed per step (the adaptive length never exceeds it).
    public var numSpeculativeTokens: Int
    /// `ngram`: the shortest and longest suffix of the request's tokens looked up earlier in them.
    public var promptLookupMin = 0, promptLookupMax = 0
    /// `draft_model`: the draft's path (GGUF or Hugging Face directory), same vocabulary as the target.
    public var model: String?
    public var draftSampleMethod: DraftSampleMethod = .greedy
    /// `suffix`: tree depth (the longest pattern and continuation), responses kept for later requests, the
    /// continuation's length cap as a multiple of the matched length, and the lowest estimated probability of a
    /// proposed token (SuffixDecoding's parameters, vLLM's names).
    public var suffixMaxTreeDepth = 24
    public var suffixMaxCachedRequests = 10000
    public var suffixMaxSpecFactor = 1.0
    public var suffixMinTokenProb = 0.1
    /// Folio: choose each request's speculation length from its recent acceptance and this machine's measured
    /// cost of verifying k tokens (and none when that would be a loss). False: always `numSpeculativeTokens`.
    public var adaptive = true

    /// The most tokens one step may propose for a request (a verify of 1 + this many positions).
    public static let maxSpeculativeTokens = 32

    public init(method: Method, numSpeculativeTokens: Int) {
        self.method = method
        self.numSpeculativeTokens = numSpeculativeTokens
    }

    /// Parses and validates vLLM's JSON form; errors say what is wrong in vLLM's words.
    public static func parse(_ text: String) throws -> SpeculativeConfig {
        guard let v = try? JSONValue.parse(Data(text.utf8)), let obj = v.objectValue else {
            throw bad("speculative_config must be a JSON object, got \(text.prefix(200))")
        }
        let known: Set<String> = ["method", "model", "num_speculative_tokens", "prompt_lookup_min", "prompt_lookup_max",
                                  "draft_sample_method", "suffix_decoding_max_tree_depth", "suffix_decoding_max_cached_requests",
                                  "suffix_decoding_max_spec_factor", "suffix_decoding_min_token_prob", "adaptive"]
        for (k, _) in obj where !known.contains(k) { throw bad("unknown key \(k) in speculative_config (known: \(known.sorted().joined(separator: ", ")))") }
        func int(_ k: String) throws -> Int? {
            guard let x = v[k], !x.isNull else { return nil }
            guard let i = x.intValue else { throw bad("\(k) must be an integer, got \(x.jsonString)") }
            return i
        }
        func double(_ k: String) throws -> Double? {
            guard let x = v[k], !x.isNull else { return nil }
            guard let d = x.doubleValue else { throw bad("\(k) must be a number, got \(x.jsonString)") }
            return d
        }
        let model = v["model"]?.stringValue
        let methodName = v["method"]?.stringValue ?? (model == "ngram" || model == "[ngram]" ? "ngram" : "draft_model")
        guard let method = Method(rawValue: methodName == "[ngram]" ? "ngram" : methodName) else {
            throw bad("Unsupported speculative method: '\(methodName)' (Folio supports \(Method.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var c = SpeculativeConfig(method: method, numSpeculativeTokens: 0)
        if let d = try int("suffix_decoding_max_tree_depth") { c.suffixMaxTreeDepth = d }
        if let d = try int("suffix_decoding_max_cached_requests") { c.suffixMaxCachedRequests = d }
        if let d = try double("suffix_decoding_max_spec_factor") { c.suffixMaxSpecFactor = d }
        if let d = try double("suffix_decoding_min_token_prob") { c.suffixMinTokenProb = d }
        if let a = v["adaptive"], !a.isNull {
            guard let b = a.boolValue else { throw bad("adaptive must be true or false, got \(a.jsonString)") }
            c.adaptive = b
        }
        if let s = v["draft_sample_method"]?.stringValue {
            guard let m = DraftSampleMethod(rawValue: s) else { throw bad("draft_sample_method must be 'greedy' or 'probabilistic', got '\(s)'") }
            c.draftSampleMethod = m
        }
        let n = try int("num_speculative_tokens")
        switch method {
        case .ngram:
            let lo = try int("prompt_lookup_min"), hi = try int("prompt_lookup_max")
            for (k, x) in [("prompt_lookup_min", lo), ("prompt_lookup_max", hi)] {
                if let x, x < 1 { throw bad("\(k)=\(x) must be > 0") }
            }
            c.promptLookupMin = lo ?? hi ?? 5
            c.promptLookupMax = hi ?? lo ?? 5
            if c.promptLookupMin > c.promptLookupMax {
                throw bad("prompt_lookup_min=\(c.promptLookupMin) must be <= prompt_lookup_max=\(c.promptLookupMax)")
            }
        case .suffix:
            if c.suffixMaxTreeDepth < 1 { throw bad("suffix_decoding_max_tree_depth=\(c.suffixMaxTreeDepth) must be >= 1") }
            if c.suffixMaxCachedRequests < 0 { throw bad("suffix_decoding_max_cached_requests=\(c.suffixMaxCachedRequests) must be >= 0") }
            if c.suffixMaxSpecFactor < 0 { throw bad("suffix_decoding_max_spec_factor=\(c.suffixMaxSpecFactor) must be >= 0") }
            if !(0...1).contains(c.suffixMinTokenProb) { throw bad("suffix_decoding_min_token_prob=\(c.suffixMinTokenProb) must be in [0, 1]") }
        case .draftModel:
            guard let m = model, !m.isEmpty else { throw bad("method 'draft_model' needs \"model\": the draft model's path") }
            c.model = m
        }
        guard let k = n ?? (method == .suffix ? c.suffixMaxTreeDepth : nil) else {
            throw bad("num_speculative_tokens must be provided with speculative model unless the draft model config contains an n_predict parameter.")
        }
        c.numSpeculativeTokens = k
        try c.validate()
        return c
    }

    /// Checks the limits (also for configs built in code).
    public func validate() throws {
        if numSpeculativeTokens <= 0 { throw Self.bad("Expected num_speculative_tokens to be greater than zero (\(numSpeculativeTokens)).") }
        if numSpeculativeTokens > Self.maxSpeculativeTokens {
            throw Self.bad("num_speculative_tokens=\(numSpeculativeTokens) is above Folio's limit of \(Self.maxSpeculativeTokens)")
        }
        if method == .draftModel, model == nil { throw Self.bad("method 'draft_model' needs \"model\": the draft model's path") }
    }

    /// The draft model of method `draft_model`, loaded with the target's options (nil for other methods).
    /// Under model parallelism the draft is whole on rank 0 (the only rank that gets here: the others serve the
    /// target's forward passes), and its passes stay there.
    public func loadDraft(options: ForwardOptions) throws -> CausalLM? {
        guard method == .draftModel, let path = model else { return nil }
        var o = options
        o.tensorParallelSize = 1
        o.pipelineParallelSize = 1
        do { return try CausalLM.load(path: path, options: o) } catch {
            throw Self.bad("cannot load the draft model \(path): \(error)")
        }
    }

    static func bad(_ m: String) -> FolioError { .invalidArgument(name: "speculative_config", message: m) }
}
