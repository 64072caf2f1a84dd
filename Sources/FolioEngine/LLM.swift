import FolioModels
import FolioTemplates
import FolioTokenizers
import FolioWeights
import Foundation

/// The offline API, shaped like vLLM's `LLM`: load once, generate for many prompts at a time.
///
/// ```swift
/// let llm = try await LLM(model: "models/smollm2-135m-instruct-q4_1.gguf")
/// let outs = try await llm.generate(["Hello, my name is", "The capital of France is"], SamplingParams(temperature: 0.8, topP: 0.95))
/// print(outs[0].outputs[0].text)
/// ```
public final class LLM: @unchecked Sendable {
    public let engine: EngineCore
    public let chatTemplate: ChatTemplate?
    public let generationConfig: GenerationConfig?
    var counter = 0

    public init(model path: String, config: EngineConfig = EngineConfig(), options: ForwardOptions = ForwardOptions()) async throws {
        let model = try CausalLM.load(path: path, options: options)
        let tok = try Tokenizer.load(modelPath: path)
        generationConfig = try? GenerationConfig.load(modelPath: path)
        engine = try EngineCore(model: model, tokenizer: tok, config: config, extraEOS: generationConfig?.eosTokenIds ?? [])
        chatTemplate = try ChatTemplate.load(modelPath: path)
    }

    public var tokenizer: Tokenizer { engine.tokenizer }

    /// Generates for every prompt (all scheduled together with continuous batching); outputs in prompt order.
    /// `progress` sees (finished, total) after each step.
    public func generate(_ prompts: [PromptInput], _ params: SamplingParams = SamplingParams(),
                         progress: ((Int, Int) -> Void)? = nil) async throws -> [RequestOutput] {
        try generate(prompts, params: Array(repeating: params, count: prompts.count), progress: progress)
    }

    public func generate(_ prompts: [PromptInput], params: [SamplingParams], progress: ((Int, Int) -> Void)? = nil) throws -> [RequestOutput] {
        guard prompts.count == params.count else { throw FolioError.invalidArgument(name: "params", message: "one per prompt") }
        var ids: [String] = []
        for (p, var sp) in zip(prompts, params) {
            counter += 1
            let id = "offline-\(counter)"
            sp.outputKind = .finalOnly  // only the final outputs are kept (vLLM's LLM does the same)
            do { try engine.addRequest(id: id, prompt: p, params: sp) } catch {
                for added in ids { engine.abort(id: added) }
                throw error
            }
            ids.append(id)
        }
        var finals: [String: RequestOutput] = [:]
        while finals.count < ids.count {
            for o in try engine.step() where o.finished {
                if let e = o.error {
                    for id in ids { engine.abort(id: id) }
                    throw AsyncEngine.RequestFailed(message: e)
                }
                finals[o.requestId] = o
            }
            progress?(finals.count, ids.count)
        }
        return ids.map { finals[$0]! }
    }

    /// Renders each conversation with the model's chat template (generation prompt added), then generates.
    public func chat(_ conversations: [JSONValue], _ params: SamplingParams = SamplingParams()) async throws -> [RequestOutput] {
        guard let t = chatTemplate else { throw FolioError.missing(path: "model", what: "chat template") }
        let prompts = try conversations.map { PromptInput.tokens(engine.tokenizer.encode(try t.render(messages: $0), addSpecialTokens: false)) }
        return try await generate(prompts, params)
    }
}

/// The engine for concurrent callers (the server): each request streams its outputs; `abort` frees a request's
/// blocks at the next step. Steps run on this actor while any request is unfinished.
public actor AsyncEngine {
    public let core: EngineCore
    var streams: [String: AsyncThrowingStream<RequestOutput, any Error>.Continuation] = [:]
    var loop: Task<Void, Never>?

    public init(core: EngineCore) { self.core = core }

    /// The queue is full (`maxWaiting` requests already wait).
    public struct QueueFull: Error { public let waiting: Int }

    /// The request failed on its own during a step (the engine and the other requests went on).
    public struct RequestFailed: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "the request failed: \(message)" }
    }

    /// Starts a request; the stream yields an output after each step that advanced it, and ends when it finishes.
    /// Tokenization and checks run on the caller's task (`EngineCore.prepare`), never on the engine's actor.
    /// With `maxWaiting`, admission is refused (atomically with respect to other callers) when that many sequences wait.
    public nonisolated func generate(id: String, prompt: PromptInput, params: SamplingParams, maxWaiting: Int? = nil,
                                     cacheSalt: String? = nil) async throws -> AsyncThrowingStream<RequestOutput, any Error> {
        let prep = try core.prepare(prompt: prompt, params: params, cacheSalt: cacheSalt)
        return try await admit(id: id, prep, maxWaiting: maxWaiting)
    }

    /// Adds a prepared request to the engine (O(samples) on the actor).
    public func admit(id: String, _ prep: PreparedRequest, maxWaiting: Int? = nil) throws -> AsyncThrowingStream<RequestOutput, any Error> {
        if let m = maxWaiting, core.stats.numWaiting >= m { throw QueueFull(waiting: core.stats.numWaiting) }
        try core.addRequest(id: id, prep)
        let (stream, cont) = AsyncThrowingStream<RequestOutput, any Error>.makeStream()
        streams[id] = cont
        cont.onTermination = { [weak self] reason in
            if case .cancelled = reason { Task { await self?.abort(id: id) } }
        }
        if loop == nil { loop = Task { await self.run() } }
        return stream
    }

    public func abort(id: String) {
        if let out = core.abort(id: id) { streams[id]?.yield(out) }
        streams.removeValue(forKey: id)?.finish()
    }

    public var stats: EngineStats { core.stats }

    func run() async {
        while core.hasUnfinishedRequests {
            do {
                for o in try core.step() {
                    if let e = o.error {
                        streams.removeValue(forKey: o.requestId)?.finish(throwing: RequestFailed(message: e))
                        continue
                    }
                    streams[o.requestId]?.yield(o)
                    if o.finished { streams.removeValue(forKey: o.requestId)?.finish() }
                }
            } catch {
                // step() fails requests one by one; this is only for an engine-wide fault.
                for (id, c) in streams { c.finish(throwing: error); core.abort(id: id) }
                streams = [:]
            }
            await Task.yield()
        }
        loop = nil
    }
}
