import FolioWeights
import Foundation

/// DeepSeek V2 / V3 (`DeepseekV2ForCausalLM`, `DeepseekV3ForCausalLM`; GGUF `deepseek2`): multi-head latent
/// attention (LatentAttention.swift) with decoupled rotary keys in DeepSeek's interleaved pairs and YaRN scaling
/// (cos/sin by mscale / mscale_all_dim, the softmax scale by mscale_all_dim's mscale squared), dense first layers,
/// then MoE layers with shared experts and DeepSeek's routing (ExpertRouting.swift): V2 softmax scores with
/// group-limited greedy choice, V3 sigmoid scores with the correction bias (`noaux_tc`).
///
/// Where transformers and the original code differ, Folio follows the original (and vLLM): `norm_topk_prob`
/// renormalizes V2's weights too (transformers' V2 never does; the released V2 configs set it false), and
/// `moe_layer_freq` makes only every n-th layer sparse (transformers ignores it; the released configs set 1).
struct DeepSeek: Architecture {
    let v3: Bool
    var name: String { v3 ? "deepseekV3" : "deepseekV2" }
    var huggingFaceNames: [String] { [v3 ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM"] }
    var ggufNames: [String] { v3 ? [] : ["deepseek2"] }   // V3 files are deepseek2 too: their routing is in the metadata
    var configKeys: Set<String> {
        ["attention_bias", "mlp_bias", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
         "n_routed_experts", "n_shared_experts", "first_k_dense_replace", "moe_layer_freq", "scoring_func", "topk_method", "n_group",
         "topk_group", "routed_scaling_factor", "rope_interleave"]
    }

    func readHuggingFace(_ cfg: inout ModelConfig, _ c: JSONValue, path: String) throws { try cfg.readDeepSeek(c, v3: v3, path: path) }
    func readGGUF(_ cfg: inout ModelConfig, _ g: GGUFFile) throws { try cfg.readDeepSeekGGUF(g) }

    /// One row per token and layer, the latent and the shared rotary key, serving as K and V.
    func kvLayout(_ cfg: ModelConfig) -> KVLayout {
        guard let m = cfg.latentAttention else { return KVLayout(heads: cfg.numKVHeads, headDim: cfg.headDim, sharesKV: false) }
        return KVLayout(heads: 1, headDim: m.cacheWidth, sharesKV: true)
    }

    func attention(_ w: WeightLoader, layer i: Int) throws -> AttentionWeights {
        .latent(try w.isGGUF ? w.ggufLatentAttention(i) : w.hfLatentAttention(i))
    }

    func huggingFaceFeedForward(_ w: WeightLoader, layer i: Int) throws -> FeedForward {
        w.config.numExperts > 0 && !w.config.denseLayers.contains(i) ? .moe(try w.huggingFaceExperts(i)) : .dense(try w.huggingFaceMLP(i))
    }
}

extension ModelConfig {
    /// The DeepSeek fields of a Hugging Face config.json.
    fileprivate mutating func readDeepSeek(_ c: JSONValue, v3: Bool, path: String) throws {
        func int(_ k: String) -> Int? { c[k]?.intValue }
        func req(_ k: String) throws -> Int {
            guard let v = int(k) else { throw FolioError.missing(path: path, what: "config key \(k)") }
            return v
        }
        for flag in ["attention_bias", "mlp_bias"] where c[flag]?.boolValue == true {
            throw FolioError.unsupported(path: path, what: "\(flag) true in a \(architecture) config")
        }
        let m = LatentAttention(qLoraRank: int("q_lora_rank"), kvLoraRank: try req("kv_lora_rank"), nopeDim: try req("qk_nope_head_dim"),
                                ropeDim: try req("qk_rope_head_dim"), valueDim: try req("v_head_dim"))
        try m.validate(path: path)
        latentAttention = m
        headDim = m.qkDim
        ropeDim = m.ropeDim
        numKVHeads = numHeads   // MLA has no KV heads of its own; the cache holds one latent row (DeepSeek.kvLayout)
        ropeStyle = v3 && c["rope_interleave"]?.boolValue == false ? .neox : .interleaved
        attentionScale = 1 / Float(m.qkDim).squareRoot()
        if case .yarn(let factor, _, _, _, _) = ropeScaling, let all = Self.ropeScaling(c)?["mscale_all_dim"]?.doubleValue, all != 0 {
            let s = Float(Rope.yarnMscale(factor, all))
            attentionScale *= s * s
        }
        // Experts: none means every layer is dense (DeepSeek's dense variants).
        numExperts = int("n_routed_experts") ?? 0
        let firstDense = int("first_k_dense_replace") ?? 0, freq = int("moe_layer_freq") ?? 1
        guard firstDense >= 0, freq >= 1 else {
            throw FolioError.malformedFile(path: path, problem: "config first_k_dense_replace \(firstDense) / moe_layer_freq \(freq) is invalid")
        }
        denseLayers = Set((0..<numLayers).filter { $0 < firstDense || $0 % freq != 0 })
        normTopKProb = c["norm_topk_prob"]?.boolValue ?? v3
        let scoring = c["scoring_func"]?.stringValue ?? (v3 ? "sigmoid" : "softmax")
        guard let sf = ExpertRouting.Scoring(rawValue: scoring) else {
            throw FolioError.unsupported(path: path, what: "scoring_func \(scoring) (supported: softmax, sigmoid)")
        }
        routing.scoring = sf
        let method = c["topk_method"]?.stringValue ?? (v3 ? "noaux_tc" : "greedy")
        switch method {
        case "greedy": break
        case "group_limited_greedy", "noaux_tc":
            routing.groups = int("n_group") ?? 1
            routing.topGroups = int("topk_group") ?? routing.groups
        default: throw FolioError.unsupported(path: path, what: "topk_method \(method) (supported: greedy, group_limited_greedy, noaux_tc)")
        }
        routing.scale = Float(c["routed_scaling_factor"]?.doubleValue ?? (v3 ? 2.5 : 1))
        routing.sharedExperts = numExperts > 0 ? int("n_shared_experts") ?? (v3 ? 1 : 2) : 0
    }

    /// The `deepseek2.*` metadata llama.cpp's converter writes (its MQA view of MLA: key_length is the latent row,
    /// key_length_mla / value_length_mla the per-head sizes).
    fileprivate mutating func readDeepSeekGGUF(_ g: GGUFFile) throws {
        let path = g.path
        func int(_ k: String) -> Int? { g.archValue(k)?.intValue }
        func req(_ k: String) throws -> Int {
            guard let v = int(k) else { throw FolioError.missing(path: path, what: "metadata \(g.architecture ?? "?").\(k)") }
            return v
        }
        let rope = try req("rope.dimension_count"), qk = try req("attention.key_length_mla")
        guard qk > rope else { throw FolioError.malformedFile(path: path, problem: "key_length_mla \(qk) is not larger than the rotary dimension \(rope)") }
        let m = LatentAttention(qLoraRank: int("attention.q_lora_rank"), kvLoraRank: try req("attention.kv_lora_rank"), nopeDim: qk - rope,
                                ropeDim: rope, valueDim: try req("attention.value_length_mla"))
        try m.validate(path: path)
        latentAttention = m
        headDim = m.qkDim
        ropeDim = m.ropeDim
        numKVHeads = numHeads
        ropeStyle = .interleaved
        attentionScale = 1 / Float(m.qkDim).squareRoot()
        if case .yarn(let f, let orig, let bf, let bs, _) = ropeScaling {
            // The converter keeps 0.1 * mscale_all_dim; DeepSeek's configs set mscale = mscale_all_dim, so cos/sin are unscaled.
            ropeScaling = .yarn(factor: f, originalMax: orig, betaFast: bf, betaSlow: bs, attentionFactor: 1)
            if let mul = g.archValue("rope.scaling.yarn_log_multiplier")?.doubleValue, mul != 0, f > 1 {
                let s = Float(1 + mul * log(f))
                attentionScale *= s * s
            }
        }
        denseLayers = Set(0..<min(numLayers, int("leading_dense_block_count") ?? 0))
        normTopKProb = g.archValue("expert_weights_norm")?.boolValue ?? false
        switch int("expert_gating_func") ?? 1 {
        case 1: routing.scoring = .softmax
        case 2: routing.scoring = .sigmoid
        case let f: throw FolioError.unsupported(path: path, what: "expert_gating_func \(f) (supported: 1 softmax, 2 sigmoid)")
        }
        routing.groups = int("expert_group_count") ?? 1
        routing.topGroups = int("expert_group_used_count") ?? routing.groups
        routing.scale = Float(g.archValue("expert_weights_scale")?.doubleValue ?? 1)
        routing.sharedExperts = int("expert_shared_count") ?? 0
    }
}
