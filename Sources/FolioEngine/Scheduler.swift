import FolioModels

/// Engine settings (vLLM's names).
public struct EngineConfig: Sendable {
    public enum Policy: String, Sendable { case fcfs, priority }
    /// Tokens per KV block.
    public var blockSize = 16
    /// KV blocks; nil = from `kvCacheMemory`, else from a share of free memory.
    public var numKVBlocks: Int? = nil
    /// Bytes for the KV cache; nil = 10% of available memory (at most 4 GiB).
    public var kvCacheMemory: Int? = nil
    public var maxNumSeqs = 256
    public var maxNumBatchedTokens = 2048
    public var enablePrefixCaching = true
    public var enableChunkedPrefill = true
    public var policy: Policy = .fcfs
    /// nil = the model's context length.
    public var maxModelLen: Int? = nil
    /// KV element type; nil = vLLM's `auto`: the checkpoint's 16-bit type (bfloat16 for bfloat16 checkpoints,
    /// float16 otherwise). float32 is the reference; int8 and fp8 (e4m3) take a quarter of float32's memory.
    public var kvCacheDType: KVCacheDType? = nil
    /// Speculative decoding (vLLM's `--speculative-config`); nil: off.
    public var speculative: SpeculativeConfig? = nil
    /// Multi-LoRA serving (vLLM's `--enable-lora` and its limits); nil: off.
    public var lora: LoRAConfig? = nil
    public init() {}
}

/// One sequence's share of a step: `numNew` tokens from `numComputed` on, then `numSpec` proposed tokens
/// (`seq.draft`) verified in the same forward.
struct ScheduledSequence {
    let seq: EngineSequence
    let numNew: Int
    var numSpec = 0
}

/// vLLM V1's scheduler: no prefill or decode phases. Each step has a token budget; running sequences go first
/// (a decode needs 1 token, an unfinished prompt the rest of its chunk), then waiting ones. When blocks run out,
/// the lowest-priority running sequence is preempted (its blocks freed; it recomputes later).
///
/// Speculative tokens are tokens to compute like any other: after the step's real tokens are scheduled, the
/// speculator picks each decoding sample's proposal length within what is left of the budget, and the sample's
/// blocks grow to hold them (a sample the pool cannot grow for does not speculate; nothing is preempted for it).
final class Scheduler {
    let config: EngineConfig
    let kv: KVCacheManager
    let speculator: Speculator?
    let maxModelLen: Int
    var waiting: [EngineSequence] = []
    var running: [EngineSequence] = []
    var numPreemptions = 0
    /// Sequences in a forward pass still in flight (pipeline parallelism's micro-batches): not scheduled again, nor
    /// preempted, until it completes.
    var inFlight = Set<ObjectIdentifier>()

    init(config: EngineConfig, kv: KVCacheManager, speculator: Speculator? = nil, maxModelLen: Int = .max) {
        self.config = config
        self.kv = kv
        self.speculator = speculator
        self.maxModelLen = maxModelLen
    }

    /// Which running sequence to give up first: FCFS takes the newest; `priority` the largest priority value
    /// (then the newest).
    func victim() -> Int? {
        let free = running.indices.filter { !inFlight.contains(ObjectIdentifier(running[$0])) }
        guard !free.isEmpty else { return nil }
        switch config.policy {
        case .fcfs: return free.last
        case .priority:
            return free.max { a, b in
                let pa = running[a].group.params.priority, pb = running[b].group.params.priority
                return pa != pb ? pa < pb : running[a].arrivalOrder < running[b].arrivalOrder
            }
        }
    }

    func preempt(_ i: Int) {
        let s = running.remove(at: i)
        kv.free(s)
        s.numComputed = 0
        s.draftComputed = 0
        s.draft = []
        s.status = .waiting
        numPreemptions += 1
        // Back to the front of the queue, in arrival order.
        let at = waiting.firstIndex { $0.arrivalOrder > s.arrivalOrder } ?? waiting.count
        waiting.insert(s, at: at)
    }

    /// `maxSequences`: a micro-batch's share of the sequences (pipeline parallelism splits them across the passes
    /// in flight).
    func schedule(maxSequences: Int = .max) -> [ScheduledSequence] {
        var budget = config.maxNumBatchedTokens
        var out: [ScheduledSequence] = []
        var preempted = false
        var i = 0
        while i < running.count, budget > 0, out.count < maxSequences {
            let s = running[i]
            if inFlight.contains(ObjectIdentifier(s)) { i += 1; continue }
            let numNew = min(s.tokens.count - s.numComputed, budget, s.chunkCap)
            if !config.enableChunkedPrefill, numNew < s.tokens.count - s.numComputed, numNew < s.chunkCap { i += 1; continue }
            if numNew <= 0 { i += 1; continue }
            var ok = kv.allocateSlots(s, numNew)
            while !ok {
                guard let v = victim() else { break }
                let victimSeq = running[v]
                preempt(v)
                preempted = true
                if victimSeq === s { break }
                if v < i {
                    // It was already scheduled in this step: take it back out and refund its tokens.
                    i -= 1
                    if let k = out.firstIndex(where: { $0.seq === victimSeq }) { budget += out[k].numNew; out.remove(at: k) }
                }
                ok = kv.allocateSlots(s, numNew)
            }
            if s.status != .running { continue }  // preempted itself: running[i] is the next one
            if !ok { i += 1; continue }  // nothing to preempt but passes in flight: it waits for them
            out.append(ScheduledSequence(seq: s, numNew: numNew))
            budget -= numNew
            i += 1
        }
        guard !preempted else { return reserveSpeculativeTokens(out, budget: budget) }
        // At most `maxLoras` distinct adapters run at once: a request for another one waits (later ones may go).
        var adapters = Set(running.compactMap { $0.group.prep.lora?.id })
        let maxLoras = config.lora?.maxLoras ?? .max
        var w = 0
        while w < waiting.count, budget > 0, running.count < config.maxNumSeqs, out.count < maxSequences {
            let s = waiting[w]
            if s.status == .waitingForFork { w += 1; continue }
            if let id = s.group.prep.lora?.id, !adapters.contains(id), adapters.count >= maxLoras { w += 1; continue }
            kv.applyPrefixCache(s)
            let remaining = s.tokens.count - s.numComputed
            let numNew = min(remaining, budget, s.chunkCap)
            if !config.enableChunkedPrefill, numNew < remaining, numNew < s.chunkCap { break }
            guard kv.allocateSlots(s, numNew) else {
                kv.undoPrefixCache(s)  // it waits without pinning cached blocks, and is counted once when it runs
                break
            }
            waiting.remove(at: w)
            if let id = s.group.prep.lora?.id { adapters.insert(id) }
            s.status = .running
            running.append(s)
            out.append(ScheduledSequence(seq: s, numNew: numNew))
            budget -= numNew
        }
        return reserveSpeculativeTokens(out, budget: budget)
    }

    /// Gives the decoding samples of `out` their speculative tokens (see the type's note).
    func reserveSpeculativeTokens(_ out: [ScheduledSequence], budget: Int) -> [ScheduledSequence] {
        guard let spec = speculator, budget > 0 else { return out }
        var out = out
        let idx = out.indices.filter { i in
            let s = out[i].seq
            return out[i].numNew == 1 && s.numComputed + 1 == s.tokens.count && s.numOutput > 0
        }
        guard !idx.isEmpty else { return out }
        let seqs = idx.map { out[$0].seq }
        let draftRoom = spec.draft?.maxPositions ?? .max
        let limits = seqs.map { s in
            max(0, min(maxModelLen - s.tokens.count, s.group.maxTokens - s.numOutput - 1, draftRoom - s.tokens.count))
        }
        let sampling = out.filter { $0.seq.numComputed + $0.numNew == $0.seq.tokens.count }.count
        let k = spec.plan(seqs, limits: limits, baseTokens: out.reduce(0) { $0 + $1.numNew }, sampling: sampling, budget: budget)
        for (j, i) in idx.enumerated() where k[j] > 0 {
            if kv.allocateSlots(out[i].seq, 1 + k[j]) { out[i].numSpec = k[j] } else { out[i].seq.draft = [] }
        }
        return out
    }

    /// Starts the samples waiting for `leader`'s prompt (n > 1): they share its blocks from now on.
    func startForks(of leader: EngineSequence) -> [EngineSequence] {
        let sibs = leader.group.sequences.filter { $0.status == .waitingForFork }
        guard !sibs.isEmpty else { return [] }
        waiting.removeAll { $0.status == .waitingForFork && $0.group === leader.group }
        for sib in sibs {
            kv.fork(sib, from: leader)
            sib.status = .running
            running.append(sib)
        }
        return sibs
    }

    func remove(_ s: EngineSequence) {
        running.removeAll { $0 === s }
        waiting.removeAll { $0 === s }
        kv.free(s)
    }
}
