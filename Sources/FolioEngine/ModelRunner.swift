import FolioModels
import Foundation

/// One step's forward input: the ragged batch, the logits row where each sampling sequence's rows start (one row
/// per verified position for a speculating sequence), and where each prompt-logprobs request's rows start.
struct StepBatch {
    var batch = ForwardBatch()
    var sampleRow: [ObjectIdentifier: Int] = [:]
    var promptRows: [(seq: EngineSequence, firstPosition: Int, firstRow: Int)] = []
}

extension ForwardBatch {
    /// Adds positions `range` of `s` as the batch's next sequence: its tokens, and past them its proposed ones.
    mutating func add(_ s: EngineSequence, _ range: Range<Int>, blockSize bs: Int) {
        let si = Int32(blockTables.count)
        blockTables.append(s.blockTable.map(Int32.init))
        for p in range {
            tokens.append(p < s.tokens.count ? s.tokens[p] : s.draft[p - s.tokens.count])
            positions.append(Int32(p))
            sequence.append(si)
            slots.append(Int32(s.blockTable[p / bs] * bs + p % bs))
        }
    }
}

/// KV block copies (source, destination, ...) rank 0 made that the other ranks of a split model still have to make.
final class BlockCopies {
    var pairs: [Int32] = []
}

/// Builds each step's batch from the scheduled sequences (their new tokens and proposed ones), runs the target's
/// forward over it, and runs the draft model's forwards when one proposes.
final class ModelRunner {
    let model: CausalLM
    let cache: PagedKVCache
    let draft: DraftModelProposer?
    /// Block copies made since the last batch, for the other ranks of a split model.
    let copies: BlockCopies
    /// Testing hook (EngineCore.faultInjection).
    var faultInjection: (@Sendable (String) -> (any Error)?)?

    init(model: CausalLM, cache: PagedKVCache, draft: DraftModelProposer?, copies: BlockCopies = BlockCopies()) {
        self.model = model
        self.cache = cache
        self.draft = draft
        self.copies = copies
    }

    /// A draft model's proposals for the sequences the scheduler let speculate (and its share of this step's
    /// prompt chunks); a draft that fails only costs this step its speculation.
    func proposeDrafts(_ scheduled: inout [ScheduledSequence]) {
        guard let d = draft else { return }
        // Prompt chunks only (a decode's draft catches up when it proposes): positions below the step's end that
        // are real tokens, and not for a prompt logprobs or an unsampled chunk's sake alone.
        let ends = scheduled.map { sch in sch.numSpec > 0 || sch.seq.numOutput > 0 ? 0 : min(sch.seq.numComputed + sch.numNew, sch.seq.tokens.count - 1) }
        guard scheduled.contains(where: { $0.numSpec > 0 }) || zip(scheduled, ends).contains(where: { $0.0.seq.draftComputed < $0.1 }) else { return }
        do { try d.propose(scheduled.map(\.seq), k: scheduled.map(\.numSpec), ends: ends) } catch {
            for i in scheduled.indices { scheduled[i].numSpec = 0; scheduled[i].seq.draft = []; scheduled[i].seq.draftProbs = nil }
        }
    }

    func makeBatch(_ scheduled: [ScheduledSequence]) -> StepBatch {
        var out = StepBatch()
        out.batch.blockCopies = copies.pairs
        copies.pairs = []
        let bs = cache.blockSize
        var adapterIndex: [Int: Int32] = [:]
        let anyLoRA = scheduled.contains { $0.seq.group.prep.adapter != nil }
        for sch in scheduled {
            let s = sch.seq
            if anyLoRA {
                // Each distinct adapter once in the batch; every sequence points at its own (or -1: the base model).
                var a: Int32 = -1
                if let lora = s.group.prep.lora, let adapter = s.group.prep.adapter {
                    if let i = adapterIndex[lora.id] { a = i } else {
                        a = Int32(out.batch.adapters.count)
                        adapterIndex[lora.id] = a
                        out.batch.adapters.append(adapter)
                    }
                }
                out.batch.sequenceAdapter.append(a)
            }
            if s.group.metrics.firstScheduled == nil { s.group.metrics.firstScheduled = Date() }
            let wantPrompt = s.group.params.promptLogprobs != nil && s.index == 0 && !s.group.promptLogprobsDone
                && s.numComputed < s.promptLength
            let firstRow = out.batch.logitIndices.count, firstToken = out.batch.tokens.count
            let end = s.numComputed + sch.numNew
            out.batch.add(s, s.numComputed..<(end + sch.numSpec), blockSize: bs)
            if wantPrompt {
                for p in s.numComputed..<min(end, s.promptLength - 1) { out.batch.logitIndices.append(firstToken + p - s.numComputed) }
            }
            if wantPrompt { out.promptRows.append((s, s.numComputed, firstRow)) }
            if end == s.tokens.count {
                // The last real token's row, then one per proposed token.
                out.sampleRow[ObjectIdentifier(s)] = out.batch.logitIndices.count
                let last = out.batch.tokens.count - 1 - sch.numSpec
                for j in 0...sch.numSpec { out.batch.logitIndices.append(last + j) }
            }
        }
        return out
    }

    func forward(_ b: StepBatch, _ scheduled: [ScheduledSequence]) throws -> [[Float]] {
        try inject(scheduled)
        return try model.forward(batch: b.batch, kv: cache)
    }

    /// Pipeline parallelism: starts the pass (this rank's layers run now); `complete` takes its logits.
    func submit(_ b: StepBatch, _ scheduled: [ScheduledSequence]) throws -> CausalLM.PendingForward {
        try inject(scheduled)
        return try model.forwardSubmit(batch: b.batch, kv: cache)
    }

    func complete(_ p: CausalLM.PendingForward) -> [[Float]] { model.forwardComplete(p) }

    func inject(_ scheduled: [ScheduledSequence]) throws {
        if let hook = faultInjection {
            for sch in scheduled { if let e = hook(sch.seq.group.id) { throw e } }
        }
    }

    /// Seconds for a forward over 1...`upTo` tokens of one sequence (the fastest of 5 after a warm-up, measured at
    /// 1, 2, 4, ... and interpolated), written into free blocks before any request arrives. The speculator prices
    /// tokens with it.
    static func measureCosts(_ model: CausalLM, _ cache: PagedKVCache, upTo: Int) -> [Double] {
        let n = max(1, min(upTo, cache.numBlocks * cache.blockSize))
        var points: [(Int, Double)] = []
        var m = 1
        var warm = false
        while true {
            var batch = ForwardBatch()
            batch.blockTables = [(0..<((m + cache.blockSize - 1) / cache.blockSize)).map { Int32($0) }]
            batch.tokens = Array(repeating: 0, count: m)
            batch.positions = (0..<m).map { Int32($0) }
            batch.sequence = Array(repeating: 0, count: m)
            batch.slots = (0..<m).map { Int32($0) }
            batch.logitIndices = [m - 1]
            if !warm { _ = try? model.forward(batch: batch, kv: cache); warm = true }
            var best = Double.infinity
            for _ in 0..<5 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try? model.forward(batch: batch, kv: cache)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            points.append((m, best))
            if m >= n { break }
            m = min(m * 2, n)
        }
        var table: [Double] = []
        for x in 1...n {
            let j = points.firstIndex { $0.0 >= x }!
            if points[j].0 == x || j == 0 { table.append(points[j].1); continue }
            let (x0, y0) = points[j - 1], (x1, y1) = points[j]
            table.append(y0 + (y1 - y0) * Double(x - x0) / Double(x1 - x0))
        }
        // A forward over more tokens never costs less (noise aside).
        for i in 1..<table.count { table[i] = max(table[i], table[i - 1]) }
        return table
    }
}
