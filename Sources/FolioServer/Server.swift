import FolioEngine
import FolioGrammar
import FolioModels
import FolioOpenAI
import FolioTemplates
import FolioTokenizers
import FolioTools
import FolioWeights
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `folio serve` settings.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    /// `--uds`: listen on this Unix domain socket instead of host and port (as vLLM; data-parallel replicas do).
    public var unixSocket: String? = nil
    /// `--metrics-compat vllm`: /metrics also carries every series under vLLM's `vllm:` names (`MetricsCompat`).
    public var metricsCompatVLLM = false
    public var servedModelName: String
    public var apiKeys: [String] = []
    public var maxNumQueuedRequests: Int? = nil
    /// `/metrics` without the API key (`--metrics-public`); by default it follows the key like `/v1/*`.
    public var metricsPublic = false
    /// The `model_name` label of every metric (the served name; `folio serve` never puts a file path here).
    public var metricsModelName: String? = nil
    /// Largest request body (`--max-request-body-bytes`): larger ones get 413.
    public var maxBodyBytes = 32 << 20
    /// Request body bytes being read at once (`--max-request-bytes-in-flight`): past it, 429.
    public var maxBodyBytesInFlight = 256 << 20
    public var limits = RequestLimits()
    /// Seconds a connection may send nothing while idle or while its request is read (`--http-idle-timeout`).
    public var idleTimeoutSeconds = 30
    /// The chat page at `/` (`--no-webui` turns it off).
    public var webUI = true
    /// `--enable-auto-tool-choice`: `tool_choice: "auto"` parses calls out of the model's text.
    public var enableAutoToolChoice = false
    /// `--tool-call-parser`: the model family's call format (`ToolParsers.names`).
    public var toolCallParser: String? = nil
    /// `--reasoning-parser`: splits thinking from the answer (`ReasoningParsers.names`).
    public var reasoningParser: String? = nil
    /// `--lora-modules`: adapters offered as models from the start (they need the engine's LoRA enabled).
    public var loraModules: [LoRAModule] = []
    /// `--allow-runtime-lora-updating` (or vLLM's `VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`): the
    /// /v1/load_lora_adapter and /v1/unload_lora_adapter routes.
    public var allowRuntimeLoRAUpdating = false
    /// Renders the metrics text for /metrics (the Prometheus registry `folio serve` bootstrapped).
    public var renderMetrics: @Sendable () -> String = { "" }
    public init(servedModelName: String) { self.servedModelName = servedModelName }

    /// Where the server listens: `unixSocket`, else `host`:`port`.
    var bindAddress: BindAddress { unixSocket.map { .unixDomainSocket(path: $0) } ?? .hostname(host, port: port) }
}

/// The OpenAI-compatible HTTP server over an `AsyncEngine` (generation), or over an `EmbeddingEngine` (an embedding
/// model: `/v1/embeddings`; the generation routes answer 501 as vLLM's pooling runner does).
public final class OpenAIServer: Sendable {
    let engine: AsyncEngine?
    let core: EngineCore?
    let embedder: EmbeddingEngine?
    let tokenizer: Tokenizer
    let maxModelLen: Int
    let vocabSize: Int
    let config: ServerConfig
    let chat: ChatTemplate?
    let defaults: SamplingParams
    let logger: Logger
    /// Numbers the requests (response ids).
    let counter = Locked(0)
    let metrics: ServerMetrics
    let budget: BodyBudget
    /// Set once a graceful shutdown has begun: new requests then get 503 and /health reports it.
    let draining = Locked(false)
    /// Set when the engine cannot go on (a model-parallel rank is gone): /health and new requests get 503.
    let failure = Locked<AsyncEngine.EngineDead?>(nil)
    /// The LoRA adapters offered as models.
    let loraModules = LoRAModules()

    /// Loads `config.loraModules` (a bad adapter fails here, before the server starts).
    public init(core: EngineCore, config: ServerConfig, chatTemplate: ChatTemplate?, defaults: SamplingParams, logger: Logger) throws {
        self.core = core
        engine = AsyncEngine(core: core)
        embedder = nil
        tokenizer = core.tokenizer
        maxModelLen = core.maxModelLen
        vocabSize = core.model.config.vocabSize
        self.config = config
        chat = chatTemplate
        self.defaults = defaults
        self.logger = logger
        metrics = ServerMetrics(model: config.metricsModelName ?? config.servedModelName)
        budget = BodyBudget(limit: config.maxBodyBytesInFlight)
        for m in config.loraModules {
            do { _ = try loadAdapter(m) } catch let e as APIError { throw FolioError.invalidArgument(name: "--lora-modules", message: e.message) }
        }
    }

    /// Serves an embedding model (vLLM's `--runner pooling`).
    public init(embedder: EmbeddingEngine, config: ServerConfig, logger: Logger) {
        core = nil
        engine = nil
        self.embedder = embedder
        tokenizer = embedder.tokenizer
        maxModelLen = embedder.maxModelLen
        vocabSize = embedder.model.vocabSize
        self.config = config
        chat = nil
        defaults = SamplingParams()
        self.logger = logger
        metrics = ServerMetrics(model: config.metricsModelName ?? config.servedModelName)
        budget = BodyBudget(limit: config.maxBodyBytesInFlight)
    }

    /// The engine's counters now (a generation or an embedding engine).
    var stats: EngineStats { engine?.stats ?? embedder?.stats ?? EngineStats() }

    /// From now on, new requests get 503 (graceful shutdown has begun; requests in flight finish).
    public func beginDraining() { draining.value = true }

    /// The engine cannot go on: each request in flight ends with a 500 (an error event on a stream), and /health and
    /// new requests get 503, until the process exits.
    public func engineFailed(_ message: String) async {
        let dead = AsyncEngine.EngineDead(message: message)
        failure.value = dead
        await engine?.fail(dead)
    }

    /// Builds the application (bind to port 0 for tests; `onRunning` gets the bound port).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: OpenAIErrorMiddleware())
        router.get("/health") { _, _ in
            if let f = self.failure.value { return Self.error(APIError(status: 503, message: "\(f)")) }
            return self.draining.value ? Self.error(APIError(status: 503, message: "the server is shutting down")) : Response(status: .ok)
        }
        if config.webUI { WebUI.add(to: router) }
        router.get("/version") { _, _ in Self.json(.object([("version", .string(folioVersion))])) }
        router.get("/metrics") { req, _ in
            if !self.config.metricsPublic { try self.authorize(req) }
            self.metrics.update(self.stats)
            let text = self.config.renderMetrics()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: self.config.metricsCompatVLLM ? MetricsCompat.withVLLMNames(text) : text)))
        }
        // What vllm-router's power_of_two policy polls (and its cache_aware policy's load balance): requests running
        // and waiting. Unauthenticated like /health: a router health-checks without the API key.
        router.get("/get_load") { _, _ in
            let s = self.stats
            return Self.json(.object([("load", .int(s.numRunning + s.numWaiting))]))
        }
        router.get("/v1/models") { req, _ in
            try await self.handle(req) {
            let created = Int(Date().timeIntervalSince1970)
            return Self.json(.object([("object", .string("list")), ("data", .array([.object([
                ("id", .string(self.config.servedModelName)), ("object", .string("model")), ("created", .int(created)),
                ("owned_by", .string("folio")), ("root", .string(self.config.servedModelName)), ("parent", .null),
                ("max_model_len", .int(self.maxModelLen)),
            ])] + self.adapterCards(created: created)))]))
            }
        }
        router.post("/v1/completions") { req, ctx in try await self.handle(req) { try await self.generation(req, .completions) } }
        router.post("/v1/chat/completions") { req, ctx in try await self.handle(req) { try await self.generation(req, .chat) } }
        router.post("/v1/embeddings") { req, ctx in try await self.handle(req) { try await self.embeddings(req) } }
        router.post("/tokenize") { req, ctx in try await self.handle(req) { try await self.withBody(req) { try self.tokenize($1) } } }
        router.post("/detokenize") { req, ctx in try await self.handle(req) { try await self.withBody(req) { try self.detokenize($1) } } }
        if config.allowRuntimeLoRAUpdating { addLoRARoutes(router) }
        // A connection that sends nothing for `idleTimeout` while idle or mid-request (a stalled upload) is closed,
        // freeing its slot and its body reservation; requests being answered are never timed out.
        return Application(router: router, server: .http1(configuration: .init(idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))),
                           configuration: .init(address: config.bindAddress, serverName: "folio"),
                           onServerRunning: { ch in await onRunning(ch.localAddress?.port ?? 0) }, logger: logger)
    }

    /// Serves until SIGTERM/SIGINT (and SIGUSR1 with `drainOnSIGUSR1`); on the signal, new requests get 503 while the
    /// server shuts down gracefully.
    public func run(drainOnSIGUSR1: Bool = false, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let group = ServiceGroup(configuration: .init(services: [application(onRunning: onRunning), DrainService(server: self)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint] + (drainOnSIGUSR1 ? [.sigusr1] : []), logger: logger))
        try await group.run()
    }

    /// Waits for the graceful-shutdown signal and marks the server as draining (services stop in reverse order, so
    /// this one, listed after the HTTP server, sees the signal first).
    struct DrainService: Service {
        let server: OpenAIServer
        func run() async throws {
            try? await gracefulShutdown()
            server.beginDraining()
        }
    }

    static func json(_ v: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: v.jsonString)))
    }

    static func error(_ e: APIError) -> Response {
        var r = json(e.body, status: HTTPResponse.Status(code: e.status))
        if e.status == 429 { r.headers[.retryAfter] = "1" }
        return r
    }

    func authorize(_ req: Request) throws {
        guard !config.apiKeys.isEmpty else { return }
        let auth = req.headers[.authorization] ?? ""
        let given = auth.hasPrefix("Bearer ") ? String(auth.dropFirst(7)) : ""
        // Every key is compared in full (constant time), so timing tells nothing about which bytes matched.
        var ok = false
        for k in config.apiKeys where constantTimeEquals(given, k) { ok = true }
        guard ok else { throw APIError(status: 401, message: "Unauthorized: a valid API key is required") }
    }

    /// Runs an API route after the key and drain checks; what it throws becomes an OpenAI error object in
    /// `OpenAIErrorMiddleware`, as for every other route.
    func handle(_ req: Request, _ body: () async throws -> Response) async throws -> Response {
        try authorize(req)
        if draining.value { throw APIError(status: 503, message: "the server is shutting down; retry on another replica") }
        if let f = failure.value { throw APIError(status: 503, message: "\(f); retry on another replica") }
        return try await body()
    }

    /// Reads the body as JSON within the size limits (413 past `maxBodyBytes`, 429 when the in-flight budget is
    /// spent), then runs `work` with the request (its body consumed) and the parsed JSON.
    func withBody<T>(_ req: Request, _ work: (Request, JSONValue) async throws -> T) async throws -> T {
        let declared = req.headers[.contentLength].flatMap { Int($0) }
        if let d = declared, d > config.maxBodyBytes {
            throw APIError(status: 413, message: "the request body has \(d) bytes; at most \(config.maxBodyBytes) are allowed", type: "RequestEntityTooLarge")
        }
        let reserve = declared ?? config.maxBodyBytes
        guard budget.reserve(reserve) else {
            throw APIError(status: 429, message: "too many request bytes in flight; retry later")
        }
        var r = req
        let json: JSONValue
        do {
            defer { budget.release(reserve) }
            let buf = try await r.collectBody(upTo: config.maxBodyBytes)
            do { json = try JSONValue.parse(Data(buf.readableBytesView)) } catch {
                throw APIError.invalid("the request body is not valid JSON")
            }
        }
        return try await work(r, json)
    }

    func checkModel(_ name: String?) throws { _ = try resolveModel(name) }

    func render(_ messages: JSONValue, _ tools: JSONValue?, _ addGen: Bool, _ cont: Bool, _ kwargs: [(String, JSONValue)]) throws -> String {
        guard let chat else { throw APIError.invalid("this model has no chat template; use /v1/completions or pass one with --chat-template") }
        do {
            var text = try chat.render(messages: messages, tools: tools, addGenerationPrompt: addGen, extra: kwargs)
            if cont, let last = messages.arrayValue?.last?["content"]?.stringValue, let r = text.range(of: last, options: .backwards) {
                text = String(text[..<r.upperBound])  // continue_final_message: the prompt ends with the last message's text
            }
            return text
        } catch let e as TemplateError {
            throw APIError.invalid(e.description)
        }
    }

    func generation(_ req: Request, _ endpoint: Endpoint) async throws -> Response {
        guard let engine, let core else {
            throw APIError(status: 501, message: "The model does not support \(endpoint == .chat ? "Chat Completions" : "Completions") API", type: "NotImplementedError")
        }
        return try await withBody(req) { req, body in
            let unknown = GenerationRequest.unknownFields(body)
            if !unknown.isEmpty { logger.info("ignoring unknown request fields: \(unknown.joined(separator: ", "))") }
            var g = try GenerationRequest.parse(body, endpoint: endpoint, defaults: defaults, limits: config.limits, render: render)
            let lora = try resolveModel(g.model)
            if endpoint == .chat {
                // The template already holds BOS and special tokens.
                g.prompts = g.prompts.map { p in
                    if case .text(let t) = p { return .tokenized(text: t, ids: core.tokenizer.encode(t, addSpecialTokens: false)) }
                    return p
                }
            }
            // Streams carry deltas (O(new tokens) per step); a whole response needs only each request's final output.
            g.params.outputKind = g.stream ? .delta : .finalOnly
            var builder = ResponseBuilder(endpoint: endpoint, model: lora?.name ?? config.servedModelName, logprobs: g.logprobs)
            if endpoint == .chat { try configureParsing(&g, &builder) }
            let base = "\(builder.id)-\(counter.withLock { $0 += 1; return $0 })"
            let ids = g.prompts.indices.map { "\(base)-\($0)" }
            var streams: [AsyncThrowingStream<RequestOutput, any Error>] = []
            for (i, p) in g.prompts.enumerated() {
                do {
                    streams.append(try await engine.generate(id: ids[i], prompt: p, params: g.params, maxWaiting: config.maxNumQueuedRequests,
                                                             cacheSalt: g.cacheSalt, lora: lora))
                } catch {
                    for id in ids[..<i] { await engine.abort(id: id) }
                    if error is AsyncEngine.QueueFull {
                        throw APIError(status: 429, message: "too many queued requests (\(config.maxNumQueuedRequests ?? 0)); retry later")
                    }
                    throw APIError.from(error)
                }
            }
            if g.stream { return streamResponse(req, g, builder, streams, ids: ids, engine: engine) }
            // A client that closes its connection cancels this wait: its requests are aborted, not run to the end.
            let outs: [RequestOutput]
            do {
                outs = try await req.body.consumeWithCancellationOnInboundClose { _ in
                    var finals: [RequestOutput] = []
                    for s in streams { for try await o in s where o.finished { finals.append(o) } }
                    try Task.checkCancellation()
                    return finals
                }
            } catch {
                for id in ids { await engine.abort(id: id) }
                throw error
            }
            guard outs.count == streams.count else {
                for id in ids { await engine.abort(id: id) }
                throw CancellationError()
            }
            for o in outs { metrics.finished(o) }
            var r = Self.json(builder.response(outs, echoTexts: g.echo ? g.promptTexts : g.promptTexts.map { _ in nil }))
            // Watching the connection for a disconnect consumes it: Hummingbird closes it after this response. Saying
            // so keeps clients from sending their next request on a connection that is closing (they saw "Server
            // disconnected without sending a response" on ~2% of kept-alive requests).
            r.headers[.connection] = "close"
            return r
        }
    }

    /// Tool calling and reasoning for a chat request, as vLLM decides them: which parser reads the output, the
    /// 400s for choices the server was not started for, and where structured outputs begin.
    func configureParsing(_ g: inout GenerationRequest, _ b: inout ResponseBuilder) throws {
        var tools: (any ToolCallParser)? = nil
        switch g.tools.choice {
        case .none: break
        case .auto:
            guard config.enableAutoToolChoice, let name = config.toolCallParser else {
                throw APIError.invalid("\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set")
            }
            tools = ToolParsers.make(name, tools: g.tools.schemas)
            // Strict tools: calls in the parser's format are held to their schemas (hermes format; the request's
            // own structured outputs, if any, win).
            if ["hermes", "qwen3_json"].contains(name), g.params.structuredOutputs == nil, let tags = g.tools.hermesStrictTags {
                g.params.structuredOutputs = .triggeredTags(tags)
            }
        case .required, .named:
            guard config.toolCallParser != nil else {
                let what: String
                if case .named(let n) = g.tools.choice { what = "function \"\(n)\"" } else { what = "\"required\"" }
                throw APIError.invalid("tool_choice=\(what) requires --tool-call-parser to be set")
            }
            if case .named(let n) = g.tools.choice { tools = NamedToolCall(name: n) } else { tools = RequiredToolCalls() }
        }
        // Tool tags are special tokens in some vocabularies: keep them in the text the parser reads (vLLM's
        // adjust_request: hermes when tools may be called, its engine-based parsers always).
        if let name = config.toolCallParser {
            if ["qwen3_xml", "qwen3_coder", "mistral", "granite"].contains(name)
                || (["hermes", "qwen3_json"].contains(name) && g.tools.tools != nil && g.tools.choice != .none) {
                g.params.skipSpecialTokens = false
            }
        }
        var reasoning: (any ReasoningParser)? = nil
        if let name = config.reasoningParser {
            let thinking = g.templateKwargs.first(where: { $0.0 == "enable_thinking" })?.1.boolValue ?? true
            reasoning = ReasoningParsers.make(name, enableThinking: thinking)
            // Structured outputs hold the answer, not the thinking before it.
            if g.params.structuredOutputs != nil, let tag = reasoning?.endTag { g.params.structuredOutputsAfter = tag }
        }
        if tools != nil || reasoning != nil { b.chatParser = ChatOutputParser(reasoning: reasoning, tools: tools) }
        b.toolChoice = g.tools.choice
    }

    /// The SSE response. A client that closes its connection aborts its requests at once, even those still waiting
    /// for their first token (nothing would be written to notice it otherwise).
    func streamResponse(_ req: Request, _ g: GenerationRequest, _ b: ResponseBuilder, _ streams: [AsyncThrowingStream<RequestOutput, any Error>],
                        ids: [String], engine: AsyncEngine) -> Response {
        let metrics = self.metrics
        let n = g.params.n
        let body = ResponseBody { writer in
            var promptTokens = 0, completion = 0
            var sentRole = Set<Int>()
            var offsets: [Int: Int] = [:]
            // Chat with a tool or reasoning parser: each choice's text so far, and its parser's stream state.
            var texts: [Int: String] = [:]
            var parsers: [Int: ChatOutputParser] = [:]
            var toolsStreamed = Set<Int>()
            func send(_ s: String) async throws { try await writer.write(ByteBuffer(string: s)) }
            do {
                try await req.body.consumeWithInboundCloseHandler { _ in
                    for (pi, stream) in streams.enumerated() {
                        var echoed = false
                        for try await o in stream {
                            if !echoed { promptTokens += o.promptTokenIds.count; echoed = true }
                            for c in o.outputs {
                                let idx = pi * n + c.index
                                if b.endpoint == .chat, !sentRole.contains(idx) {
                                    sentRole.insert(idx)
                                    try await send(ResponseBuilder.sse(b.chunk(index: idx, delta: "", role: true)))
                                }
                                var delta = c.deltaText
                                if b.endpoint == .completions, g.echo, offsets[idx] == nil, let t = g.promptTexts[pi] { delta = t + delta }
                                let lps = c.logprobs  // this step's positions (delta outputs)
                                let finished = c.finishReason != nil
                                if let template = b.chatParser {
                                    var p = parsers[idx] ?? template
                                    texts[idx, default: ""] += delta
                                    let d = finished ? p.finish(texts[idx]!) : p.update(texts[idx]!)
                                    parsers[idx] = p
                                    if !d.toolCalls.isEmpty { toolsStreamed.insert(idx) }
                                    if d.isEmpty && !finished && (lps?.isEmpty ?? true) { continue }
                                    var reason = c.finishReason?.rawValue ?? "stop"
                                    // OpenAI's rule: "tool_calls" when calls were streamed (not for a named tool).
                                    if toolsStreamed.contains(idx), reason == "stop", b.toolChoice == .auto || b.toolChoice == .required { reason = "tool_calls" }
                                    let usage: JSONValue? = g.continuousUsage ? ResponseBuilder.usage(prompt: o.promptTokenIds.count, completion: c.numTokens) : nil
                                    try await send(ResponseBuilder.sse(b.chunk(index: idx, message: d, logprobs: lps, finish: finished ? c : nil,
                                                                               finishReason: reason, usage: usage)))
                                    if finished { completion += c.numTokens }
                                    continue
                                }
                                if delta.isEmpty && !finished && (lps?.isEmpty ?? true) { continue }
                                let usage: JSONValue? = g.continuousUsage ? ResponseBuilder.usage(prompt: o.promptTokenIds.count, completion: c.numTokens) : nil
                                try await send(ResponseBuilder.sse(b.chunk(index: idx, delta: delta, logprobs: lps, textOffset: offsets[idx] ?? 0,
                                                                           finish: finished ? c : nil, usage: usage)))
                                offsets[idx, default: 0] += delta.count
                                if finished { completion += c.numTokens }
                            }
                            if o.finished { metrics.finished(o) }
                        }
                    }
                } onInboundClosed: {
                    Task { for id in ids { await engine.abort(id: id) } }
                }
                if g.includeUsage { try await send(ResponseBuilder.sse(b.usageChunk(prompt: promptTokens, completion: completion))) }
                try await send(ResponseBuilder.done)
            } catch {
                // A client that went away, or a request that failed: abort what is left (its blocks are freed now).
                for id in ids { await engine.abort(id: id) }
                let e = APIError.from(error)
                try? await send(ResponseBuilder.sse(e.body))
                try? await send(ResponseBuilder.done)
            }
            try await writer.finish(nil)
        }
        // As for whole responses: the connection is closed after the stream, and the client is told so.
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "close"], body: body)
    }

    func tokenize(_ body: JSONValue) throws -> Response {
        try checkModel(body["model"]?.stringValue)
        let f = body["add_special_tokens"]?.boolValue
        var ids: [Int32]
        if let msgs = body["messages"], !msgs.isNull {
            guard msgs.arrayValue != nil else { throw APIError.invalid("messages must be a list of messages", param: "messages") }
            let text = try render(GenerationRequest.templateMessages(msgs), body["tools"], body["add_generation_prompt"]?.boolValue ?? true, false, [])
            ids = tokenizer.encode(text, addSpecialTokens: f ?? false)
        } else if let p = body["prompt"]?.stringValue {
            ids = tokenizer.encode(p, addSpecialTokens: f ?? true)
        } else { throw APIError.invalid("prompt (a string) or messages is required", param: "prompt") }
        let strs: JSONValue = body["return_token_strs"]?.boolValue == true ? .array(ids.map { .string(tokenizer.token($0) ?? "") }) : .null
        return Self.json(.object([("count", .int(ids.count)), ("max_model_len", .int(maxModelLen)),
                                  ("tokens", .array(ids.map { .int(Int($0)) })), ("token_strs", strs)]))
    }

    func detokenize(_ body: JSONValue) throws -> Response {
        try checkModel(body["model"]?.stringValue)
        guard let arr = body["tokens"]?.arrayValue, let ids = Optional(arr.compactMap { $0.intValue }), ids.count == arr.count else {
            throw APIError.invalid("tokens must be a list of token ids", param: "tokens")
        }
        for t in ids where t < 0 || t >= vocabSize {
            throw APIError.invalid("token id \(t) is outside the vocabulary (\(vocabSize))", param: "tokens")
        }
        return Self.json(.object([("prompt", .string(tokenizer.decode(ids.map { Int32($0) })))]))
    }
}

public let folioVersion = "0.1.0"
