import Foundation

/// GPT-2's reversible byte <-> printable-character map used by byte-level BPE.
enum ByteLevel {
    /// byte -> the character that stands for it.
    static let byteToChar: [Character] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }()

    static let charToByte: [Unicode.Scalar: UInt8] = {
        var m: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in byteToChar.enumerated() { m[c.unicodeScalars.first!] = UInt8(b) }
        return m
    }()

    static func encode(_ s: Substring) -> String {
        var out = String()
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 { out.append(byteToChar[Int(b)]) }
        return out
    }

    /// Inverse map; characters outside the map (never produced by `encode`) keep their UTF-8 bytes.
    static func decode(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        for u in s.unicodeScalars {
            if let b = charToByte[u] { out.append(b) } else { out.append(contentsOf: Array(String(u).utf8)) }
        }
        return out
    }
}

/// A compiled regular expression that splits text the way Hugging Face `tokenizers` and llama.cpp do.
struct SplitRegex: @unchecked Sendable {
    let pattern: String
    let regex: NSRegularExpression

    init(_ pattern: String) throws {
        self.pattern = pattern
        do {
            regex = try NSRegularExpression(pattern: pattern, options: [])
        } catch {
            throw TokenizerError.invalid("pre-tokenizer regex \(pattern) does not compile")
        }
    }

    /// The matched ranges of `s`, as UTF-16 offsets.
    func matches(in s: String) -> [Range<String.Index>] {
        let ns = s as NSString
        return regex.matches(in: s, options: [], range: NSRange(location: 0, length: ns.length)).compactMap {
            Range($0.range, in: s)
        }
    }
}

/// How a split keeps the delimiter (Hugging Face `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// Splits `s` at `matches` (sorted, non-overlapping), keeping pieces as `behavior` says.
func splitText(_ s: String, at matches: [Range<String.Index>], behavior: SplitBehavior, invert: Bool = false) -> [String] {
    // Build alternating (text, isMatch) segments.
    var segs: [(Substring, Bool)] = []
    var pos = s.startIndex
    for m in matches where !m.isEmpty {
        if pos < m.lowerBound { segs.append((s[pos..<m.lowerBound], invert)) }
        segs.append((s[m], !invert))
        pos = m.upperBound
    }
    if pos < s.endIndex { segs.append((s[pos..<s.endIndex], invert)) }
    var out: [String] = []
    switch behavior {
    case .removed:
        for (t, isMatch) in segs where !isMatch { out.append(String(t)) }
    case .isolated:
        out = segs.map { String($0.0) }
    case .contiguous:
        var cur = ""; var curMatch: Bool? = nil
        for (t, isMatch) in segs {
            if isMatch, curMatch == true { cur += t } else {
                if !cur.isEmpty { out.append(cur) }
                cur = String(t); curMatch = isMatch
            }
        }
        if !cur.isEmpty { out.append(cur) }
    case .mergedWithPrevious:
        var cur = ""
        for (t, isMatch) in segs {
            cur += t
            if isMatch { out.append(cur); cur = "" }
        }
        if !cur.isEmpty { out.append(cur) }
    case .mergedWithNext:
        var cur = ""
        for (t, isMatch) in segs {
            if isMatch, !cur.isEmpty { out.append(cur); cur = "" }
            cur += t
        }
        if !cur.isEmpty { out.append(cur) }
    }
    return out.filter { !$0.isEmpty }
}

extension Unicode.Scalar {
    var isBertPunctuation: Bool {
        let v = value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }
    var isCJK: Bool {
        let v = value
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
    var isBertWhitespace: Bool {
        if self == " " || self == "\t" || self == "\n" || self == "\r" { return true }
        return properties.generalCategory == .spaceSeparator
    }
    var isBertControl: Bool {
        if self == "\t" || self == "\n" || self == "\r" { return false }
        switch properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }
}
