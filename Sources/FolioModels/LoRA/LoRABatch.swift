import CFolioKernels
import FolioKernels

/// A forward pass's adapters: for each adapter in the batch, the token rows that use it (segments gathered by
/// adapter, so each adapter's weights are read once per step however its tokens are spread). Base-model tokens
/// belong to no group and cost nothing.
struct LoRAGroups {
    var adapters: [LoRAAdapter] = []
    /// Every group's token rows, one group after another.
    var rows: [Int32] = []
    /// Per group: where its rows start in `rows`, how many, and where its shrink scratch starts.
    var spans: [(start: Int, count: Int, scratch: Int)] = []
    /// Floats of shrink scratch for all groups at once (rows x the adapter's largest rank).
    var scratchFloats = 0

    init(_ batch: ForwardBatch) {
        guard !batch.adapters.isEmpty, batch.sequenceAdapter.count == batch.blockTables.count else { return }
        var byAdapter = [[Int32]](repeating: [], count: batch.adapters.count)
        for (t, s) in batch.sequence.enumerated() {
            let a = batch.sequenceAdapter[Int(s)]
            if a >= 0 { byAdapter[Int(a)].append(Int32(t)) }
        }
        for (i, r) in byAdapter.enumerated() where !r.isEmpty {
            adapters.append(batch.adapters[i])
            spans.append((rows.count, r.count, scratchFloats))
            rows += r
            scratchFloats += r.count * batch.adapters[i].rank
        }
    }

    var isEmpty: Bool { adapters.isEmpty }
}

extension CausalLM {
    /// y[t] += scale * B (A x[t]) for every token t of an adapter that adapts `target` of `layer`: all adapters of
    /// the batch in one grouped call per weight type. x: [T, in], y: [T, out] (the projection's input and output rows
    /// of the whole batch); scratch: `lora.scratchFloats`.
    func applyLoRA(_ lora: LoRAGroups, _ layer: Int, _ target: LoRATarget, _ x: UnsafePointer<Float>,
                   _ y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        lora.rows.withUnsafeBufferPointer { rows in
            for half in [false, true] {
                var groups: [folio_lora_group] = []
                var inF = 0, outF = 0
                for (i, adapter) in lora.adapters.enumerated() {
                    guard let p = adapter.projection(layer, target), p.a.isHalf == half else { continue }
                    let s = lora.spans[i]
                    groups.append(folio_lora_group(rows: rows.baseAddress! + s.start, n: Int64(s.count), a: p.a.data, bt: p.bt.data,
                                                   r: Int64(p.rank), t: scratch + s.scratch))
                    inF = p.inFeatures
                    outF = p.outFeatures
                }
                guard !groups.isEmpty else { continue }
                folio_lora_apply(x, Int64(inF), Int64(inF), y, Int64(outF), Int64(outF), groups, Int64(groups.count), half ? 1 : 0,
                                 Int32(options.threads))
            }
        }
    }
}
