import FolioWeights
import Foundation

/// The engine for concurrent callers (the server): each request streams its outputs.
///
/// Steps run on a dedicated serial queue, not on this actor: while a step computes (seconds for a long prefill on
/// a small CPU), the actor stays free, so new requests, aborts and `stats` are answered at once. Requests and aborts
/// that arrive during a step are applied between steps (as vLLM feeds its EngineCore through an input queue).
///
/// ```swift
/// let engine = AsyncEngine(core: core)
/// for try await out in try await engine.generate(id: "a", prompt: "Hello", params: .greedy) { print(out.outputs[0].deltaText) }
/// ```
public actor AsyncEngine {
    public let core: EngineCore
    var streams: [String: AsyncThrowingStream<RequestOutput, any Error>.Continuation] = [:]
    var loop: Task<Void, Never>?
    /// True while a step runs on `stepQueue` (the core is then not touched from here).
    var stepping = false
    var pendingAdds: [(String, PreparedRequest)] = []
    var pendingAborts: [String] = []
    let stepQueue = DispatchQueue(label: "folio.engine.step")
    /// The counters as of the last step, admission or abort.
    let snapshot = Locked(EngineStats())

    public init(core: EngineCore) {
        self.core = core
        snapshot.value = core.stats
    }

    /// The queue is full (`maxWaiting` requests already wait).
    public struct QueueFull: Error { public let waiting: Int }

    /// The request failed on its own during a step (the engine and the other requests went on).
    public struct RequestFailed: Error, CustomStringConvertible {
        public let message: String
        public var description: String { "the request failed: \(message)" }
    }

    /// The engine cannot go on (a model-parallel rank is gone): the requests in flight fail with it, and so does every
    /// later one.
    public struct EngineDead: Error, CustomStringConvertible {
        public let message: String
        public init(message: String) { self.message = message }
        public var description: String { "the engine failed: \(message)" }
    }
    var dead: EngineDead?

    /// Fails every request in flight or queued with `error`, now, even while a step that will never return holds the
    /// core; later admissions fail with it too.
    public func fail(_ error: EngineDead) {
        dead = error
        for (_, c) in streams { c.finish(throwing: error) }
        streams = [:]
        pendingAdds = []
    }

    /// Starts a request; the stream yields an output after each step that advanced it, and ends when it finishes.
    /// Tokenization and checks run on the caller's task (`EngineCore.prepare`), never on the engine's actor.
    /// With `maxWaiting`, admission is refused (atomically with respect to other callers) when that many sequences wait.
    public nonisolated func generate(id: String, prompt: PromptInput, params: SamplingParams, maxWaiting: Int? = nil,
                                     cacheSalt: String? = nil, lora: LoRARequest? = nil) async throws -> AsyncThrowingStream<RequestOutput, any Error> {
        let prep = try core.prepare(prompt: prompt, params: params, cacheSalt: cacheSalt, lora: lora)
        return try await admit(id: id, prep, maxWaiting: maxWaiting)
    }

    /// Adds a prepared request: at once between steps, or queued for the next one.
    public func admit(id: String, _ prep: PreparedRequest, maxWaiting: Int? = nil) throws -> AsyncThrowingStream<RequestOutput, any Error> {
        if let dead { throw dead }
        guard streams[id] == nil else { throw FolioError.invalidArgument(name: "request_id", message: "\(id) is already in use") }
        let waiting = snapshot.value.numWaiting + pendingAdds.reduce(0) { $0 + $1.1.params.n }
        if let m = maxWaiting, waiting >= m { throw QueueFull(waiting: waiting) }
        if stepping { pendingAdds.append((id, prep)) } else {
            try core.addRequest(id: id, prep)
            snapshot.value = core.stats
        }
        let (stream, cont) = AsyncThrowingStream<RequestOutput, any Error>.makeStream()
        streams[id] = cont
        cont.onTermination = { [weak self] reason in
            if case .cancelled = reason { Task { await self?.abort(id: id) } }
        }
        if loop == nil { loop = Task { await self.run() } }
        return stream
    }

    /// Aborts a request: its stream ends now; its blocks are freed now, or right after the step in flight.
    public func abort(id: String) {
        guard let cont = streams.removeValue(forKey: id) else { return }
        if let i = pendingAdds.firstIndex(where: { $0.0 == id }) {
            pendingAdds.remove(at: i)  // never reached the core
        } else if stepping {
            pendingAborts.append(id)
        } else if let out = core.abort(id: id) {
            cont.yield(out)
            snapshot.value = core.stats
        }
        cont.finish()
    }

    /// The engine's counters as of the last step, admission or abort (never waits for a step).
    public nonisolated var stats: EngineStats { snapshot.value }

    /// Applies what arrived during the last step.
    func applyPending() {
        for id in pendingAborts { core.abort(id: id) }
        pendingAborts = []
        for (id, prep) in pendingAdds {
            do { try core.addRequest(id: id, prep) } catch { streams.removeValue(forKey: id)?.finish(throwing: error) }
        }
        pendingAdds = []
        snapshot.value = core.stats
    }

    func run() async {
        while true {
            applyPending()
            guard core.hasUnfinishedRequests else { break }
            stepping = true
            let core = self.core
            let result: Result<[RequestOutput], any Error> = await withCheckedContinuation { c in
                stepQueue.async { c.resume(returning: Result { try core.step() }) }
            }
            stepping = false
            switch result {
            case .success(let outs):
                for o in outs {
                    if let e = o.error {
                        streams.removeValue(forKey: o.requestId)?.finish(throwing: RequestFailed(message: e))
                        continue
                    }
                    streams[o.requestId]?.yield(o)
                    if o.finished { streams.removeValue(forKey: o.requestId)?.finish() }
                }
            case .failure(let error):
                // step() fails requests one by one; this is only for an engine-wide fault.
                for (id, c) in streams { c.finish(throwing: error); core.abort(id: id) }
                streams = [:]
            }
            snapshot.value = core.stats
        }
        loop = nil
    }
}
