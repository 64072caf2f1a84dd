import FolioWeights

/// The config.json keys Folio knows, checked one by one against transformers' configuration and modeling code of
/// each supported family (docs/config-keys.md says what each does here): the keys every family's reading shares,
/// each family's own (`Architecture.configKeys`), and those with no effect on inference. A key in none of them is one
/// Folio does not read: `folio inspect` lists it (`unread_config_keys`), and a test checks that every key of every
/// supported family's transformers config is known (Tests/Fixtures/models/config-keys.json, from
/// scripts/list_config_keys.py).
public enum ConfigKeys {
    /// Read by `ModelConfig.fromHuggingFace` for every family.
    static let shared: Set<String> = [
        "architectures", "text_config", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "max_position_embeddings",
        "tie_word_embeddings", "rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor",
        "original_max_position_embeddings", "hidden_act", "hidden_activation", "bos_token_id", "eos_token_id", "torch_dtype",
        "dtype", "num_local_experts", "num_experts", "num_experts_per_tok", "moe_intermediate_size", "norm_topk_prob",
        "quantization_config",
        // Read by the family's sliding-window rule (SlidingWindowRule), ignored where the family has none.
        "sliding_window", "use_sliding_window", "max_window_layers", "layer_types",
        // Read by the embedding runner (EmbeddingModel: whether `dimensions` may cut a decoder embedding model's vectors).
        "is_matryoshka", "matryoshka_dimensions",
    ]

    /// Keys that change nothing in a forward pass: training-only (dropout, auxiliary losses, router noise, init),
    /// output switches of transformers' API, metadata, and values derived from other keys.
    static let noEffect: Set<String> = [
        "_name_or_path", "model_type", "transformers_version", "id2label", "label2id", "problem_type", "return_dict",
        "output_attentions", "output_hidden_states", "use_cache", "is_encoder_decoder", "chunk_size_feed_forward",
        "initializer_range", "attention_dropout", "embd_pdrop", "resid_pdrop", "router_aux_loss_coef",
        "output_router_logits", "router_jitter_noise", "pad_token_id",
        // Splits Llama's projections into slices whose products are concatenated or summed: the same math.
        "pretraining_tp",
        // DeepSeek V3's multi-token-prediction layers: transformers does not run them either.
        "num_nextn_predict_layers",
        // qk_nope_head_dim + qk_rope_head_dim (transformers recomputes it); Gemma 3's private copy of
        // sliding_window_pattern.
        "qk_head_dim", "_sliding_window_pattern",
    ]

    /// Of a config's keys, those Folio neither reads for this family nor knows to be without effect.
    static func unread(_ keys: [String], arch: any Architecture) -> [String] {
        keys.filter { !shared.contains($0) && !noEffect.contains($0) && !arch.configKeys.contains($0) }.sorted()
    }

    /// Of `keys`, those Folio does not read for the Hugging Face architecture `architecture` (nil: not one Folio runs).
    public static func unread(_ keys: [String], architecture: String) -> [String]? {
        Architectures.forHuggingFace(architecture).map { unread(keys, arch: $0) }
    }
}
