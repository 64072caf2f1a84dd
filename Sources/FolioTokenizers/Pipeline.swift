import Foundation

public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    case invalid(String)
    public var description: String { "tokenizer: \(self.message)" }
    var message: String { switch self { case .invalid(let m): return m } }
}

/// Text normalization steps (Hugging Face `normalizers`).
indirect enum Normalizer: Sendable {
    case replace(String, String)
    case replaceRegex(SplitRegex, String)
    case prepend(String)
    case nfc, nfd, nfkc, nfkd, lowercase, stripAccents
    case strip(left: Bool, right: Bool)
    case bert(cleanText: Bool, handleChinese: Bool, stripAccents: Bool, lowercase: Bool)
    case sequence([Normalizer])

    func apply(_ s: String) -> String {
        switch self {
        case .replace(let a, let b): return s.replacingOccurrences(of: a, with: b)
        case .replaceRegex(let r, let b):
            let ns = s as NSString
            return r.regex.stringByReplacingMatches(in: s, range: NSRange(location: 0, length: ns.length),
                                                    withTemplate: NSRegularExpression.escapedTemplate(for: b))
        case .prepend(let p): return s.isEmpty ? s : p + s
        case .nfc: return s.precomposedStringWithCanonicalMapping
        case .nfd: return s.decomposedStringWithCanonicalMapping
        case .nfkc: return s.precomposedStringWithCompatibilityMapping
        case .nfkd: return s.decomposedStringWithCompatibilityMapping
        case .lowercase: return s.lowercased()
        case .stripAccents:
            var out = String.UnicodeScalarView()
            for u in s.unicodeScalars where u.properties.generalCategory != .nonspacingMark { out.append(u) }
            return String(out)
        case .strip(let l, let r):
            var sub = Substring(s)
            if l { sub = sub.drop(while: { $0.isWhitespace }) }
            if r { while let c = sub.last, c.isWhitespace { sub = sub.dropLast() } }
            return String(sub)
        case .bert(let clean, let chinese, let strip, let lower):
            var out = String.UnicodeScalarView()
            for u in s.unicodeScalars {
                if clean {
                    if u.value == 0 || u.value == 0xFFFD || u.isBertControl { continue }
                    if u.isBertWhitespace { out.append(" "); continue }
                }
                if chinese, u.isCJK { out.append(" "); out.append(u); out.append(" "); continue }
                out.append(u)
            }
            var r = String(out)
            if lower { r = r.lowercased() }
            if strip { r = Normalizer.stripAccents.apply(Normalizer.nfd.apply(r)) }
            return r
        case .sequence(let list): return list.reduce(s) { $1.apply($0) }
        }
    }
}

/// The GPT-2 pre-tokenizer pattern (Hugging Face `ByteLevel` with `use_regex`).
let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

/// Pre-tokenization steps (Hugging Face `pre_tokenizers`): each splits every current piece further.
indirect enum PreTokenizer: Sendable {
    case split(SplitRegex, SplitBehavior, invert: Bool)
    case byteLevel(addPrefixSpace: Bool, regex: SplitRegex?)
    case metaspace(replacement: String, prependFirst: Bool, prependAlways: Bool, split: Bool)
    case whitespace(SplitRegex)
    case whitespaceSplit
    case bert
    case digits(individual: Bool)
    case punctuation(SplitBehavior)
    case sequence([PreTokenizer])

    /// `first` is true for the first text segment of the input (before any added token).
    func apply(_ pieces: [String], first: Bool) -> [String] {
        switch self {
        case .sequence(let list): return list.reduce(pieces) { $1.apply($0, first: first) }
        case .split(let r, let b, let inv):
            return pieces.flatMap { p in splitText(p, at: r.matches(in: p), behavior: b, invert: inv) }
        case .byteLevel(let prefix, let r):
            return pieces.enumerated().flatMap { (i, p0) -> [String] in
                var p = p0
                if prefix, i == 0, !p.hasPrefix(" ") { p = " " + p }
                let parts = r.map { splitText(p, at: $0.matches(in: p), behavior: .isolated) } ?? [p]
                return parts.map { ByteLevel.encode(Substring($0)) }
            }
        case .metaspace(let rep, let pf, let pa, let doSplit):
            return pieces.enumerated().flatMap { (i, p0) -> [String] in
                var p = p0.replacingOccurrences(of: " ", with: rep)
                if (pa || (pf && first && i == 0)) && !p.hasPrefix(rep) { p = rep + p }
                guard doSplit else { return [p] }
                var out: [String] = []
                var cur = ""
                for ch in p {
                    if String(ch) == rep, !cur.isEmpty { out.append(cur); cur = "" }
                    cur.append(ch)
                }
                if !cur.isEmpty { out.append(cur) }
                return out
            }
        case .whitespace(let r):
            return pieces.flatMap { p in r.matches(in: p).map { String(p[$0]) } }
        case .whitespaceSplit:
            return pieces.flatMap { $0.split(whereSeparator: { $0.isWhitespace }).map(String.init) }
        case .bert:
            return pieces.flatMap { p -> [String] in
                var out: [String] = []
                var cur = String.UnicodeScalarView()
                for u in p.unicodeScalars {
                    if u.properties.isWhitespace {
                        if !cur.isEmpty { out.append(String(cur)); cur = .init() }
                    } else if u.isBertPunctuation {
                        if !cur.isEmpty { out.append(String(cur)); cur = .init() }
                        out.append(String(u))
                    } else { cur.append(u) }
                }
                if !cur.isEmpty { out.append(String(cur)) }
                return out
            }
        case .digits(let individual):
            return pieces.flatMap { p -> [String] in
                var out: [String] = []
                var cur = ""; var curDigit = false
                for ch in p {
                    let d = ch.unicodeScalars.count == 1 && ch.unicodeScalars.first!.properties.numericType != nil
                    if !cur.isEmpty && (d != curDigit || (d && individual)) { out.append(cur); cur = "" }
                    cur.append(ch); curDigit = d
                }
                if !cur.isEmpty { out.append(cur) }
                return out
            }
        case .punctuation(let b):
            return pieces.flatMap { p -> [String] in
                var ranges: [Range<String.Index>] = []
                var i = p.startIndex
                while i < p.endIndex {
                    let n = p.index(after: i)
                    if p[i].unicodeScalars.first!.isBertPunctuation { ranges.append(i..<n) }
                    i = n
                }
                return splitText(p, at: ranges, behavior: b)
            }
        }
    }
}
