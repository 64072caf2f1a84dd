import FolioEngine
import Foundation
import Logging

/// How to start one data-parallel replica: a `folio serve` process listening on its own Unix socket.
public struct ReplicaLaunch: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var socketPath: String
    public init(executable: String, arguments: [String], environment: [String: String], socketPath: String) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.socketPath = socketPath
    }
}

/// One replica process and what the front knows of it: whether it answers, and its requests in flight. Its
/// supervisor starts it, waits until /health answers, and restarts it when it dies (its requests in flight then fail;
/// the other replicas' go on).
final class Replica: Sendable {
    let index: Int
    let launch: ReplicaLaunch
    let client: ReplicaClient
    struct State {
        var up = false
        var inFlight = 0
        var process: Process? = nil
        var starts = 0
    }
    let state = Locked(State())

    init(index: Int, launch: ReplicaLaunch) {
        self.index = index
        self.launch = launch
        client = ReplicaClient(socketPath: launch.socketPath)
    }

    var isUp: Bool { state.value.up }

    /// Starts the process; returns a stream that yields its exit status once.
    func start() throws -> AsyncStream<Int32> {
        try? FileManager.default.removeItem(atPath: launch.socketPath)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: launch.executable)
        p.arguments = launch.arguments
        p.environment = launch.environment
        let (exits, exited) = AsyncStream<Int32>.makeStream()
        p.terminationHandler = { exited.yield($0.terminationStatus); exited.finish() }
        try p.run()
        state.withLock { $0.process = p; $0.starts += 1 }
        return exits
    }

    /// Polls /health on the replica's socket until it answers 200; false if the process exits first or `stop` says so.
    func waitReady(unless stop: @Sendable () -> Bool) async -> Bool {
        while state.value.process?.isRunning == true, !stop() {
            if let h = try? await client.get("/health"), h.status == 200 { return true }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    /// SIGTERM: the replica drains (finishes its requests, refuses new ones) and exits.
    func terminate() {
        if let p = state.value.process, p.isRunning { kill(p.processIdentifier, SIGTERM) }
    }

    func kill9() {
        if let p = state.value.process, p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}
