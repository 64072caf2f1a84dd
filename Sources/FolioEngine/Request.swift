import FolioGrammar
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

/// What each output of a request carries (vLLM's `RequestOutputKind`).
public enum RequestOutputKind: Sendable {
    /// After every step, the whole text, ids and logprobs so far (and the step's delta).
    case cumulative
    /// After every step, only what the step added: O(new tokens) per step, for streaming.
    case delta
    /// Nothing until the request finishes; then the whole output once.
    case finalOnly
}

/// One sample of a request.
public struct CompletionOutput: Sendable {
    public let index: Int
    /// The text and ids so far (`.cumulative`, `.finalOnly`), or what this step added (`.delta`).
    public var text: String
    public var tokenIds: [Int32]
    /// What this step added (for streaming).
    public var deltaText: String
    public var deltaTokenIds: [Int32]
    /// Tokens generated so far, whatever the output kind.
    public var numTokens: Int
    public var cumulativeLogprob: Float?
    /// Per generated token: all so far, or this step's (`.delta`).
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
    /// Set when the request failed on its own (its step raised an error); the other requests went on.
    public var error: String? = nil
}

/// What a prompt is: text (tokenized with BOS as the model says), token ids, or both (text already tokenized).
public enum PromptInput: Sendable, ExpressibleByStringLiteral {
    case text(String)
    case tokens([Int32])
    case tokenized(text: String, ids: [Int32])
    public init(stringLiteral s: String) { self = .text(s) }
}

enum SequenceStatus { case waiting, waitingForFork, running, finished }

/// One sample being generated: the scheduling unit (vLLM's Request). Its tokens are the prompt followed by the
/// output; `numComputed` catches up with `tokens.count` through prefill chunks, prefix-cache hits and decodes.
final class EngineSequence {
    /// Unowned: the group owns its sequences (a strong reference back made every request a retain cycle that
    /// was never freed). The engine holds the group for as long as any of its sequences is scheduled.
    unowned let group: RequestGroup
    let index: Int
    var tokens: [Int32]
    var numComputed = 0
    /// KV blocks by position / blockSize; KVCacheManager.released for blocks out of every sliding window.
    var blockTable: [Int] = []
    /// Leading blocks of blockTable already released (sliding-window models).
    var releasedBlocks = 0
    /// Hashes of the full blocks whose K/V are computed (a chain: block i's parent is block i - 1).
    var blockHashes: [BlockHash] = []
    var status: SequenceStatus = .waiting
    var rng: SeededRandom
    var detok: StreamingDetokenizer
    var text = ""
    /// Unicode scalars in `text` (kept as text grows; stop strings and offsets count scalars, as Python counts `str`).
    var textScalars = 0
    /// Text (in scalars), tokens and logprob positions already reported to the caller.
    var emittedChars = 0
    var emittedTokens = 0
    var emittedLogprobs = 0
    var finishReason: FinishReason?
    var stopReason: String?
    var logprobs: [PositionLogprobs] = []
    /// Output token -> count (presence/frequency penalties), and every prompt and output token (repetition
    /// penalty); kept up to date as tokens are added, only when the request's penalties need them.
    var outputCounts: [Int32: Int] = [:]
    var seenTokens: Set<Int32> = []
    var cumulativeLogprob: Float = 0
    var numCachedTokens = 0
    /// Logits of the last prompt position, kept by the leader for its forked siblings.
    var pendingLogits: [Float]?
    let arrivalOrder: Int
    /// This sample's place in its structured-output grammar (each of n samples has its own). Preemption keeps it:
    /// the tokens it has read stay the sequence's tokens.
    var matcher: GrammarMatcher?
    /// The mask buffer the sampler fills (one bit per token), kept to avoid an allocation per step.
    var maskWords: [UInt64] = []
    /// The matcher position `maskWords` was computed for (nil: none yet).
    var maskKey: Int64?
    /// The grammar starts after `structuredOutputsAfter` appears in the output (reasoning first).
    var grammarWaiting = false
    /// Speculative decoding: the tokens proposed to follow `tokens` this step (verified with them, never part of
    /// `tokens` until accepted), and for a probabilistic draft model the distribution each was drawn from.
    var draft: [Int32] = []
    var draftProbs: [[Float]]? = nil
    /// Positions whose K/V the draft model has computed (its own cache, the same block table).
    var draftComputed = 0
    /// Estimated chance that a proposed token is accepted (moving average over this sample's verifications).
    var acceptance = Speculator.priorAcceptance
    /// The proposer's per-sample state (the suffix proposer's trie of this sample's tokens).
    var proposerState: AnyObject?

    /// Starts the grammar once the output text holds the tag it waits for (called after each new token's text;
    /// `textBefore`: the scalar length before it, so only the new text and a tag's length before it are searched).
    func startGrammarIfDue(textBefore: Int) {
        guard grammarWaiting, let tag = group.params.structuredOutputsAfter else { return }
        let from = max(0, textBefore - tag.unicodeScalars.count)
        guard String(String.UnicodeScalarView(text.unicodeScalars.dropFirst(from))).contains(tag) else { return }
        grammarWaiting = false
        matcher = group.prep.grammar?.matcher()
    }

    /// Fills `maskWords` for the matcher's current position, unless it already holds it.
    func updateMask() {
        guard let m = matcher, maskKey != m.stateKey else { return }
        m.fillMask(&maskWords, stopIds: group.prep.grammarStops)
        maskKey = m.stateKey
    }

    init(group: RequestGroup, index: Int, tokens: [Int32], seed: UInt64, tokenizer: Tokenizer, arrivalOrder: Int) {
        self.group = group
        self.index = index
        self.tokens = tokens
        rng = SeededRandom(seed: seed)
        detok = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: group.params.skipSpecialTokens)
        self.arrivalOrder = arrivalOrder
        if group.params.structuredOutputsAfter?.isEmpty == false { grammarWaiting = group.prep.grammar != nil } else {
            matcher = group.prep.grammar?.matcher()
        }
        if group.params.repetitionPenalty != 1 { seenTokens = Set(tokens) }
    }

    /// Appends a generated token, keeping the penalty tables current.
    func append(_ t: Int32) {
        tokens.append(t)
        let p = group.params
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 { outputCounts[t, default: 0] += 1 }
        if p.repetitionPenalty != 1 { seenTokens.insert(t) }
    }

    var promptLength: Int { group.promptTokenIds.count }
    /// Prompt positions computed per step: bounded while prompt logprobs are wanted, since each position then
    /// keeps a vocabulary-sized logits row for the step (128 x vocab floats at most, not prompt x vocab).
    var chunkCap: Int {
        group.params.promptLogprobs != nil && index == 0 && !group.promptLogprobsDone ? EngineSequence.promptLogprobsChunk : Int.max
    }
    static let promptLogprobsChunk = 128
    var outputIds: ArraySlice<Int32> { tokens[promptLength...] }
    var numOutput: Int { tokens.count - promptLength }
    var isFinished: Bool { status == .finished }
}

/// A request: its prompt, parameters and `n` samples.
final class RequestGroup {
    let id: String
    let prep: PreparedRequest
    var sequences: [EngineSequence] = []
    var metrics: RequestMetrics
    var promptLogprobs: [PositionLogprobs?] = []
    var promptLogprobsDone = false
    var promptLogprobsEmitted = 0
    /// Why the request failed alone (set with every sample finished as `abort`).
    var error: String?

    init(id: String, prep: PreparedRequest) {
        self.id = id
        self.prep = prep
        metrics = RequestMetrics(arrival: Date())
    }

    var prompt: String? { prep.prompt }
    var promptTokenIds: [Int32] { prep.promptTokenIds }
    var params: SamplingParams { prep.params }
    var maxTokens: Int { prep.maxTokens }
    var stopIds: Set<Int32> { prep.stopIds }
    /// Prefix-cache keys of block `i`: the request's keys (LoRA id, ...), and the cache salt on the first block
    /// (the chain carries it to the rest), as vLLM keys blocks.
    func extraKeys(block i: Int) -> [String] {
        if i == 0, let salt = prep.cacheSalt { return prep.extraKeys + ["salt:" + salt] }
        return prep.extraKeys
    }

    var finished: Bool { sequences.allSatisfy(\.isFinished) }
}
