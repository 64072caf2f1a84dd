import FolioWeights

/// Gemma 3's text model (`Gemma3ForCausalLM`; GGUF `gemma3`): q/k head norms, norms after attention and after the
/// MLP as well as before (sandwich), RMSNorm weights stored as w for x * (1 + w), embeddings scaled by sqrt(hidden),
/// GELU-tanh by default, `query_pre_attn_scalar` for the softmax scale, optional logit soft caps, and sliding-window
/// layers (`layer_types`, else all but every `sliding_window_pattern`-th) with their own unscaled RoPE base
/// (`rope_local_base_freq`, or transformers 5's `rope_parameters.sliding_attention`).
struct Gemma3: Architecture {
    var name: String { "gemma3" }
    var huggingFaceNames: [String] { ["Gemma3ForCausalLM"] }
    var ggufNames: [String] { ["gemma3"] }
    var slidingWindow: SlidingWindowRule { .pattern(key: "sliding_window_pattern", every: 6) }
    var configKeys: Set<String> {
        ["attention_bias", "query_pre_attn_scalar", "final_logit_softcapping", "attn_logit_softcapping", "rope_local_base_freq",
         "sliding_window_pattern", "use_bidirectional_attention"]
    }
    var huggingFaceNorms: LayerNormNames {
        LayerNormNames(attention: "input_layernorm.weight", postAttention: "post_attention_layernorm.weight",
                       feedForward: "pre_feedforward_layernorm.weight", postFeedForward: "post_feedforward_layernorm.weight")
    }
    var ggufNorms: LayerNormNames {
        LayerNormNames(attention: "attn_norm.weight", postAttention: "post_attention_norm.weight", feedForward: "ffn_norm.weight",
                       postFeedForward: "post_ffw_norm.weight")
    }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws {
        if c["use_bidirectional_attention"]?.boolValue == true {
            throw FolioError.unsupported(path: path, what: "use_bidirectional_attention true (an encoder; Folio runs Gemma 3 as a causal LM)")
        }
        readAttentionBias(&cfg, c)
        shared(&cfg)
        if (c["hidden_activation"] ?? c["hidden_act"]) == nil { cfg.activation = .geluTanh }
        cfg.normWeightOffset = 1
        // The local layers' RoPE is unscaled (transformers 4 forces it; 5 reads rope_parameters.sliding_attention).
        if let t = c["rope_parameters"]?["sliding_attention"]?["rope_type"]?.stringValue, t != "default" {
            throw FolioError.unsupported(path: path, what: "rope_parameters.sliding_attention.rope_type \(t) (Gemma 3's sliding layers run unscaled RoPE)")
        }
        if cfg.ropeLocalTheta == nil { cfg.ropeLocalTheta = c["rope_local_base_freq"]?.doubleValue ?? 10000 }
        if let s = c["query_pre_attn_scalar"]?.doubleValue { cfg.attentionScale = Float(1 / s.squareRoot()) }
        cfg.finalLogitSoftcap = c["final_logit_softcapping"]?.doubleValue.map(Float.init)
        cfg.attnLogitSoftcap = c["attn_logit_softcapping"]?.doubleValue.map(Float.init)
    }

    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws {
        shared(&cfg)
        cfg.activation = .geluTanh
        cfg.ropeLocalTheta = 10000
        // Every sixth layer is global; the others use the sliding window (llama.cpp's gemma3 pattern).
        let w = g.archValue("attention.sliding_window")?.intValue ?? 512
        for i in 0..<cfg.numLayers where i % 6 != 5 { cfg.slidingWindow[i] = w }
    }

    private func shared(_ cfg: inout ModelConfig) {
        cfg.qkNorm = true
        cfg.embeddingScale = Float(cfg.hiddenSize).squareRoot()
    }
}
