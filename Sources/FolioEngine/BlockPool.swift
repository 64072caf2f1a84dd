/// A full block's identity for prefix caching: a chain hash over (parent hash, token ids, extra keys such as the
/// LoRA id and cache salt). The tokens are kept too, so a 64-bit hash collision can never return wrong K/V.
public struct BlockHash: Hashable, Sendable {
    public let value: UInt64
    public let tokens: [Int32]

    public init(parent: UInt64?, tokens: [Int32], extraKeys: [String] = []) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        func mix(_ b: UInt8) { h ^= UInt64(b); h &*= 0x100_0000_01B3 }
        func mix64(_ v: UInt64) { for i in 0..<8 { mix(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        mix64(parent ?? 0x9E37_79B9_7F4A_7C15)
        for t in tokens { mix64(UInt64(UInt32(bitPattern: t))) }
        for k in extraKeys { mix(0xFF); for b in k.utf8 { mix(b) } }
        value = h
        self.tokens = tokens
    }
}

/// Preallocated KV blocks with reference counts, an LRU queue of free blocks (which keep their cached contents
/// until reused) and a hash -> block map over full blocks (vLLM V1's BlockPool).
public final class BlockPool: @unchecked Sendable {
    public let numBlocks: Int
    var refCount: [Int]
    var hashOf: [BlockHash?]
    var cached: [BlockHash: Int] = [:]
    // Intrusive doubly linked free list: head is evicted first.
    var prev: [Int]
    var next: [Int]
    var inFree: [Bool]
    var head = -1, tail = -1
    public private(set) var numFree = 0

    public init(numBlocks: Int) {
        self.numBlocks = numBlocks
        refCount = Array(repeating: 0, count: numBlocks)
        hashOf = Array(repeating: nil, count: numBlocks)
        prev = Array(repeating: -1, count: numBlocks)
        next = Array(repeating: -1, count: numBlocks)
        inFree = Array(repeating: false, count: numBlocks)
        for b in 0..<numBlocks { pushBack(b) }
    }

    func pushBack(_ b: Int) {
        prev[b] = tail; next[b] = -1
        if tail >= 0 { next[tail] = b } else { head = b }
        tail = b
        inFree[b] = true
        numFree += 1
    }

    func remove(_ b: Int) {
        guard inFree[b] else { return }
        if prev[b] >= 0 { next[prev[b]] = next[b] } else { head = next[b] }
        if next[b] >= 0 { prev[next[b]] = prev[b] } else { tail = prev[b] }
        prev[b] = -1; next[b] = -1
        inFree[b] = false
        numFree -= 1
    }

    /// Takes `n` blocks from the front of the free queue (evicting their cached contents), or nil if too few.
    public func allocate(_ n: Int) -> [Int]? {
        guard n <= numFree else { return nil }
        var out: [Int] = []
        for _ in 0..<n {
            let b = head
            remove(b)
            if let h = hashOf[b] {
                if cached[h] == b { cached[h] = nil }
                hashOf[b] = nil
            }
            refCount[b] = 1
            out.append(b)
        }
        return out
    }

    /// The cached block holding exactly these tokens, if any.
    public func lookup(_ h: BlockHash) -> Int? { cached[h] }

    /// Takes a reference to a cached block (pulling it out of the free queue when it was unused).
    public func touch(_ b: Int) {
        if refCount[b] == 0 { remove(b) }
        refCount[b] += 1
    }

    /// Drops one reference; at zero the block joins the free queue's tail, its contents still cached.
    public func release(_ b: Int) {
        precondition(refCount[b] > 0, "block \(b) released more often than taken")
        refCount[b] -= 1
        if refCount[b] == 0 { pushBack(b) }
    }

    /// Records that block `b` is full and holds `h` (first writer wins; a duplicate stays uncached).
    public func register(_ b: Int, _ h: BlockHash) {
        guard hashOf[b] == nil, cached[h] == nil else { return }
        hashOf[b] = h
        cached[h] = b
    }

    public func references(_ b: Int) -> Int { refCount[b] }
    public var numCachedBlocks: Int { cached.count }
    /// Every block is unreferenced (after all requests finished or were aborted).
    public var allFree: Bool { numFree == numBlocks }
}
