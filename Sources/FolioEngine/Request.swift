import FolioModels
import FolioTokenizers
import Foundation

/// A token's log-probability with its rank in the distribution (1 = most likely) and its text.
public struct Logprob: Sendable, Equatable {
    public let tokenId: Int32
    public let logprob: Float
    public let rank: Int
    public let text: String
}

/// Log-probabilities at one position: the chosen (or prompt) token first, then the top-k.
public struct PositionLogprobs: Sendable {
    public let chosen: Logprob
    public let top: [Logprob]
}

public enum FinishReason: String, Sendable { case stop, length, abort }

/// One sample of a request.
public struct CompletionOutput: Sendable {
    public let index: Int
    /// Whole text and ids so far.
    public var text: String
    public var tokenIds: [Int32]
    /// What this step added (for streaming).
    public var deltaText: String
    public var deltaTokenIds: [Int32]
    public var cumulativeLogprob: Float?
    public var logprobs: [PositionLogprobs]?
    public var finishReason: FinishReason?
    /// The stop string or stop token id that ended the sample.
    public var stopReason: String?
}

public struct RequestMetrics: Sendable {
    public var arrival: Date
    public var firstScheduled: Date?
    public var firstToken: Date?
    public var finished: Date?
    public var queueTime: TimeInterval? { firstScheduled.map { $0.timeIntervalSince(arrival) } }
    public var timeToFirstToken: TimeInterval? { firstToken.map { $0.timeIntervalSince(arrival) } }
}

/// A request's state as the engine reports it after a step (incremental deltas) or at the end (final).
public struct RequestOutput: Sendable {
    public let requestId: String
    public let prompt: String?
    public let promptTokenIds: [Int32]
    public var promptLogprobs: [PositionLogprobs?]?
    public var outputs: [CompletionOutput]
    public var finished: Bool
    /// Prompt tokens served from the prefix cache.
    public var numCachedTokens: Int
    public var metrics: RequestMetrics
}

/// What a prompt is: text (tokenized with BOS as the model says) or token ids.
public enum PromptInput: Sendable, ExpressibleByStringLiteral {
    case text(String)
    case tokens([Int32])
    public init(stringLiteral s: String) { self = .text(s) }
}

enum SequenceStatus { case waiting, waitingForFork, running, finished }

/// One sample being generated: the scheduling unit (vLLM's Request). Its tokens are the prompt followed by the
/// output; `numComputed` catches up with `tokens.count` through prefill chunks, prefix-cache hits and decodes.
final class EngineSequence {
    let group: RequestGroup
    let index: Int
    var tokens: [Int32]
    var numComputed = 0
    var blockTable: [Int] = []
    /// Hashes of the full blocks whose K/V are computed (a chain: block i's parent is block i - 1).
    var blockHashes: [BlockHash] = []
    var status: SequenceStatus = .waiting
    var rng: SeededRandom
    var detok: StreamingDetokenizer
    var text = ""
    /// Text already reported to the caller.
    var emittedChars = 0
    var emittedTokens = 0
    var finishReason: FinishReason?
    var stopReason: String?
    var logprobs: [PositionLogprobs] = []
    var cumulativeLogprob: Float = 0
    var numCachedTokens = 0
    /// Logits of the last prompt position, kept by the leader for its forked siblings.
    var pendingLogits: [Float]?
    let arrivalOrder: Int

    init(group: RequestGroup, index: Int, tokens: [Int32], seed: UInt64, tokenizer: Tokenizer, arrivalOrder: Int) {
        self.group = group
        self.index = index
        self.tokens = tokens
        rng = SeededRandom(seed: seed)
        detok = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: group.params.skipSpecialTokens)
        self.arrivalOrder = arrivalOrder
    }

    var promptLength: Int { group.promptTokenIds.count }
    var outputIds: ArraySlice<Int32> { tokens[promptLength...] }
    var numOutput: Int { tokens.count - promptLength }
    var isFinished: Bool { status == .finished }
}

/// A request: its prompt, parameters and `n` samples.
final class RequestGroup {
    let id: String
    let prompt: String?
    let promptTokenIds: [Int32]
    let params: SamplingParams
    let maxTokens: Int
    var sequences: [EngineSequence] = []
    var metrics: RequestMetrics
    var promptLogprobs: [PositionLogprobs?] = []
    var promptLogprobsDone = false
    let stopIds: Set<Int32>
    let extraKeys: [String]

    init(id: String, prompt: String?, promptTokenIds: [Int32], params: SamplingParams, maxTokens: Int, stopIds: Set<Int32>, extraKeys: [String]) {
        self.id = id
        self.prompt = prompt
        self.promptTokenIds = promptTokenIds
        self.params = params
        self.maxTokens = maxTokens
        self.stopIds = stopIds
        self.extraKeys = extraKeys
        metrics = RequestMetrics(arrival: Date())
    }

    var finished: Bool { sequences.allSatisfy(\.isFinished) }
}
