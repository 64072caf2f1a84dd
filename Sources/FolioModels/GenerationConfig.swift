import FolioWeights
import Foundation

/// A model's default sampling from Hugging Face `generation_config.json` (vLLM applies these when a request
/// leaves a field unset).
public struct GenerationConfig: Sendable, Equatable {
    public var temperature: Float?
    public var topP: Float?
    public var topK: Int?
    public var minP: Float?
    public var repetitionPenalty: Float?
    public var maxNewTokens: Int?
    /// Extra end-of-sequence ids (`eos_token_id` may be a list).
    public var eosTokenIds: [Int] = []
    public var bosTokenId: Int?

    public init() {}

    /// Reads `generation_config.json` in a model folder; nil when there is none (GGUF files carry none).
    public static func load(modelPath: String) throws -> GenerationConfig? {
        let p = modelPath + "/generation_config.json"
        guard FileManager.default.fileExists(atPath: p) else { return nil }
        let j = try JSONValue.parse(file: p)
        guard j.objectValue != nil else { throw FolioError.malformedFile(path: p, problem: "not a JSON object") }
        var g = GenerationConfig()
        // do_sample false means greedy in transformers, whatever temperature says.
        let doSample = j["do_sample"]?.boolValue
        g.temperature = doSample == false ? 0 : j["temperature"]?.doubleValue.map(Float.init)
        g.topP = j["top_p"]?.doubleValue.map(Float.init)
        g.topK = j["top_k"]?.intValue
        g.minP = j["min_p"]?.doubleValue.map(Float.init)
        g.repetitionPenalty = j["repetition_penalty"]?.doubleValue.map(Float.init)
        g.maxNewTokens = j["max_new_tokens"]?.intValue
        if let e = j["eos_token_id"] { g.eosTokenIds = e.arrayValue?.compactMap(\.intValue) ?? e.intValue.map { [$0] } ?? [] }
        g.bosTokenId = j["bos_token_id"]?.intValue
        return g
    }
}
