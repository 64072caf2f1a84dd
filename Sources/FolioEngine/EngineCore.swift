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
    /// Speculative decoding's counters (nil: speculation off).
    public var specDecode: SpecDecodeStats?
    /// Names of the adapters of running and waiting requests (vLLM's `lora_requests_info` labels); nil: LoRA off.
    public var runningLoRAAdapters: [String]?
    public var waitingLoRAAdapters: [String]?
    public var maxLoras = 0
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
    let runner: ModelRunner
    let processor: OutputProcessor
    let speculator: Speculator?
    var groups: [String: RequestGroup] = [:]
    /// Pipeline parallelism: passes started and not yet completed, oldest first.
    var inFlight: [InFlightPass] = []
    /// Pipeline parallelism runs micro-batches unless FOLIO_PIPELINE_MICROBATCHES=0 (one pass at a time, as before
    /// they existed: what the benchmark compares them with).
    let microBatches = ProcessInfo.processInfo.environment["FOLIO_PIPELINE_MICROBATCHES"] != "0"
    var arrivals = 0
    let eosIds: Set<Int32>
    /// Compiled structured-output grammars over this tokenizer, with their token-mask caches (shared by requests).
    public let grammars: GrammarCache
    /// The LoRA adapters in memory (nil: LoRA off).
    public let loras: LoRARegistry?
    var promptTokensTotal = 0, steps = 0, computedTokens = 0

    /// `draftModel`: the proposer for `config.speculative` with method `draft_model` (loaded by the caller from
    /// its `model` path; `SpeculativeConfig.loadDraft`).
    public init(model: CausalLM, tokenizer: Tokenizer, config: EngineConfig = EngineConfig(), extraEOS: [Int] = [],
                draftModel: CausalLM? = nil) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        let c = model.config
        guard config.blockSize >= 1, config.blockSize <= 1024 else { throw FolioError.invalidArgument(name: "block_size", message: "must be in [1, 1024]") }
        guard config.maxNumSeqs >= 1 else { throw FolioError.invalidArgument(name: "max_num_seqs", message: "must be >= 1") }
        guard config.maxNumBatchedTokens >= 1 else { throw FolioError.invalidArgument(name: "max_num_batched_tokens", message: "must be >= 1") }
        let dtype = config.kvCacheDType ?? KVCacheDType.auto(for: c)
        // Under tensor parallelism every rank holds the same blocks for its KV heads: size them for the rank with
        // the most heads, so that no rank goes past the budget.
        let perBlock = PagedKVCache.bytesPerToken(model.largestShardConfig, dtype: dtype) * config.blockSize
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
        if let l = config.lora { try l.validate() }
        loras = config.lora.map { LoRARegistry(model: model, config: $0) }
        if let l = config.lora { model.parallel?.loraCacheCapacity = l.maxCPULoras ?? l.maxLoras }
        var draft: DraftModelProposer? = nil
        if let spec = config.speculative {
            try spec.validate()
            if spec.method == .draftModel {
                guard let dm = draftModel else { throw SpeculativeConfig.bad("method 'draft_model' needs the draft model loaded") }
                draft = try DraftModelProposer(model: dm, target: c, numBlocks: blocks, blockSize: config.blockSize, dtype: dtype,
                                               method: spec.draftSampleMethod)
            }
        }
        let cacheRef = cache, draftCache = draft?.cache, copies = BlockCopies(), parallel = model.parallel != nil
        kv = KVCacheManager(numBlocks: blocks, blockSize: config.blockSize, prefixCaching: config.enablePrefixCaching, window: window) {
            cacheRef.copyBlock($0, to: $1)
            draftCache?.copyBlock($0, to: $1)
            if parallel { copies.pairs += [Int32($0), Int32($1)] }  // the other ranks copy theirs with the next pass
        }
        speculator = config.speculative.map { Speculator(config: $0, draft: draft) }
        if let spec = speculator, spec.config.adaptive {
            // What a forward over more tokens costs here: the speculator's prices (into blocks no request holds yet).
            let upTo = min(64, config.maxNumBatchedTokens)
            spec.costs = ModelRunner.measureCosts(model, cache, upTo: upTo)
            if let d = draft { spec.draftCosts = ModelRunner.measureCosts(d.model, d.cache, upTo: min(upTo, config.maxNumSeqs)) }
        }
        scheduler = Scheduler(config: config, kv: kv, speculator: speculator, maxModelLen: maxModelLen)
        runner = ModelRunner(model: model, cache: cache, draft: draft, copies: copies)
        var eos = tokenizer.eogIds
        if let e = tokenizer.eosId { eos.insert(e) }
        for e in c.eosTokenIds + extraEOS { eos.insert(Int32(e)) }
        eosIds = eos
        processor = OutputProcessor(tokenizer: tokenizer, eosIds: eosIds, maxModelLen: maxModelLen, scheduler: scheduler, speculator: speculator)
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

    public var hasUnfinishedRequests: Bool { !groups.isEmpty || !inFlight.isEmpty }

    /// Adds a request; invalid parameters or a prompt too long for the context fail here, naming the problem.
    public func addRequest(id: String, prompt: PromptInput, params: SamplingParams, extraKeys: [String] = [], cacheSalt: String? = nil,
                           lora: LoRARequest? = nil) throws {
        try addRequest(id: id, try prepare(prompt: prompt, params: params, extraKeys: extraKeys, cacheSalt: cacheSalt, lora: lora))
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
        return processor.output(g)
    }

    public var stats: EngineStats {
        var s = EngineStats()
        s.numPreemptions = scheduler.numPreemptions
        s.prefixCacheQueries = kv.queries
        s.prefixCacheQueriedTokens = kv.queriedTokens
        s.prefixCacheHits = kv.hits
        s.prefixCacheHitTokens = kv.hitTokens
        s.promptTokens = promptTokensTotal
        s.generationTokens = processor.generationTokens
        s.numRunning = scheduler.running.count
        s.numWaiting = scheduler.waiting.count
        s.kvCacheUsage = kv.usage
        s.numBlocks = kv.pool.numBlocks
        s.freeBlocks = kv.pool.numFree
        s.steps = steps
        s.computedTokens = computedTokens
        s.kvWasteTokens = scheduler.running.reduce(0) { $0 + $1.blockTable.count * config.blockSize - $1.numComputed }
        s.specDecode = speculator?.stats
        if let l = config.lora {
            func names(_ seqs: [EngineSequence]) -> [String] {
                var seen = Set<String>(), out: [String] = []
                for q in seqs { if let n = q.group.prep.lora?.name, seen.insert(n).inserted { out.append(n) } }
                return out
            }
            s.runningLoRAAdapters = names(scheduler.running)
            s.waitingLoRAAdapters = names(scheduler.waiting)
            s.maxLoras = l.maxLoras
        }
        return s
    }

    /// Every KV block is unreferenced (nothing leaked).
    public var allBlocksFree: Bool { kv.pool.allFree }

    /// Testing hook: called with each scheduled request's id before a forward pass; an error it returns makes
    /// that pass fail, as a fault in the model would (tests use it to check that a fault fails one request only).
    public var faultInjection: (@Sendable (String) -> (any Error)?)? {
        get { runner.faultInjection }
        set { runner.faultInjection = newValue }
    }

    /// One engine step: schedule, propose, one batched forward, sample or verify, report. Returns an output for
    /// every request that made progress (or finished) in it. A request whose forward pass fails is failed alone
    /// (its output carries `error`); the others go on.
    public func step() throws -> [RequestOutput] {
        if model.pipelineDepth > 1, speculator == nil, microBatches { return pipelinedStep() }
        let stepStart = DispatchTime.now().uptimeNanoseconds
        var scheduled = scheduler.schedule()
        guard !scheduled.isEmpty else { return failUnschedulable() }
        steps += 1
        // Sequences reference their group unowned: keep this step's groups alive while failed ones leave `groups`.
        let stepGroups = scheduled.map(\.seq.group)
        defer { withExtendedLifetime(stepGroups) {} }
        let draftStart = DispatchTime.now().uptimeNanoseconds
        runner.proposeDrafts(&scheduled)
        let draftEnd = DispatchTime.now().uptimeNanoseconds
        // Token masks of this step's constrained samples depend only on their tokens so far: computed on another
        // thread while the forward pass runs (the sampler computes any that are missing: forks, verified positions).
        let masks = MaskJobs(sampling: scheduled)
        masks.start()
        defer { masks.wait() }
        var outs: [RequestOutput] = []
        let forwardStart = DispatchTime.now().uptimeNanoseconds
        guard let (batch, logits) = forwardIsolatingFaults(&scheduled, &outs) else { return outs }
        let forwardEnd = DispatchTime.now().uptimeNanoseconds
        masks.wait()
        outs += finish(scheduled, batch, logits)
        // The draft's forwards are priced by their own table, not counted as the step's overhead.
        speculator?.observe(tokens: batch.batch.tokens.count, forward: Double(forwardEnd - forwardStart) / 1e9,
                            other: Double(DispatchTime.now().uptimeNanoseconds - stepStart - (forwardEnd - forwardStart) - (draftEnd - draftStart)) / 1e9)
        return outs
    }

    /// After a pass: prompt logprobs, each sample advanced (its next token sampled or its proposals verified), and
    /// the outputs of the requests it advanced (each once, by id); finished ones leave the engine.
    func finish(_ scheduled: [ScheduledSequence], _ batch: StepBatch, _ logits: [[Float]]) -> [RequestOutput] {
        computedTokens += batch.batch.tokens.count
        processor.recordPromptLogprobs(batch, logits, scheduled)
        for sch in scheduled { processor.advance(sch, batch, logits, kv: kv) }
        var outs: [RequestOutput] = []
        var touched: [String: RequestGroup] = [:]
        for sch in scheduled { touched[sch.seq.group.id] = sch.seq.group }
        for (id, g) in touched.sorted(by: { $0.key < $1.key }) where groups[id] != nil {
            if g.finished {
                g.metrics.finished = Date()
                groups[id] = nil
            } else if g.params.outputKind == .finalOnly { continue }
            outs.append(processor.output(g))
        }
        return outs
    }

    /// Pipeline parallelism's micro-batches (vLLM's batch queue): while fewer passes than pipeline stages are in
    /// flight, schedule sequences not already in one and start their pass (rank 0 runs its layers, the next ranks
    /// get the rest); once the pipeline is full, or nothing more can start, complete the oldest pass: sample,
    /// advance, report. So rank 0 computes a new micro-batch while later ranks work on earlier ones.
    func pipelinedStep() -> [RequestOutput] {
        var outs: [RequestOutput] = []
        var started = false
        if inFlight.count < model.pipelineDepth {
            scheduler.inFlight = Set(inFlight.flatMap { $0.scheduled.map { ObjectIdentifier($0.seq) } })
            // An equal share of the sequences per micro-batch, so that each stage has work while the others do.
            let depth = model.pipelineDepth, total = scheduler.running.count + scheduler.waiting.count
            let scheduled = scheduler.schedule(maxSequences: max(1, (total + depth - 1) / depth))
            if scheduled.isEmpty, inFlight.isEmpty { return failUnschedulable() }
            if !scheduled.isEmpty {
                steps += 1
                let masks = MaskJobs(sampling: scheduled)
                masks.start()
                let batch = runner.makeBatch(scheduled)
                do {
                    inFlight.append(InFlightPass(scheduled: scheduled, batch: batch, pending: try runner.submit(batch, scheduled), masks: masks,
                                                  groups: scheduled.map(\.seq.group)))
                    started = true
                } catch {
                    masks.wait()
                    outs += failAll(scheduled, error)
                }
            }
        }
        if started, inFlight.count < model.pipelineDepth { return outs }
        guard !inFlight.isEmpty else { return outs }
        let f = inFlight.removeFirst()
        let logits = runner.complete(f.pending)
        f.masks.wait()
        // A request aborted while its pass was in flight has left: its rows are dropped.
        outs += finish(f.scheduled.filter { groups[$0.seq.group.id] === $0.seq.group && !$0.seq.isFinished }, f.batch, logits)
        return outs
    }

    /// A pass in flight; it holds its sequences' groups (sequences reference them unowned).
    struct InFlightPass {
        let scheduled: [ScheduledSequence]
        let batch: StepBatch
        let pending: CausalLM.PendingForward
        let masks: MaskJobs
        let groups: [RequestGroup]
    }

    /// With nothing running, a waiting request that still cannot be scheduled never will be: it fails.
    func failUnschedulable() -> [RequestOutput] {
        guard scheduler.running.isEmpty, let s = scheduler.waiting.first(where: { $0.status == .waiting }) else { return [] }
        return [fail(s.group, "\(s.tokens.count) tokens do not fit the free KV cache")]
    }

    /// The step's forward. When it fails, each request is run alone to find the ones that fail by themselves
    /// (batch-invariant kernels: alone, each computes what it would in the batch); those fail, the rest run again.
    /// Nil when no request is left to run.
    func forwardIsolatingFaults(_ scheduled: inout [ScheduledSequence], _ outs: inout [RequestOutput]) -> (StepBatch, [[Float]])? {
        var batch = runner.makeBatch(scheduled)
        do { return (batch, try runner.forward(batch, scheduled)) } catch {
            var failed = Set<ObjectIdentifier>()
            for sch in scheduled where !failed.contains(ObjectIdentifier(sch.seq.group)) {
                do { _ = try runner.forward(runner.makeBatch([sch]), [sch]) } catch {
                    failed.insert(ObjectIdentifier(sch.seq.group))
                    outs.append(fail(sch.seq.group, "\(error)"))
                }
            }
            // Only the batch as a whole fails: fail its requests rather than retry forever.
            if failed.isEmpty { outs += failAll(scheduled, error); return nil }
            scheduled.removeAll { failed.contains(ObjectIdentifier($0.seq.group)) }
            guard !scheduled.isEmpty else { return nil }
            batch = runner.makeBatch(scheduled)
            do { return (batch, try runner.forward(batch, scheduled)) } catch { outs += failAll(scheduled, error); return nil }
        }
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

}

/// The sequences whose masks a step computes beside its forward pass. The engine thread does not touch their
/// matchers or masks until it has waited for the job, hence the unchecked sendability.
final class MaskJobs: @unchecked Sendable {
    let seqs: [EngineSequence]
    let group = DispatchGroup()
    /// The constrained samples of `scheduled` that sample after this pass: their masks depend only on their tokens so
    /// far (the sampler computes any that are missing: forks, verified positions).
    init(sampling scheduled: [ScheduledSequence]) {
        seqs = scheduled.filter { $0.seq.matcher != nil && $0.seq.numComputed + $0.numNew == $0.seq.tokens.count }.map(\.seq)
    }
    func start() {
        guard !seqs.isEmpty else { return }
        DispatchQueue.global(qos: .userInitiated).async(group: group) { for s in self.seqs { s.updateMask() } }
    }
    func wait() { group.wait() }
}
