import FolioWeights
import Foundation

extension Tokenizer {
    /// Builds the tokenizer of a Hugging Face model folder: `tokenizer.json` (+ `tokenizer_config.json`).
    public static func fromHuggingFace(directory: String) throws -> Tokenizer {
        let path = directory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: path) else { throw FolioError.missing(path: directory, what: "tokenizer.json") }
        let json = try JSONValue.parse(file: path)
        let cfg = try TokenizerConfig.load(directory: directory)
        return try fromTokenizerJSON(json, config: cfg, path: path)
    }

    static func fromTokenizerJSON(_ json: JSONValue, config tc: TokenizerConfig, path: String) throws -> Tokenizer {
        let config = tc.json
        func bad(_ m: String) -> FolioError { .malformedFile(path: path, problem: m) }
        guard let m = json["model"] else { throw bad("no model") }
        let type = m["type"]?.stringValue ?? (m["merges"] != nil ? "BPE" : m["vocab"]?.arrayValue != nil ? "Unigram" : "WordPiece")
        guard let vocabObj = m["vocab"]?.objectValue else {
            throw type == "Unigram" ? FolioError.unsupported(path: path, what: "tokenizer model Unigram") : bad("model.vocab is not an object")
        }
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(vocabObj.count)
        var maxId = -1
        for (k, v) in vocabObj {
            guard let id = v.intValue, id >= 0, id < 10_000_000 else { throw bad("vocab entry \(k) has no valid id") }
            vocab[k] = Int32(id); maxId = max(maxId, id)
        }
        var added: [AddedToken] = []
        var special = Set<Int32>()
        for a in json["added_tokens"]?.arrayValue ?? [] {
            guard let id = a["id"]?.intValue, let content = a["content"]?.stringValue else { throw bad("added token without id/content") }
            guard id >= 0, id < 10_000_000 else { throw bad("added token \(content.debugDescription) has id \(id), outside [0, 10000000)") }
            let t = AddedToken(id: Int32(id), content: content, special: a["special"]?.boolValue ?? false,
                               lstrip: a["lstrip"]?.boolValue ?? false, rstrip: a["rstrip"]?.boolValue ?? false,
                               singleWord: a["single_word"]?.boolValue ?? false)
            added.append(t)
            if t.special { special.insert(t.id) }
            vocab[content] = t.id
            maxId = max(maxId, id)
        }
        var idToToken = [String](repeating: "", count: maxId + 1)
        for (k, v) in vocab where idToToken[Int(v)].isEmpty || added.contains(where: { $0.id == v && $0.content == k }) {
            idToToken[Int(v)] = k
        }
        let unk = m["unk_token"]?.stringValue.flatMap { vocab[$0] }
        let model: TokenModel
        switch type {
        case "BPE":
            var merges: [(String, String)] = []
            for e in m["merges"]?.arrayValue ?? [] {
                if let s = e.stringValue, let pair = splitMerge(s) {
                    merges.append(pair)
                } else if let p = e.arrayValue, p.count == 2, let a = p[0].stringValue, let b = p[1].stringValue {
                    merges.append((a, b))
                } else { throw bad("malformed merge \(e.jsonString)") }
            }
            model = .bpe(BPEModel(vocab: vocab, merges: merges, byteFallback: m["byte_fallback"]?.boolValue ?? false,
                                  unk: unk, fuseUnk: m["fuse_unk"]?.boolValue ?? false,
                                  ignoreMerges: m["ignore_merges"]?.boolValue ?? false, perByteFallback: false))
        case "WordPiece":
            guard let u = unk else { throw bad("WordPiece without unk_token") }
            model = .wordPiece(WordPieceModel(vocab: vocab, unk: u, prefix: m["continuing_subword_prefix"]?.stringValue ?? "##",
                                              ggufStyle: false, maxChars: m["max_input_chars_per_word"]?.intValue ?? 100))
        default:
            throw FolioError.unsupported(path: path, what: "tokenizer model \(type)")
        }
        let normalizer = try json["normalizer"].flatMap { $0.isNull ? nil : try parseNormalizer($0, path) }
        let pre = try json["pre_tokenizer"].flatMap { $0.isNull ? nil : try parsePreTokenizer($0, path) }
        let mode = decodeMode(json["decoder"], pre: pre, model: model)
        // BOS/EOS: the post-processor's template, else tokenizer_config's add_bos_token/add_eos_token.
        let bos = tc.bosToken.flatMap { vocab[$0] }, eos = tc.eosToken.flatMap { vocab[$0] }
        var prefixIds: [Int32] = [], suffixIds: [Int32] = []
        try postProcessor(json["post_processor"], vocab: vocab, prefix: &prefixIds, suffix: &suffixIds)
        var eog = Set<Int32>()
        for t in endOfGenerationTexts { if let id = vocab[t], special.contains(id) { eog.insert(id) } }
        return Tokenizer(idToToken: idToToken, addedTokens: added, specialIds: special, bosId: bos, eosId: eos,
                         addBos: config?["add_bos_token"]?.boolValue ?? false, addEos: config?["add_eos_token"]?.boolValue ?? false,
                         eogIds: eog, chatTemplate: tc.chatTemplate, prefixIds: prefixIds, suffixIds: suffixIds,
                         normalizer: normalizer, preTokenizer: pre, model: model, decodeMode: mode, tokenToId: vocab,
                         cleanUpSpaces: config?["clean_up_tokenization_spaces"]?.boolValue ?? false)
    }

    static func pattern(_ v: JSONValue?, _ path: String) throws -> SplitRegex {
        if let s = v?["String"]?.stringValue { return try SplitRegex(NSRegularExpression.escapedPattern(for: s)) }
        if let r = v?["Regex"]?.stringValue { return try SplitRegex(r) }
        throw FolioError.malformedFile(path: path, problem: "pattern without String or Regex")
    }

    static func parseNormalizer(_ v: JSONValue, _ path: String) throws -> Normalizer {
        let t = v["type"]?.stringValue ?? ""
        switch t {
        case "Sequence": return .sequence(try (v["normalizers"]?.arrayValue ?? []).map { try parseNormalizer($0, path) })
        case "Prepend": return .prepend(v["prepend"]?.stringValue ?? "")
        case "Replace":
            let content = v["content"]?.stringValue ?? ""
            if let s = v["pattern"]?["String"]?.stringValue { return .replace(s, content) }
            return .replaceRegex(try pattern(v["pattern"], path), content)
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "Strip": return .strip(left: v["strip_left"]?.boolValue ?? true, right: v["strip_right"]?.boolValue ?? true)
        case "BertNormalizer":
            let lower = v["lowercase"]?.boolValue ?? true
            let strip = v["strip_accents"]?.boolValue ?? lower
            return .bert(cleanText: v["clean_text"]?.boolValue ?? true, handleChinese: v["handle_chinese_chars"]?.boolValue ?? true,
                         stripAccents: strip, lowercase: lower)
        default: throw FolioError.unsupported(path: path, what: "normalizer \(t)")
        }
    }

    static func parsePreTokenizer(_ v: JSONValue, _ path: String) throws -> PreTokenizer {
        let t = v["type"]?.stringValue ?? ""
        func behavior() -> SplitBehavior { SplitBehavior(rawValue: v["behavior"]?.stringValue ?? "Isolated") ?? .isolated }
        switch t {
        case "Sequence": return .sequence(try (v["pretokenizers"]?.arrayValue ?? []).map { try parsePreTokenizer($0, path) })
        case "ByteLevel":
            let useRegex = v["use_regex"]?.boolValue ?? true
            return .byteLevel(addPrefixSpace: v["add_prefix_space"]?.boolValue ?? false, regex: useRegex ? try SplitRegex(gpt2Pattern) : nil)
        case "Split":
            return .split(try pattern(v["pattern"], path), behavior(), invert: v["invert"]?.boolValue ?? false)
        case "Metaspace":
            let rep = v["replacement"]?.stringValue ?? "\u{2581}"
            let scheme = v["prepend_scheme"]?.stringValue ?? ((v["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
            return .metaspace(replacement: rep, prependFirst: scheme == "first", prependAlways: scheme == "always",
                              split: v["split"]?.boolValue ?? true)
        case "Whitespace": return .whitespace(try SplitRegex(#"\w+|[^\w\s]+"#))
        case "WhitespaceSplit": return .whitespaceSplit
        case "BertPreTokenizer": return .bert
        case "Digits": return .digits(individual: v["individual_digits"]?.boolValue ?? false)
        case "Punctuation": return .punctuation(behavior())
        default: throw FolioError.unsupported(path: path, what: "pre-tokenizer \(t)")
        }
    }

    static func decodeMode(_ d: JSONValue?, pre: PreTokenizer?, model: TokenModel) -> DecodeMode {
        func types(_ v: JSONValue?) -> [JSONValue] {
            guard let v, !v.isNull else { return [] }
            if v["type"]?.stringValue == "Sequence" { return (v["decoders"]?.arrayValue ?? []).flatMap { types($0) } }
            return [v]
        }
        let list = types(d)
        let names = list.compactMap { $0["type"]?.stringValue }
        if let wp = list.first(where: { $0["type"]?.stringValue == "WordPiece" }) {
            return .wordPiece(prefix: wp["prefix"]?.stringValue ?? "##", ggufStyle: false)
        }
        if names.contains("ByteLevel") { return .byteLevel }
        if let ms = list.first(where: { $0["type"]?.stringValue == "Metaspace" }) {
            let scheme = ms["prepend_scheme"]?.stringValue ?? ((ms["add_prefix_space"]?.boolValue ?? true) ? "always" : "never")
            return .sentencePiece(stripLeadingSpace: scheme != "never")
        }
        if names.contains("Replace") || names.contains("ByteFallback") {
            let strip = list.contains { $0["type"]?.stringValue == "Strip" && ($0["start"]?.intValue ?? 0) > 0 }
            return .sentencePiece(stripLeadingSpace: strip)
        }
        if case .wordPiece(let m) = model { return .wordPiece(prefix: m.prefix, ggufStyle: false) }
        return .byteLevel
    }

    static func postProcessor(_ v: JSONValue?, vocab: [String: Int32], prefix: inout [Int32], suffix: inout [Int32]) throws {
        func id(_ x: JSONValue?) throws -> Int32 {
            guard let i = x?.intValue, i >= 0, i < 10_000_000 else {
                throw FolioError.malformedFile(path: "tokenizer.json", problem: "post_processor token id \(x.map { "\($0)" } ?? "(missing)") is not a token id")
            }
            return Int32(i)
        }
        guard let v, !v.isNull else { return }
        switch v["type"]?.stringValue {
        case "Sequence":
            for p in v["processors"]?.arrayValue ?? [] { try postProcessor(p, vocab: vocab, prefix: &prefix, suffix: &suffix) }
        case "TemplateProcessing":
            var seenSeq = false
            for item in v["single"]?.arrayValue ?? [] {
                if item["Sequence"] != nil { seenSeq = true; continue }
                guard let name = item["SpecialToken"]?["id"]?.stringValue else { continue }
                let ids = try v["special_tokens"]?[name]?["ids"]?.arrayValue?.map { try id($0) } ?? vocab[name].map { [$0] } ?? []
                if seenSeq { suffix += ids } else { prefix += ids }
            }
        case "BertProcessing", "RobertaProcessing":
            if let c = v["cls"]?.arrayValue, !c.isEmpty { prefix = [try id(c.last)] }
            if let s = v["sep"]?.arrayValue, !s.isEmpty { suffix = [try id(s.last)] }
        default: break
        }
    }
}
