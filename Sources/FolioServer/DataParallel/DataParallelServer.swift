import FolioEngine
import FolioOpenAI
import FolioWeights
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import UnixSignals

/// `folio serve --data-parallel-size N`: N engine processes (each a `folio serve` pinned to its share of the cores,
/// on its own Unix socket) behind one API port, as vLLM's data parallelism puts engine cores behind one API server.
/// Each request goes to the replica with the fewest requests in flight (ties in turn); /metrics is every replica's,
/// labelled `engine="i"`; /get_load sums theirs; LoRA loading and unloading go to all. A replica that dies is
/// restarted (its requests in flight fail; the others' go on). SIGTERM: stop admitting, let every replica finish its
/// requests, exit 0.
public final class DataParallelServer: Sendable {
    let replicas: [Replica]
    let config: ServerConfig
    let logger: Logger
    let draining = Locked(false)
    let turn = Locked(0)

    public init(launches: [ReplicaLaunch], config: ServerConfig, logger: Logger) {
        replicas = launches.enumerated().map { Replica(index: $0, launch: $1) }
        self.config = config
        self.logger = logger
    }

    /// Starts the replicas, serves once all are ready, and returns after a graceful shutdown. The signal handling is
    /// on from the start: SIGTERM while the replicas load stops them and returns.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        defer { for r in replicas { try? FileManager.default.removeItem(atPath: r.launch.socketPath) } }
        let app = Application(responder: CallbackResponder<BasicRequestContext> { req, _ in await self.respond(req) },
                              server: .http1(configuration: .init(idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))),
                              configuration: .init(address: config.bindAddress, serverName: "folio"),
                              onServerRunning: { ch in await onRunning(ch.localAddress?.port ?? 0) }, logger: logger)
        let front = Front(server: self, app: app)
        let group = ServiceGroup(configuration: .init(services: [front, Drain(server: self)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do { try await group.run() } catch {
            for r in replicas { r.terminate() }
            await waitForExit(seconds: 30)
            throw error
        }
        // The API server has finished its requests; the replicas got SIGTERM when draining began.
        for r in replicas { r.terminate() }
        await waitForExit(seconds: 60)
        for s in supervisors.value { s.cancel() }
    }

    let supervisors = Locked<[Task<Void, Never>]>([])

    /// Starts every replica and waits until each answers (failing if one exits first, returning early on SIGTERM),
    /// then serves the API until the graceful shutdown.
    struct Front<App: Service>: Service {
        let server: DataParallelServer
        let app: App
        func run() async throws {
            guard let exits = try await server.startReplicas() else { return }
            server.logger.info("\(server.replicas.count) replicas ready")
            server.supervisors.value = zip(server.replicas, exits).map { r, e in Task { await server.supervise(r, firstExit: e) } }
            try await app.run()
        }
    }

    /// Each replica's exit stream once all are ready; nil if shutdown began first.
    func startReplicas() async throws -> [AsyncStream<Int32>]? {
        var exits: [AsyncStream<Int32>] = []
        for r in replicas { exits.append(try r.start()) }
        let ready = try await withThrowingTaskGroup(of: Bool.self) { group in
            for r in replicas {
                group.addTask {
                    guard await r.waitReady(unless: { self.draining.value }) else {
                        if self.draining.value { return false }
                        throw FolioError.invalidArgument(name: "--data-parallel-size", message: "replica \(r.index) exited before it was ready (its log is above)")
                    }
                    r.state.withLock { $0.up = true }
                    return true
                }
            }
            var all = true
            for try await ok in group { all = all && ok }
            return all
        }
        return ready && !draining.value ? exits : nil
    }

    /// On the graceful-shutdown signal: refuse new requests and tell every replica to drain.
    struct Drain: Service {
        let server: DataParallelServer
        func run() async throws {
            try? await gracefulShutdown()
            server.draining.value = true
            for r in server.replicas { r.terminate() }
        }
    }

    /// Waits for the replica to exit, then restarts it unless the server is shutting down.
    func supervise(_ r: Replica, firstExit: AsyncStream<Int32>) async {
        var exits = firstExit
        var delay: UInt64 = 1  // seconds before a restart; doubles while restarts fail, up to a minute
        while true {
            var status: Int32 = -1
            for await s in exits { status = s }
            r.state.withLock { $0.up = false }
            if draining.value || Task.isCancelled { return }
            logger.error("replica \(r.index) exited with status \(status); restarting it in \(delay) s")
            try? await Task.sleep(nanoseconds: delay * 1_000_000_000)
            if draining.value || Task.isCancelled { return }
            guard let e = try? r.start() else { logger.error("replica \(r.index) could not be restarted"); return }
            exits = e
            if await r.waitReady(unless: { self.draining.value }) {
                r.state.withLock { $0.up = true }
                logger.info("replica \(r.index) is back")
                delay = 1
            } else {
                delay = min(delay * 2, 60)
            }
        }
    }

    func waitForExit(seconds: Double) async {
        let deadline = Date().addingTimeInterval(seconds)
        while replicas.contains(where: { $0.state.value.process?.isRunning == true }) {
            if Date() > deadline { for r in replicas { r.kill9() }; return }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// The replica with the fewest requests in flight (ties: the next in turn); nil if none is up.
    func pick() -> Replica? {
        let start = turn.withLock { t -> Int in defer { t += 1 }; return t }
        var best: Replica? = nil
        var bestLoad = Int.max
        for k in 0..<replicas.count {
            let r = replicas[(start + k) % replicas.count]
            let s = r.state.value
            if s.up, s.inFlight < bestLoad { best = r; bestLoad = s.inFlight }
        }
        return best
    }

    func respond(_ req: Request) async -> Response {
        do {
            if draining.value { throw APIError(status: 503, message: "the server is shutting down; retry on another replica") }
            let up = replicas.filter(\.isUp)
            switch (req.method, req.uri.path) {
            case (.get, "/health"):
                return up.isEmpty ? OpenAIServer.error(APIError(status: 503, message: "no replica is ready")) : Response(status: .ok)
            case (.get, "/metrics"):
                return try await metrics(req, up)
            case (.get, "/get_load"):
                var load = 0
                for r in up {
                    if let a = try? await r.client.get("/get_load"), let v = try? JSONValue.parse(Data(a.body.utf8))["load"]?.intValue { load += v }
                }
                return OpenAIServer.json(.object([("load", .int(load))]))
            case (.post, "/v1/load_lora_adapter"), (.post, "/v1/unload_lora_adapter"):
                return try await broadcast(req, up)
            default:
                guard let r = pick() else { throw APIError(status: 503, message: "no replica is ready") }
                return try await forward(req, to: r)
            }
        } catch let e as APIError {
            return OpenAIServer.error(e)
        } catch {
            return OpenAIServer.error(APIError(status: 503, message: "\(error)"))
        }
    }

    static func headers(_ req: Request) -> HTTPHeaders {
        var h = HTTPHeaders()
        for f in req.headers { h.add(name: f.name.rawName, value: f.value) }
        return h
    }

    /// The replica's answer as this server's response, its body streamed through.
    func forward(_ req: Request, to r: Replica) async throws -> Response {
        r.state.withLock { $0.inFlight += 1 }
        let answer: ReplicaClient.Answer
        do {
            answer = try await r.client.send(method: HTTPMethod(rawValue: req.method.rawValue), uri: req.uri.description,
                                             headers: Self.headers(req), body: req.body)
        } catch {
            r.state.withLock { $0.inFlight -= 1 }
            throw APIError(status: 503, message: "replica \(r.index) is not available: \(error)")
        }
        var fields = HTTPFields()
        var length: Int? = nil
        for (name, value) in answer.head.headers {
            let lower = name.lowercased()
            if lower == "content-length" { length = Int(value); continue }
            if ReplicaClient.hopByHop.contains(lower) { continue }
            if let n = HTTPField.Name(name) { fields.append(HTTPField(name: n, value: value)) }
        }
        let stream = answer.body
        return Response(status: HTTPResponse.Status(code: Int(answer.head.status.code)), headers: fields,
                        body: ResponseBody(contentLength: length) { writer in
                            defer { r.state.withLock { $0.inFlight -= 1 } }
                            for try await b in stream { try await writer.write(b) }
                            try await writer.finish(nil)
                        })
    }

    /// Every ready replica's /metrics as one text (`MetricsMerge`); a replica's refusal (401 without the key) is the
    /// answer. A replica that does not answer (killed since its last health check; the supervisor restarts it) is
    /// left out of this scrape instead of failing it: 503 only when none answers.
    func metrics(_ req: Request, _ up: [Replica]) async throws -> Response {
        var texts: [String] = []
        for r in up {
            guard let a = try? await r.client.get("/metrics", headers: Self.headers(req)) else { continue }
            guard a.status == 200 else {
                return Response(status: HTTPResponse.Status(code: a.status), headers: [.contentType: "application/json"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: a.body)))
            }
            texts.append(a.body)
        }
        guard !texts.isEmpty else { throw APIError(status: 503, message: "no replica is ready") }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: MetricsMerge.merge(texts))))
    }

    /// LoRA loading and unloading apply to every replica: the body is sent to each in turn; the answer is the first
    /// failure, or the first replica's success.
    func broadcast(_ req: Request, _ up: [Replica]) async throws -> Response {
        guard up.count == replicas.count else { throw APIError(status: 503, message: "not every replica is ready; retry") }
        let bytes = try await req.body.collect(upTo: config.maxBodyBytes)
        var first: (Int, String, HTTPFields)? = nil
        for r in up {
            let a = try await r.client.send(method: HTTPMethod(rawValue: req.method.rawValue), uri: req.uri.description,
                                            headers: Self.headers(req), body: RequestBody(buffer: bytes))
            let text = try await a.text()
            let status = Int(a.head.status.code)
            var fields = HTTPFields()
            if let t = a.head.headers.first(name: "content-type") { fields[.contentType] = t }
            if !(200..<300).contains(status) { return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: text))) }
            if first == nil { first = (status, text, fields) }
        }
        let (status, text, fields) = first!
        return Response(status: HTTPResponse.Status(code: status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
