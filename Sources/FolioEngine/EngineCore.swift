import FolioKernels
import FolioGrammar
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
    /// Compiled structured-output grammars over this tokenizer, with their token-mask caches (shared by requests).
    public let grammars: GrammarCache
    var promptTokensTotal = 0, generationTokensTotal = 0, steps = 0, computedTokens = 0

    public init(model: CausalLM, tokenizer: Tokenizer, config: EngineConfig = EngineConfig(), extraEOS: [Int] = []) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        let c = model.config
        guard config.blockSize >= 1, config.blockSize <= 1024 else { throw FolioError.invalidArgument(name: "block_size", message: "must be in [1, 1024]") }
        guard config.maxNumSeqs >= 1 else { throw FolioError.invalidArgument(name: "max_num_seqs", message: "must be >= 1") }
        guard config.maxNumBatchedTokens >= 1 else { throw FolioError.invalidArgument(name: "max_num_batched_tokens", message: "must be >= 1") }
        let dtype = config.kvCacheDType ?? KVCacheDType.auto(for: c)
        let perBlock = PagedKVCache.bytesPerToken(c, dtype: dtype) * config.blockSize
        let blocks: Int
        if let n = config.numKVBlocks { blocks = n } else {
            let bytes = config.kvCacheMemory ?? min(EngineCore.availableMemory() / 10, 4 << 30)
            blocks = bytes / perBlock
        }
        guard blocks >= 1 else { throw FolioError.invalidArgument(name: "kv cache", message: "room for no KV block (\(perBlock) bytes each)") }
        cache = PagedKVCache(config: c, numBlocks: blocks, blockSize: config.blockSize, dtype: dtype)
        // A sequence longer than the whole cache could never be scheduled again after a preemption, unless every
        // layer has a sliding window: then a sequence holds at most its window and one step's chunk of blocks.
        let window = c.slidingWindow.allSatisfy { $0 != nil } ? c.slidingWindow.compactMap { $0 }.max() : nil
        let windowed = window.map { blocks >= ($0 + config.maxNumBatchedTokens) / config.blockSize + 3 } ?? false
        maxModelLen = min(config.maxModelLen ?? c.maxPositionEmbeddings, c.maxPositionEmbeddings, windowed ? Int.max : blocks * config.blockSize)
        if !config.enableChunkedPrefill, config.maxNumBatchedTokens < maxModelLen {
            throw FolioError.invalidArgument(name: "max_num_batched_tokens", message: "\(config.maxNumBatchedTokens) is below max_model_len \(maxModelLen) with chunked prefill off")
        }
        let cacheRef = cache
        kv = KVCacheManager(numBlocks: blocks, blockSize: config.blockSize, prefixCaching: config.enablePrefixCaching,
                            window: window, copyBlock: { cacheRef.copyBlock($0, to: $1) })
        scheduler = Scheduler(config: config, kv: kv)
        eosIds = tokenizer.eogIds
        if let e = tokenizer.eosId { eosIds.insert(e) }
        for e in c.eosTokenIds + extraEOS { eosIds.insert(Int32(e)) }
        grammars = GrammarCache(vocabulary: .of(tokenizer, size: c.vocabSize))
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
    /// The KV cache's element type (`auto` resolved).
    public var kvCacheDType: KVCacheDType { cache.dtype }
    public var kvCacheBytes: Int { cache.numBlocks * cache.blockSize * PagedKVCache.bytesPerToken(model.config, dtype: cache.dtype) }

    public var hasUnfinishedRequests: Bool { !groups.isEmpty }

    /// Adds a request; invalid parameters or a prompt too long for the context fail here, naming the problem.
    public func addRequest(id: String, prompt: PromptInput, params: SamplingParams, extraKeys: [String] = [], cacheSalt: String? = nil) throws {
        try addRequest(id: id, try prepare(prompt: prompt, params: params, extraKeys: extraKeys, cacheSalt: cacheSalt))
    }

    /// Adds a request `prepare` made ready: O(n) in the request's samples, nothing else.
    public func addRequest(id: String, _ prep: PreparedRequest) throws {
        guard groups[id] == nil else { throw FolioError.invalidArgument(name: "request_id", message: "\(id) is already in use") }
        let params = prep.params, ids = prep.promptTokenIds
        let g = RequestGroup(id: id, prep: prep)
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
        guard let g = groups[id] else { return nil }
        return retire(g)
    }

    /// Ends a request now: its unfinished samples stop (finish reason `abort`), its blocks are freed, and it leaves
    /// the engine. Returns its final output.
    func retire(_ g: RequestGroup) -> RequestOutput {
        for s in g.sequences where !s.isFinished {
            scheduler.remove(s)
            s.status = .finished
            s.finishReason = .abort
        }
        g.metrics.finished = Date()
        groups[g.id] = nil
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

    /// Testing hook: called with each scheduled request's id before a forward pass; an error it returns makes
    /// that pass fail, as a fault in the model would (tests use it to check that a fault fails one request only).
    public var faultInjection: (@Sendable (String) -> (any Error)?)?

    /// One engine step. Returns an output for every request that made progress (or finished) in it. A request
    /// whose forward pass fails is failed alone (its output carries `error`); the others go on.
    public func step() throws -> [RequestOutput] {
        var scheduled = scheduler.schedule()
        var outs: [RequestOutput] = []
        guard !scheduled.isEmpty else {
            // With nothing running, a waiting request that still cannot be scheduled never will be.
            if scheduler.running.isEmpty, let s = scheduler.waiting.first(where: { $0.status == .waiting }) {
                outs.append(fail(s.group, "\(s.tokens.count) tokens do not fit the free KV cache"))
            }
            return outs
        }
        steps += 1
        // Sequences reference their group unowned: keep this step's groups alive while failed ones leave `groups`.
        let stepGroups = scheduled.map(\.seq.group)
        defer { withExtendedLifetime(stepGroups) {} }
        var (batch, sampleRow, promptRows) = makeBatch(scheduled)
        // Token masks of this step's constrained samples depend only on their tokens so far: computed on another
        // thread while the forward pass runs (the sampler computes any that are missing, e.g. forked samples).
        let maskJobs = MaskJobs(scheduled.map(\.seq).filter { $0.matcher != nil && sampleRow[ObjectIdentifier($0)] != nil })
        let masks = DispatchGroup()
        if !maskJobs.seqs.isEmpty { DispatchQueue.global(qos: .userInitiated).async(group: masks) { maskJobs.run() } }
        defer { masks.wait() }
        var logits: [[Float]]
        do {
            logits = try forward(batch, scheduled)
        } catch {
            // Find the requests that fail alone (batch-invariant kernels: each alone computes what it would in the batch).
            var failed = Set<ObjectIdentifier>()
            for sch in scheduled where !failed.contains(ObjectIdentifier(sch.seq.group)) {
                let (one, _, _) = makeBatch([sch])
                do { _ = try forward(one, [sch]) } catch {
                    failed.insert(ObjectIdentifier(sch.seq.group))
                    outs.append(fail(sch.seq.group, "\(error)"))
                }
            }
            // Only the batch as a whole fails: fail its requests rather than retry forever.
            if failed.isEmpty { return outs + failAll(scheduled, error) }
            scheduled.removeAll { failed.contains(ObjectIdentifier($0.seq.group)) }
            guard !scheduled.isEmpty else { return outs }
            (batch, sampleRow, promptRows) = makeBatch(scheduled)
            do { logits = try forward(batch, scheduled) } catch { return outs + failAll(scheduled, error) }
        }
        masks.wait()
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
        for (id, g) in touched.sorted(by: { $0.key < $1.key }) where groups[id] != nil {
            if g.finished {
                g.metrics.finished = Date()
                groups[id] = nil
            } else if g.params.outputKind == .finalOnly { continue }
            outs.append(output(g))
        }
        return outs
    }

    /// The ragged batch for `scheduled`: its tokens, positions and slots, which logits rows to keep, the row each
    /// sampling sequence reads, and where each prompt-logprobs request's rows start.
    func makeBatch(_ scheduled: [ScheduledSequence]) -> (ForwardBatch, [ObjectIdentifier: Int], [(EngineSequence, Int, Int)]) {
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
        return (batch, sampleRow, promptRows)
    }

    func forward(_ batch: ForwardBatch, _ scheduled: [ScheduledSequence]) throws -> [[Float]] {
        if let hook = faultInjection {
            for sch in scheduled { if let e = hook(sch.seq.group.id) { throw e } }
        }
        return try model.forward(batch: batch, kv: cache)
    }

    /// Fails one request: retired as by `abort`, its output carrying `error`.
    func fail(_ g: RequestGroup, _ message: String) -> RequestOutput {
        g.error = message
        return retire(g)
    }

    /// Fails every request of `scheduled` still in the engine (each once).
    func failAll(_ scheduled: [ScheduledSequence], _ error: any Error) -> [RequestOutput] {
        scheduled.compactMap { sch in groups[sch.seq.group.id] != nil ? fail(sch.seq.group, "\(error)") : nil }
    }

    func scheduledCount(_ s: [ScheduledSequence], _ seq: EngineSequence) -> Int { s.first { $0.seq === seq }?.numNew ?? 0 }

    func appendToken(_ s: EngineSequence, _ t: Int32, logits: [Float]) {
        let g = s.group, p = g.params
        if g.metrics.firstToken == nil { g.metrics.firstToken = Date() }
        if let k = p.logprobs {
            let lp = Sampler.logprobs(logits, chosen: t, k: k, tokenizer: tokenizer)
            s.logprobs.append(lp)
            s.cumulativeLogprob += lp.chosen.logprob
        }
        s.append(t)
        generationTokensTotal += 1
        if s.matcher != nil, !s.matcher!.accept(t, stopIds: g.prep.grammarStops) {
            // The sampler only draws allowed tokens; this is a bug, and it ends this sample, not the engine.
            g.error = "structured output: token \(t) does not continue the grammar"
            finish(s, .abort, nil)
            return
        }
        let isEOS = !p.ignoreEOS && eosIds.contains(t)
        // The token that stops the output (EOS, a stop id) adds no text unless include_stop_str_in_output (vLLM's
        // detokenizer leaves it out, special or not).
        if !((isEOS || g.stopIds.contains(t)) && !p.includeStopStrInOutput) {
            let piece = s.detok.push(t)
            if !piece.isEmpty {
                let before = s.textScalars
                s.text += piece
                s.textScalars += piece.unicodeScalars.count
                s.startGrammarIfDue(textBefore: before)
                let maxStop = g.prep.maxStopScalars
                if maxStop > 0, let (at, len, stopStr) = findStop(s, before: before) {
                    let end = p.includeStopStrInOutput ? at + len : at
                    s.text = String(String.UnicodeScalarView(s.text.unicodeScalars.prefix(end)))
                    s.textScalars = end
                    finish(s, .stop, stopStr, stoppedByString: true)
                    return
                }
            }
        }
        if isEOS { finish(s, .stop, nil); return }
        if g.stopIds.contains(t) { finish(s, .stop, String(t)); return }
        if s.numOutput >= g.maxTokens || s.tokens.count >= maxModelLen { finish(s, .length, nil); return }
        // Complete, and no stop token may end it (ignore_eos without stop ids): the output is done.
        if let m = s.matcher, g.prep.grammarStops.isEmpty, m.mustEnd { finish(s, .stop, nil); return }
    }

    /// The earliest stop string that ends in the text added since scalar `before`: (scalar offset, length, the string).
    /// Earlier text was checked when it was added, so only starts whose match reaches past `before` are tried:
    /// O(new text x stop length) per token, whatever the length of the output.
    func findStop(_ s: EngineSequence, before: Int) -> (Int, Int, String)? {
        let from = max(0, before - s.group.prep.maxStopScalars + 1)
        let v = s.text.unicodeScalars
        let tail = Array(v[v.index(v.endIndex, offsetBy: -(s.textScalars - from))...])
        var best: (Int, Int, String)? = nil
        for (si, st) in s.group.prep.stops.enumerated() where st.count <= tail.count {
            var i = max(0, before - st.count + 1) - from
            while i + st.count <= tail.count, best.map({ from + i < $0.0 }) ?? true {
                if tail[i] == st[0], tail[i..<(i + st.count)].elementsEqual(st) {
                    best = (from + i, st.count, s.group.params.stop[si])
                    break
                }
                i += 1
            }
        }
        return best
    }

    func finish(_ s: EngineSequence, _ reason: FinishReason, _ stop: String?, stoppedByString: Bool = false) {
        if !stoppedByString {
            let rest = s.detok.pendingText()
            s.text += rest
            s.textScalars += rest.unicodeScalars.count
        }
        s.finishReason = reason
        s.stopReason = stop
        s.status = .finished
        scheduler.remove(s)
    }

    func output(_ g: RequestGroup) -> RequestOutput {
        let holdBack = max(0, g.prep.maxStopScalars - 1)
        let kind = g.params.outputKind
        let outs = g.sequences.map { s -> CompletionOutput in
            // While running, hold back text that may be the start of a stop string.
            let visibleCount = s.isFinished ? s.textScalars : max(s.emittedChars, s.textScalars - holdBack)
            let v = s.text.unicodeScalars
            let from = v.index(v.endIndex, offsetBy: -(s.textScalars - s.emittedChars))
            let to = v.index(v.endIndex, offsetBy: -(s.textScalars - visibleCount))
            let delta = String(String.UnicodeScalarView(v[from..<to]))
            let deltaIds = Array(s.tokens[(s.promptLength + s.emittedTokens)...])
            let deltaLps = s.logprobs.count > s.emittedLogprobs ? Array(s.logprobs[s.emittedLogprobs...]) : []
            s.emittedChars = visibleCount
            s.emittedTokens = s.numOutput
            s.emittedLogprobs = s.logprobs.count
            let whole = kind != .delta
            let text = whole ? (visibleCount == s.textScalars ? s.text : String(String.UnicodeScalarView(v[..<to]))) : delta
            return CompletionOutput(index: s.index, text: text, tokenIds: whole ? Array(s.outputIds) : deltaIds, deltaText: delta,
                                    deltaTokenIds: deltaIds, numTokens: s.numOutput,
                                    cumulativeLogprob: g.params.logprobs != nil ? s.cumulativeLogprob : nil,
                                    logprobs: g.params.logprobs != nil ? (whole ? s.logprobs : deltaLps) : nil,
                                    finishReason: s.finishReason, stopReason: s.stopReason)
        }
        var promptLps: [PositionLogprobs?]? = nil
        if g.params.promptLogprobs != nil {
            // Prompt logprobs go out once: with the first output (delta) or in full (otherwise).
            promptLps = kind == .delta ? Array(g.promptLogprobs.dropFirst(g.promptLogprobsEmitted)) : g.promptLogprobs
            g.promptLogprobsEmitted = g.promptLogprobs.count
        }
        var r = RequestOutput(requestId: g.id, prompt: g.prompt, promptTokenIds: g.promptTokenIds, promptLogprobs: promptLps, outputs: outs,
                              finished: g.finished, numCachedTokens: g.sequences.map(\.numCachedTokens).max() ?? 0, metrics: g.metrics)
        r.error = g.error
        return r
    }
}

/// The sequences whose masks a step computes beside its forward pass. The engine thread does not touch their
/// matchers or masks until it has waited for the job, hence the unchecked sendability.
final class MaskJobs: @unchecked Sendable {
    let seqs: [EngineSequence]
    init(_ seqs: [EngineSequence]) { self.seqs = seqs }
    func run() { for s in seqs { s.updateMask() } }
}
