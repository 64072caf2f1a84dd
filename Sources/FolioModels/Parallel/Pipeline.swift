import FolioWeights
import Foundation

/// Pipeline parallelism: `size` ranks each hold a contiguous range of layers (the first also embeds, the last also
/// holds the final norm and LM head). Rank 0's engine keeps up to `size` micro-batches in flight
/// (`EngineCore.pipelinedStep`), so every stage can work at once.
///
/// Layers split evenly (the last rank's LM head is computed for the rows that need logits only: little in a prefill,
/// every row in a decode, where SmolLM2's head weighs as much as 8 of its 30 layers); vLLM's
/// `VLLM_PP_LAYER_PARTITION` ("17,13": layers per rank) sets the split instead.
public struct PipelinePlan: Sendable, Equatable {
    public let rank: Int, size: Int
    public let layers: [Range<Int>]

    public init(config c: ModelConfig, rank: Int, size: Int, partition: String? = ProcessInfo.processInfo.environment["VLLM_PP_LAYER_PARTITION"]) throws {
        func refuse(_ m: String) -> FolioError { FolioError.invalidArgument(name: "--pipeline-parallel-size", message: m) }
        guard c.numLayers >= size else { throw refuse("\(size) ranks need at least \(size) layers; \(c.architecture) has \(c.numLayers)") }
        self.rank = rank
        self.size = size
        if let p = partition {
            let counts = p.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard counts.count == size, counts.allSatisfy({ ($0 ?? 0) >= 1 }), counts.reduce(0, { $0 + ($1 ?? 0) }) == c.numLayers else {
                throw refuse("VLLM_PP_LAYER_PARTITION=\(p) must be \(size) positive layer counts adding up to \(c.numLayers)")
            }
            var start = 0, ranges: [Range<Int>] = []
            for n in counts { ranges.append(start..<(start + n!)); start += n! }
            layers = ranges
        } else {
            layers = (0..<size).map { r in (r * c.numLayers / size)..<((r + 1) * c.numLayers / size) }
        }
    }

    public var isFirst: Bool { rank == 0 }
    public var isLast: Bool { rank == size - 1 }
    public var mine: Range<Int> { layers[rank] }

    /// This rank's config: its layers (and their sliding windows).
    func local(_ c: ModelConfig) -> ModelConfig {
        var l = c
        l.numLayers = mine.count
        l.slidingWindow = Array(c.slidingWindow[mine])
        return l
    }

    func part(_ w: ModelWeights) -> ModelWeights {
        ModelWeights(embedding: w.embedding, layers: Array(w.layers[mine]), finalNorm: w.finalNorm, lmHead: w.lmHead,
                     ropeFreqFactors: w.ropeFreqFactors)
    }
}
