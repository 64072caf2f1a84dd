import FolioWeights
import Foundation

/// The decoder families Folio runs: one line each (the family's file in Architectures/ says the rest).
enum Architectures {
    static let all: [any Architecture] = [
        Llama(), Mistral(), Mixtral(), Qwen2(), Qwen3(), Qwen3MoE(), Phi3(), Gemma3(), DeepSeek(v3: false), DeepSeek(v3: true), GptOss(),
    ]

    static func forHuggingFace(_ name: String) -> (any Architecture)? { all.first { $0.huggingFaceNames.contains(name) } }
    static func forGGUF(_ name: String) -> (any Architecture)? { all.first { $0.ggufNames.contains(name) } }

    /// Every Hugging Face and GGUF architecture name Folio loads (for the error that refuses another).
    static var supportedNames: [String] { all.flatMap { $0.huggingFaceNames + $0.ggufNames } }
}
