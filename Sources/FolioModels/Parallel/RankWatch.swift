import CFolioKernels
import Foundation

/// How rank 0 notices a rank that is gone (rank_watch.c): each worker holds a TCP connection to rank 0 for its whole
/// life; its end wakes rank 0's watch thread, which lets the server fail the requests in flight (a 500 each, instead
/// of a connection that mpirun's kill cuts) and ends the process with status 1 before mpirun kills it. Without the
/// watch, rank 0 would wait in a collective for the dead rank until mpirun's SIGKILL.
final class RankWatch: @unchecked Sendable {
    let rank: Int
    let size: Int
    /// Rank 0: the connection from each worker rank (index = rank; -1 for rank 0 and any that did not connect).
    /// A worker: its one connection to rank 0, held open until the process ends.
    let fds: [Int32]
    let lock = NSLock()
    var expectingExit = false
    var onLost: (@Sendable (String) -> Void)?

    /// Seconds between failing the requests in flight and exiting: time for their error responses to be written
    /// (mpirun's own SIGTERM to rank 0 follows a lost rank by about one second, its SIGKILL by two).
    static let grace: useconds_t = 500_000

    private init(rank: Int, size: Int, fds: [Int32]) {
        self.rank = rank
        self.size = size
        self.fds = fds
    }

    /// Every rank, right after joining: rank 0 listens and sends every rank its addresses, port and a token; the
    /// workers connect and present it. Ranks that cannot connect are named on stderr and go unwatched.
    static func connect(_ mp: ModelParallel) -> RankWatch {
        var setup = [UInt8](repeating: 0, count: 1024)
        var listener: Int32 = -1, listenError = ""
        if mp.rank == 0 {
            var port: Int32 = 0
            listener = folio_watch_listen(&port)
            if listener < 0 { listenError = String(cString: strerror(errno)) }  // before the broadcast can change errno
            let token = UInt64.random(in: 1...UInt64.max)
            var addresses = [CChar](repeating: 0, count: 1000)
            _ = folio_host_addresses(&addresses, Int32(addresses.count))
            setup.withUnsafeMutableBytes { b in
                b.storeBytes(of: Int64(listener >= 0 ? port : -1), toByteOffset: 0, as: Int64.self)
                b.storeBytes(of: token, toByteOffset: 8, as: UInt64.self)
                addresses.withUnsafeBytes { a in b.baseAddress!.advanced(by: 16).copyMemory(from: a.baseAddress!, byteCount: a.count) }
            }
        }
        setup.withUnsafeMutableBytes { mp.bcast($0.baseAddress!, $0.count) }
        let port = setup.withUnsafeBytes { $0.load(fromByteOffset: 0, as: Int64.self) }
        let token = setup.withUnsafeBytes { $0.load(fromByteOffset: 8, as: UInt64.self) }
        guard port > 0 else {
            if mp.rank == 0 { warn("rank 0 cannot listen for its workers (\(listenError)): a rank that dies will not be noticed") }
            return RankWatch(rank: mp.rank, size: mp.size, fds: [])
        }
        if mp.rank > 0 {
            let addresses = setup[16...].withUnsafeBufferPointer { b in String(cString: UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self)) }
            let fd = folio_watch_connect(addresses, Int32(port), token, Int32(mp.rank), 5000)
            if fd < 0 { warn("rank \(mp.rank) cannot reach rank 0 at \(addresses) port \(port): rank 0 will not notice if it dies") }
            return RankWatch(rank: mp.rank, size: mp.size, fds: [fd])
        }
        var fds = [Int32](repeating: -1, count: mp.size)
        let joined = folio_watch_accept(listener, token, Int32(mp.size), 15_000, &fds)
        if Int(joined) < mp.size - 1 {
            let missing = (1..<mp.size).filter { fds[$0] < 0 }.map(String.init).joined(separator: ", ")
            warn("rank(s) \(missing) did not connect to rank 0: if one dies, rank 0 will not notice")
        }
        return RankWatch(rank: mp.rank, size: mp.size, fds: fds)
    }

    static func warn(_ s: String) { FileHandle.standardError.write(Data("folio: \(s)\n".utf8)) }

    /// Rank 0, once the model is loaded: a thread that waits for any worker's connection to end. Unless rank 0 is
    /// stopping the workers itself, it reports the loss (`onLost`), waits `grace` and exits with status 1.
    func start() {
        guard rank == 0, fds.contains(where: { $0 >= 0 }) else { return }
        let t = Thread { [self] in
            let lost = fds.withUnsafeBufferPointer { folio_watch_wait($0.baseAddress, Int32($0.count)) }
            lock.lock()
            let expected = expectingExit, report = onLost
            lock.unlock()
            guard lost >= 0, !expected else { return }
            let message = "model-parallel rank \(lost) of \(size) is gone (its process ended or its host is unreachable)"
            RankWatch.warn("\(message); failing the requests in flight and exiting")
            if let report {
                report(message)
                usleep(RankWatch.grace)
            }
            _exit(1)
        }
        t.name = "folio.rank-watch"
        t.start()
    }

    /// Rank 0 is about to stop the workers: their connections end as expected.
    func expectExit() {
        lock.lock(); expectingExit = true; lock.unlock()
    }

    func setOnLost(_ f: @escaping @Sendable (String) -> Void) {
        lock.lock(); onLost = f; lock.unlock()
    }
}
