import CFolioKernels
import FolioKernels
import FolioWeights

/// Grouped-query attention's projections.
struct GroupedAttentionWeights: Sendable {
    let q, k, v, o: WeightTensor   // q: [qDim, hidden], k/v: [kvDim, hidden], o: [hidden, qDim]
    let qBias, kBias, vBias: [Float]?
    var oBias: [Float]? = nil
    let qNorm, kNorm: [Float]?     // [headDim]
    var sinks: [Float]? = nil      // [heads] (GPT-OSS)
}

enum AttentionWeights: Sendable {
    case grouped(GroupedAttentionWeights)
    case latent(LatentAttentionWeights)

    /// Grouped-query attention's projections (nil for latent attention).
    var grouped: GroupedAttentionWeights? { if case .grouped(let g) = self { g } else { nil } }
}

/// The KV heads of one layer, for the kernels (raw pointers into the cache, read-only during attention).
private struct KVHeads: @unchecked Sendable {
    let heads: [folio_kv_head]
}

/// Query rows that share one KV head: `count` consecutive tokens of one sequence from batch index `start`, times
/// the G query heads of the group (row i * G + g).
private struct QueryBlock {
    let start: Int
    let count: Int
    /// Chunks of FOLIO_ATT_CHUNK key positions any of the rows sees.
    let chunks: Range<Int>
}

/// The attention problem's shape: `heads` query heads over `kvHeads` K/V heads of `headDim` elements (the query and
/// output rows are [heads, headDim]), the softmax scale, an optional tanh soft cap (0: none) and optional attention
/// sinks (GPT-OSS: one logit per query head that joins every softmax's denominator).
struct AttentionShape {
    let heads: Int, kvHeads: Int, headDim: Int
    let scale: Float, softcap: Float
    var sinks: [Float]? = nil
}

extension CausalLM {
    /// The grouped-query attention of layer `layer` over `kv` (the model's own heads, scale and soft cap).
    func attention(q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, batch: ForwardBatch, slots: [[Int32]],
                   kv: PagedKVCache, layer: Int, window: Int?, sinks: [Float]? = nil) {
        let c = config
        attention(q: q, out: out, batch: batch, slots: slots, heads: (0..<c.numKVHeads).map { kv.head(layer: layer, $0) },
                  shape: AttentionShape(heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: c.attentionScale,
                                        softcap: c.attnLogitSoftcap ?? 0, sinks: sinks), window: window)
    }

    /// Causal (optionally sliding-window) attention with grouped KV heads over the paged cache: token t of sequence s
    /// at position p attends to positions lo...p of s (slots[s][j]: cache slot of position j). q/out: [T, heads,
    /// headDim]. The reference path runs the kernels' scalar definition per token; the fast path groups up to 64
    /// query rows (a block of a sequence's consecutive tokens times the heads of a KV group) so each K/V row read
    /// serves them all, and when there are few such blocks (decode) spreads each one's key chunks over the threads
    /// (split-K), merging the partial softmaxes in chunk order: a token's result is the same however it is batched.
    func attention(q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, batch: ForwardBatch, slots: [[Int32]],
                   heads kvHeads: [folio_kv_head], shape: AttentionShape, window: Int?) {
        let d = shape.headDim, G = shape.heads / shape.kvHeads, KH = shape.kvHeads, T = batch.tokens.count
        let qDim = shape.heads * d
        let scale = shape.scale, cap = shape.softcap
        let qs = SharedPointer(q), os = SharedPointer(out)
        let heads = KVHeads(heads: kvHeads)
        // Per KV head, the sink logit of each of its query rows (row i * G + g: query head h * G + g), up to 64 rows.
        let sinkRows: [[Float]]? = shape.sinks.map { s in (0..<KH).map { h in (0..<max(1, 64 / G)).flatMap { _ in s[(h * G)..<((h + 1) * G)] } } }
        let CH = Int(FOLIO_ATT_CHUNK)
        @Sendable func lo(_ pos: Int) -> Int32 { Int32(window.map { max(0, pos - $0 + 1) } ?? 0) }

        if options.reference {
            parallelFor(T * KH, threads: options.threads) { range in
                var lows = [Int32](repeating: 0, count: G), highs = lows
                for item in range {
                    let t = item / KH, h = item % KH, pos = Int(batch.positions[t])
                    for g in 0..<G { lows[g] = lo(pos); highs[g] = Int32(pos + 1) }
                    var head = heads.heads[h]
                    slots[Int(batch.sequence[t])].withUnsafeBufferPointer { sl in
                        let sinks = sinkRows.map { Array($0[h][0..<G]) }
                        folio_attend_ref(qs.p + t * qDim + h * G * d, Int64(G), Int64(d), &head, sl.baseAddress!, lows, highs,
                                         scale, cap, sinks, os.p + t * qDim + h * G * d)
                    }
                }
            }
            return
        }

        // Blocks of consecutive tokens of one sequence (a ragged batch lays each sequence's new tokens together).
        let maxTokens = max(1, 64 / G)
        var found: [QueryBlock] = []
        var t = 0
        while t < T {
            var n = 1
            while t + n < T, n < maxTokens, batch.sequence[t + n] == batch.sequence[t], batch.positions[t + n] == batch.positions[t + n - 1] + 1 { n += 1 }
            let first = Int(lo(Int(batch.positions[t]))), last = Int(batch.positions[t + n - 1])
            found.append(QueryBlock(start: t, count: n, chunks: (first / CH)..<(last / CH + 1)))
            t += n
        }
        let blocks = found
        let maxRows = blocks.map(\.count).max()! * G
        let scratchFloats = Int(folio_attend_scratch_floats(Int64(maxRows), Int64(d)))

        /// Row inputs of (block, head): gathered queries and key ranges.
        @Sendable func gather(_ b: QueryBlock, _ h: Int, _ qb: UnsafeMutablePointer<Float>, _ lows: UnsafeMutablePointer<Int32>, _ highs: UnsafeMutablePointer<Int32>) {
            for i in 0..<b.count {
                let tok = b.start + i, pos = Int(batch.positions[tok])
                (qb + i * G * d).update(from: qs.p + tok * qDim + h * G * d, count: G * d)
                for g in 0..<G { lows[i * G + g] = lo(pos); highs[i * G + g] = Int32(pos + 1) }
            }
        }
        @Sendable func scatter(_ b: QueryBlock, _ h: Int, _ O: UnsafePointer<Float>, _ M: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Float>,
                               _ ob: UnsafeMutablePointer<Float>) {
            if let sinkRows { folio_attend_sinks(Int64(b.count * G), M, L, sinkRows[h]) }
            folio_attend_finish(Int64(b.count * G), Int64(d), O, L, ob)
            for i in 0..<b.count { (os.p + (b.start + i) * qDim + h * G * d).update(from: ob + i * G * d, count: G * d) }
        }

        let items = blocks.count * KH
        let split = items < 4 * options.threads && blocks.contains { $0.chunks.count > 1 }
        if !split {
            parallelFor(items, threads: options.threads) { range in
                let buf = UnsafeMutablePointer<Float>.allocate(capacity: 3 * maxRows * d + 2 * maxRows + scratchFloats)
                let lows = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * maxRows)
                defer { buf.deallocate(); lows.deallocate() }
                let qb = buf, O = qb + maxRows * d, ob = O + maxRows * d, M = ob + maxRows * d, L = M + maxRows, scratch = L + maxRows
                let highs = lows + maxRows
                for item in range {
                    let b = blocks[item / KH], h = item % KH, R = Int64(b.count * G)
                    gather(b, h, qb, lows, highs)
                    folio_attend_init(R, Int64(d), O, M, L)
                    var head = heads.heads[h]
                    slots[Int(batch.sequence[b.start])].withUnsafeBufferPointer { sl in
                        folio_attend_rows(qb, R, Int64(d), &head, sl.baseAddress!, lows, highs, Int64(b.chunks.lowerBound),
                                          Int64(b.chunks.upperBound), scale, cap, O, M, L, scratch)
                    }
                    scatter(b, h, O, M, L, ob)
                }
            }
            return
        }

        // Split-K: one work item per (block, head, chunk), each chunk's partial state kept, then merged in order.
        var firstPartial = [Int](), total = 0
        for b in blocks { for _ in 0..<KH { firstPartial.append(total); total += b.chunks.count } }
        let stride = maxRows * d + 2 * maxRows
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: total * stride)
        defer { partials.deallocate() }
        let ps = SharedPointer(partials)
        var owner = [Int](), chunkOf = [Int]()
        for (i, b) in blocks.enumerated() { for h in 0..<KH { for ch in b.chunks { owner.append(i * KH + h); chunkOf.append(ch) } } }
        let owners = owner, chunkIndex = chunkOf, firsts = firstPartial
        parallelFor(total, threads: options.threads) { range in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: maxRows * d + scratchFloats)
            let lows = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * maxRows)
            defer { buf.deallocate(); lows.deallocate() }
            let qb = buf, scratch = buf + maxRows * d, highs = lows + maxRows
            for p in range {
                let item = owners[p], b = blocks[item / KH], h = item % KH, R = Int64(b.count * G), ch = Int64(chunkIndex[p])
                gather(b, h, qb, lows, highs)
                let O = ps.p + p * stride, M = O + maxRows * d, L = M + maxRows
                folio_attend_init(R, Int64(d), O, M, L)
                var head = heads.heads[h]
                slots[Int(batch.sequence[b.start])].withUnsafeBufferPointer { sl in
                    folio_attend_rows(qb, R, Int64(d), &head, sl.baseAddress!, lows, highs, ch, ch + 1, scale, cap, O, M, L, scratch)
                }
            }
        }
        parallelFor(items, threads: options.threads) { range in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: 2 * maxRows * d + 2 * maxRows)
            defer { buf.deallocate() }
            let O = buf, M = O + maxRows * d, L = M + maxRows, ob = L + maxRows
            for item in range {
                let b = blocks[item / KH], h = item % KH, R = Int64(b.count * G)
                folio_attend_init(R, Int64(d), O, M, L)
                for p in firsts[item]..<(firsts[item] + b.chunks.count) {
                    let o = ps.p + p * stride
                    folio_attend_merge(R, Int64(d), O, M, L, o, o + maxRows * d, o + maxRows * d + maxRows)
                }
                scatter(b, h, O, M, L, ob)
            }
        }
    }
}
