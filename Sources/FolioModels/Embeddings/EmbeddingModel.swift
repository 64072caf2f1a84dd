import FolioWeights
import Foundation

/// A text embedding model: a BERT-family encoder, or a decoder (any supported causal LM, Qwen3-Embedding style) run
/// without its LM head, then pooled and normalized as its Sentence-Transformers config says (vLLM's defaults where
/// the folder has none: CLS for encoders, LAST for decoders, normalized).
///
/// ```swift
/// let m = try EmbeddingModel.load(path: "models/all-minilm-l6-v2")
/// let e = try m.embed([tokenizer.encode("a sentence")])   // [[384 floats]], unit length
/// ```
public final class EmbeddingModel: Sendable {
    public enum Backbone: Sendable {
        case encoder(BertModel)
        case decoder(CausalLM)
    }
    public let backbone: Backbone
    public let pooling: PoolingConfig
    public let path: String
    /// Longest input in tokens: Sentence-Transformers' max_seq_length, else the model's positions (as vLLM).
    public let maxModelLen: Int
    /// Width of the hidden state (and of a full embedding).
    public let hiddenSize: Int
    public let vocabSize: Int
    /// config.json's `is_matryoshka` / `matryoshka_dimensions`: whether `dimensions` may cut embeddings.
    public let isMatryoshka: Bool
    public let matryoshkaDimensions: [Int]?

    init(backbone: Backbone, pooling: PoolingConfig, path: String, positions: Int, hiddenSize: Int, vocabSize: Int, config: JSONValue?) {
        self.backbone = backbone
        self.pooling = pooling
        self.path = path
        maxModelLen = min(positions, pooling.maxSeqLength ?? positions)
        self.hiddenSize = hiddenSize
        self.vocabSize = vocabSize
        let dims = config?["matryoshka_dimensions"]?.arrayValue?.compactMap(\.intValue)
        matryoshkaDimensions = dims
        isMatryoshka = config?["is_matryoshka"]?.boolValue ?? (dims != nil)
    }

    /// Whether the model at `path` is an encoder (served as an embedding model whatever `--runner` says).
    public static func isEncoder(path: String) -> Bool {
        if path.hasSuffix(".gguf") { return (try? GGUFFile(path: path))?.architecture == "bert" }
        guard let j = try? JSONValue.parse(file: path + "/config.json") else { return false }
        let names = j["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return names.contains { BertConfig.architectures.contains($0) } || (names.isEmpty && j["model_type"]?.stringValue == "bert")
    }

    /// Loads an encoder folder, or any causal LM (folder or GGUF) as a decoder embedding model. `pooler` (vLLM's
    /// `--pooler-config` JSON) overrides the folder's pooling.
    public static func load(path: String, options: ForwardOptions = ForwardOptions(), pooler: String? = nil) throws -> EmbeddingModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FolioError.io(path: path, message: "no such file or directory") }
        let st = isDir.boolValue ? try PoolingConfig.sentenceTransformers(modelPath: path) : nil
        let m: EmbeddingModel
        if !isDir.boolValue, isEncoder(path: path) {
            let g = try GGUFFile(path: path)
            let bert = try BertModel(gguf: g, options: options)
            // llama.cpp's pooling_type (1 mean, 2 CLS, 3 last; 0 none: vLLM's default for encoders), normalized as
            // llama.cpp's server and Sentence-Transformers' BERT models normalize.
            let kinds: [Int: PoolingConfig.Kind] = [0: .cls, 1: .mean, 2: .cls, 3: .last]
            let t = g.archValue("pooling_type")?.intValue ?? 0
            guard let kind = kinds[t] else { throw FolioError.unsupported(path: path, what: "bert.pooling_type \(t) (0-3 are embeddings)") }
            var p = PoolingConfig(kind: kind, normalize: true)
            if let pooler { p = try PoolingConfig.parse(json: pooler, over: p) }
            m = EmbeddingModel(backbone: .encoder(bert), pooling: p, path: path, positions: bert.config.maxPositionEmbeddings,
                               hiddenSize: bert.config.hiddenSize, vocabSize: bert.config.vocabSize, config: nil)
        } else if isDir.boolValue, isEncoder(path: path) {
            let j = try JSONValue.parse(file: path + "/config.json")
            let bert = try BertModel(path: path, config: j, options: options)
            var p = st ?? PoolingConfig(kind: .cls, normalize: true)
            if let pooler { p = try PoolingConfig.parse(json: pooler, over: p) }
            m = EmbeddingModel(backbone: .encoder(bert), pooling: p, path: path, positions: bert.config.maxPositionEmbeddings,
                               hiddenSize: bert.config.hiddenSize, vocabSize: bert.config.vocabSize, config: j)
        } else {
            let lm = try CausalLM.load(path: path, options: options)
            var p = st ?? PoolingConfig(kind: .last, normalize: true)
            if let pooler { p = try PoolingConfig.parse(json: pooler, over: p) }
            let j = isDir.boolValue ? try? JSONValue.parse(file: path + "/config.json") : nil
            m = EmbeddingModel(backbone: .decoder(lm), pooling: p, path: path, positions: lm.config.maxPositionEmbeddings,
                               hiddenSize: lm.config.hiddenSize, vocabSize: lm.config.vocabSize, config: j)
        }
        return m
    }

    public var architecture: String {
        switch backbone {
        case .encoder: return "BertModel"
        case .decoder(let lm): return lm.config.architecture
        }
    }

    public var parameterCount: Int {
        switch backbone {
        case .encoder(let b): return b.parameterCount
        case .decoder(let lm): return lm.parameterCount
        }
    }

    /// One embedding per token sequence, all sequences in one forward pass, each pooled with its own options
    /// (`options`: one per sequence, or none for the model's defaults).
    public func embed(_ seqs: [[Int32]], options: [PoolingOptions] = []) throws -> [[Float]] {
        guard !seqs.isEmpty else { return [] }
        guard options.isEmpty || options.count == seqs.count else {
            throw FolioError.invalidArgument(name: "options", message: "\(options.count) pooling options for \(seqs.count) inputs")
        }
        let opts = options.isEmpty ? Array(repeating: PoolingOptions(), count: seqs.count) : options
        for (i, s) in seqs.enumerated() {
            guard !s.isEmpty else { throw FolioError.invalidArgument(name: "input", message: "input \(i) has no tokens") }
            guard s.count <= maxModelLen else {
                throw FolioError.invalidArgument(name: "input", message: "input \(i) has \(s.count) tokens; at most \(maxModelLen) fit")
            }
        }
        let H = hiddenSize
        switch backbone {
        case .encoder(let bert):
            let hs = try bert.hiddenStates(seqs)
            return seqs.indices.map { i in
                hs[i].withUnsafeBufferPointer { pooling.pool($0, count: seqs[i].count, width: H, options: opts[i]) }
            }
        case .decoder(let lm):
            // Every sequence in fresh blocks of a cache that lives for this pass only.
            let bs = 16
            var b = ForwardBatch()
            var block: Int32 = 0
            var rows: [(first: Int, count: Int)] = []
            for (s, seq) in seqs.enumerated() {
                let nb = (seq.count + bs - 1) / bs
                b.blockTables.append((0..<nb).map { block + Int32($0) })
                let t0 = b.tokens.count
                for (i, id) in seq.enumerated() {
                    b.tokens.append(id)
                    b.positions.append(Int32(i))
                    b.sequence.append(Int32(s))
                    b.slots.append(block * Int32(bs) + Int32(i))
                }
                block += Int32(nb)
                switch pooling.kind {
                case .last: rows.append((b.logitIndices.count, 1)); b.logitIndices.append(t0 + seq.count - 1)
                case .cls: rows.append((b.logitIndices.count, 1)); b.logitIndices.append(t0)
                case .mean: rows.append((b.logitIndices.count, seq.count)); b.logitIndices += Array(t0..<(t0 + seq.count))
                }
            }
            let kv = PagedKVCache(config: lm.config, numBlocks: Int(block), blockSize: bs, dtype: .float32)
            let h = try lm.hiddenStates(batch: b, kv: kv)
            return h.withUnsafeBufferPointer { hp in
                rows.enumerated().map { i, r in
                    // The pooled rows alone: for CLS/LAST that is the one row (pool reads row 0 for CLS, count - 1 for LAST).
                    let slice = UnsafeBufferPointer(rebasing: hp[(r.first * H)..<((r.first + r.count) * H)])
                    return pooling.pool(slice, count: r.count, width: H, options: opts[i])
                }
            }
        }
    }
}
