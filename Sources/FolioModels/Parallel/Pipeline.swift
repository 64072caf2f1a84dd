import FolioWeights

/// Pipeline parallelism: `size` ranks each hold a contiguous range of layers (the first also embeds, the last also
/// holds the final norm and LM head). One batch at a time goes through the ranks in turn: this splits a model's
/// memory across processes or hosts, not its time (no micro-batches in flight yet).
public struct PipelinePlan: Sendable, Equatable {
    public let rank: Int, size: Int
    public let layers: [Range<Int>]

    public init(config c: ModelConfig, rank: Int, size: Int) throws {
        guard c.numLayers >= size else {
            throw FolioError.invalidArgument(name: "--pipeline-parallel-size", message: "\(size) ranks need at least \(size) layers; \(c.architecture) has \(c.numLayers)")
        }
        self.rank = rank
        self.size = size
        layers = (0..<size).map { r in (r * c.numLayers / size)..<((r + 1) * c.numLayers / size) }
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
