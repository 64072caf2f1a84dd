import FolioWeights
import Foundation

/// Texts that end generation when a model's config does not list them (llama.cpp detects the same ones).
let endOfGenerationTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                            "<\u{FF5C}end\u{2581}of\u{2581}sentence\u{FF5C}>", "<|eom_id|>", "<|return|>"]

/// `tokenizer.ggml.pre` types whose Hugging Face tokenizers do not clean up spaces when decoding (llama.cpp's
/// `clean_spaces = false`).
let noCleanup: Set<String> = ["qwen2", "qwen2.5", "qwen-2.5", "deepseek-r1-qwen", "deepseek-llm", "deepseek-coder", "qwen35"]

/// Pre-tokenizer regexes of llama.cpp's `tokenizer.ggml.pre` types (the same splits as the models'
/// `tokenizer.json`); each splits the pieces of the one before.
func ggufPreTokenizerPatterns(_ pre: String) -> [String]? {
    let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    let llama3 = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    switch pre {
    case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "tekken", "smaug-bpe", "dbrx", "gpt-4o", "kimi-k2":
        return [llama3]
    case "qwen2", "qwen2.5", "qwen-2.5", "deepseek-r1-qwen", "stablelm2", "hunyuan", "qwen35":
        return [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
    case "deepseek-coder":
        return [#"[\r\n]"#, #"\s?\p{L}+"#, #"\s?\p{P}+"#, "[\u{4E00}-\u{9FA5}\u{0800}-\u{4E00}\u{AC00}-\u{D7FF}]+", #"\p{N}"#]
    case "deepseek-llm":
        return [#"[\r\n]"#, #"\s?\p{L}+"#, #"\s?\p{P}+"#, #"\s+$"#, "[\u{4E00}-\u{9FA5}\u{0800}-\u{4E00}\u{AC00}-\u{D7FF}]+", #"\p{N}+"#]
    case "falcon":
        return [#"[\p{P}\$\+<=>\^~\|`]+"#, gpt2, "[0-9][0-9][0-9]"]
    case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b":
        return [#"\p{N}"#, gpt2]
    case "gpt-2", "gpt2", "mpt", "olmo", "jais", "trillion", "granite", "phi-2", "jina-es", "jina-de", "poro-chat",
         "viking", "bloom", "gpt3-finnish", "roberta-bpe":
        return [gpt2]
    case "default":
        return [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2, #"\p{N}+"#, "[0-9][0-9][0-9]"]
    default:
        return nil
    }
}

extension Tokenizer {
    /// The model's tokenizer, or nil when it has none (a Hugging Face folder without `tokenizer.json`, a GGUF file
    /// without `tokenizer.ggml.*`): token ids in and out, as vLLM's `skip_tokenizer_init`. A tokenizer that is
    /// there but malformed is still an error.
    public static func loadIfPresent(modelPath: String) throws -> Tokenizer? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) else {
            throw FolioError.io(path: modelPath, message: "no such file or directory")
        }
        if isDir.boolValue {
            return FileManager.default.fileExists(atPath: modelPath + "/tokenizer.json") ? try fromHuggingFace(directory: modelPath) : nil
        }
        let g = try GGUFFile(path: modelPath)
        return g.metadata["tokenizer.ggml.model"] == nil ? nil : try fromGGUF(g)
    }

    /// Loads the tokenizer of a model: a `.gguf` file, or a Hugging Face folder with `tokenizer.json`.
    public static func load(modelPath: String) throws -> Tokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) else {
            throw FolioError.io(path: modelPath, message: "no such file or directory")
        }
        if isDir.boolValue { return try fromHuggingFace(directory: modelPath) }
        return try fromGGUF(try GGUFFile(path: modelPath))
    }

    /// Builds the tokenizer stored in GGUF metadata (`tokenizer.ggml.*`), with llama.cpp's semantics.
    public static func fromGGUF(_ g: GGUFFile) throws -> Tokenizer {
        let path = g.path
        func meta(_ k: String) -> GGUFValue? { g.metadata["tokenizer.ggml." + k] }
        guard let kind = meta("model")?.stringValue else { throw FolioError.missing(path: path, what: "tokenizer.ggml.model") }
        guard let tokensV = meta("tokens")?.arrayValue else { throw FolioError.missing(path: path, what: "tokenizer.ggml.tokens") }
        let tokens = try tokensV.enumerated().map { (i, v) -> String in
            guard let s = v.stringValue else { throw FolioError.malformedFile(path: path, problem: "tokenizer.ggml.tokens[\(i)] is not a string") }
            return s
        }
        let n = tokens.count
        let types: [Int] = meta("token_type")?.arrayValue?.map { $0.intValue ?? 1 } ?? Array(repeating: 1, count: n)
        guard types.count == n else {
            throw FolioError.malformedFile(path: path, problem: "token_type has \(types.count) entries for \(n) tokens")
        }
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(n)
        for (i, t) in tokens.enumerated() where vocab[t] == nil { vocab[t] = Int32(i) }
        func tokenId(_ key: String) throws -> Int32? {
            guard let v = meta(key)?.intValue else { return nil }
            guard v >= 0, v < n else { throw FolioError.malformedFile(path: path, problem: "tokenizer.ggml.\(key) = \(v) is outside the vocabulary (\(n) tokens)") }
            return Int32(v)
        }
        var added: [AddedToken] = []
        var special = Set<Int32>()
        for (i, t) in types.enumerated() where t == 3 || t == 4 {
            added.append(AddedToken(id: Int32(i), content: tokens[i], special: t == 3, lstrip: false, rstrip: false, singleWord: false))
            if t == 3 { special.insert(Int32(i)) }
        }
        let bos = try tokenId("bos_token_id"), eos = try tokenId("eos_token_id")
        var eog = Set<Int32>()
        if let e = try tokenId("eot_token_id") { eog.insert(e) }
        if let e = try tokenId("eom_token_id") { eog.insert(e) }
        for t in endOfGenerationTexts { if let id = vocab[t] { eog.insert(id) } }
        let unk = try tokenId("unknown_token_id")
        let template = g.metadata["tokenizer.chat_template"]?.stringValue
        let addPrefix = meta("add_space_prefix")?.boolValue
        let normalizer: Normalizer?
        let pre: PreTokenizer?
        let model: TokenModel
        let mode: DecodeMode
        var addBos = meta("add_bos_token")?.boolValue
        func merges() throws -> [(String, String)] {
            guard let m = meta("merges")?.arrayValue else { throw FolioError.missing(path: path, what: "tokenizer.ggml.merges") }
            return m.compactMap { v in
                guard let s = v.stringValue else { return nil }
                return splitMerge(s)
            }
        }
        switch kind {
        case "gpt2":
            let preName = meta("pre")?.stringValue ?? "default"
            guard let patterns = ggufPreTokenizerPatterns(preName) else {
                throw FolioError.unsupported(path: path, what: "pre-tokenizer type \(preName)")
            }
            normalizer = nil
            pre = .sequence(try patterns.map { .split(try SplitRegex($0), .isolated, invert: false) }
                            + [.byteLevel(addPrefixSpace: false, regex: nil)])
            model = .bpe(BPEModel(vocab: vocab, merges: try merges(), byteFallback: false, unk: nil, fuseUnk: false,
                                  ignoreMerges: preName == "llama-bpe" || preName == "llama3", perByteFallback: true))
            mode = .byteLevel
            // llama.cpp adds BOS for Llama 3 vocabularies even when the file does not say so.
            if addBos == nil { addBos = ["llama-bpe", "llama3", "llama-v3"].contains(preName) }
        case "llama":
            let prefix = addPrefix ?? true
            normalizer = prefix ? .sequence([.replace(" ", "\u{2581}"), .prepend("\u{2581}")]) : .replace(" ", "\u{2581}")
            pre = nil
            guard let sc = meta("scores")?.arrayValue, sc.count == n else {
                throw FolioError.malformedFile(path: path, problem: "tokenizer.ggml.scores missing or not one per token")
            }
            let byteIds = (0..<256).map { vocab[String(format: "<0x%02X>", $0)] ?? -1 }
            model = .spm(SPMScoresModel(vocab: vocab, scores: sc.map { Float($0.doubleValue ?? 0) }, byteTokens: byteIds, unk: unk))
            mode = .sentencePiece(stripLeadingSpace: prefix)
            if addBos == nil { addBos = true }
        case "gemma4":
            let prefix = addPrefix ?? false
            normalizer = prefix ? .sequence([.replace(" ", "\u{2581}"), .prepend("\u{2581}")]) : .replace(" ", "\u{2581}")
            pre = nil
            model = .bpe(BPEModel(vocab: vocab, merges: try merges(), byteFallback: true, unk: unk, fuseUnk: false,
                                  ignoreMerges: false, perByteFallback: false))
            mode = .sentencePiece(stripLeadingSpace: prefix)
            if addBos == nil { addBos = true }
        case "bert":
            normalizer = .bert(cleanText: true, handleChinese: true, stripAccents: true, lowercase: true)
            pre = .bert
            guard let u = unk else { throw FolioError.missing(path: path, what: "tokenizer.ggml.unknown_token_id") }
            model = .wordPiece(WordPieceModel(vocab: vocab, unk: u, prefix: "##", ggufStyle: true, maxChars: 100))
            mode = .wordPiece(prefix: "##", ggufStyle: true)
            if addBos == nil { addBos = false }
        default:
            throw FolioError.unsupported(path: path, what: "tokenizer model \(kind)")
        }
        var prefixIds: [Int32] = [], suffixIds: [Int32] = []
        if kind == "bert", let cls = try tokenId("cls_token_id"), let sep = try tokenId("seperator_token_id") {
            prefixIds = [cls]; suffixIds = [sep]
        }
        return Tokenizer(idToToken: tokens, addedTokens: added, specialIds: special, bosId: bos, eosId: eos,
                         addBos: addBos ?? false, addEos: meta("add_eos_token")?.boolValue ?? false, eogIds: eog,
                         chatTemplate: template, prefixIds: prefixIds, suffixIds: suffixIds, normalizer: normalizer,
                         preTokenizer: pre, model: model, decodeMode: mode, tokenToId: vocab,
                         cleanUpSpaces: kind == "bert" || (kind == "gpt2" && !noCleanup.contains(meta("pre")?.stringValue ?? "")))
    }
}
