import FolioWeights
import Foundation

/// A seeded generator (SplitMix64) so sampling is reproducible per request.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Picks the next token: greedy (temperature 0, ties to the lowest id, as torch.argmax) or temperature + top-p.
public func sampleToken(_ logits: [Float], temperature: Float, topP: Float, rng: inout SeededRandom) -> Int32 {
    if temperature <= 0 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
    let m = logits.max() ?? 0
    var probs = logits.map { Double(expf(($0 - m) / temperature)) }
    let total = probs.reduce(0, +)
    for i in probs.indices { probs[i] /= total }
    var order = Array(probs.indices)
    if topP < 1 {
        order.sort { probs[$0] > probs[$1] }
        var cum = 0.0, keep = 0
        for i in order { cum += probs[i]; keep += 1; if cum >= Double(topP) { break } }
        order = Array(order.prefix(keep))
    }
    let mass = order.reduce(0.0) { $0 + probs[$1] }
    var r = rng.nextUnit() * mass
    for i in order {
        r -= probs[i]
        if r < 0 { return Int32(i) }
    }
    return Int32(order.last!)
}

public struct GenerationResult: Sendable {
    public var tokenIds: [Int32]
    public var finishReason: String
}

extension CausalLM {
    /// Single-sequence generation with the reference forward pass (the engine batches many of these); `lora` applies
    /// an adapter.
    public func generate(prompt: [Int32], maxTokens: Int, temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0,
                         stopTokenIds: Set<Int32> = [], ignoreEOS: Bool = false, lora: LoRAAdapter? = nil) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw FolioError.invalidArgument(name: "prompt", message: "is empty") }
        guard maxTokens >= 0 else { throw FolioError.invalidArgument(name: "max_tokens", message: "must be >= 0") }
        for t in prompt where t < 0 || Int(t) >= config.vocabSize {
            throw FolioError.invalidArgument(name: "prompt", message: "token id \(t) is outside the vocabulary (\(config.vocabSize))")
        }
        let total = maxTokens > config.maxPositionEmbeddings ? config.maxPositionEmbeddings : prompt.count + maxTokens
        guard prompt.count <= config.maxPositionEmbeddings else {
            throw FolioError.invalidArgument(name: "prompt", message: "\(prompt.count) tokens exceed the model's context length \(config.maxPositionEmbeddings)")
        }
        let cache = makeCache(capacity: min(total, config.maxPositionEmbeddings))
        var rng = SeededRandom(seed: seed)
        var out: [Int32] = []
        var logits = try forward(tokens: prompt, cache: cache, lora: lora)[0]
        while out.count < maxTokens {
            let next = sampleToken(logits, temperature: temperature, topP: topP, rng: &rng)
            out.append(next)
            if !ignoreEOS, stopTokenIds.contains(next) { return GenerationResult(tokenIds: out, finishReason: "stop") }
            if out.count == maxTokens { break }
            if cache.count >= cache.capacity { return GenerationResult(tokenIds: out, finishReason: "length") }
            logits = try forward(tokens: [next], cache: cache, lora: lora)[0]
        }
        return GenerationResult(tokenIds: out, finishReason: "length")
    }
}
