import CFolioKernels
import FolioKernels
import FolioWeights
import Foundation

/// A decoder-only transformer: config + weights (mapped in place, or repacked at load) + the forward pass (fast or
/// float32 reference).
///
/// ```swift
/// let model = try CausalLM.load(path: "smollm2-135m-instruct-q4_1.gguf")
/// let cache = model.makeCache(capacity: 256)
/// let logits = try model.forward(tokens: [1, 2, 3], cache: cache)   // last position's logits
/// ```
public final class CausalLM: Sendable {
    public let config: ModelConfig
    public let path: String
    let weights: ModelWeights
    let source: any WeightSource
    /// inv_freq per rotary pair for global and (Gemma 3) local layers.
    let invFreqGlobal: [Float]
    let invFreqLocal: [Float]
    let ropeAttentionFactor: Float
    public let options: ForwardOptions
    /// Tensor parallelism: this process's rank among `mpirun`'s and its share of the model (`config` is the share's).
    public let parallel: ModelParallel?
    let shard: ShardPlan?
    let pipeline: PipelinePlan?
    /// The ranks this one all-reduces with: tensor parallelism's (none under pipeline parallelism).
    var tensorGroup: ModelParallel? { shard == nil ? nil : parallel }

    init(config: ModelConfig, weights: ModelWeights, source: any WeightSource, path: String, options: ForwardOptions,
         parallel: ModelParallel? = nil, shard: ShardPlan? = nil, pipeline: PipelinePlan? = nil) {
        self.parallel = parallel
        self.shard = shard
        self.pipeline = pipeline
        self.options = options
        self.config = config
        self.weights = weights
        self.source = source
        self.path = path
        let (g, af) = Rope.inverseFrequencies(config: config, base: config.ropeTheta, scaling: config.ropeScaling,
                                              factors: weights.ropeFreqFactors)
        invFreqGlobal = g
        ropeAttentionFactor = af
        invFreqLocal = config.ropeLocalTheta.map {
            Rope.inverseFrequencies(config: config, base: $0, scaling: .none, factors: nil).0
        } ?? g
    }

    /// A single-sequence cache (float32 K/V unless `dtype` says otherwise).
    public func makeCache(capacity: Int? = nil, dtype: KVCacheDType = .float32) -> KVCache {
        KVCache(config: config, capacity: capacity ?? config.maxPositionEmbeddings, dtype: dtype)
    }

    /// Runs `tokens` at positions `cache.count ..< cache.count + tokens.count`, appending their K/V to the cache.
    /// Returns logits [positions][vocab] for every position if `allLogits`, else for the last one only.
    /// `lora`: run with this adapter applied.
    public func forward(tokens: [Int32], cache: KVCache, allLogits: Bool = false, lora: LoRAAdapter? = nil) throws -> [[Float]] {
        let T = tokens.count
        guard T > 0 else { return [] }
        let start = cache.count
        guard start + T <= cache.capacity else {
            throw FolioError.invalidArgument(name: "tokens", message: "\(start + T) positions exceed the cache capacity \(cache.capacity)")
        }
        var b = ForwardBatch()
        b.tokens = tokens
        b.positions = (0..<T).map { Int32(start + $0) }
        b.sequence = Array(repeating: 0, count: T)
        b.slots = b.positions
        b.blockTables = [[0]]
        b.logitIndices = allLogits ? Array(0..<T) : [T - 1]
        if let lora { b.adapters = [lora]; b.sequenceAdapter = [0] }
        let out = try forward(batch: b, kv: cache.paged)
        cache.count = start + T
        return out
    }

    /// One forward pass over a ragged batch of sequences whose earlier K/V are in `kv`. Writes the batch's K/V to
    /// their slots, then attends through each sequence's block table. Returns logits for `batch.logitIndices`.
    /// Every token's computation is independent of the others in the batch (batch-invariant results).
    public func forward(batch: ForwardBatch, kv: PagedKVCache) throws -> [[Float]] {
        if pipeline?.isFirst == true, (pipeline?.size ?? 1) > 1 { return forwardComplete(try forwardSubmit(batch: batch, kv: kv)) }
        let c = config, H = c.hiddenSize
        var h = try hiddenStates(batch: batch, kv: kv)
        if let pp = pipeline, let mp = parallel, !pp.isLast {
            // A middle rank: its layers' output to the next rank.
            h.withUnsafeBufferPointer { mp.send($0.baseAddress!, $0.count, to: pp.rank + 1) }
            return []
        }
        let n = h.count / H
        guard n > 0 else { return [] }
        let V = weights.lmHead.rows  // this rank's vocabulary range under tensor parallelism, else all of it
        var logits = [Float](repeating: 0, count: n * V)
        h.withUnsafeMutableBufferPointer { hp in
            logits.withUnsafeMutableBufferPointer { linear([weights.lmHead], hp.baseAddress!, n, [$0.baseAddress!]) }
        }
        if let tp = parallel, let plan = shard {
            logits = tp.gatherLogits(logits, rows: n, ranges: plan.vocab, vocab: c.vocabSize)
            if tp.rank > 0 { return [] }
        }
        if let cap = c.finalLogitSoftcap {
            for i in logits.indices { logits[i] = tanhf(logits[i] / cap) * cap }
        }
        if let pp = pipeline, let mp = parallel, !pp.isFirst {
            // The last rank: the logits to rank 0, which posted their receive when it started the pass. The send
            // completes before this rank starts the next micro-batch: Open MPI moves a large message only while
            // both sides are inside MPI calls, and rank 0 gets there as soon as it has posted the next one.
            logits.withUnsafeBufferPointer { mp.send($0.baseAddress!, $0.count, to: 0) }
            return []
        }
        return (0..<n).map { Array(logits[($0 * c.vocabSize)..<(($0 + 1) * c.vocabSize)]) }
    }

    /// Batches pipeline parallelism can have in flight at once (1 without it).
    public var pipelineDepth: Int { pipeline?.size ?? 1 }

    /// A forward pass started by `forwardSubmit` (pipeline parallelism, rank 0): its sends in flight and the receive
    /// of its logits (nil when the pass wants none).
    public final class PendingForward {
        let sends: [ModelParallel.PostedSend]
        let logits: ModelParallel.PostedReceive?
        init(sends: [ModelParallel.PostedSend], logits: ModelParallel.PostedReceive?) {
            self.sends = sends
            self.logits = logits
        }
    }

    /// Pipeline parallelism, rank 0: runs this rank's layers over `batch`, then posts the step and the hidden states
    /// to the next ranks and returns without waiting for them; `forwardComplete` takes the logits. Passes complete in
    /// the order they were submitted.
    public func forwardSubmit(batch: ForwardBatch, kv: PagedKVCache) throws -> PendingForward {
        guard let pp = pipeline, let mp = parallel, pp.isFirst, pp.size > 1 else {
            throw FolioError.invalidArgument(name: "forwardSubmit", message: "needs pipeline parallelism, on rank 0")
        }
        let h = try hiddenStates(batch: batch, kv: kv)
        let n = batch.logitIndices.count
        // The logits' receive is posted first: the last rank's send then completes whenever it gets there.
        let logits = n > 0 ? mp.postReceive(n * config.vocabSize, from: pp.size - 1) : nil
        var sends = mp.post(ModelParallel.forward(batch, kv))
        h.withUnsafeBytes { sends.append(mp.post($0, to: 1)) }
        return PendingForward(sends: sends, logits: logits)
    }

    /// The logits of a pass `forwardSubmit` started (the oldest one not yet completed).
    public func forwardComplete(_ p: PendingForward) -> [[Float]] {
        let V = config.vocabSize
        guard let mp = parallel else { return [] }
        defer { mp.waitAll(p.sends) }
        guard let r = p.logits else { return [] }
        mp.wait(r)
        return (0..<(r.count / V)).map { Array(UnsafeBufferPointer(start: r.buffer + $0 * V, count: V)) }
    }

    /// The forward pass up to the final norm: the normed last hidden state of each of `batch.logitIndices`, flattened
    /// `[logitIndices.count * hidden]` (what `forward` multiplies by the LM head; decoder embedding models pool it).
    /// A pipeline rank before the last returns its layers' output for every token, `[tokens * hidden]`: the next
    /// rank's input.
    public func hiddenStates(batch: ForwardBatch, kv: PagedKVCache) throws -> [Float] {
        let c = config, T = batch.tokens.count, H = c.hiddenSize
        guard T > 0 else { return [] }
        guard batch.positions.count == T, batch.sequence.count == T, batch.slots.count == T else {
            throw FolioError.invalidArgument(name: "batch", message: "tokens, positions, sequence and slots differ in length")
        }
        for t in batch.tokens where t < 0 || Int(t) >= c.vocabSize {
            throw FolioError.invalidArgument(name: "token id", message: "\(t) is outside the vocabulary (0..<\(c.vocabSize))")
        }
        for s in batch.slots where s < 0 || Int(s) >= kv.numBlocks * kv.blockSize {
            throw FolioError.invalidArgument(name: "slot", message: "\(s) is outside the KV cache")
        }
        for a in batch.adapters where a.layers.count != c.numLayers {
            throw FolioError.invalidArgument(name: "lora", message: "adapter \(a.path) was read for another model")
        }
        for a in batch.sequenceAdapter where a >= batch.adapters.count {
            throw FolioError.invalidArgument(name: "lora", message: "adapter index \(a) is outside the batch's \(batch.adapters.count) adapters")
        }
        if let tp = parallel, tp.rank == 0, pipeline == nil { tp.send(ModelParallel.forward(batch, kv)) }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: T * H)       // residual stream [T, H]
        let h = UnsafeMutablePointer<Float>.allocate(capacity: T * H)       // normed input [T, H]
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * c.qDim)  // [T, heads, headDim]
        let att = UnsafeMutablePointer<Float>.allocate(capacity: T * c.qDim)
        let kNew = UnsafeMutablePointer<Float>.allocate(capacity: T * c.kvDim)  // [T, kvDim]
        let vNew = UnsafeMutablePointer<Float>.allocate(capacity: T * c.kvDim)
        let o = UnsafeMutablePointer<Float>.allocate(capacity: T * H)
        let lora = LoRAGroups(batch)
        let loraScratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, lora.scratchFloats))
        defer { for p in [x, h, q, att, kNew, vNew, o, loraScratch] { p.deallocate() } }

        // Per sequence: the cache slot of each position up to its last one in this batch (shared by every layer).
        var seqSlots = [[Int32]](repeating: [], count: batch.blockTables.count)
        var last = [Int](repeating: -1, count: batch.blockTables.count)
        for t in 0..<T { last[Int(batch.sequence[t])] = max(last[Int(batch.sequence[t])], Int(batch.positions[t])) }
        let bs = kv.blockSize
        for (s, table) in batch.blockTables.enumerated() where last[s] >= 0 {
            guard (last[s] + bs) / bs <= table.count else {
                throw FolioError.invalidArgument(name: "blockTables", message: "sequence \(s) has \(table.count) blocks for position \(last[s])")
            }
            seqSlots[s] = (0...last[s]).map { table[$0 / bs] * Int32(bs) + Int32($0 % bs) }
        }
        // Under tensor parallelism each rank holds a range of the vocabulary: the rank holding a token writes its row,
        // the others zeros, and the all-reduce gives every rank every row.
        let vocabStart = shard.map { $0.vocab[$0.rank].lowerBound } ?? 0, vocabRows = weights.embedding.rows
        let embeds = pipeline?.isFirst ?? true
        if let pp = pipeline, let mp = parallel, !pp.isFirst { mp.receive(x, T * H, from: pp.rank - 1) }
        for (t, id) in batch.tokens.enumerated() where embeds {
            let r = Int(id) - vocabStart
            guard r >= 0, r < vocabRows else { (x + t * H).initialize(repeating: 0, count: H); continue }
            weights.embedding.dequantizeRow(r, into: x + t * H)
            if c.embeddingScale != 1 { for i in 0..<H { x[t * H + i] *= c.embeddingScale } }
        }
        tensorGroup?.allreduce(x, T * H)
        let step = LayerStep(batch: batch, kv: kv, slots: seqSlots, T: T, x: x, h: h, q: q, att: att, kNew: kNew, vNew: vNew, o: o,
                             lora: lora, loraScratch: loraScratch)
        for l in weights.layers.indices { c.arch.forwardLayer(self, layer: l, step) }
        if let pp = pipeline, !pp.isLast { return Array(UnsafeBufferPointer(start: x, count: T * H)) }  // the next rank's input
        let n = batch.logitIndices.count
        var out = [Float](repeating: 0, count: n * H)
        weights.finalNorm.withUnsafeBufferPointer { w in
            out.withUnsafeMutableBufferPointer { o in
                for (r, t) in batch.logitIndices.enumerated() { rmsNorm(x + t * H, w.baseAddress!, H, eps: c.rmsNormEps, o.baseAddress! + r * H) }
            }
        }
        return out
    }

    /// ys[i] = x W_i^T for weights that share the input x: [T, cols] (q/k/v, gate/up). On the fast path x is
    /// quantized once and every weight with a quantized kernel uses it; the others (and the reference path) run the
    /// float32 matmul.
    func linear(_ ws: [WeightTensor], _ x: UnsafePointer<Float>, _ T: Int, _ ys: [UnsafeMutablePointer<Float>]) {
        // Several in-place quantized matrices on one input: one dispatch for all of them.
        if !options.reference, ws.count > 1, ws.allSatisfy({ !$0.type.isPacked && hasQuantizedKernel($0.ref) }) {
            let xq = QuantizedActivations(x, T: T, cols: ws[0].ref.cols, superBlocks: ws.contains { usesSuperBlocks($0.ref) },
                                          threads: options.threads)
            qmatmul(ws.map(\.ref), xq, ys, threads: options.threads)
            return
        }
        var xq: QuantizedActivations?
        for (w, y) in zip(ws, ys) {
            let ref = w.ref
            if !options.reference && hasQuantizedKernel(ref) {
                if xq == nil {
                    xq = QuantizedActivations(x, T: T, cols: ref.cols, blockSums: ws.contains { $0.type.isPacked },
                                              superBlocks: ws.contains { usesSuperBlocks($0.ref) }, threads: options.threads)
                }
                qmatmul(ref, xq!, y, threads: options.threads)
            } else if w.type.isPacked {
                packedMatmul(ref, x, T, y, threads: options.threads)
            } else {
                matmul(ref, x, T, y, threads: options.threads)
            }
        }
    }

    func addBias(_ b: [Float]?, _ y: UnsafeMutablePointer<Float>, _ T: Int, _ n: Int) {
        guard let b else { return }
        for t in 0..<T { for i in 0..<n { y[t * n + i] += b[i] } }
    }

    /// RMSNorm of each head vector (Qwen3 / Gemma 3 q/k norm).
    func headNorm(_ w: [Float], _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let d = config.headDim
        w.withUnsafeBufferPointer { wp in
            for i in 0..<count { rmsNorm(y + i * d, wp.baseAddress!, d, eps: config.rmsNormEps, y + i * d) }
        }
    }
}

extension WeightTensor {
    var ref: MatrixRef { MatrixRef(type: type.rawValue, data: data, rowBytes: rowBytes, rows: rows, cols: cols) }
}
