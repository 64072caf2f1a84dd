import ArgumentParser
import FolioModels
import FolioTemplates
import FolioTokenizers
import FolioWeights
import Foundation

@main
struct Folio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "folio",
        abstract: "Folio: an LLM inference engine in Swift.",
        subcommands: [Serve.self, Generate.self, Chat.self, Embed.self, Bench.self, Tokenize.self, Logits.self, Inspect.self, TemplateCommand.self,
                      GrammarCommand.self, ParseCommand.self])

    /// Runs `body`, printing any error on stderr and exiting 1 (JSON results go to stdout).
    static func run(_ body: () throws -> Void) throws {
        try report { try body() }
    }

    static func runAsync(_ body: () async throws -> Void) async throws {
        do { try await body() } catch { try report { throw error } }
    }

    static func report(_ body: () throws -> Void) throws {
        do { try body() } catch let e as FolioError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(1)
        } catch let e as TokenizerError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(1)
        } catch let e as TemplateError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func emit(_ v: JSONValue) { print(v.jsonString) }

func parseIds(_ s: String, name: String) throws -> [Int32] {
    let parts = s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    return try parts.map {
        guard let v = Int32($0) else { throw FolioError.invalidArgument(name: name, message: "'\($0)' is not a token id") }
        return v
    }
}

extension JSONValue {
    static func ints(_ a: [Int32]) -> JSONValue { .array(a.map { .int(Int($0)) }) }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tokenize text: {\"ids\": [...], \"tokens\": [...]}.")
    @Option(help: "GGUF file or Hugging Face model folder.") var model: String
    @Option(help: "Text to tokenize.") var text: String?
    @Option(help: "File whose contents to tokenize.") var textFile: String?
    @Flag(help: "Do not add BOS/EOS.") var noAddSpecial = false

    func run() throws {
        try Folio.run {
            let input: String
            if let t = text { input = t } else if let f = textFile {
                guard let d = FileManager.default.contents(atPath: f) else { throw FolioError.io(path: f, message: "cannot read") }
                input = String(decoding: d, as: UTF8.self)
            } else { throw FolioError.invalidArgument(name: "--text", message: "give --text or --text-file") }
            let tok = try Tokenizer.load(modelPath: model)
            let ids = tok.encode(input, addSpecialTokens: !noAddSpecial)
            emit(.object([("ids", .ints(ids)), ("tokens", .array(ids.map { .string(tok.token($0) ?? "") }))]))
        }
    }
}

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Logits at every position: {\"logits\": [[...]]}.")
    @Option(help: "GGUF file or Hugging Face model folder.") var model: String
    @Option(help: "Comma-separated token ids.") var tokenIds: String
    @Option(help: "Only the top K (ids and values) per position.") var top: Int?
    @Flag(help: "Use the float32 reference forward pass.") var reference = false
    @Option(help: "PEFT LoRA adapter folder to apply.") var lora: String?
    @Option(help: "Split the model across N processes (mpirun -np N).") var tensorParallelSize: Int = 1
    @Option(help: "Split the model's layers across N processes (mpirun -np N).") var pipelineParallelSize: Int = 1

    func run() throws {
        try Folio.run {
            let ids = try parseIds(tokenIds, name: "--token-ids")
            guard !ids.isEmpty else { throw FolioError.invalidArgument(name: "--token-ids", message: "is empty") }
            if let k = top, k < 1 { throw FolioError.invalidArgument(name: "--top", message: "must be >= 1") }
            var options = ForwardOptions(reference: reference)
            options.tensorParallelSize = tensorParallelSize
            options.pipelineParallelSize = pipelineParallelSize
            let lm = try CausalLM.load(path: model, options: options)
            guard ids.count <= lm.config.maxPositionEmbeddings else {
                throw FolioError.invalidArgument(name: "--token-ids", message: "\(ids.count) tokens exceed the context length \(lm.config.maxPositionEmbeddings)")
            }
            let adapter = try lora.map { try LoRAAdapter.load(path: $0, for: lm, maxRank: cliMaxLoraRank) }
            let logits = try lm.forward(tokens: ids, cache: lm.makeCache(capacity: ids.count), allLogits: true, lora: adapter)
            if let k = top {
                let tops = logits.map { row -> (JSONValue, JSONValue) in
                    let idx = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k)
                    return (.array(idx.map { .number(Double($0)) }), .array(idx.map { .number(Double(row[$0])) }))
                }
                emit(.object([("top_ids", .array(tops.map(\.0))), ("logits", .array(tops.map(\.1)))]))
            } else {
                emit(.object([("logits", .array(logits.map { .array($0.map { .number(Double($0)) }) }))]))
            }
        }
    }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate a continuation.")
    @Option(help: "GGUF file or Hugging Face model folder.") var model: String
    @Option(help: "Prompt text (BOS added as the model's tokenizer says).") var prompt: String?
    @Option(help: "Comma-separated prompt token ids.") var promptTokenIds: String?
    @Option(help: "JSON array of prompt strings, generated together by the engine.") var promptsFile: String?
    @OptionGroup var engine: EngineOptions
    @Option(help: "Tokens to generate.") var maxTokens: Int = 16
    @Option(help: "0 = greedy (default: the model's generation_config.json, else 0).") var temperature: Float?
    @Option(help: "Nucleus sampling mass (default: generation_config.json, else 1).") var topP: Float?
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "PEFT LoRA adapter folder to apply.") var lora: String?
    @Flag(help: "Keep generating past end-of-sequence tokens.") var ignoreEos = false
    @Flag(help: "Print JSON {token_ids, text, finish_reason}.") var json = false

    func run() async throws {
        if let file = promptsFile {
            try await Folio.runAsync {
                let defaults = try GenerationConfig.load(modelPath: model)
                try await runBatch(file: file, temperature: temperature ?? defaults?.temperature ?? 0, topP: topP ?? defaults?.topP ?? 1)
            }
            return
        }
        try Folio.run {
            let defaults = try GenerationConfig.load(modelPath: model)
            let temperature = self.temperature ?? defaults?.temperature ?? 0
            let topP = self.topP ?? defaults?.topP ?? 1
            guard maxTokens >= 0 else { throw FolioError.invalidArgument(name: "--max-tokens", message: "must be >= 0") }
            guard temperature >= 0 else { throw FolioError.invalidArgument(name: "--temperature", message: "must be >= 0") }
            guard topP > 0, topP <= 1 else { throw FolioError.invalidArgument(name: "--top-p", message: "must be in (0, 1]") }
            // Token ids in and out work without a tokenizer (vLLM's skip_tokenizer_init); text needs one.
            let tok = promptTokenIds != nil ? try Tokenizer.loadIfPresent(modelPath: model) : try Tokenizer.load(modelPath: model)
            let ids: [Int32]
            if let p = promptTokenIds { ids = try parseIds(p, name: "--prompt-token-ids") } else if let p = prompt, let tok {
                ids = tok.encode(p)
            } else { throw FolioError.invalidArgument(name: "--prompt", message: "give --prompt or --prompt-token-ids") }
            let lm = try CausalLM.load(path: model, options: try engine.forwardOptions())
            for t in ids where t < 0 || Int(t) >= lm.config.vocabSize {
                throw FolioError.invalidArgument(name: "--prompt-token-ids", message: "token id \(t) is outside the vocabulary (\(lm.config.vocabSize))")
            }
            var stops = tok?.eogIds ?? []
            if let e = tok?.eosId { stops.insert(e) }
            for e in lm.config.eosTokenIds + (defaults?.eosTokenIds ?? []) { stops.insert(Int32(e)) }
            let adapter = try lora.map { try LoRAAdapter.load(path: $0, for: lm, maxRank: cliMaxLoraRank) }
            let r = try lm.generate(prompt: ids, maxTokens: maxTokens, temperature: temperature, topP: topP, seed: seed,
                                    stopTokenIds: stops, ignoreEOS: ignoreEos, lora: adapter)
            let text: JSONValue = tok.map { .string($0.decode(r.tokenIds, skipSpecialTokens: true)) } ?? .null
            if json {
                emit(.object([("token_ids", .ints(r.tokenIds)), ("text", text), ("finish_reason", .string(r.finishReason))]))
            } else {
                print(tok.map { $0.decode(r.tokenIds, skipSpecialTokens: true) } ?? r.tokenIds.map(String.init).joined(separator: ","))
            }
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model file or folder.")
    @Argument(help: "GGUF file or Hugging Face model folder.") var path: String

    func run() throws {
        try Folio.run {
            if EmbeddingModel.isEncoder(path: path) {
                // An encoder: what /v1/embeddings will serve (its pooling, width and context).
                let m = try EmbeddingModel.load(path: path)
                guard case .encoder(let b) = m.backbone else { return }
                emit(.object([
                    ("architecture", .string(m.architecture)), ("parameters", .number(Double(m.parameterCount))),
                    ("runner", .string("pooling")), ("pooling_type", .string(m.pooling.kind.rawValue)), ("normalize", .bool(m.pooling.normalize)),
                    ("embedding_size", .number(Double(m.hiddenSize))), ("max_model_len", .number(Double(m.maxModelLen))),
                    ("is_matryoshka", .bool(m.isMatryoshka)), ("layers", .number(Double(b.config.numLayers))),
                    ("heads", .number(Double(b.config.numHeads))), ("vocab_size", .number(Double(b.config.vocabSize))),
                ]))
                return
            }
            let lm = try CausalLM.load(path: path)
            let tok = try? Tokenizer.load(modelPath: path)
            let c = lm.config
            var types: [String: Int] = [:]
            for t in lm.tensorTypes { types[t, default: 0] += 1 }
            emit(.object([
                ("architecture", .string(c.architecture)), ("family", .string(c.family)),
                ("parameters", .number(Double(lm.parameterCount))),
                ("tensor_types", .object(types.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })),
                ("projection_kernels", .object(lm.projectionKernels.sorted { $0.key < $1.key }.map { t, k in
                    (t, .object(k.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) }))
                })),
                ("context_length", .number(Double(c.maxPositionEmbeddings))),
                ("layers", .number(Double(c.numLayers))), ("hidden_size", .number(Double(c.hiddenSize))),
                ("heads", .number(Double(c.numHeads))), ("kv_heads", .number(Double(c.numKVHeads))),
                ("vocab_size", .number(Double(c.vocabSize))),
                ("experts", .number(Double(c.numExperts))),
                // Latent attention (DeepSeek) caches one latent row per token and layer; sinks: GPT-OSS.
                ("attention", .string(c.latentAttention != nil ? "latent" : c.attentionSinks ? "grouped with sinks" : "grouped")),
                ("kv_cache_bytes_per_token", .number(Double(PagedKVCache.bytesPerToken(c, dtype: .auto(for: c))))),
                ("chat_template", .bool(tok?.chatTemplate != nil)),
                // config.json keys Folio does not read for this family (none for a GGUF file).
                ("unread_config_keys", .array(c.unreadConfigKeys.map { .string($0) })),
            ]))
        }
    }
}

struct TemplateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "template", abstract: "Chat template tools.",
                                                    subcommands: [Render.self])

    struct Render: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Render a Jinja template with a JSON context; prints the text exactly.")
        @Option(help: "Template file.") var template: String
        @Option(help: "JSON object whose keys are the template's variables.") var context: String
        @Option(help: "What strftime_now sees, e.g. 2024-07-26T12:00:00 (UTC).") var now: String?

        func run() throws {
            try Folio.run {
                guard let src = FileManager.default.contents(atPath: template) else { throw FolioError.io(path: template, message: "cannot read") }
                let json = try JSONValue.parse(file: context)
                guard let obj = json.objectValue else { throw FolioError.malformedFile(path: context, problem: "not a JSON object") }
                var date = Date()
                if let now {
                    let f = ISO8601DateFormatter()
                    f.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
                    f.timeZone = TimeZone(identifier: "UTC")
                    guard let d = f.date(from: now) ?? ISO8601DateFormatter().date(from: now) else {
                        throw FolioError.invalidArgument(name: "--now", message: "'\(now)' is not an ISO 8601 date-time")
                    }
                    date = d
                }
                var ctx: [String: Value] = [:]
                for (k, v) in obj { ctx[k] = Value(json: v) }
                let out = try Template(String(decoding: src, as: UTF8.self)).render(ctx, now: date)
                FileHandle.standardOutput.write(Data(out.utf8))
            }
        }
    }
}
