import FolioWeights
import Foundation

/// An added or special token matched in raw text before normalization and pre-tokenization.
public struct AddedToken: Sendable, Hashable {
    public let id: Int32
    public let content: String
    public let special: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    public let singleWord: Bool
}

/// How token ids turn back into bytes.
enum DecodeMode: Sendable {
    case byteLevel
    /// `▁` -> space, `<0xXX>` -> byte; `stripLeadingSpace` drops the first space of the output.
    case sentencePiece(stripLeadingSpace: Bool)
    /// BERT: pieces joined with spaces, continuation pieces (`##x`, or in GGUF vocabularies pieces without `▁`)
    /// glued to the previous one.
    case wordPiece(prefix: String, ggufStyle: Bool)
}

/// A text tokenizer: added tokens, normalizer, pre-tokenizer, model (BPE / SentencePiece / WordPiece), decoder.
/// Built from a Hugging Face `tokenizer.json` or from GGUF `tokenizer.ggml.*` metadata.
///
/// ```swift
/// let tok = try Tokenizer.load(modelPath: "model.gguf")
/// let ids = tok.encode("Hello world")            // with BOS/EOS as the model's config says
/// let text = tok.decode(ids, skipSpecialTokens: true)
/// ```
public final class Tokenizer: Sendable {
    public let idToToken: [String]
    public let tokenToId: [String: Int32]
    public let addedTokens: [AddedToken]
    /// Ids of special (control) tokens: skipped by `decode(skipSpecialTokens: true)`.
    public let specialIds: Set<Int32>
    public let bosId: Int32?
    public let eosId: Int32?
    public let addBos: Bool
    public let addEos: Bool
    /// Extra end-of-generation ids (e.g. `<|eot_id|>`, `<|im_end|>`).
    public let eogIds: Set<Int32>
    /// Template text found with the tokenizer (GGUF `tokenizer.chat_template` or tokenizer_config.json).
    public let chatTemplate: String?
    /// Tokens added around the sequence by a post-processor (tokenizer.json `TemplateProcessing`).
    let prefixIds: [Int32]
    let suffixIds: [Int32]
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: TokenModel
    let decodeMode: DecodeMode
    /// Per-id decoded bytes (byte-level BPE pieces mapped back to bytes, byte-fallback tokens as their byte; without
    /// the sequence-level leading-space strip).
    public let pieceBytes: [[UInt8]]
    /// Hugging Face `clean_up_tokenization_spaces`: `decode` removes the space before punctuation and contractions.
    let cleanUpSpaces: Bool
    let addedTokensByFirstChar: [Character: [AddedToken]]

    init(idToToken: [String], addedTokens: [AddedToken], specialIds: Set<Int32>, bosId: Int32?, eosId: Int32?,
         addBos: Bool, addEos: Bool, eogIds: Set<Int32>, chatTemplate: String?, prefixIds: [Int32], suffixIds: [Int32],
         normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: TokenModel, decodeMode: DecodeMode,
         tokenToId: [String: Int32], cleanUpSpaces: Bool) {
        self.idToToken = idToToken
        self.cleanUpSpaces = cleanUpSpaces
        self.tokenToId = tokenToId
        self.addedTokens = addedTokens
        self.specialIds = specialIds
        self.bosId = bosId
        self.eosId = eosId
        self.addBos = addBos
        self.addEos = addEos
        self.eogIds = eogIds
        self.chatTemplate = chatTemplate
        self.prefixIds = prefixIds
        self.suffixIds = suffixIds
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.decodeMode = decodeMode
        var byChar: [Character: [AddedToken]] = [:]
        for t in addedTokens where !t.content.isEmpty {
            byChar[t.content.first!, default: []].append(t)
        }
        for k in byChar.keys { byChar[k]!.sort { $0.content.utf8.count > $1.content.utf8.count } }
        addedTokensByFirstChar = byChar
        let addedIds = Set(addedTokens.map(\.id))
        pieceBytes = idToToken.enumerated().map { (i, tok) in
            if addedIds.contains(Int32(i)) || specialIds.contains(Int32(i)) {
                // WordPiece joins every word, special tokens included, with spaces.
                if case .wordPiece = decodeMode { return Array((" " + tok).utf8) }
                return Array(tok.utf8)
            }
            switch decodeMode {
            case .byteLevel: return ByteLevel.decode(tok)
            case .sentencePiece:
                if tok.count == 6, tok.hasPrefix("<0x"), tok.hasSuffix(">"), let b = UInt8(tok.dropFirst(3).prefix(2), radix: 16) {
                    return [b]
                }
                return Array(tok.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            case .wordPiece(let prefix, let gguf):
                if gguf {
                    if tok.hasPrefix("\u{2581}") { return Array((" " + tok.dropFirst()).utf8) }
                    return Array(tok.utf8)
                }
                if tok.hasPrefix(prefix) { return Array(tok.dropFirst(prefix.count).utf8) }
                return Array((" " + tok).utf8)
            }
        }
    }

    public var vocabSize: Int { idToToken.count }

    /// Encodes `text`; `addSpecialTokens` adds BOS/EOS (or the post-processor's tokens) as the model's config says.
    /// Added and special tokens in the text are always matched (as Hugging Face `encode` does).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var out: [Int32] = []
        if addSpecialTokens {
            if !prefixIds.isEmpty || !suffixIds.isEmpty { out += prefixIds } else if addBos, let b = bosId { out.append(b) }
        }
        var first = true
        for seg in splitAddedTokens(text) {
            switch seg {
            case .token(let id): out.append(id)
            case .text(let s):
                encodeSegment(s, first: first, into: &out)
            }
            first = false
        }
        if addSpecialTokens {
            if !prefixIds.isEmpty || !suffixIds.isEmpty { out += suffixIds } else if addEos, let e = eosId { out.append(e) }
        }
        return out
    }

    /// `encode`, cut as Hugging Face's `truncation=True, max_length=maxLength` cuts one sequence (the default right
    /// side): the text's tokens are cut so that, with the special tokens added around them, at most `maxLength` remain.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int) -> [Int32] {
        let bare = encode(text, addSpecialTokens: false)
        guard addSpecialTokens else { return Array(bare.prefix(max(0, maxLength))) }
        // What `encode` puts around the text's tokens.
        let before: [Int32], after: [Int32]
        if !prefixIds.isEmpty || !suffixIds.isEmpty { (before, after) = (prefixIds, suffixIds) } else {
            before = addBos ? bosId.map { [$0] } ?? [] : []
            after = addEos ? eosId.map { [$0] } ?? [] : []
        }
        guard before.count + bare.count + after.count > maxLength else { return before + bare + after }
        return before + bare.prefix(max(0, maxLength - before.count - after.count)) + after
    }

    enum Segment { case text(String), token(Int32) }

    func splitAddedTokens(_ text: String) -> [Segment] {
        guard !addedTokensByFirstChar.isEmpty else { return [.text(text)] }
        var segs: [Segment] = []
        var segStart = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            guard let cands = addedTokensByFirstChar[text[i]],
                  let t = cands.first(where: { text[i...].hasPrefix($0.content) }) else {
                i = text.index(after: i)
                continue
            }
            var before = text[segStart..<i]
            if t.lstrip { while let c = before.last, c.isWhitespace { before = before.dropLast() } }
            if !before.isEmpty { segs.append(.text(String(before))) }
            segs.append(.token(t.id))
            i = text.index(i, offsetBy: t.content.count)
            if t.rstrip { while i < text.endIndex, text[i].isWhitespace { i = text.index(after: i) } }
            segStart = i
        }
        if segStart < text.endIndex { segs.append(.text(String(text[segStart...]))) }
        return segs
    }

    func encodeSegment(_ s: String, first: Bool, into out: inout [Int32]) {
        guard !s.isEmpty else { return }
        let norm = normalizer?.apply(s) ?? s
        guard !norm.isEmpty else { return }
        let pieces = preTokenizer?.apply([norm], first: first) ?? [norm]
        for p in pieces where !p.isEmpty { model.encode(p, into: &out) }
    }

    /// Text of `ids`; invalid UTF-8 becomes U+FFFD. `cleanUpSpaces` defaults to the tokenizer's configuration
    /// (Hugging Face `clean_up_tokenization_spaces`); pass false for the exact text (as streaming output is).
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false, cleanUpSpaces: Bool? = nil) -> String {
        var d = StreamingDetokenizer(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
        var s = ""
        for id in ids { s += d.push(id) }
        s += d.finish()
        return (cleanUpSpaces ?? self.cleanUpSpaces) ? Self.cleanUp(s) : s
    }

    static func cleanUp(_ s: String) -> String {
        var r = s
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                       (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            r = r.replacingOccurrences(of: a, with: b)
        }
        return r
    }

    /// The vocabulary entry for `id` (as stored, e.g. `Ġhello`).
    public func token(_ id: Int32) -> String? {
        id >= 0 && Int(id) < idToToken.count ? idToToken[Int(id)] : nil
    }

    /// Whether generating `id` ends a sequence (EOS or another end-of-generation token).
    public func isEndOfGeneration(_ id: Int32) -> Bool { id == eosId || eogIds.contains(id) }
}

/// Turns a stream of token ids into text without ever emitting half a UTF-8 character.
public struct StreamingDetokenizer: Sendable {
    let tokenizer: Tokenizer
    let skipSpecialTokens: Bool
    var pending: [UInt8] = []
    var atStart = true

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token; returns the text that became complete.
    public mutating func push(_ id: Int32) -> String {
        guard id >= 0, Int(id) < tokenizer.pieceBytes.count else { return "" }
        if skipSpecialTokens, tokenizer.specialIds.contains(id) { return "" }
        var bytes = tokenizer.pieceBytes[Int(id)]
        if atStart, !bytes.isEmpty {
            atStart = false
            switch tokenizer.decodeMode {
            case .sentencePiece(true), .wordPiece: if bytes.first == 0x20 { bytes.removeFirst() }
            default: break
            }
        }
        pending += bytes
        return drainComplete()
    }

    /// Whatever `finish()` would emit, without consuming it.
    public func pendingText() -> String { String(decoding: pending, as: UTF8.self) }

    /// Emits whatever is left (an incomplete character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    mutating func drainComplete() -> String {
        // Keep back a trailing incomplete UTF-8 sequence (at most 3 bytes).
        var cut = pending.count
        var k = pending.count - 1
        var back = 0
        while k >= 0, back < 4 {
            let b = pending[k]
            if b & 0xC0 == 0x80 { k -= 1; back += 1; continue }
            let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if need > back + 1 { cut = k }
            break
        }
        guard cut > 0 else { return "" }
        let s = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return s
    }
}
