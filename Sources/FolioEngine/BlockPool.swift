import CFolioKernels
import Foundation

/// A full block's identity for prefix caching: SHA-256 over (parent identity, token ids, extra keys such as the
/// LoRA id and cache salt), as vLLM hashes blocks. The chain starts from a random per-process key, so identities are
/// unpredictable from outside, and a collision (one request reading another's K/V) would need a SHA-256 collision.
public struct BlockHash: Hashable, Sendable {
    /// The 256-bit digest, as four big-endian words.
    public let words: (UInt64, UInt64, UInt64, UInt64)

    public init(digest: [UInt8]) {
        precondition(digest.count == 32, "a BlockHash is 32 bytes")
        func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(digest[8 * i + $1]) } }
        words = (word(0), word(1), word(2), word(3))
    }

    /// A random root key (the parent of every chain's first block).
    public static func randomKey() -> BlockHash {
        var g = SystemRandomNumberGenerator()
        return BlockHash(digest: (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    /// Block identity: SHA-256(parent || token count || tokens as little-endian int32 || (length, UTF-8) per key).
    public init(parent: BlockHash, tokens: ArraySlice<Int32>, extraKeys: [String] = []) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(36 + 4 * tokens.count)
        for w in [parent.words.0, parent.words.1, parent.words.2, parent.words.3] {
            for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) }
        }
        func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        u32(UInt32(tokens.count))
        for t in tokens { u32(UInt32(bitPattern: t)) }
        for k in extraKeys { u32(UInt32(k.utf8.count)); bytes += k.utf8 }
        var out = [UInt8](repeating: 0, count: 32)
        folio_sha256(bytes, bytes.count, &out)
        self.init(digest: out)
    }

    public static func == (a: BlockHash, b: BlockHash) -> Bool { a.words == b.words }
    public func hash(into h: inout Hasher) { h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3) }
    public var hex: String { [words.0, words.1, words.2, words.3].map { String(format: "%016llx", $0) }.joined() }
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
