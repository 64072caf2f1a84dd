import FolioWeights
import Foundation

/// RoPE frequency scaling, as Hugging Face `rope_scaling` / `rope_parameters` describe it.
public enum RopeScaling: Sendable, Equatable {
    case none
    case linear(factor: Double)
    case dynamic(factor: Double, originalMax: Int)
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMax: Int)
    case yarn(factor: Double, originalMax: Int, betaFast: Double, betaSlow: Double, attentionFactor: Double?)
}

/// How RoPE pairs dimensions: `neox` rotates (i, i + d/2) (Hugging Face layout); `interleaved` rotates (2i, 2i+1)
/// (GGUF llama-family files, whose Q/K rows llama.cpp's converter permuted).
public enum RopeStyle: Sendable { case neox, interleaved }

/// The MLP's gate activation: silu (SwiGLU), gelu with tanh (GeGLU as Gemma), exact gelu (erf), and GPT-OSS's
/// clamped SwiGLU: gate clamped above and up on both sides at ModelConfig.swigluLimit, gate * sigmoid(alpha * gate)
/// * (up + 1).
public enum Activation: Sendable { case silu, geluTanh, gelu, swigluClamped

    /// Hugging Face `hidden_act` / `hidden_activation` names (transformers' ACT2FN); others are refused.
    static func huggingFace(_ name: String, path: String) throws -> Activation {
        switch name {
        case "silu", "swish": return .silu
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": return .geluTanh
        case "gelu": return .gelu
        default: throw FolioError.unsupported(path: path, what: "hidden_act \(name) (supported: silu, swish, gelu, gelu_pytorch_tanh, gelu_new, gelu_fast)")
        }
    }
}

/// Everything the forward pass needs to know about a decoder-only transformer, whatever file it came from.
public struct ModelConfig: Sendable {
    public var architecture: String
    /// The family (Architectures/): what it read from the file and which blocks its layers are made of.
    var arch: any Architecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    /// Gemma 3: local (sliding-window) layers use their own base.
    public var ropeLocalTheta: Double?
    public var ropeScaling: RopeScaling = .none
    public var ropeStyle: RopeStyle = .neox
    /// Rotary dimensions per head (head_dim unless partial rotary).
    public var ropeDim: Int
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    /// Per layer: the sliding window (tokens a position may attend back, itself included), or nil for global.
    public var slidingWindow: [Int?]
    /// Biases on q/k/v (Qwen2 always; Llama, Qwen3, Qwen3-MoE and Gemma 3 with `attention_bias`).
    public var attentionBias: Bool = false
    /// A bias on o_proj too (`attention_bias` of Llama, Qwen3, Qwen3-MoE and Gemma 3; never Qwen2's).
    public var outputBias: Bool = false
    /// Biases on gate/up/down (Llama's `mlp_bias`).
    public var mlpBias: Bool = false
    public var qkNorm: Bool = false
    public var numExperts: Int = 0
    public var numExpertsPerToken: Int = 0
    public var moeIntermediateSize: Int = 0
    /// Layers of an MoE model that run the dense MLP (intermediate_size) instead: Qwen3-MoE's `mlp_only_layers`, and
    /// every layer i with (i + 1) % `decoder_sparse_step` != 0.
    public var denseLayers: Set<Int> = []
    /// Qwen3-MoE: renormalize the top-k routing weights.
    public var normTopKProb: Bool = true
    /// How tokens choose experts (DeepSeek's groups, sigmoid scores and scaling; plain softmax top-k otherwise).
    public var routing = ExpertRouting()
    /// DeepSeek's multi-head latent attention (nil: grouped-query attention over per-head K/V).
    public var latentAttention: LatentAttention? = nil
    /// GPT-OSS: a learned sink logit per head in every attention softmax, and its clamped SwiGLU's alpha and limit.
    public var attentionSinks = false
    public var swigluAlpha: Float = 1.702
    public var swigluLimit: Float = 7
    /// YaRN's correction range rounded to whole dimensions (transformers' `truncate`, true unless a config says false;
    /// GGUF has no field for it: GPT-OSS files take their checkpoints' false).
    public var ropeTruncate = true
    public var activation: Activation = .silu
    /// Multiplies the token embeddings (Gemma: sqrt(hidden)).
    public var embeddingScale: Float = 1
    /// Added to RMSNorm weights at load (Hugging Face Gemma stores w and computes x * (1 + w)).
    public var normWeightOffset: Float = 0
    public var attentionScale: Float
    public var finalLogitSoftcap: Float? = nil
    public var attnLogitSoftcap: Float? = nil
    public var bosTokenId: Int? = nil
    public var eosTokenIds: [Int] = []
    /// The checkpoint's `torch_dtype` / `dtype` (bfloat16, float16, float32), nil for GGUF files.
    public var torchDtype: String? = nil
    /// Keys of the checkpoint's config.json that Folio does not read (ConfigKeys), for `folio inspect`.
    public var unreadConfigKeys: [String] = []

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }

    /// Folio's name for the family (`folio inspect`'s `family`).
    public var family: String { arch.name }

    /// What the KV cache holds per token and layer, as the family lays it out: `cacheHeads` rows of `cacheHeadDim`
    /// elements for K and for V, or under latent attention one row (the compressed latent and the shared rotary key)
    /// that serves as both.
    public var kvLayout: KVLayout { arch.kvLayout(self) }
    public var cacheHeads: Int { kvLayout.heads }
    public var cacheHeadDim: Int { kvLayout.headDim }
    public var cacheSharesKV: Bool { kvLayout.sharesKV }

    func validate(path: String) throws {
        func bad(_ m: String) -> FolioError { .malformedFile(path: path, problem: m) }
        guard vocabSize > 0, hiddenSize > 0, numLayers > 0, numHeads > 0, numKVHeads > 0, headDim > 0 else {
            throw bad("config has a non-positive size (vocab \(vocabSize), hidden \(hiddenSize), layers \(numLayers), heads \(numHeads)/\(numKVHeads), head_dim \(headDim))")
        }
        guard intermediateSize > 0, intermediateSize <= 1 << 20, headDim <= 1 << 12, maxPositionEmbeddings > 0 else {
            throw bad("config has an invalid size (intermediate \(intermediateSize), head_dim \(headDim), max_position_embeddings \(maxPositionEmbeddings))")
        }
        guard numExperts >= 0, numExperts <= 1 << 12, moeIntermediateSize >= 0, moeIntermediateSize <= 1 << 20 else {
            throw bad("config has an invalid expert count or size (\(numExperts), \(moeIntermediateSize))")
        }
        // Every float the forward pass uses must be a finite, positive number.
        var floats: [(String, Double)] = [("rms_norm_eps", Double(rmsNormEps)), ("rope_theta", ropeTheta), ("attention scale", Double(attentionScale)),
                                          ("embedding scale", Double(embeddingScale))]
        if let t = ropeLocalTheta { floats.append(("rope_local_base_freq", t)) }
        if let x = finalLogitSoftcap { floats.append(("final_logit_softcapping", Double(x))) }
        if let x = attnLogitSoftcap { floats.append(("attn_logit_softcapping", Double(x))) }
        switch ropeScaling {
        case .none: break
        case .linear(let f): floats.append(("rope_scaling.factor", f))
        case .dynamic(let f, _): floats.append(("rope_scaling.factor", f))
        case .llama3(let f, let lo, let hi, _): floats += [("rope_scaling.factor", f), ("low_freq_factor", lo), ("high_freq_factor", hi)]
        case .yarn(let f, _, let bf, let bs, let af): floats += [("rope_scaling.factor", f), ("beta_fast", bf), ("beta_slow", bs)] + (af.map { [("attention_factor", $0)] } ?? [])
        }
        for (name, v) in floats where !(v.isFinite && v > 0) { throw bad("config \(name) is \(v); it must be a finite positive number") }
        if !(normWeightOffset.isFinite) { throw bad("config norm weight offset is \(normWeightOffset)") }
        for w in slidingWindow { if let w, w <= 0 { throw bad("sliding_window \(w) must be positive") } }
        guard numHeads % numKVHeads == 0 else { throw bad("num_attention_heads \(numHeads) is not a multiple of num_key_value_heads \(numKVHeads)") }
        guard ropeDim % 2 == 0, ropeDim <= headDim else { throw bad("rotary dimension \(ropeDim) does not fit head_dim \(headDim)") }
        guard numLayers <= 1000, hiddenSize <= 1 << 17, vocabSize <= 1 << 22 else { throw bad("config sizes are absurd") }
        if numExperts > 0 { guard numExpertsPerToken >= 1, numExpertsPerToken <= numExperts else { throw bad("experts per token \(numExpertsPerToken) of \(numExperts)") } }
        try routing.validate(experts: numExperts, perToken: numExpertsPerToken, path: path)
        if let m = latentAttention { try m.validate(path: path) }
    }
}

extension ModelConfig {
    /// The sizes everything else is derived from, checked before anything divides by or allocates with them.
    static func checkShape(hidden: Int, heads: Int, layers: Int, path: String) throws {
        guard hidden > 0, hidden <= 1 << 17, heads > 0, heads <= 1 << 12, layers > 0, layers <= 1000 else {
            throw FolioError.malformedFile(path: path, problem: "config has an invalid size (hidden \(hidden), heads \(heads), layers \(layers))")
        }
    }

    /// The object holding a config's RoPE scaling: `rope_scaling` (transformers 4), else `rope_parameters` (5; its
    /// `full_attention` entry for models with settings per layer type).
    static func ropeScaling(_ c: JSONValue) -> JSONValue? {
        let p = c["rope_parameters"]
        return c["rope_scaling"].flatMap { $0.isNull ? nil : $0 } ?? p?["full_attention"] ?? p
    }

    /// Reads a Hugging Face `config.json`.
    /// The keys every family shares here; the family reads its own (`Architecture.readHuggingFace`).
    static func fromHuggingFace(_ j: JSONValue, arch: any Architecture, architecture: String, path: String) throws -> ModelConfig {
        let c = j["text_config"].flatMap { $0.objectValue != nil ? $0 : nil } ?? j
        func int(_ k: String) -> Int? { c[k]?.intValue }
        func dbl(_ k: String) -> Double? { c[k]?.doubleValue }
        func req(_ k: String) throws -> Int {
            guard let v = int(k) else { throw FolioError.missing(path: path, what: "config key \(k)") }
            return v
        }
        // Weights quantized by GPTQ, AWQ, bitsandbytes, FP8 and the like are stored as other tensors than the float
        // ones Folio reads: refused by name (GGUF files and --quantization are Folio's quantized paths), except the
        // family's own (GPT-OSS's MXFP4 experts).
        if let q = c["quantization_config"] ?? j["quantization_config"], !q.isNull,
           case let method = q["quant_method"]?.stringValue ?? "unknown", !arch.quantizationMethods.contains(method) {
            throw FolioError.unsupported(path: path, what: "quantization_config (quant_method \(method)); use a GGUF file, or an unquantized checkpoint with --quantization")
        }
        let hidden = try req("hidden_size"), heads = try req("num_attention_heads")
        let layers = try req("num_hidden_layers")
        try Self.checkShape(hidden: hidden, heads: heads, layers: layers, path: path)
        let headDim = int("head_dim") ?? hidden / heads
        guard headDim > 0, headDim <= 1 << 12 else { throw FolioError.malformedFile(path: path, problem: "config head_dim \(headDim) must be in [1, 4096]") }
        // transformers 5 keeps RoPE settings in rope_parameters (partial_rotary_factor too), per layer type for
        // models such as Gemma 3.
        let rpAll = c["rope_parameters"]
        let rp = rpAll?["full_attention"] ?? rpAll
        let partial = dbl("partial_rotary_factor") ?? rp?["partial_rotary_factor"]?.doubleValue ?? 1.0
        guard partial.isFinite, partial > 0, partial <= 1 else {
            throw FolioError.malformedFile(path: path, problem: "config partial_rotary_factor \(partial) must be in (0, 1]")
        }
        let theta = dbl("rope_theta") ?? rp?["rope_theta"]?.doubleValue ?? 10000
        var cfg = ModelConfig(
            architecture: architecture, arch: arch, vocabSize: try req("vocab_size"), hiddenSize: hidden,
            intermediateSize: int("intermediate_size") ?? 4 * hidden, numLayers: layers, numHeads: heads,
            numKVHeads: int("num_key_value_heads") ?? heads, headDim: headDim,
            rmsNormEps: Float(dbl("rms_norm_eps") ?? 1e-6), ropeTheta: theta, ropeLocalTheta: nil,
            ropeDim: Int(Double(headDim) * partial),
            maxPositionEmbeddings: int("max_position_embeddings") ?? 4096,
            tieWordEmbeddings: c["tie_word_embeddings"]?.boolValue ?? j["tie_word_embeddings"]?.boolValue ?? false,
            slidingWindow: try arch.slidingWindow.windows(c, layers: layers, path: path), attentionScale: 1 / Float(headDim).squareRoot())
        let scaling = ropeScaling(c)
        if let s = scaling, let type = s["rope_type"]?.stringValue ?? s["type"]?.stringValue, type != "default" {
            let factor = s["factor"]?.doubleValue ?? 1
            let orig = s["original_max_position_embeddings"]?.intValue ?? int("original_max_position_embeddings") ?? cfg.maxPositionEmbeddings
            switch type {
            case "linear": cfg.ropeScaling = .linear(factor: factor)
            case "dynamic": cfg.ropeScaling = .dynamic(factor: factor, originalMax: cfg.maxPositionEmbeddings)
            case "llama3":
                cfg.ropeScaling = .llama3(factor: factor, lowFreqFactor: s["low_freq_factor"]?.doubleValue ?? 1,
                                          highFreqFactor: s["high_freq_factor"]?.doubleValue ?? 4, originalMax: orig)
            case "yarn":
                // DeepSeek: without a factor, the ratio of the context to the original one; cos/sin scaled by
                // mscale(factor, mscale) / mscale(factor, mscale_all_dim) when both are given.
                let f = s["factor"]?.doubleValue ?? Double(cfg.maxPositionEmbeddings) / Double(max(orig, 1))
                var af = s["attention_factor"]?.doubleValue
                if af == nil, let m = s["mscale"]?.doubleValue, let ma = s["mscale_all_dim"]?.doubleValue, m != 0, ma != 0 {
                    af = Rope.yarnMscale(f, m) / Rope.yarnMscale(f, ma)
                }
                cfg.ropeScaling = .yarn(factor: f, originalMax: orig, betaFast: s["beta_fast"]?.doubleValue ?? 32,
                                        betaSlow: s["beta_slow"]?.doubleValue ?? 1, attentionFactor: af)
                cfg.ropeTruncate = s["truncate"]?.boolValue ?? true
            default: throw FolioError.unsupported(path: path, what: "rope_scaling type \(type)")
            }
        }
        cfg.bosTokenId = c["bos_token_id"]?.intValue ?? j["bos_token_id"]?.intValue
        cfg.torchDtype = (c["torch_dtype"] ?? j["torch_dtype"] ?? c["dtype"] ?? j["dtype"])?.stringValue
        if let e = c["eos_token_id"] ?? j["eos_token_id"] {
            cfg.eosTokenIds = e.arrayValue?.compactMap(\.intValue) ?? e.intValue.map { [$0] } ?? []
        }
        cfg.numExperts = int("num_local_experts") ?? int("num_experts") ?? 0
        cfg.numExpertsPerToken = int("num_experts_per_tok") ?? 0
        cfg.moeIntermediateSize = int("moe_intermediate_size") ?? cfg.intermediateSize
        cfg.normTopKProb = c["norm_topk_prob"]?.boolValue ?? true
        // Gemma names it hidden_activation; the others hidden_act. (transformers reads attention_bias and mlp_bias
        // in some families only: the families read them.)
        if let act = (c["hidden_activation"] ?? c["hidden_act"])?.stringValue { cfg.activation = try Activation.huggingFace(act, path: path) }
        if let local = rpAll?["sliding_attention"]?["rope_theta"]?.doubleValue { cfg.ropeLocalTheta = local }
        try arch.readHuggingFace(&cfg, c, path: path)
        cfg.unreadConfigKeys = ConfigKeys.unread(c.objectValue?.map(\.0) ?? [], arch: arch)
        try cfg.validate(path: path)
        return cfg
    }

    /// Reads GGUF metadata (`ARCH.*` keys, as llama.cpp writes them): the keys every family shares here, the family
    /// its own (`Architecture.readGGUF`).
    static func fromGGUF(_ g: GGUFFile, arch: any Architecture) throws -> ModelConfig {
        let path = g.path
        func int(_ k: String) -> Int? { g.archValue(k)?.intValue }
        func dbl(_ k: String) -> Double? { g.archValue(k)?.doubleValue }
        func req(_ k: String) throws -> Int {
            guard let v = int(k) else { throw FolioError.missing(path: path, what: "metadata \(g.architecture ?? "?").\(k)") }
            return v
        }
        let hidden = try req("embedding_length"), heads = try req("attention.head_count")
        let layers = try req("block_count")
        try Self.checkShape(hidden: hidden, heads: heads, layers: layers, path: path)
        let headDim = int("attention.key_length") ?? hidden / max(heads, 1)
        let vocab = int("vocab_size") ?? g.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? g.tensors.first(where: { $0.name == "token_embd.weight" })?.shape.first ?? 0
        // head_count_kv may be an array (per layer); Folio needs one value.
        let kv = g.archValue("attention.head_count_kv")
        let kvHeads = kv?.intValue ?? kv?.arrayValue?.first?.intValue ?? heads
        var cfg = ModelConfig(
            architecture: g.architecture ?? "?", arch: arch, vocabSize: vocab, hiddenSize: hidden,
            intermediateSize: int("feed_forward_length") ?? 4 * hidden, numLayers: layers, numHeads: heads,
            numKVHeads: kvHeads, headDim: headDim,
            rmsNormEps: Float(dbl("attention.layer_norm_rms_epsilon") ?? 1e-6), ropeTheta: dbl("rope.freq_base") ?? 10000,
            ropeLocalTheta: nil, ropeDim: int("rope.dimension_count") ?? headDim,
            maxPositionEmbeddings: int("context_length") ?? 4096,
            tieWordEmbeddings: g.tensor(named: "output.weight") == nil,
            slidingWindow: Array(repeating: nil, count: layers), attentionScale: 1 / Float(headDim).squareRoot())
        if let type = g.archValue("rope.scaling.type")?.stringValue, type != "none" {
            let factor = dbl("rope.scaling.factor") ?? 1
            let orig = int("rope.scaling.original_context_length") ?? cfg.maxPositionEmbeddings
            switch type {
            case "linear": cfg.ropeScaling = .linear(factor: factor)
            case "yarn": cfg.ropeScaling = .yarn(factor: factor, originalMax: orig, betaFast: dbl("rope.scaling.yarn_beta_fast") ?? 32,
                                                 betaSlow: dbl("rope.scaling.yarn_beta_slow") ?? 1, attentionFactor: nil)
            default: throw FolioError.unsupported(path: path, what: "rope scaling type \(type)")
            }
        }
        cfg.numExperts = int("expert_count") ?? 0
        cfg.numExpertsPerToken = int("expert_used_count") ?? 0
        cfg.moeIntermediateSize = int("expert_feed_forward_length") ?? cfg.intermediateSize
        cfg.finalLogitSoftcap = dbl("final_logit_softcapping").map(Float.init)
        cfg.attnLogitSoftcap = dbl("attn_logit_softcapping").map(Float.init)
        cfg.bosTokenId = g.metadata["tokenizer.ggml.bos_token_id"]?.intValue
        cfg.eosTokenIds = g.metadata["tokenizer.ggml.eos_token_id"]?.intValue.map { [$0] } ?? []
        try arch.readGGUF(&cfg, g)
        try cfg.validate(path: path)
        return cfg
    }
}
