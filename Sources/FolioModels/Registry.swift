import FolioWeights
import Foundation

/// The architecture families Folio runs. Adding one: a case here, its names, and its config/weight quirks.
public enum ModelFamily: String, Sendable, CaseIterable {
    case llama, mistral, mixtral, qwen2, qwen3, qwen3MoE, phi3, gemma3, deepseekV2, deepseekV3, gptOss

    /// Hugging Face `architectures` entries.
    var huggingFaceNames: [String] {
        switch self {
        case .llama: return ["LlamaForCausalLM"]
        case .mistral: return ["MistralForCausalLM"]
        case .mixtral: return ["MixtralForCausalLM"]
        case .qwen2: return ["Qwen2ForCausalLM"]
        case .qwen3: return ["Qwen3ForCausalLM"]
        case .qwen3MoE: return ["Qwen3MoeForCausalLM"]
        case .phi3: return ["Phi3ForCausalLM"]
        case .gemma3: return ["Gemma3ForCausalLM"]
        case .deepseekV2: return ["DeepseekV2ForCausalLM"]
        case .deepseekV3: return ["DeepseekV3ForCausalLM"]
        case .gptOss: return ["GptOssForCausalLM"]
        }
    }

    /// GGUF `general.architecture` values.
    var ggufNames: [String] {
        switch self {
        case .llama: return ["llama"]
        case .mistral: return ["mistral"]
        case .mixtral: return ["mixtral"]
        case .qwen2: return ["qwen2"]
        case .qwen3: return ["qwen3"]
        case .qwen3MoE: return ["qwen3moe"]
        case .phi3: return ["phi3"]
        case .gemma3: return ["gemma3"]
        case .deepseekV2: return ["deepseek2"]   // V3 files too: their routing is in the metadata
        case .deepseekV3: return []
        case .gptOss: return ["gpt-oss"]
        }
    }

    static func forHuggingFace(_ name: String) -> ModelFamily? { allCases.first { $0.huggingFaceNames.contains(name) } }
    static func forGGUF(_ name: String) -> ModelFamily? { allCases.first { $0.ggufNames.contains(name) } }

    public static var supportedNames: [String] { allCases.flatMap { $0.huggingFaceNames + $0.ggufNames } }

    func adjustHuggingFace(_ c: inout ModelConfig, _ j: JSONValue) {
        switch self {
        case .qwen2: c.attentionBias = true
        case .qwen3, .qwen3MoE: c.qkNorm = true
        case .gemma3:
            c.qkNorm = true
            c.sandwichNorms = true
            c.activation = .geluTanh
            c.embeddingScale = Float(c.hiddenSize).squareRoot()
            c.normWeightOffset = 1
            c.ropeLocalTheta = j["rope_local_base_freq"]?.doubleValue ?? 10000
            if let s = j["query_pre_attn_scalar"]?.doubleValue { c.attentionScale = Float(1 / s.squareRoot()) }
            c.finalLogitSoftcap = j["final_logit_softcapping"]?.doubleValue.map(Float.init)
            c.attnLogitSoftcap = j["attn_logit_softcapping"]?.doubleValue.map(Float.init)
        default: break
        }
    }

    func adjustGGUF(_ c: inout ModelConfig, _ g: GGUFFile) {
        switch self {
        case .llama, .mistral, .mixtral:
            // llama.cpp's converter permutes Q/K rows of these families: rotate adjacent pairs.
            c.ropeStyle = .interleaved
            if c.numExperts > 0 { c.family = .mixtral }
        case .qwen2: c.attentionBias = g.tensor(named: "blk.0.attn_q.bias") != nil
        case .qwen3, .qwen3MoE: c.qkNorm = true
        case .phi3, .deepseekV2, .deepseekV3, .gptOss: break
        case .gemma3:
            c.qkNorm = true
            c.sandwichNorms = true
            c.activation = .geluTanh
            c.embeddingScale = Float(c.hiddenSize).squareRoot()
            c.ropeLocalTheta = 10000
            // Every sixth layer is global; the others use the sliding window (llama.cpp's gemma3 pattern).
            let w = g.archValue("attention.sliding_window")?.intValue ?? 512
            for i in 0..<c.numLayers where i % 6 != 5 { c.slidingWindow[i] = w }
        }
    }
}
