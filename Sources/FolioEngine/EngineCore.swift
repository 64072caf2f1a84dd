import FolioKernels
import FolioModels
import FolioTokenizers
import FolioWeights
import Foundation

/// Counters the engine keeps (Prometheus metrics and `folio generate`'s stats come from these).
public struct EngineStats: Sendable {
    public init() {}
    public var numPreemptions = 0
    public var prefixCacheQueries = 0
    public var prefixCacheQueriedTokens = 0
    public var prefixCacheHits = 0
    public var prefixCacheHitTokens = 0
    public var promptTokens = 0
    public var generationTokens = 0
    public var numRunning = 0
    public var numWaiting = 0
    public var kvCacheUsage = 0.0
    public var numBlocks = 0
    public var freeBlocks = 0
    public var steps = 0
    /// Slots allocated but not holding a token: only each sequence's last block may be partly empty.
    public var kvWasteTokens = 0
    /// Token positions run through the model (prompt chunks + decodes); prefix-cache hits and forks save these.
    public var computedTokens = 0
}

/// The step loop: schedule, one batched forward over every scheduled token, sample, detokenize, report.
///
/// ```swift
/// let core = try EngineCore(model: model, tokenizer: tok, config: EngineConfig())
/// try core.addRequest(id: "a", prompt: "Hello", params: .greedy)
/// while core.hasUnfinishedRequests { for out in try core.step() where out.finished { print(out.outputs[0].text) } }
/// ```
public final class EngineCore: @unchecked Sendable {
    public let model: CausalLM
    public let tokenizer: Tokenizer
    public let config: EngineConfig
    /// Longest sequence (prompt + output) accepted: the model's context, `max_model_len`, and what the KV cache holds.
    public let maxModelLen: Int
    let cache: PagedKVCache
    let kv: KVCacheManager
    let scheduler: Scheduler
    var groups: [String: RequestGroup] = [:]
    var arrivals = 0
    var eosIds: Set<Int32>
    var promptTokensTotal = 0, generationTokensTotal = 0, steps = 0, computedTokens = 0

    public init(model: CausalLM, tokenizer: Tokenizer, config: EngineConfig = EngineConfig(), extraEOS: [Int] = []) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        let c = model.config
        guard config.blockSize >= 1, config.blockSize <= 1024 else { throw FolioError.invalidArgument(name: "block_size", message: "must be in [1, 1024]") }
        guard config.maxNumSeqs >= 1 else { throw FolioError.invalidArgument(name: "max_num_seqs", message: "must be >= 1") }
        guard config.maxNumBatchedTokens >= 1 else { throw FolioError.invalidArgument(name: "max_num_batched_tokens", message: "must be >= 1") }
        let perBlock = PagedKVCache.bytesPerToken(c, dtype: config.kvCacheDType) * config.blockSize
        let blocks: Int
        if let n = config.numKVBlocks { blocks = n } else {
            let bytes = config.kvCacheMemory ?? min(EngineCore.availableMemory() / 10, 4 << 30)
            blocks = bytes / perBlock
        }
        guard blocks >= 1 else { throw FolioError.invalidArgument(name: "kv cache", message: "room for no KV block (\(perBlock) bytes each)") }
        cache = PagedKVCache(config: c, numBlocks: blocks, blockSize: config.blockSize, dtype: config.kvCacheDType)
        // A sequence longer than the whole cache could never be scheduled again after a preemption.
        maxModelLen = min(config.maxModelLen ?? c.maxPositionEmbeddings, c.maxPositionEmbeddings, blocks * config.blockSize)
        if !config.enableChunkedPrefill, config.maxNumBatchedTokens < maxModelLen {
            throw FolioError.invalidArgument(name: "max_num_batched_tokens", message: "\(config.maxNumBatchedTokens) is below max_model_len \(maxModelLen) with chunked prefill off")
        }
        let cacheRef = cache
        kv = KVCacheManager(numBlocks: blocks, blockSize: config.blockSize, prefixCaching: config.enablePrefixCaching,
                            copyBlock: { cacheRef.copyBlock($0, to: $1) })
        scheduler = Scheduler(config: config, kv: kv)
        eosIds = tokenizer.eogIds
        if let e = tokenizer.eosId { eosIds.insert(e) }
        for e in c.eosTokenIds + extraEOS { eosIds.insert(Int32(e)) }
    }

    /// Bytes of memory available to this process (Linux MemAvailable), or 8 GiB if unknown.
    public static func availableMemory() -> Int {
        if let s = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = s.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first ?? "") { return kb * 1024 }
        return 8 << 30
    }

    /// KV capacity in tokens.
    public var kvCapacityTokens: Int { cache.numBlocks * cache.blockSize }
    public var kvCacheBytes: Int { cache.numBlocks * cache.blockSize * PagedKVCache.bytesPerToken(model.config, dtype: cache.dtype) }

    public var hasUnfinishedRequests: Bool { !groups.isEmpty }

    /// Adds a request; invalid parameters or a prompt too long for the context fail here, naming the problem.
    public func addRequest(id: String, prompt: PromptInput, params: SamplingParams, extraKeys: [String] = []) throws {
        guard groups[id] == nil else { throw FolioError.invalidArgument(name: "request_id", message: "\(id) is already in use") }
        try params.validate(vocabSize: model.config.vocabSize)
        let ids: [Int32], text: String?
        switch prompt {
        case .text(let t): ids = tokenizer.encode(t); text = t
        case .tokens(let t): ids = t; text = nil
        }
        guard !ids.isEmpty else { throw FolioError.invalidArgument(name: "prompt", message: "is empty") }
        for t in ids where t < 0 || Int(t) >= model.config.vocabSize {
            throw FolioError.invalidArgument(name: "prompt", message: "token id \(t) is outside the vocabulary (\(model.config.vocabSize))")
        }
        guard ids.count < maxModelLen else {
            throw FolioError.invalidArgument(name: "prompt", message: "this model's maximum context length is \(maxModelLen) tokens, but the prompt has \(ids.count) tokens")
        }
        if let m = params.maxTokens, ids.count + m > maxModelLen {
            throw FolioError.invalidArgument(name: "max_tokens", message: "this model's maximum context length is \(maxModelLen) tokens; the prompt has \(ids.count) tokens and max_tokens is \(m) (\(ids.count + m) in total)")
        }
        guard ids.count + 1 <= kvCapacityTokens else {
            throw FolioError.invalidArgument(name: "prompt", message: "\(ids.count) tokens do not fit the KV cache (\(kvCapacityTokens) tokens)")
        }
        let maxTokens = params.maxTokens ?? (maxModelLen - ids.count)
        let g = RequestGroup(id: id, prompt: text, promptTokenIds: ids, params: params, maxTokens: maxTokens,
                             stopIds: Set(params.stopTokenIds), extraKeys: extraKeys)
        let baseSeed = params.seed ?? UInt64.random(in: 0...UInt64.max)
        for i in 0..<params.n {
            arrivals += 1
            var mix = SeededRandom(seed: baseSeed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
            let s = EngineSequence(group: g, index: i, tokens: ids, seed: params.n == 1 ? baseSeed : mix.next(), tokenizer: tokenizer,
                             arrivalOrder: arrivals)
            s.status = i == 0 ? .waiting : .waitingForFork
            g.sequences.append(s)
            scheduler.waiting.append(s)
        }
        groups[id] = g
        promptTokensTotal += ids.count
    }

    /// Aborts a request at any time: its blocks are freed now. Returns its final output (finish reason abort).
    @discardableResult
    public func abort(id: String) -> RequestOutput? {
        guard let g = groups.removeValue(forKey: id) else { return nil }
        for s in g.sequences where !s.isFinished {
            scheduler.remove(s)
            s.status = .finished
            s.finishReason = .abort
        }
        g.metrics.finished = Date()
        return output(g)
    }

    public var stats: EngineStats {
        var s = EngineStats()
        s.numPreemptions = scheduler.numPreemptions
        s.prefixCacheQueries = kv.queries
        s.prefixCacheQueriedTokens = kv.queriedTokens
        s.prefixCacheHits = kv.hits
        s.prefixCacheHitTokens = kv.hitTokens
        s.promptTokens = promptTokensTotal
        s.generationTokens = generationTokensTotal
        s.numRunning = scheduler.running.count
        s.numWaiting = scheduler.waiting.count
        s.kvCacheUsage = kv.usage
        s.numBlocks = kv.pool.numBlocks
        s.freeBlocks = kv.pool.numFree
        s.steps = steps
        s.computedTokens = computedTokens
        s.kvWasteTokens = scheduler.running.reduce(0) { $0 + $1.blockTable.count * config.blockSize - $1.numComputed }
        return s
    }

    /// Every KV block is unreferenced (nothing leaked).
    public var allBlocksFree: Bool { kv.pool.allFree }

    /// One engine step. Returns an output for every request that made progress (or finished) in it.
    public func step() throws -> [RequestOutput] {
        let scheduled = scheduler.schedule()
        guard !scheduled.isEmpty else {
            if !scheduler.waiting.isEmpty, scheduler.running.isEmpty {
                throw FolioError.invalidArgument(name: "kv cache", message: "no waiting request fits the KV cache")
            }
            return []
        }
        steps += 1
        var batch = ForwardBatch()
        var sampleRow: [ObjectIdentifier: Int] = [:]
        var promptRows: [(EngineSequence, Int, Int)] = []  // (seq, first position, first row)
        let bs = config.blockSize
        for (si, sch) in scheduled.enumerated() {
            let s = sch.seq
            batch.blockTables.append(s.blockTable.map(Int32.init))
            if s.group.metrics.firstScheduled == nil { s.group.metrics.firstScheduled = Date() }
            let wantPrompt = s.group.params.promptLogprobs != nil && s.index == 0 && !s.group.promptLogprobsDone
                && s.numComputed < s.promptLength
            let firstRow = batch.logitIndices.count
            for p in s.numComputed..<(s.numComputed + sch.numNew) {
                let idx = batch.tokens.count
                batch.tokens.append(s.tokens[p])
                batch.positions.append(Int32(p))
                batch.sequence.append(Int32(si))
                batch.slots.append(Int32(s.blockTable[p / bs] * bs + p % bs))
                if wantPrompt, p < s.promptLength - 1 { batch.logitIndices.append(idx) }
            }
            if wantPrompt { promptRows.append((s, s.numComputed, firstRow)) }
            if s.numComputed + sch.numNew == s.tokens.count {
                sampleRow[ObjectIdentifier(s)] = batch.logitIndices.count
                batch.logitIndices.append(batch.tokens.count - 1)
            }
        }
        let logits = try model.forward(batch: batch, kv: cache)
        computedTokens += batch.tokens.count
        for (s, first, row) in promptRows {
            let k = s.group.params.promptLogprobs ?? 0
            if s.group.promptLogprobs.isEmpty { s.group.promptLogprobs = [nil] }
            var r = row
            for p in first..<min(first + scheduledCount(scheduled, s), s.promptLength - 1) {
                s.group.promptLogprobs.append(Sampler.logprobs(logits[r], chosen: s.tokens[p + 1], k: k, tokenizer: tokenizer))
                r += 1
            }
            if s.group.promptLogprobs.count >= s.promptLength { s.group.promptLogprobsDone = true }
        }
        var touched: [String: RequestGroup] = [:]
        for sch in scheduled {
            let s = sch.seq
            s.numComputed += sch.numNew
            kv.cacheFullBlocks(s)
            touched[s.group.id] = s.group
            guard let row = sampleRow[ObjectIdentifier(s)] else { continue }
            let l = logits[row]
            if s.index == 0, s.numOutput == 0 {
                // The prompt is done: the other samples share its blocks and draw from the same distribution.
                for sib in s.group.sequences where sib.status == .waitingForFork {
                    kv.fork(sib, from: s)
                    scheduler.waiting.removeAll { $0 === sib }
                    sib.status = .running
                    scheduler.running.append(sib)
                    appendToken(sib, Sampler.sample(l, seq: sib, tokenizer: tokenizer, eos: eosIds), logits: l)
                }
            }
            appendToken(s, Sampler.sample(l, seq: s, tokenizer: tokenizer, eos: eosIds), logits: l)
        }
        var outs: [RequestOutput] = []
        for (id, g) in touched.sorted(by: { $0.key < $1.key }) where groups[id] != nil {
            if g.finished {
                g.metrics.finished = Date()
                groups[id] = nil
            }
            outs.append(output(g))
        }
        return outs
    }

    func scheduledCount(_ s: [ScheduledSequence], _ seq: EngineSequence) -> Int { s.first { $0.seq === seq }?.numNew ?? 0 }

    func appendToken(_ s: EngineSequence, _ t: Int32, logits: [Float]) {
        let p = s.group.params
        if s.group.metrics.firstToken == nil { s.group.metrics.firstToken = Date() }
        if let k = p.logprobs {
            let lp = Sampler.logprobs(logits, chosen: t, k: k, tokenizer: tokenizer)
            s.logprobs.append(lp)
            s.cumulativeLogprob += lp.chosen.logprob
        }
        s.tokens.append(t)
        generationTokensTotal += 1
        let maxStop = p.stop.map(\.count).max() ?? 0
        let isEOS = !p.ignoreEOS && eosIds.contains(t)
        if !(isEOS && p.skipSpecialTokens) {
            let piece = s.detok.push(t)
            if !piece.isEmpty {
                let before = s.text.count
                s.text += piece
                if maxStop > 0, let (r, stopStr) = findStop(s.text, from: max(0, before - maxStop + 1), stops: p.stop) {
                    s.text = String(p.includeStopStrInOutput ? s.text[..<r.upperBound] : s.text[..<r.lowerBound])
                    finish(s, .stop, stopStr, stoppedByString: true)
                    return
                }
            }
        }
        if isEOS { finish(s, .stop, nil); return }
        if s.group.stopIds.contains(t) { finish(s, .stop, String(t)); return }
        if s.numOutput >= s.group.maxTokens || s.tokens.count >= maxModelLen { finish(s, .length, nil); return }
    }

    func findStop(_ text: String, from: Int, stops: [String]) -> (Range<String.Index>, String)? {
        let start = text.index(text.startIndex, offsetBy: min(from, text.count))
        var best: (Range<String.Index>, String)? = nil
        for st in stops {
            if let r = text.range(of: st, range: start..<text.endIndex), best == nil || r.lowerBound < best!.0.lowerBound { best = (r, st) }
        }
        return best
    }

    func finish(_ s: EngineSequence, _ reason: FinishReason, _ stop: String?, stoppedByString: Bool = false) {
        if !stoppedByString { s.text += s.detok.pendingText() }
        s.finishReason = reason
        s.stopReason = stop
        s.status = .finished
        scheduler.remove(s)
    }

    func output(_ g: RequestGroup) -> RequestOutput {
        let maxStop = g.params.stop.map(\.count).max() ?? 0
        let outs = g.sequences.map { s -> CompletionOutput in
            // While running, hold back text that may be the start of a stop string.
            let visibleCount = s.isFinished ? s.text.count : max(s.emittedChars, s.text.count - max(0, maxStop - 1))
            let visible = String(s.text.prefix(visibleCount))
            let delta = String(visible.dropFirst(s.emittedChars))
            let ids = Array(s.outputIds)
            let deltaIds = Array(ids.dropFirst(s.emittedTokens))
            s.emittedChars = visibleCount
            s.emittedTokens = ids.count
            return CompletionOutput(index: s.index, text: visible, tokenIds: ids, deltaText: delta, deltaTokenIds: deltaIds,
                                    cumulativeLogprob: g.params.logprobs != nil ? s.cumulativeLogprob : nil,
                                    logprobs: g.params.logprobs != nil ? s.logprobs : nil,
                                    finishReason: s.finishReason, stopReason: s.stopReason)
        }
        return RequestOutput(requestId: g.id, prompt: g.prompt, promptTokenIds: g.promptTokenIds,
                             promptLogprobs: g.params.promptLogprobs != nil ? g.promptLogprobs : nil, outputs: outs,
                             finished: g.finished, numCachedTokens: g.sequences.map(\.numCachedTokens).max() ?? 0, metrics: g.metrics)
    }
}
