import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix

/// HTTP/1.1 to one data-parallel replica over its Unix domain socket: one connection per request (cheap on a local
/// socket, and a replica sees a client that goes away as a closed connection, so it aborts that request).
struct ReplicaClient: Sendable {
    let socketPath: String

    struct Answer: Sendable {
        let head: HTTPResponseHead
        /// The body as it arrives; cancelling its consumer closes the connection.
        let body: AsyncThrowingStream<ByteBuffer, any Error>

        /// The whole body as text.
        func text() async throws -> String {
            var text = ""
            for try await b in body { text += String(buffer: b) }
            return text
        }
    }

    /// Hop-by-hop headers, which belong to one connection and are not forwarded.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]

    /// Sends a request and returns once the replica's response head has come; the body streams after.
    func send(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: RequestBody?) async throws -> Answer {
        var headers = headers
        for h in Self.hopByHop { headers.remove(name: h) }
        headers.replaceOrAdd(name: "connection", value: "close")
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
        let (stream, chunks) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let path = socketPath
        let responseHead: HTTPResponseHead = try await withCheckedThrowingContinuation { (headReady: CheckedContinuation<HTTPResponseHead, any Error>) in
            let task = Task {
                var answered = false
                do {
                    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(unixDomainSocketPath: path) { ch in
                            ch.eventLoop.makeCompletedFuture {
                                try ch.pipeline.syncOperations.addHTTPClientHandlers()
                                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: ch)
                            }
                        }
                    try await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(.head(head))
                        if let body { for try await part in body { try await outbound.write(.body(.byteBuffer(part))) } }
                        try await outbound.write(.end(nil))
                        for try await part in inbound {
                            switch part {
                            case .head(let h) where h.status == .continue: continue
                            case .head(let h): answered = true; headReady.resume(returning: h)
                            case .body(let b): chunks.yield(b)
                            case .end: chunks.finish(); return
                            }
                        }
                        throw ReplicaError.closedEarly
                    }
                } catch {
                    if !answered { headReady.resume(throwing: error) }
                    chunks.finish(throwing: error)
                }
            }
            chunks.onTermination = { _ in task.cancel() }
        }
        return Answer(head: responseHead, body: stream)
    }

    /// A whole GET's status and body (health checks, /metrics, /get_load).
    func get(_ uri: String, headers: HTTPHeaders = [:]) async throws -> (status: Int, body: String) {
        let a = try await send(method: .GET, uri: uri, headers: headers, body: nil)
        return (Int(a.head.status.code), try await a.text())
    }
}

enum ReplicaError: Error, CustomStringConvertible {
    case closedEarly
    var description: String { "the replica closed the connection before its response ended" }
}
