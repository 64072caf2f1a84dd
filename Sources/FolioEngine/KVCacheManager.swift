/// Maps sequences to KV blocks: allocation, prefix-cache hits, copy-on-write of shared blocks, freeing.
final class KVCacheManager {
    let pool: BlockPool
    let blockSize: Int
    let prefixCaching: Bool
    /// Copies block contents (the model runner's cache does the work).
    let copyBlock: (Int, Int) -> Void
    /// When every layer has a sliding window (Mistral): the largest. Blocks whose positions are all before the window
    /// of a sequence's next token are never read again and are released while the sequence runs. nil: some layer
    /// attends to the whole sequence (Gemma 3's global layers), so nothing can be released early.
    let window: Int?
    /// blockTable's entry for a released block.
    static let released = -1
    /// The parent of every chain's first block: random per engine, so block identities cannot be predicted.
    let rootKey = BlockHash.randomKey()
    // Counters (prefix cache queries and hits are in tokens, as vLLM's metrics count them).
    var queries = 0, hits = 0, hitTokens = 0, queriedTokens = 0

    init(numBlocks: Int, blockSize: Int, prefixCaching: Bool, window: Int? = nil, copyBlock: @escaping (Int, Int) -> Void) {
        pool = BlockPool(numBlocks: numBlocks)
        self.window = window
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.copyBlock = copyBlock
    }

    /// On first scheduling: takes the longest run of cached full blocks matching the sequence's tokens.
    /// At least one token is always left to compute (the last position's logits are needed).
    func applyPrefixCache(_ s: EngineSequence) {
        guard prefixCaching, s.numComputed == 0, s.blockTable.isEmpty else { return }
        queries += 1
        queriedTokens += s.tokens.count
        var parent = rootKey
        var found: [(Int, BlockHash)] = []
        let fullBlocks = (s.tokens.count - 1) / blockSize
        for i in 0..<fullBlocks {
            let h = BlockHash(parent: parent, tokens: s.tokens[(i * blockSize)..<((i + 1) * blockSize)], extraKeys: s.group.extraKeys(block: i))
            guard let b = pool.lookup(h) else { break }
            found.append((b, h))
            parent = h
        }
        guard !found.isEmpty else { return }
        hits += 1
        for (b, h) in found { pool.touch(b); s.blockTable.append(b); s.blockHashes.append(h) }
        s.numComputed = found.count * blockSize
        s.numCachedTokens = s.numComputed
        hitTokens += s.numComputed
    }

    /// Reverts `applyPrefixCache` for a sequence that could not be scheduled after all.
    func undoPrefixCache(_ s: EngineSequence) {
        guard prefixCaching, s.numComputed == s.blockTable.count * blockSize else { return }
        queries -= 1
        queriedTokens -= s.tokens.count
        if s.numComputed > 0 { hits -= 1; hitTokens -= s.numComputed }
        free(s)
        s.numComputed = 0
        s.numCachedTokens = 0
    }

    /// Makes room for `numNew` more tokens of `s`; false (nothing changed) if the pool is short.
    func allocateSlots(_ s: EngineSequence, _ numNew: Int) -> Bool {
        releaseOutOfWindow(s)
        let total = s.numComputed + numNew
        let needed = max(0, (total + blockSize - 1) / blockSize - s.blockTable.count)
        // Writing into a shared, partly filled last block needs a private copy first.
        let cow = s.numComputed % blockSize != 0 && !s.blockTable.isEmpty && pool.references(s.blockTable[s.blockTable.count - 1]) > 1
        guard let fresh = pool.allocate(needed + (cow ? 1 : 0)) else { return false }
        var blocks = fresh
        if cow {
            let old = s.blockTable[s.blockTable.count - 1], copy = blocks.removeFirst()
            copyBlock(old, copy)
            pool.release(old)
            s.blockTable[s.blockTable.count - 1] = copy
        }
        s.blockTable += blocks
        return true
    }

    /// Releases the blocks before the sliding window of the sequence's next token (O(1) per step: a counter).
    /// They are full and registered for prefix caching already, so the pool keeps them as cached until evicted.
    func releaseOutOfWindow(_ s: EngineSequence) {
        guard let w = window else { return }
        let below = min(max(0, s.numComputed - w + 1) / blockSize, s.blockTable.count)
        while s.releasedBlocks < below {
            let i = s.releasedBlocks
            if s.blockTable[i] != Self.released { pool.release(s.blockTable[i]); s.blockTable[i] = Self.released }
            s.releasedBlocks += 1
        }
    }

    /// After a step computed K/V up to `s.numComputed`: registers newly filled blocks for prefix caching.
    func cacheFullBlocks(_ s: EngineSequence) {
        guard prefixCaching else { return }
        let full = s.numComputed / blockSize
        while s.blockHashes.count < full {
            let i = s.blockHashes.count
            let h = BlockHash(parent: s.blockHashes.last ?? rootKey, tokens: s.tokens[(i * blockSize)..<((i + 1) * blockSize)],
                              extraKeys: s.group.extraKeys(block: i))
            pool.register(s.blockTable[i], h)
            s.blockHashes.append(h)
        }
    }

    /// Shares every block of `leader` with `s` (n > 1 samples of one prompt).
    func fork(_ s: EngineSequence, from leader: EngineSequence) {
        for b in leader.blockTable where b != Self.released { pool.touch(b) }
        s.blockTable = leader.blockTable
        s.releasedBlocks = leader.releasedBlocks
        s.blockHashes = leader.blockHashes
        s.numComputed = leader.numComputed
    }

    /// Returns the sequence's blocks to the pool, last block first (so the tail is evicted first).
    func free(_ s: EngineSequence) {
        for b in s.blockTable.reversed() where b != Self.released { pool.release(b) }
        s.blockTable = []
        s.releasedBlocks = 0
        s.blockHashes = []
    }

    var usage: Double { 1 - Double(pool.numFree) / Double(max(pool.numBlocks, 1)) }
}
