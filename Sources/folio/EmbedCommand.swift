import ArgumentParser
import FolioEngine
import FolioModels
import FolioTokenizers
import FolioWeights
import Foundation

/// Flags shared by `folio embed` and `folio bench embed`.
struct EmbeddingOptions: ParsableArguments {
    @Option(help: "Embedding model: a Sentence-Transformers / BERT folder, or a causal LM run as a decoder embedding model.")
    var model: String = "models/all-minilm-l6-v2"
    @Option(help: ArgumentHelp("Pooling, as vLLM's JSON: {\"pooling_type\": \"MEAN\" | \"CLS\" | \"LAST\", \"use_activation\": true}.", valueName: "json"))
    var poolerConfig: String?
    @Option(help: "Compute threads (default: every core).") var threads: Int?
    @Option(help: "Inputs per forward pass at most, in tokens.") var maxNumBatchedTokens: Int = 8192

    func load() throws -> EmbeddingEngine {
        if let t = threads, t < 1 { throw FolioError.invalidArgument(name: "--threads", message: "must be >= 1") }
        guard maxNumBatchedTokens >= 1 else { throw FolioError.invalidArgument(name: "--max-num-batched-tokens", message: "must be >= 1") }
        let m = try EmbeddingModel.load(path: model, options: ForwardOptions(threads: threads), pooler: poolerConfig)
        return try EmbeddingEngine(model: m, tokenizer: try Tokenizer.load(modelPath: model), maxNumBatchedTokens: maxNumBatchedTokens)
    }
}

/// Reads `--input-file`: a JSON array of strings.
func readTexts(_ file: String) throws -> [String] {
    guard let d = FileManager.default.contents(atPath: file) else { throw FolioError.io(path: file, message: "cannot read") }
    guard let arr = try JSONValue.parse(d).arrayValue, let texts = Optional(arr.compactMap(\.stringValue)), texts.count == arr.count else {
        throw FolioError.malformedFile(path: file, problem: "not a JSON array of strings")
    }
    return texts
}

struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embeddings of texts, as /v1/embeddings returns them (JSON on stdout).")
    @OptionGroup var embedding: EmbeddingOptions
    @Option(help: "A text to embed (repeatable).") var text: [String] = []
    @Option(help: "A JSON array of texts to embed.") var inputFile: String?
    @Option(help: "Cut embeddings to this many dimensions (Matryoshka models).") var dimensions: Int?
    @Option(parsing: .unconditional, help: "Cut each input to this many tokens (-1: the model's longest) instead of refusing longer ones.")
    var truncatePromptTokens: Int?

    func run() async throws {
        try await Folio.runAsync {
            var texts = text
            if let f = inputFile { texts += try readTexts(f) }
            guard !texts.isEmpty else { throw FolioError.invalidArgument(name: "--text", message: "give at least one --text or --input-file") }
            let e = try embedding.load()
            if let d = dimensions {
                guard e.model.isMatryoshka else { throw FolioError.invalidArgument(name: "--dimensions", message: "the model does not support Matryoshka embeddings") }
                guard d >= 1, d <= e.model.hiddenSize else { throw FolioError.invalidArgument(name: "--dimensions", message: "must be in [1, \(e.model.hiddenSize)]") }
            }
            let ids = try texts.map { try e.prepare(text: $0, truncatePromptTokens: truncatePromptTokens) }
            let out = try await e.embed(ids, options: PoolingOptions(dimensions: dimensions))
            let data: [JSONValue] = out.enumerated().map { i, v in
                .object([("index", .int(i)), ("object", .string("embedding")), ("embedding", .array(v.map { .number(Double($0)) }))])
            }
            let n = ids.reduce(0) { $0 + $1.count }
            print(JSONValue.object([("object", .string("list")), ("model", .string(embedding.model)), ("data", .array(data)),
                                    ("usage", .object([("prompt_tokens", .int(n)), ("total_tokens", .int(n))]))]).jsonString)
        }
    }
}

extension Bench {
    /// Embedding throughput over a file of texts: tokenization and embedding, timed together, per repetition.
    struct Embed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Embedding throughput (texts/s) over a JSON array of texts.")
        @OptionGroup var embedding: EmbeddingOptions
        @Option(help: "A JSON array of texts.") var inputFile: String
        @Option(help: "Timed repetitions (after one warm-up).") var reps: Int = 5
        @Option(help: "Texts handed to the engine per call (the client's batch).") var batchSize: Int = 1000

        func run() async throws {
            try await Folio.runAsync {
                let texts = try readTexts(inputFile)
                guard !texts.isEmpty, reps >= 1, batchSize >= 1 else { throw FolioError.invalidArgument(name: "--reps", message: "needs texts, reps >= 1, batch size >= 1") }
                let e = try embedding.load()
                var times: [Double] = []
                var tokens = 0
                for r in 0...reps {
                    let t0 = Date()
                    tokens = 0
                    var start = 0
                    while start < texts.count {
                        let chunk = texts[start..<min(texts.count, start + batchSize)]
                        let ids = try chunk.map { try e.prepare(text: $0, truncatePromptTokens: -1) }
                        tokens += ids.reduce(0) { $0 + $1.count }
                        _ = try await e.embed(ids)
                        start += batchSize
                    }
                    if r > 0 { times.append(Date().timeIntervalSince(t0)) }
                }
                let med = times.sorted()[times.count / 2]
                print(JSONValue.object([("texts", .int(texts.count)), ("tokens", .int(tokens)), ("reps", .int(reps)),
                                        ("median_s", .number(med)), ("texts_per_s", .number(Double(texts.count) / med)),
                                        ("tokens_per_s", .number(Double(tokens) / med)), ("times_s", .array(times.map { .number($0) }))]).jsonString)
            }
        }
    }
}
