import CFolioKernels
import FolioServer
import FolioWeights
import Foundation
import Logging

/// `folio serve --data-parallel-size N`: the front process starts N replicas of itself, each a `folio serve` on its
/// own Unix socket, pinned to its share of the cores through FOLIO_CPU_THREADS_BIND (as vLLM's CPU backend takes
/// VLLM_CPU_OMP_THREADS_BIND), and serves them behind one API port (`DataParallelServer`).
extension Serve {
    /// A replica (or any `folio serve` given FOLIO_CPU_THREADS_BIND="0-3") pins itself before its compute threads
    /// start; a replica also exits when its front does.
    func bindCPUsFromEnvironment(_ logger: Logger) throws {
        if let parent = ProcessInfo.processInfo.environment["FOLIO_DP_PARENT"].flatMap(Int32.init) { _ = folio_exit_with_parent(parent) }
        guard dataParallelSize == 1, let v = Self.cpuBind else { return }
        guard !v.contains("|"), let cpus = CPUSets.parse(v) else {
            throw FolioError.invalidArgument(name: "FOLIO_CPU_THREADS_BIND", message: "'\(v)' is not a CPU list such as 0-3,8 (one process: no '|')")
        }
        try CPUSets.bind(cpus)
        logger.info("bound to CPUs \(CPUSets.format(cpus)) (FOLIO_CPU_THREADS_BIND)")
    }

    func serveDataParallel(_ logger: Logger) async throws {
        let n = dataParallelSize
        let env = ProcessInfo.processInfo.environment
        let shares: [[Int]]
        if let v = Self.cpuBind {
            let parts = v.split(separator: "|", omittingEmptySubsequences: false).map { CPUSets.parse(String($0)) }
            guard parts.count == n, parts.allSatisfy({ $0 != nil }) else {
                throw FolioError.invalidArgument(name: "FOLIO_CPU_THREADS_BIND", message: "'\(v)': --data-parallel-size \(n) needs \(n) CPU lists separated by '|' (such as 0-3|4-7)")
            }
            shares = parts.map { $0! }
        } else {
            let allowed = CPUSets.allowed()
            guard let s = CPUSets.split(allowed, into: n, nodes: CPUSets.numaNodes()) else {
                throw FolioError.invalidArgument(name: "--data-parallel-size", message: "\(n) replicas need at least \(n) CPUs; this process may use \(allowed.count)")
            }
            shares = s
        }
        guard FileManager.default.fileExists(atPath: model) else {
            throw FolioError.io(path: model, message: "no such model (run scripts/fetch-models.sh, or pass --model)")
        }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let args = Self.replicaArguments(Array(CommandLine.arguments.dropFirst()))
        let pid = getpid()
        var dir = FileManager.default.temporaryDirectory.path
        if dir.utf8.count > 60 { dir = "/tmp" }  // a Unix socket's path has at most 107 bytes
        let launches = shares.enumerated().map { i, cpus in
            var e = env
            e["FOLIO_CPU_THREADS_BIND"] = CPUSets.format(cpus)
            e["FOLIO_DP_PARENT"] = String(pid)
            e["FOLIO_DP_RANK"] = String(i)
            let socket = "\(dir)/folio-\(pid)-dp\(i).sock"
            return ReplicaLaunch(executable: exe, arguments: args + ["--uds", socket], environment: e, socketPath: socket)
        }
        logger.info("data parallel: \(n) replicas on CPUs \(shares.map(CPUSets.format).joined(separator: " | "))")
        let cfg = try serverConfig()
        let server = DataParallelServer(launches: launches, config: cfg, logger: logger)
        let name = cfg.servedModelName, listening = listening
        try await server.run { port in logger.info("serving \(name) on \(listening(port)) (\(n) replicas)") }
    }

    /// FOLIO_CPU_THREADS_BIND when it names CPUs (not unset, empty or "auto").
    static var cpuBind: String? {
        ProcessInfo.processInfo.environment["FOLIO_CPU_THREADS_BIND"].flatMap { $0.isEmpty || $0 == "auto" ? nil : $0 }
    }

    /// How the log names where the server listens, once it has its port.
    var listening: @Sendable (Int) -> String {
        let socket = uds, host = host
        return { port in socket.map { "unix socket \($0)" } ?? "http://\(host):\(port)/v1" }
    }

    /// A replica's command line: the front's, without the options that place the front (its address and the
    /// replica count); the caller adds the replica's socket.
    static func replicaArguments(_ args: [String]) -> [String] {
        let placing: Set<String> = ["--data-parallel-size", "--host", "--port", "--uds"]
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if placing.contains(a) { i += 2; continue }
            if let eq = a.firstIndex(of: "="), placing.contains(String(a[..<eq])) { i += 1; continue }
            out.append(a)
            i += 1
        }
        return out
    }
}
