import Foundation

/// Byte-pair encoding by merge rank (GPT-2 style byte-level BPE, and SentencePiece-style BPE with byte fallback).
struct BPEModel: Sendable {
    let vocab: [String: Int32]
    /// (left id << 32 | right id) -> (rank, merged id)
    let merges: [UInt64: (rank: Int32, id: Int32)]
    let byteFallback: Bool
    let unk: Int32?
    let fuseUnk: Bool
    let ignoreMerges: Bool
    /// llama.cpp's BPE: a symbol missing from the vocab is looked up byte by byte (and dropped if absent).
    let perByteFallback: Bool
    let byteTokens: [Int32]  // "<0xXX>" ids when byteFallback

    init(vocab: [String: Int32], merges: [(String, String)], byteFallback: Bool, unk: Int32?, fuseUnk: Bool,
         ignoreMerges: Bool, perByteFallback: Bool) {
        self.vocab = vocab
        var m: [UInt64: (Int32, Int32)] = [:]
        m.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = vocab[a], let ib = vocab[b], let im = vocab[a + b] else { continue }
            let key = UInt64(UInt32(bitPattern: ia)) << 32 | UInt64(UInt32(bitPattern: ib))
            if m[key] == nil { m[key] = (Int32(rank), im) }
        }
        self.merges = m
        self.byteFallback = byteFallback
        self.unk = unk
        self.fuseUnk = fuseUnk
        self.ignoreMerges = ignoreMerges
        self.perByteFallback = perByteFallback
        byteTokens = (0..<256).map { vocab[String(format: "<0x%02X", $0) + ">"] ?? -1 }
    }

    func encode(_ word: String, into out: inout [Int32]) {
        if ignoreMerges, let id = vocab[word] { out.append(id); return }
        // Symbols: vocab id, or -1 with the character kept for fallback.
        var ids: [Int32] = []
        var chars: [String] = []
        // Symbols are code points (not Swift's grapheme clusters), as in Hugging Face tokenizers.
        for u in word.unicodeScalars {
            let c = String(u)
            ids.append(vocab[c] ?? -1)
            chars.append(c)
        }
        // Merge the lowest-rank adjacent pair (leftmost on ties) until none is left, with a heap of candidate
        // pairs over a linked list of symbols: O(n log n) for long words.
        var list = SymbolList(count: ids.count)
        var heap = MinHeap<PairCandidate>()
        func push(_ l: Int) {
            let r = list.next[l]
            guard r >= 0, ids[l] >= 0, ids[r] >= 0 else { return }
            let key = UInt64(UInt32(bitPattern: ids[l])) << 32 | UInt64(UInt32(bitPattern: ids[r]))
            if let m = merges[key] {
                heap.push(PairCandidate(priority: Int64(m.rank), left: l, leftVersion: list.version[l], rightVersion: list.version[r], merged: m.id))
            }
        }
        for i in 0..<max(0, ids.count - 1) { push(i) }
        while let c = heap.pop() {
            let l = c.left, r = list.next[l]
            guard list.alive[l], r >= 0, list.version[l] == c.leftVersion, list.version[r] == c.rightVersion else { continue }
            ids[l] = c.merged
            chars[l] += chars[r]
            list.remove(r)
            list.version[l] += 1
            if list.prev[l] >= 0 { push(list.prev[l]) }
            push(l)
        }
        let order = list.order()
        ids = order.map { ids[$0] }
        chars = order.map { chars[$0] }
        var lastWasUnk = false
        for (k, id) in ids.enumerated() {
            if id >= 0 { out.append(id); lastWasUnk = false; continue }
            if byteFallback {
                let bytes = Array(chars[k].utf8)
                if bytes.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                    for b in bytes { out.append(byteTokens[Int(b)]) }
                    lastWasUnk = false
                    continue
                }
            }
            if perByteFallback {
                for b in chars[k].utf8 { if let t = vocab[String(decoding: [b], as: UTF8.self)] { out.append(t) } }
                continue
            }
            if let u = unk {
                if !(fuseUnk && lastWasUnk) { out.append(u) }
                lastWasUnk = true
            }
        }
    }
}

/// SentencePiece BPE by token score, as llama.cpp's SPM tokenizer does it: merge the adjacent pair whose
/// concatenation is the highest-scoring vocab entry, then fall back to `<0xXX>` byte tokens.
struct SPMScoresModel: Sendable {
    let vocab: [String: Int32]
    let scores: [Float]
    let byteTokens: [Int32]
    let unk: Int32?

    func encode(_ text: String, into out: inout [Int32]) {
        // Symbols are code points (not Swift's grapheme clusters), as in SentencePiece. Merge the adjacent pair whose
        // concatenation scores highest (leftmost on ties), with a heap over a linked list: O(n log n).
        var syms: [String] = text.unicodeScalars.map { String($0) }
        var list = SymbolList(count: syms.count)
        var heap = MinHeap<PairCandidate>()
        func push(_ l: Int) {
            let r = list.next[l]
            guard r >= 0, let id = vocab[syms[l] + syms[r]] else { return }
            // A min-heap on -score (scores are floats; their order is kept by the bit trick below).
            heap.push(PairCandidate(priority: -Int64(scores[Int(id)].orderKey), left: l, leftVersion: list.version[l],
                                    rightVersion: list.version[r], merged: id))
        }
        for i in 0..<max(0, syms.count - 1) { push(i) }
        while let c = heap.pop() {
            let l = c.left, r = list.next[l]
            guard list.alive[l], r >= 0, list.version[l] == c.leftVersion, list.version[r] == c.rightVersion else { continue }
            syms[l] += syms[r]
            list.remove(r)
            list.version[l] += 1
            if list.prev[l] >= 0 { push(list.prev[l]) }
            push(l)
        }
        syms = list.order().map { syms[$0] }
        for s in syms {
            if let id = vocab[s] { out.append(id); continue }
            for b in s.utf8 {
                let t = byteTokens[Int(b)]
                if t >= 0 { out.append(t) } else if let u = unk { out.append(u) }
            }
        }
    }
}

/// WordPiece (BERT): greedy longest-prefix match; continuation pieces carry `prefix` ("##"), or, in llama.cpp's
/// GGUF vocabularies, word-initial pieces carry "▁" instead.
struct WordPieceModel: Sendable {
    let vocab: [String: Int32]
    let unk: Int32
    let prefix: String
    let ggufStyle: Bool
    let maxChars: Int

    func encode(_ word: String, into out: inout [Int32]) {
        let chars = Array(word.unicodeScalars)
        if chars.count > maxChars { out.append(unk); return }
        var pieces: [Int32] = []
        var start = 0
        while start < chars.count {
            var end = chars.count
            var found: Int32? = nil
            while start < end {
                var s = String(String.UnicodeScalarView(chars[start..<end]))
                if ggufStyle { if start == 0 { s = "\u{2581}" + s } } else if start > 0 { s = prefix + s }
                if let id = vocab[s] { found = id; break }
                end -= 1
            }
            guard let f = found else { out.append(unk); return }
            pieces.append(f)
            start = end
        }
        out.append(contentsOf: pieces)
    }
}

enum TokenModel: Sendable {
    case bpe(BPEModel)
    case spm(SPMScoresModel)
    case wordPiece(WordPieceModel)

    func encode(_ piece: String, into out: inout [Int32]) {
        switch self {
        case .bpe(let m): m.encode(piece, into: &out)
        case .spm(let m): m.encode(piece, into: &out)
        case .wordPiece(let m): m.encode(piece, into: &out)
        }
    }
}

/// Splits a merge rule "left right" at the first space after the first byte (a space followed by a combining mark
/// is one Swift `Character`, so this works on UTF-8 bytes).
func splitMerge(_ s: String) -> (String, String)? {
    let u = Array(s.utf8)
    guard u.count > 2, let sp = u[1...].firstIndex(of: 0x20) else { return nil }
    return (String(decoding: u[..<sp], as: UTF8.self), String(decoding: u[(sp + 1)...], as: UTF8.self))
}

/// A doubly linked list over symbol positions, with a version per position that changes when it is merged into.
struct SymbolList {
    var prev: [Int], next: [Int], alive: [Bool], version: [Int32]
    init(count n: Int) {
        prev = (0..<n).map { $0 - 1 }
        next = (0..<n).map { $0 + 1 < n ? $0 + 1 : -1 }
        alive = Array(repeating: true, count: n)
        version = Array(repeating: 0, count: n)
    }
    mutating func remove(_ i: Int) {
        alive[i] = false
        if prev[i] >= 0 { next[prev[i]] = next[i] }
        if next[i] >= 0 { prev[next[i]] = prev[i] }
    }
    func order() -> [Int] {
        guard var i = alive.firstIndex(of: true) else { return [] }
        var out: [Int] = []
        while i >= 0 { out.append(i); i = next[i] }
        return out
    }
}

/// A merge candidate: ordered by priority, then by position (leftmost first).
struct PairCandidate: Comparable {
    let priority: Int64
    let left: Int
    let leftVersion: Int32
    let rightVersion: Int32
    let merged: Int32
    static func < (a: PairCandidate, b: PairCandidate) -> Bool {
        a.priority != b.priority ? a.priority < b.priority : a.left < b.left
    }
}

/// A binary min-heap.
struct MinHeap<T: Comparable> {
    var items: [T] = []
    mutating func push(_ x: T) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if items[i] < items[p] { items.swapAt(i, p); i = p } else { break }
        }
    }
    mutating func pop() -> T? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l] < items[m] { m = l }
                if r < items.count, items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

extension Float {
    /// An integer with the same order as the float (for heap keys).
    var orderKey: Int32 {
        let b = Int32(bitPattern: bitPattern)
        return b < 0 ? Int32.min - b : b
    }
}
