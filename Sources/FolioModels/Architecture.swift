import FolioWeights
import Foundation

/// A decoder family: everything in which one differs from another, in one place. `ModelConfig.fromHuggingFace` and
/// `fromGGUF` read the keys every family shares, then the family reads its own; `WeightLoader` builds each layer from
/// the blocks the family names (attention, feed-forward, norms); its layer forward arranges the shared blocks
/// (DecoderLayer.swift). Adding a family: a file in `Architectures/` with a type conforming to this, and its line in
/// `Architectures.all` (Registry.swift). Every requirement but the names has a default: plain Llama.
protocol Architecture: Sendable {
    /// Folio's name for the family (`folio inspect`'s `family`).
    var name: String { get }
    /// Hugging Face `architectures` entries.
    var huggingFaceNames: [String] { get }
    /// GGUF `general.architecture` values.
    var ggufNames: [String] { get }
    /// Which layers a Hugging Face config's `sliding_window` applies to.
    var slidingWindow: SlidingWindowRule { get }
    /// The config.json keys `readHuggingFace` reads (beyond `ConfigKeys.shared`).
    var configKeys: Set<String> { get }
    /// `quantization_config` methods whose checkpoints the family reads (others are refused by name).
    var quantizationMethods: Set<String> { get }
    /// The family's own config.json keys and fixed choices, after the shared ones were read (`c` is the text config).
    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws
    /// The family's own GGUF metadata, after the shared keys were read.
    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws
    /// What the KV cache holds per token and layer.
    func kvLayout(_ cfg: ModelConfig) -> KVLayout
    /// Layer i's attention projections.
    func attention(_ w: WeightLoader, layer i: Int) throws -> AttentionWeights
    /// Layer i's feed-forward from a Hugging Face checkpoint (GGUF files name every family's the same way:
    /// `WeightLoader.ggufFeedForward`).
    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward
    /// The norms around attention and the feed-forward, by their names in each format.
    var huggingFaceNorms: LayerNormNames { get }
    var ggufNorms: LayerNormNames { get }
    /// Layer l of one forward step, from the shared blocks (DecoderLayer.swift; the default: attention, then the
    /// feed-forward, each pre-normed with a residual add).
    func forwardLayer(_ m: CausalLM, layer l: Int, _ s: LayerStep)
}

/// What the KV cache holds per token and layer: `heads` rows of `headDim` elements for K and for V, or (`sharesKV`)
/// one set of rows that serves as both (multi-head latent attention's compressed latent).
public struct KVLayout: Sendable, Equatable {
    public let heads: Int, headDim: Int, sharesKV: Bool
}

/// Names of a layer's norms (without the layer prefix): before attention, after it (Gemma 3's sandwich norm), before
/// the feed-forward, after it.
struct LayerNormNames: Sendable {
    var attention: String
    var postAttention: String? = nil
    var feedForward: String
    var postFeedForward: String? = nil

    static let huggingFace = LayerNormNames(attention: "input_layernorm.weight", feedForward: "post_attention_layernorm.weight")
    static let gguf = LayerNormNames(attention: "attn_norm.weight", feedForward: "ffn_norm.weight")
}

/// Which layers a config's `sliding_window` applies to when the config has no `layer_types` list (which, where a
/// family reads it, names each layer's kind), as each family's transformers config decides it.
enum SlidingWindowRule: Sendable {
    /// The family has no sliding window; the key is ignored (DeepSeek).
    case none
    /// Only the layers `layer_types` names sliding (Llama, as vLLM reads it: transformers' Llama forward ignores the
    /// window, its generate() cache applies it to every layer).
    case layerTypes
    /// Every layer when `sliding_window` is set (Mistral, Mixtral, Phi-3).
    case everyLayer
    /// Only with `use_sliding_window` true (default false): layers from `max_window_layers` (default 28) on, or
    /// every layer where the family has no max_window_layers (Qwen2 and Qwen3; Qwen3-MoE).
    case qwen(maxWindowLayers: Bool)
    /// Every layer but each n-th (layer i is sliding when (i + 1) % n != 0), n from the config key if given (Gemma 3's
    /// `sliding_window_pattern`, default 6; GPT-OSS, 2).
    case pattern(key: String?, every: Int)
}

extension Architecture {
    var slidingWindow: SlidingWindowRule { .none }
    var configKeys: Set<String> { [] }
    var quantizationMethods: Set<String> { [] }
    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws {}
    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws {}
    func kvLayout(_ cfg: ModelConfig) -> KVLayout { KVLayout(heads: cfg.numKVHeads, headDim: cfg.headDim, sharesKV: false) }
    func attention(_ w: WeightLoader, layer i: Int) throws -> AttentionWeights { .grouped(try w.groupedAttention(i)) }
    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward { .dense(try w.huggingFaceMLP(i)) }
    var huggingFaceNorms: LayerNormNames { .huggingFace }
    var ggufNorms: LayerNormNames { .gguf }

    /// A `llama` or `mistral` GGUF file: llama.cpp's converter permuted its Q/K rows (RoPE rotates adjacent pairs);
    /// one with experts is a Mixtral.
    func readLlamaFamilyGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws {
        cfg.ropeStyle = .interleaved
        if cfg.numExperts > 0 {
            cfg.arch = Mixtral()
            try cfg.arch.readGGUF(&cfg, g)
        }
    }

    /// `attention_bias` (q/k/v and o_proj), as Llama, Qwen3, Qwen3-MoE, Gemma 3 and GPT-OSS read it.
    func readAttentionBias(_ cfg: inout ModelConfig, _ c: JSONValue) {
        cfg.attentionBias = c["attention_bias"]?.boolValue ?? false
        cfg.outputBias = cfg.attentionBias
    }
}

extension SlidingWindowRule {
    /// Per layer: the window, or nil. `layer_types` (where the family reads it) names each layer's kind.
    func windows(_ c: JSONValue, layers: Int, path: String) throws -> [Int?] {
        var out = [Int?](repeating: nil, count: layers)
        guard let w = c["sliding_window"]?.intValue, w > 0 else { return out }
        let types = c["layer_types"]?.arrayValue
        func fromTypes(_ t: [JSONValue]) { for (i, x) in t.enumerated() where i < layers && x.stringValue == "sliding_attention" { out[i] = w } }
        switch self {
        case .none: break
        case .layerTypes: if let types { fromTypes(types) }
        case .everyLayer: for i in 0..<layers { out[i] = w }
        case .qwen(let maxWindowLayers):
            guard c["use_sliding_window"]?.boolValue == true else { break }
            if maxWindowLayers, let types { fromTypes(types); break }
            let from = maxWindowLayers ? c["max_window_layers"]?.intValue ?? 28 : 0
            for i in 0..<layers where i >= from { out[i] = w }
        case .pattern(let key, let every):
            if let types { fromTypes(types); break }
            let n = key.flatMap { c[$0]?.intValue } ?? every
            guard n >= 1 else { throw FolioError.malformedFile(path: path, problem: "config \(key ?? "sliding window pattern") \(n) must be at least 1") }
            for i in 0..<layers where (i + 1) % n != 0 { out[i] = w }
        }
        return out
    }
}
