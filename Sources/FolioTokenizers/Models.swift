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
        // Repeatedly merge the lowest-rank adjacent pair (leftmost on ties).
        while ids.count > 1 {
            var best: Int32 = .max, bestAt = -1, bestId: Int32 = -1
            for k in 0..<(ids.count - 1) where ids[k] >= 0 && ids[k + 1] >= 0 {
                let key = UInt64(UInt32(bitPattern: ids[k])) << 32 | UInt64(UInt32(bitPattern: ids[k + 1]))
                if let m = merges[key], m.rank < best { best = m.rank; bestAt = k; bestId = m.id }
            }
            if bestAt < 0 { break }
            ids[bestAt] = bestId
            chars[bestAt] += chars[bestAt + 1]
            ids.remove(at: bestAt + 1)
            chars.remove(at: bestAt + 1)
        }
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
        // Symbols are code points (not Swift's grapheme clusters), as in SentencePiece.
        var syms: [String] = text.unicodeScalars.map { String($0) }
        while syms.count > 1 {
            var bestScore = -Float.infinity, bestAt = -1
            for k in 0..<(syms.count - 1) {
                if let id = vocab[syms[k] + syms[k + 1]] {
                    let s = scores[Int(id)]
                    if s > bestScore { bestScore = s; bestAt = k }
                }
            }
            if bestAt < 0 { break }
            syms[bestAt] += syms[bestAt + 1]
            syms.remove(at: bestAt + 1)
        }
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
