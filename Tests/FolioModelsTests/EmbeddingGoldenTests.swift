import FolioModels
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// Embeddings against sentence-transformers (Tests/Fixtures/embeddings, made by scripts/make_embedding_goldens.py):
/// all-MiniLM-L6-v2 (BERT, mean pooling) and a tiny random Qwen3 decoder embedding model (last-token pooling).
/// The README's bound: cosine similarity >= 0.99999 per text; batched and alone identical.
@Suite("Embeddings match sentence-transformers", .serialized)
struct EmbeddingGoldenTests {
    static let bound = 0.99999
    static let texts: [String] = try! JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("embeddings/texts.json"))))

    struct Ids: Decodable { let max_seq_length: Int; let ids: [[Int32]] }

    static func golden(_ name: String, width: Int) throws -> [[Float]] {
        let d = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("embeddings/" + name)))
        let f: [Float] = d.withUnsafeBytes { raw in (0..<(d.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) } }
        return stride(from: 0, to: f.count, by: width).map { Array(f[$0..<($0 + width)]) }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
        return ab / (aa * bb).squareRoot()
    }

    /// Tokenizer ids equal Hugging Face's (truncated as encode truncates), embeddings within the bound, every text
    /// alone bit-identical to the batch.
    func check(model path: String, ids idsFile: String, golden: String, width: Int, pooler: String? = nil) throws {
        let m = try EmbeddingModel.load(path: path, pooler: pooler)
        let tok = try Tokenizer.load(modelPath: path)
        let ref = try JSONDecoder().decode(Ids.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("embeddings/" + idsFile))))
        #expect(m.maxModelLen == ref.max_seq_length)
        let ids = Self.texts.map { tok.encode($0, maxLength: m.maxModelLen) }
        for i in ids.indices { #expect(ids[i] == ref.ids[i], "text \(i): \(Self.texts[i].prefix(40))") }
        let g = try Self.golden(golden, width: width)
        let batch = try m.embed(ids)
        var worst = 1.0
        for i in ids.indices {
            let c = Self.cosine(batch[i], g[i])
            worst = min(worst, c)
            #expect(c >= Self.bound, "text \(i): cosine \(c)")
        }
        print("\(URL(fileURLWithPath: path).lastPathComponent): lowest cosine to sentence-transformers over \(ids.count) texts \(worst)")
        for i in stride(from: 0, to: ids.count, by: 9) { #expect(try m.embed([ids[i]])[0] == batch[i], "text \(i) alone") }
    }

    @Test("all-MiniLM-L6-v2: tokens, 100 embeddings, batched = alone")
    func miniLM() throws {
        let path = RealModels.dir + "/all-minilm-l6-v2"
        try #require(FileManager.default.fileExists(atPath: path), "all-MiniLM-L6-v2 is fetched by scripts/fetch-models.sh --all")
        try check(model: path, ids: "minilm.json", golden: "minilm.f32", width: 384)
        let m = try EmbeddingModel.load(path: path)
        #expect(m.pooling == { var p = PoolingConfig(kind: .mean, normalize: true); p.maxSeqLength = 256; return p }())
        #expect(!m.isMatryoshka && m.hiddenSize == 384)
    }

    @Test("tiny Qwen3 decoder embedding model: tokens, 100 embeddings, batched = alone, dimensions 32")
    func tinyDecoder() throws {
        let path = Fixtures.path("embeddings/tiny-qwen3-embed")
        try check(model: path, ids: "tiny-qwen3-embed.json", golden: "tiny-qwen3-embed.f32", width: 64)
        let m = try EmbeddingModel.load(path: path)
        #expect(m.pooling.kind == .last && m.pooling.normalize && m.isMatryoshka)
        let tok = try Tokenizer.load(modelPath: path)
        let ids = Self.texts.prefix(20).map { tok.encode($0, maxLength: m.maxModelLen) }
        let g = try Self.golden("tiny-qwen3-embed-d32.f32", width: 32)
        let cut = try m.embed(Array(ids), options: Array(repeating: PoolingOptions(dimensions: 32), count: ids.count))
        for i in cut.indices { #expect(cut[i].count == 32 && Self.cosine(cut[i], g[i]) >= Self.bound, "text \(i)") }
    }

    @Test("tiny BERT as llama.cpp's converter writes it (GGUF bert, F16): its GGUF vocabulary's ids, 100 embeddings, batched = alone")
    func bertGGUF() throws {
        let path = Fixtures.path("embeddings/tiny-bert-f16.gguf")
        #expect(EmbeddingModel.isEncoder(path: path))
        // The converter wrote no pooling_type for a folder without modules.json: mean pooling is asked for here.
        try check(model: path, ids: "tiny-bert.json", golden: "tiny-bert.f32", width: 32, pooler: #"{"pooling_type": "MEAN"}"#)
        #expect(try EmbeddingModel.load(path: path).pooling == PoolingConfig(kind: .cls, normalize: true))   // vLLM's encoder default
    }

    @Test("Sentence-Transformers configs Folio cannot run are refused by name; --pooler-config overrides")
    func configs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("folio-st-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir + "/1_Pooling", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func write(_ name: String, _ s: String) throws { try s.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        try write("modules.json", #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#)
        try write("1_Pooling/config.json", #"{"pooling_mode_mean_tokens": true}"#)
        #expect(throws: FolioError.unsupported(path: dir + "/modules.json", what: "Sentence-Transformers module sentence_transformers.models.Dense")) {
            try PoolingConfig.sentenceTransformers(modelPath: dir)
        }
        try write("modules.json", #"[{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#)
        try write("1_Pooling/config.json", #"{"pooling_mode_max_tokens": true}"#)
        #expect(throws: FolioError.unsupported(path: dir + "/1_Pooling/config.json", what: "pooling mode pooling_mode_max_tokens (supported: cls_token, mean_tokens, lasttoken)")) {
            try PoolingConfig.sentenceTransformers(modelPath: dir)
        }
        try write("1_Pooling/config.json", #"{"pooling_mode_cls_token": true}"#)
        #expect(try PoolingConfig.sentenceTransformers(modelPath: dir) == PoolingConfig(kind: .cls, normalize: false))
        let p = try PoolingConfig.parse(json: #"{"pooling_type": "MEAN", "use_activation": true}"#, over: PoolingConfig(kind: .cls, normalize: false))
        #expect(p == PoolingConfig(kind: .mean, normalize: true))
        #expect(throws: FolioError.invalidArgument(name: "--pooler-config", message: "pooling_type must be one of MEAN, CLS, LAST, got \"ALL\"")) {
            try PoolingConfig.parse(json: #"{"pooling_type": "ALL"}"#, over: p)
        }
    }
}
