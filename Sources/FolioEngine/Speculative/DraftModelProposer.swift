import FolioModels
import FolioWeights
import Foundation

/// A smaller model with the target's vocabulary proposes tokens: batched over every speculating sample, with its
/// own paged KV cache addressed through the samples' block tables (the target's block manager allocates for both:
/// block b of the draft cache belongs to whoever holds block b). Round 0 catches the draft up on the sample's
/// tokens and proposes the first token; round r proposes token r + 1 from the r-th.
final class DraftModelProposer {
    let model: CausalLM
    let cache: PagedKVCache
    let method: SpeculativeConfig.DraftSampleMethod

    init(model: CausalLM, target: ModelConfig, numBlocks: Int, blockSize: Int, dtype: KVCacheDType,
         method: SpeculativeConfig.DraftSampleMethod) throws {
        let d = model.config
        guard d.vocabSize == target.vocabSize else {
            throw SpeculativeConfig.bad("Target and draft model should have the same vocabulary size. Target model vocab_size=\(target.vocabSize). "
                + "Draft model vocab_size=\(d.vocabSize). Using models with different tokenizers can cause out-of-bounds errors during speculative decoding.")
        }
        if target.slidingWindow.allSatisfy({ $0 != nil }) {
            throw SpeculativeConfig.bad("a draft model needs a target that keeps every block (this target's layers all use a sliding window)")
        }
        self.model = model
        self.method = method
        cache = PagedKVCache(config: d, numBlocks: numBlocks, blockSize: blockSize, dtype: dtype)
    }

    /// The longest context the draft can attend over.
    var maxPositions: Int { model.config.maxPositionEmbeddings }

    /// Fills `draft` (and for probabilistic drafting `draftProbs`) of each sample with `k[i]` tokens. Samples with
    /// `k[i] == 0` whose target computes positions up to `ends[i]` this step (prompt chunks) have the draft compute
    /// them too, in round 0: its K/V is ready when they start decoding, and its prefill is part of the prompt's time.
    func propose(_ seqs: [EngineSequence], k: [Int], ends: [Int]) throws {
        let bs = cache.blockSize
        let active = seqs.indices.filter { k[$0] > 0 }
        for i in active { seqs[i].draft = []; seqs[i].draftProbs = method == .probabilistic && seqs[i].group.params.temperature > 0 ? [] : nil }
        let catchUp = seqs.indices.filter { k[$0] == 0 && seqs[$0].draftComputed < ends[$0] }
        let rounds = active.map { k[$0] }.max() ?? (catchUp.isEmpty ? 0 : 1)
        for r in 0..<rounds {
            var batch = ForwardBatch()
            var members: [Int] = []
            if r == 0 { for i in catchUp { batch.add(seqs[i], seqs[i].draftComputed..<ends[i], blockSize: bs) } }
            for i in active where k[i] > r {
                let s = seqs[i], n = s.tokens.count
                batch.add(s, r == 0 ? s.draftComputed..<n : (n + r - 1)..<(n + r), blockSize: bs)
                batch.logitIndices.append(batch.tokens.count - 1)
                members.append(i)
            }
            let logits = try model.forward(batch: batch, kv: cache)
            if r == 0 { for i in catchUp { seqs[i].draftComputed = ends[i] } }
            for (row, i) in members.enumerated() {
                let s = seqs[i]
                if r == 0 { s.draftComputed = s.tokens.count }
                s.draft.append(pick(logits[row], s))
            }
        }
    }

    /// The draft's token: its argmax, or a draw from softmax(logits / temperature) kept for the ratio test.
    func pick(_ logits: [Float], _ s: EngineSequence) -> Int32 {
        let temp = s.group.params.temperature
        guard s.draftProbs != nil, temp > 0 else {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        let m = logits.max() ?? 0
        var q = logits.map { exp(($0 - m) / temp) }
        let total = q.reduce(0, +)
        for i in q.indices { q[i] /= total }
        var u = Float(s.rng.nextUnit()), pick = -1
        for (i, x) in q.enumerated() where x > 0 {
            pick = i
            u -= x
            if u < 0 { break }
        }
        s.draftProbs!.append(q)
        return Int32(pick)
    }
}
