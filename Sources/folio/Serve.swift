import ArgumentParser
import FolioEngine
import FolioModels
import FolioOpenAI
import FolioServer
import FolioTemplates
import FolioTokenizers
import FolioTools
import FolioWeights
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OpenAI-compatible HTTP server (vLLM's API).")
    @Option(help: "GGUF file or Hugging Face model folder (default: the model scripts/fetch-models.sh fetches).")
    var model: String = "models/smollm2-135m-instruct-q4_1.gguf"
    @Option(help: "Model name clients use (default: the path).") var servedModelName: String?
    @Option var host: String = "127.0.0.1"
    @Option var port: Int = 8000
    @Option(help: "API key (repeatable; FOLIO_API_KEY works too, comma-separated).") var apiKey: [String] = []
    @Option(help: "Chat template file replacing the model's.") var chatTemplate: String?
    @Option(help: "Requests allowed to wait before 429.") var maxNumQueuedRequests: Int?
    @Option(help: "Default sampling from the model's generation_config.json ('auto') or none ('vllm').") var generationConfig: String = "auto"
    @Flag(help: "Serve /metrics without the API key (by default it needs one when --api-key is set).") var metricsPublic = false
    @Option(help: "Largest request body in bytes (larger: 413).") var maxRequestBodyBytes: Int = 32 << 20
    @Option(help: "Request body bytes read at once across all requests (past it: 429).") var maxRequestBytesInFlight: Int = 256 << 20
    @Option(help: "Prompts in one /v1/completions request.") var maxPromptsPerRequest: Int = 64
    @Option(help: "stop strings (and bad_words) in one request.") var maxStopSequences: Int = 64
    @Option(help: "Seconds a connection may send nothing while idle or mid-request before it is closed.") var httpIdleTimeout: Int = 30
    @Flag(help: "Do not serve the chat page at /.") var noWebui = false
    @Flag(help: "Let tool_choice \"auto\" parse tool calls out of the model's text (needs --tool-call-parser).") var enableAutoToolChoice = false
    @Option(help: "The model's tool-call format: \(ToolParsers.names.joined(separator: ", ")).") var toolCallParser: String?
    @Option(help: "Split thinking from the answer: \(ReasoningParsers.names.joined(separator: ", ")).") var reasoningParser: String?
    @Option(parsing: .upToNextOption, help: ArgumentHelp("LoRA adapters served as models: name=path or JSON {\"name\", \"path\", \"base_model_name\"} (needs --enable-lora).", valueName: "name=path"))
    var loraModules: [String] = []
    @Flag(help: "Serve POST /v1/load_lora_adapter and /v1/unload_lora_adapter (also VLLM_ALLOW_RUNTIME_LORA_UPDATING=True).")
    var allowRuntimeLoraUpdating = false
    @Option(help: "auto (an encoder such as BERT is served as an embedding model, anything else generates), generate, or pooling (embeddings).")
    var runner: String = "auto"
    @Option(help: "auto, none, or embed (serve a causal LM as an embedding model, as --runner pooling).") var convert: String = "auto"
    @Option(help: ArgumentHelp("Pooling of an embedding model, as vLLM's JSON: {\"pooling_type\": \"MEAN\" | \"CLS\" | \"LAST\", \"use_activation\": true}.", valueName: "json"))
    var poolerConfig: String?
    @Option(help: "Engine processes on this host behind one API port, each pinned to its share of the cores (NUMA node by node; FOLIO_CPU_THREADS_BIND=\"0-3|4-7\" sets the shares).")
    var dataParallelSize: Int = 1
    @Option(help: "Listen on this Unix domain socket instead of --host and --port.") var uds: String?
    @Option(help: "vllm: /metrics also exports every series under vLLM's vllm: names (Gateway API inference extension, vLLM dashboards).")
    var metricsCompat: String?
    @OptionGroup var engine: EngineOptions

    func run() async throws {
        try await Folio.runAsync {
            var logger = Logger(label: ProcessInfo.processInfo.environment["FOLIO_DP_RANK"].map { "folio.dp\($0)" } ?? "folio")
            logger.logLevel = .info
            if let m = metricsCompat, m != "vllm" {
                throw FolioError.invalidArgument(name: "--metrics-compat", message: "'\(m)' (the one choice is vllm)")
            }
            guard dataParallelSize >= 1 else {
                throw FolioError.invalidArgument(name: "--data-parallel-size", message: "must be at least 1, got \(dataParallelSize)")
            }
            for (flag, size) in [("--tensor-parallel-size", engine.tensorParallelSize), ("--pipeline-parallel-size", engine.pipelineParallelSize)]
                where size > 1 && dataParallelSize > 1 {
                throw FolioError.invalidArgument(name: flag, message: "does not combine with --data-parallel-size yet")
            }
            try bindCPUsFromEnvironment(logger)
            if dataParallelSize > 1 {
                try await serveDataParallel(logger)
                return
            }
            // vLLM's checks, before the model loads.
            if enableAutoToolChoice, toolCallParser == nil {
                throw FolioError.invalidArgument(name: "--enable-auto-tool-choice", message: "--enable-auto-tool-choice requires --tool-call-parser")
            }
            if let p = toolCallParser, ToolParsers.make(p) == nil {
                throw FolioError.invalidArgument(name: "--tool-call-parser", message: "unknown parser \(p); choose from \(ToolParsers.names.joined(separator: ", "))")
            }
            if let p = reasoningParser, ReasoningParsers.make(p) == nil {
                throw FolioError.invalidArgument(name: "--reasoning-parser", message: "unknown parser \(p); choose from \(ReasoningParsers.names.joined(separator: ", "))")
            }
            let modules = try loraModules.map(LoRAModule.parse)
            if !modules.isEmpty, !engine.enableLora {
                throw FolioError.invalidArgument(name: "--lora-modules", message: "--lora-modules requires --enable-lora")
            }
            let env = ProcessInfo.processInfo.environment["VLLM_ALLOW_RUNTIME_LORA_UPDATING"]?.lowercased()
            let runtimeLoRA = allowRuntimeLoraUpdating || env == "true" || env == "1"
            guard FileManager.default.fileExists(atPath: model) else {
                throw FolioError.io(path: model, message: "no such model (run scripts/fetch-models.sh, or pass --model)")
            }
            guard ["auto", "generate", "pooling"].contains(runner) else {
                throw FolioError.invalidArgument(name: "--runner", message: "'\(runner)' (auto, generate or pooling)")
            }
            guard ["auto", "none", "embed"].contains(convert) else {
                throw FolioError.invalidArgument(name: "--convert", message: "'\(convert)' (auto, none or embed)")
            }
            let encoder = EmbeddingModel.isEncoder(path: model)
            if encoder, runner == "generate" {
                throw FolioError.invalidArgument(name: "--runner", message: "\(model) is an encoder (an embedding model): it cannot generate; use --runner pooling")
            }
            if runner == "pooling" || convert == "embed" || (encoder && runner == "auto") {
                if runner == "generate" { throw FolioError.invalidArgument(name: "--convert", message: "--convert embed needs --runner pooling or auto") }
                try await servePooling(logger)
                return
            }
            if poolerConfig != nil { throw FolioError.invalidArgument(name: "--pooler-config", message: "applies to embedding models (--runner pooling)") }
            let t0 = Date()
            let lm = try CausalLM.load(path: model, options: try engine.forwardOptions())
            let tok = try Tokenizer.load(modelPath: model)
            let gen = generationConfig == "auto" ? try GenerationConfig.load(modelPath: model) : nil
            let config = try engine.config()
            let draft = try config.speculative?.loadDraft(options: try engine.forwardOptions())
            let core = try EngineCore(model: lm, tokenizer: tok, config: config, extraEOS: gen?.eosTokenIds ?? [], draftModel: draft)
            var chat = try ChatTemplate.load(modelPath: model)
            if let f = chatTemplate {
                guard let d = FileManager.default.contents(atPath: f) else { throw FolioError.io(path: f, message: "cannot read") }
                chat = try ChatTemplate(source: String(decoding: d, as: UTF8.self), bosToken: chat?.bosToken ?? "", eosToken: chat?.eosToken ?? "")
            }
            var defaults = SamplingParams()
            if let g = gen {
                if let t = g.temperature { defaults.temperature = t }
                if let p = g.topP { defaults.topP = p }
                if let k = g.topK { defaults.topK = k }
                if let m = g.minP { defaults.minP = m }
                if let r = g.repetitionPenalty { defaults.repetitionPenalty = r }
            }
            var cfg = try serverConfig()
            cfg.enableAutoToolChoice = enableAutoToolChoice
            cfg.toolCallParser = toolCallParser
            cfg.reasoningParser = reasoningParser
            cfg.loraModules = modules
            cfg.allowRuntimeLoRAUpdating = runtimeLoRA
            cfg.renderMetrics = bootstrapMetrics()
            let server = try OpenAIServer(core: core, config: cfg, chatTemplate: chat, defaults: defaults, logger: logger)
            if let l = config.lora {
                logger.info("LoRA: \(modules.count) adapter(s) loaded, up to \(l.maxLoras) per batch, rank <= \(l.maxLoraRank)\(runtimeLoRA ? "; runtime loading and unloading enabled" : "")")
            }
            logger.info("model \(model) (\(lm.config.architecture), \(lm.parameterCount) parameters) loaded in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
            if let note = lm.slowProjectionsNote { logger.warning("\(note)") }
            if !lm.config.unreadConfigKeys.isEmpty {
                logger.warning("config.json keys Folio does not read for \(lm.config.architecture): \(lm.config.unreadConfigKeys.joined(separator: ", ")) (docs/config-keys.md)")
            }
            logger.info("KV cache \(core.kvCacheDType.rawValue) \(core.kvCacheBytes >> 20) MiB: \(core.kvCapacityTokens) tokens, max model len \(core.maxModelLen)")
            let log = logger, name = cfg.servedModelName, host = cfg.host
            let ui = cfg.webUI
            let listening = listening, onSocket = uds != nil
            // Under mpirun: a rank that dies fails the requests in flight (500s) before this process exits 1; and
            // SIGUSR1, which mpirun forwards to every rank, drains (mpirun turns its own SIGTERM into SIGKILL a
            // second later, too soon to finish requests).
            lm.parallel?.onRankLost { message in
                let done = DispatchSemaphore(value: 0)
                Task { await server.engineFailed(message); done.signal() }
                done.wait()
            }
            try await server.run(drainOnSIGUSR1: lm.parallel != nil) { port in
                let page = ui && !onSocket ? "; chat page at http://\(host):\(port)/" : ""
                log.info("serving \(name) on \(listening(port))\(page)")
            }
        }
    }

    /// The settings every server shares (address, keys, limits, metrics label).
    func serverConfig() throws -> ServerConfig {
        var cfg = ServerConfig(servedModelName: servedModelName ?? model)
        cfg.host = host
        cfg.port = port
        cfg.unixSocket = uds
        cfg.metricsCompatVLLM = metricsCompat == "vllm"
        cfg.apiKeys = apiKey + (ProcessInfo.processInfo.environment["FOLIO_API_KEY"]?.split(separator: ",").map(String.init) ?? [])
        cfg.maxNumQueuedRequests = maxNumQueuedRequests
        cfg.metricsPublic = metricsPublic
        // Metrics are labelled with the served name; a default name that is a file path is cut to its file name.
        cfg.metricsModelName = servedModelName ?? URL(fileURLWithPath: model).lastPathComponent
        for (name, v) in [("max-request-body-bytes", maxRequestBodyBytes), ("max-request-bytes-in-flight", maxRequestBytesInFlight),
                          ("max-prompts-per-request", maxPromptsPerRequest), ("max-stop-sequences", maxStopSequences),
                          ("http-idle-timeout", httpIdleTimeout)] where v < 1 {
            throw FolioError.invalidArgument(name: "--" + name, message: "must be at least 1, got \(v)")
        }
        cfg.maxBodyBytes = maxRequestBodyBytes
        cfg.maxBodyBytesInFlight = max(maxRequestBytesInFlight, maxRequestBodyBytes)
        cfg.limits.maxPromptsPerRequest = maxPromptsPerRequest
        cfg.limits.maxStopSequences = maxStopSequences
        cfg.idleTimeoutSeconds = httpIdleTimeout
        cfg.webUI = !noWebui
        return cfg
    }

    /// Only `folio serve` bootstraps a metrics backend: Prometheus, rendered at /metrics.
    func bootstrapMetrics() -> @Sendable () -> String {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultValueHistogramBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160]
        MetricsSystem.bootstrap(factory)
        return { registry.emitToString() }
    }

    /// An embedding model behind /v1/embeddings (vLLM's pooling runner): no KV cache, no chat page.
    func servePooling(_ logger: Logger) async throws {
        for (flag, set) in [("--enable-lora", engine.enableLora), ("--speculative-config", engine.speculativeConfig != nil),
                            ("--tensor-parallel-size", engine.tensorParallelSize > 1), ("--pipeline-parallel-size", engine.pipelineParallelSize > 1),
                            ("--tool-call-parser", toolCallParser != nil), ("--reasoning-parser", reasoningParser != nil),
                            ("--lora-modules", !loraModules.isEmpty), ("--chat-template", chatTemplate != nil)] where set {
            throw FolioError.invalidArgument(name: flag, message: "does not apply to an embedding model (--runner pooling)")
        }
        let t0 = Date()
        let m = try EmbeddingModel.load(path: model, options: try engine.forwardOptions(), pooler: poolerConfig)
        let e = try EmbeddingEngine(model: m, tokenizer: try Tokenizer.load(modelPath: model), maxNumBatchedTokens: engine.maxNumBatchedTokens,
                                    maxNumSeqs: engine.maxNumSeqs, maxModelLen: engine.maxModelLen)
        var cfg = try serverConfig()
        cfg.webUI = false
        cfg.renderMetrics = bootstrapMetrics()
        let server = OpenAIServer(embedder: e, config: cfg, logger: logger)
        logger.info("embedding model \(model) (\(m.architecture), \(m.parameterCount) parameters) loaded in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s: \(m.pooling.kind.rawValue) pooling\(m.pooling.normalize ? ", normalized" : ""), \(m.hiddenSize) dimensions, max model len \(e.maxModelLen)")
        let log = logger, name = cfg.servedModelName, listening = listening
        try await server.run { port in log.info("serving \(name) on \(listening(port)) (embeddings)") }
    }
}
