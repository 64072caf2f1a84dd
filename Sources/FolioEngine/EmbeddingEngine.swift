import FolioModels
import FolioTokenizers
import FolioWeights
import Foundation

/// Serves an `EmbeddingModel`: inputs from every caller wait in one queue and run together, up to
/// `maxNumBatchedTokens` tokens and `maxNumSeqs` inputs per forward pass, on one worker thread (no KV cache is kept:
/// an embedding is one pass over its input). An input that fails alone fails alone: a batch that throws is rerun one
/// input at a time.
///
/// ```swift
/// let e = try EmbeddingEngine(model: try EmbeddingModel.load(path: dir), tokenizer: try Tokenizer.load(modelPath: dir))
/// let v = try await e.embed([try e.prepare(text: "a sentence")])
/// ```
public final class EmbeddingEngine: @unchecked Sendable {
    public let model: EmbeddingModel
    public let tokenizer: Tokenizer
    public let maxNumBatchedTokens: Int
    public let maxNumSeqs: Int

    /// One input waiting for its embedding.
    struct Item {
        let ids: [Int32]
        let options: PoolingOptions
        let done: @Sendable (Result<[Float], any Error>) -> Void
    }

    /// The queue is full (`maxWaiting` inputs already wait).
    public struct QueueFull: Error { public let waiting: Int }

    /// The queue and counters the worker thread shares with callers (the thread holds this, not the engine, so
    /// an engine nobody holds any more stops its thread).
    final class Shared: @unchecked Sendable {
        let cond = NSCondition()
        var queue: [Item] = []
        var running = 0
        var promptTokens = 0
        var passes = 0
        var stopped = false
    }
    private let shared = Shared()

    /// `maxModelLen` caps the model's own longest input (vLLM's `--max-model-len`); above the model's it is refused.
    public init(model: EmbeddingModel, tokenizer: Tokenizer, maxNumBatchedTokens: Int = 8192, maxNumSeqs: Int = 256, maxModelLen: Int? = nil) throws {
        if let m = maxModelLen, m < 1 || m > model.maxModelLen {
            throw FolioError.invalidArgument(name: "--max-model-len", message: "\(m) is outside 1...\(model.maxModelLen), the model's longest input")
        }
        guard maxNumBatchedTokens >= 1, maxNumSeqs >= 1 else {
            throw FolioError.invalidArgument(name: "--max-num-batched-tokens", message: "batch limits must be at least 1")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.maxModelLen = maxModelLen ?? model.maxModelLen
        self.maxNumBatchedTokens = max(maxNumBatchedTokens, self.maxModelLen)
        self.maxNumSeqs = maxNumSeqs
        let (sh, model, maxTokens, maxSeqs) = (shared, model, self.maxNumBatchedTokens, maxNumSeqs)
        let t = Thread { Self.loop(sh, model, maxTokens: maxTokens, maxSeqs: maxSeqs) }
        t.name = "folio-embed"
        t.start()
    }

    deinit {
        shared.cond.lock()
        shared.stopped = true
        shared.cond.signal()
        shared.cond.unlock()
    }

    /// Longest input in tokens.
    public let maxModelLen: Int

    /// Requests running and waiting, prompt tokens embedded so far and forward passes (for /metrics).
    public var stats: EngineStats {
        shared.cond.lock(); defer { shared.cond.unlock() }
        var s = EngineStats()
        s.numRunning = shared.running
        s.numWaiting = shared.queue.count
        s.promptTokens = shared.promptTokens
        s.computedTokens = shared.promptTokens
        s.steps = shared.passes
        return s
    }

    /// A text input's tokens with vLLM's rules: special tokens added unless `addSpecialTokens` is false, the text
    /// lowercased where the Sentence-Transformers config says so, cut to `truncatePromptTokens` (-1: the longest the
    /// model takes) and otherwise refused past `maxModelLen`.
    public func prepare(text: String, addSpecialTokens: Bool = true, truncatePromptTokens: Int? = nil) throws -> [Int32] {
        let t = model.pooling.lowercase ? text.lowercased() : text
        if let n = try truncation(truncatePromptTokens) {
            return tokenizer.encode(t, addSpecialTokens: addSpecialTokens, maxLength: n)
        }
        return try check(tokenizer.encode(t, addSpecialTokens: addSpecialTokens))
    }

    /// A token-id input, checked against the vocabulary and cut or refused as `prepare(text:)`.
    public func prepare(tokens: [Int32], truncatePromptTokens: Int? = nil) throws -> [Int32] {
        for t in tokens where t < 0 || Int(t) >= model.vocabSize {
            throw FolioError.invalidArgument(name: "input", message: "token id \(t) is out of vocabulary (\(model.vocabSize))")
        }
        if let n = try truncation(truncatePromptTokens) { return Array(tokens.prefix(n)) }
        return try check(tokens)
    }

    func truncation(_ k: Int?) throws -> Int? {
        guard let k else { return nil }
        guard k >= -1 else { throw FolioError.invalidArgument(name: "truncate_prompt_tokens", message: "must be -1 or at least 0, got \(k)") }
        if k > maxModelLen {
            throw FolioError.invalidArgument(name: "truncate_prompt_tokens",
                                             message: "truncate_prompt_tokens=\(k) cannot be greater than max_model_len = \(maxModelLen). Please request a smaller truncation size.")
        }
        return k < 0 ? maxModelLen : k
    }

    func check(_ ids: [Int32]) throws -> [Int32] {
        guard !ids.isEmpty else { throw FolioError.invalidArgument(name: "input", message: "an input has no tokens") }
        guard ids.count <= maxModelLen else {
            throw FolioError.invalidArgument(name: "input", message: "This model's maximum context length is \(maxModelLen) tokens. However, your prompt contains \(ids.count) input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt.")
        }
        return ids
    }

    /// Embeddings of prepared inputs (`prepare`), in order. Throws `QueueFull` when `maxWaiting` inputs already
    /// wait, and an input's own error if it fails.
    public func embed(_ inputs: [[Int32]], options: PoolingOptions = PoolingOptions(), maxWaiting: Int? = nil) async throws -> [[Float]] {
        guard !inputs.isEmpty else { return [] }
        for ids in inputs where ids.isEmpty { throw FolioError.invalidArgument(name: "input", message: "an input has no tokens") }
        let collector = Collector(count: inputs.count)
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[[Float]], any Error>) in
            collector.continuation = c
            let sh = shared
            sh.cond.lock()
            if let m = maxWaiting, sh.queue.count >= m {
                let w = sh.queue.count
                sh.cond.unlock()
                collector.fail(QueueFull(waiting: w))
                return
            }
            for (i, ids) in inputs.enumerated() {
                sh.queue.append(Item(ids: ids, options: options, done: { collector.set(i, $0) }))
            }
            sh.cond.signal()
            sh.cond.unlock()
        }
    }

    /// Gathers one request's results and resumes its caller once, with all of them or the first error.
    final class Collector: @unchecked Sendable {
        let lock = NSLock()
        var results: [[Float]?]
        var left: Int
        var continuation: CheckedContinuation<[[Float]], any Error>?
        init(count: Int) { results = Array(repeating: nil, count: count); left = count }
        func set(_ i: Int, _ r: Result<[Float], any Error>) {
            switch r {
            case .failure(let e): fail(e)
            case .success(let v):
                lock.lock()
                results[i] = v
                left -= 1
                let c = left == 0 ? continuation : nil
                if c != nil { continuation = nil }
                let all = c != nil ? results.compactMap { $0 } : []   // gathered once, by the last result
                lock.unlock()
                c?.resume(returning: all)
            }
        }
        func fail(_ e: any Error) {
            lock.lock()
            let c = continuation
            continuation = nil
            lock.unlock()
            c?.resume(throwing: e)
        }
    }

    private static func loop(_ sh: Shared, _ model: EmbeddingModel, maxTokens: Int, maxSeqs: Int) {
        while true {
            sh.cond.lock()
            while sh.queue.isEmpty && !sh.stopped { sh.cond.wait() }
            if sh.queue.isEmpty { sh.cond.unlock(); return }   // stopped, and nothing left to answer
            var batch: [Item] = []
            var tokens = 0
            while let next = sh.queue.first, batch.count < maxSeqs, batch.isEmpty || tokens + next.ids.count <= maxTokens {
                batch.append(sh.queue.removeFirst())
                tokens += next.ids.count
            }
            sh.running = batch.count
            sh.promptTokens += tokens   // counted as the pass starts, so a caller that has its answer sees its tokens
            sh.passes += 1
            sh.cond.unlock()
            run(batch, model)
            sh.cond.lock()
            sh.running = 0
            sh.cond.unlock()
        }
    }

    private static func run(_ batch: [Item], _ model: EmbeddingModel) {
        do {
            let out = try model.embed(batch.map(\.ids), options: batch.map(\.options))
            for (item, e) in zip(batch, out) { item.done(.success(e)) }
        } catch {
            if batch.count == 1 { batch[0].done(.failure(error)); return }
            for item in batch { run([item], model) }
        }
    }
}
