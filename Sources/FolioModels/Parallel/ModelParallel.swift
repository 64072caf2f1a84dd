import CFolioKernels
import FolioWeights
import Foundation

/// Model parallelism across processes launched by `mpirun -np N` (Open MPI). Rank 0 runs the engine and, before each
/// forward pass, sends the batch to the others, which run the same pass on their part (`runParallelWorker`).
/// Tensor parallelism (`ShardPlan`): every rank holds its share of each layer; two all-reduces per layer (after
/// o_proj and down_proj) and one gather of the vocabulary-split logits. Pipeline parallelism (`PipelinePlan`): each
/// rank holds a range of layers; the hidden states go from rank to rank and the last sends the logits to rank 0.
public final class ModelParallel: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Seconds spent in collectives and how many there were (read between steps; only the engine thread writes).
    public private(set) var collectiveSeconds = 0.0
    public private(set) var collectiveCalls = 0
    /// How rank 0 notices a rank that is gone.
    var watch: RankWatch?

    init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    static let lock = NSLock()
    nonisolated(unsafe) static var joined: ModelParallel?

    /// Joins the MPI world (once per process) and checks its size is `size`.
    public static func join(size: Int, flag: String = "--tensor-parallel-size") throws -> ModelParallel {
        lock.lock(); defer { lock.unlock() }
        if let j = joined {
            guard j.size == size else { throw FolioError.invalidArgument(name: flag, message: "\(size), but this process joined a world of \(j.size)") }
            return j
        }
        guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil else {
            throw FolioError.invalidArgument(name: flag, message: "\(size) needs \(size) processes: launch with mpirun -np \(size) folio ...")
        }
        var r: Int32 = 0, n: Int32 = 0
        guard folio_mpi_init(&r, &n) == 0 else {
            throw FolioError.invalidArgument(name: flag, message: String(cString: folio_mpi_error()))
        }
        guard Int(n) == size else {
            throw FolioError.invalidArgument(name: flag, message: "\(size), but mpirun started \(n) processes (mpirun -np \(size))")
        }
        let tp = ModelParallel(rank: Int(r), size: Int(n))
        if tp.rank > 0 {
            // mpirun passes SIGTERM/SIGINT (and SIGUSR1, rank 0's drain) to every rank: the workers stop when rank 0
            // says so, after it has drained.
            signal(SIGTERM, SIG_IGN)
            signal(SIGINT, SIG_IGN)
            signal(SIGUSR1, SIG_IGN)
        }
        tp.watch = RankWatch.connect(tp)
        joined = tp
        return tp
    }

    /// A failed collective leaves the ranks out of step: end the whole job (mpirun then stops every rank).
    func check(_ rc: Int32, _ what: String) {
        if rc != 0 {
            FileHandle.standardError.write(Data("folio: tensor parallel \(what) failed on rank \(rank); aborting\n".utf8))
            folio_mpi_abort(1)
            exit(1)
        }
    }

    func timed<T>(_ body: () -> T) -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        collectiveSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        collectiveCalls += 1
        return r
    }

    func allreduce(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        timed { check(folio_mpi_allreduce_sum(p, Int64(n)), "all-reduce") }
    }

    /// Rank 0 gets [rows, vocab] from every rank's [rows, its vocabulary range]; the others get [].
    func gatherLogits(_ local: [Float], rows: Int, ranges: [Range<Int>], vocab: Int) -> [Float] {
        let counts = ranges.map { Int32($0.count * rows) }
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + counts[i - 1] }
        var gathered = [Float](repeating: 0, count: rank == 0 ? rows * vocab : 1)
        timed {
            local.withUnsafeBufferPointer { l in
                gathered.withUnsafeMutableBufferPointer { g in
                    check(folio_mpi_gatherv(l.baseAddress, Int32(local.count), g.baseAddress, counts, displs, 0), "gather")
                }
            }
        }
        guard rank == 0 else { return [] }
        // Rank-major [rank][row][its columns] -> row-major [row][vocab].
        var out = [Float](repeating: 0, count: rows * vocab)
        for (i, r) in ranges.enumerated() {
            let base = Int(displs[i]), w = r.count
            for row in 0..<rows {
                for j in 0..<w { out[row * vocab + r.lowerBound + j] = gathered[base + row * w + j] }
            }
        }
        return out
    }

    /// Pipeline parallelism: steps go rank to rank (`post`, `receive`) instead of by broadcast.
    var pointToPoint = false

    /// A send in flight (MPI_Isend) with its own copy of the bytes, freed by `waitAll`.
    final class PostedSend {
        var request: UnsafeMutableRawPointer?
        let buffer: UnsafeMutableRawPointer
        init(bytes: Int) { buffer = .allocate(byteCount: max(bytes, 1), alignment: 16) }
        deinit { buffer.deallocate() }
    }

    /// Starts sending a copy of `bytes` to `dest`.
    func post(_ bytes: UnsafeRawBufferPointer, to dest: Int) -> PostedSend {
        let p = PostedSend(bytes: bytes.count)
        if bytes.count > 0 { p.buffer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        timed { check(folio_mpi_isend(p.buffer, Int64(bytes.count), Int32(dest), &p.request), "send") }
        return p
    }

    /// A receive in flight (MPI_Irecv) into its own buffer of `count` floats.
    final class PostedReceive {
        var request: UnsafeMutableRawPointer?
        let buffer: UnsafeMutablePointer<Float>
        let count: Int
        init(count: Int) {
            self.count = count
            buffer = .allocate(capacity: max(count, 1))
        }
        deinit { buffer.deallocate() }
    }

    /// Starts receiving `count` floats from `source`: posted before the sender gets there, the transfer needs no
    /// more of this rank's attention than the final wait.
    func postReceive(_ count: Int, from source: Int) -> PostedReceive {
        let r = PostedReceive(count: count)
        timed { check(folio_mpi_irecv(r.buffer, Int64(count * 4), Int32(source), &r.request), "receive") }
        return r
    }

    func wait(_ r: PostedReceive) {
        timed { check(folio_mpi_wait(&r.request), "receive") }
    }

    /// Waits until every send of `posted` is done (its bytes delivered or buffered).
    func waitAll(_ posted: [PostedSend]) {
        for p in posted { timed { check(folio_mpi_wait(&p.request), "send") } }
    }

    /// Pipeline parallelism: floats to / from a neighbouring rank.
    func send(_ p: UnsafePointer<Float>, _ n: Int, to dest: Int) {
        timed { check(folio_mpi_send(p, Int64(n * 4), Int32(dest)), "send") }
    }

    func receive(_ p: UnsafeMutablePointer<Float>, _ n: Int, from source: Int) {
        timed { check(folio_mpi_recv(p, Int64(n * 4), Int32(source)), "receive") }
    }

    func bcast(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        check(folio_mpi_bcast(p, Int64(bytes), 0), "broadcast")
    }

    /// What rank 0 sends before each pass: stop, or a forward pass over `batch` with a cache of this geometry and
    /// these LoRA adapters (`batch.adapters` is empty on the receiving side: each rank reads its own share).
    enum Step {
        case stop
        case forward(ForwardBatch, cache: CacheGeometry, adapters: [AdapterRef])
    }

    /// A LoRA adapter as the workers load it: the same folder, held the same way, known by rank 0's load number.
    struct AdapterRef: Equatable {
        var serial: Int, path: String, half: Bool
    }

    /// Adapters a worker keeps loaded (least recently used out first); rank 0 sets it to its engine's
    /// `max_cpu_loras`, and it is sent with every step.
    public var loraCacheCapacity = 8

    struct CacheGeometry: Equatable {
        var id: Int, numBlocks: Int, blockSize: Int, dtype: Int
    }

    /// Rank 0: a forward pass over `batch` with `kv`'s geometry and the batch's adapters.
    static func forward(_ batch: ForwardBatch, _ kv: PagedKVCache) -> Step {
        .forward(batch, cache: CacheGeometry(id: kv.id, numBlocks: kv.numBlocks, blockSize: kv.blockSize,
                                             dtype: KVCacheDType.allCases.firstIndex(of: kv.dtype)!),
                 adapters: batch.adapters.map { AdapterRef(serial: $0.serial, path: $0.path, half: $0.isHalf) })
    }

    /// Rank 0: the step to every other rank. Tensor parallelism broadcasts it (every rank starts the pass at once);
    /// pipeline parallelism posts it to each rank without waiting (`posted` until the pass completes), so rank 0 can
    /// start the next micro-batch while later stages still work on this one.
    func send(_ step: Step) {
        guard !pointToPoint else { return waitAll(post(step)) }
        var (header, payload, names) = encode(step)
        header.withUnsafeMutableBytes { bcast($0.baseAddress!, $0.count) }
        if !payload.isEmpty { payload.withUnsafeMutableBytes { bcast($0.baseAddress!, $0.count) } }
        if !names.isEmpty { names.withUnsafeMutableBytes { bcast($0.baseAddress!, $0.count) } }
    }

    /// Pipeline parallelism, rank 0: the step posted to every other rank (header, then payload).
    func post(_ step: Step) -> [PostedSend] {
        let (header, payload, _) = encode(step)
        var out: [PostedSend] = []
        for r in 1..<size {
            header.withUnsafeBytes { out.append(post($0, to: r)) }
            if !payload.isEmpty { payload.withUnsafeBytes { out.append(post($0, to: r)) } }
        }
        return out
    }

    /// The step as a header, the batch's integers and the adapters' names (JSON).
    func encode(_ step: Step) -> (header: [Int64], payload: [Int32], names: [UInt8]) {
        var header = [Int64](repeating: 0, count: 13)
        var payload: [Int32] = []
        var names: [UInt8] = []
        if case .forward(let b, let g, let adapters) = step {
            header[0] = 1
            header[1] = Int64(g.id); header[2] = Int64(g.numBlocks); header[3] = Int64(g.blockSize); header[4] = Int64(g.dtype)
            header[5] = Int64(b.tokens.count); header[6] = Int64(b.blockTables.count); header[7] = Int64(b.logitIndices.count)
            payload = b.tokens + b.positions + b.sequence + b.slots + b.logitIndices.map(Int32.init) + b.blockTables.map { Int32($0.count) }
                + b.blockTables.flatMap { $0 }
            if !adapters.isEmpty {
                payload += b.sequenceAdapter
                names = Array(JSONValue.array(adapters.map { .array([.int($0.serial), .string($0.path), .bool($0.half)]) }).jsonString.utf8)
            }
            payload += b.blockCopies
            header[8] = Int64(payload.count)
            header[9] = Int64(adapters.count); header[10] = Int64(names.count); header[11] = Int64(loraCacheCapacity)
            header[12] = Int64(b.blockCopies.count)
        }
        return (header, payload, names)
    }

    /// Other ranks: the next step from rank 0.
    func receive() -> Step {
        var header = [Int64](repeating: 0, count: 13)
        func read(_ p: UnsafeMutableRawBufferPointer) {
            if pointToPoint { timed { check(folio_mpi_recv(p.baseAddress!, Int64(p.count), 0), "receive") } } else { bcast(p.baseAddress!, p.count) }
        }
        header.withUnsafeMutableBytes(read)
        guard header[0] == 1 else { return .stop }
        var payload = [Int32](repeating: 0, count: Int(header[8]))
        if !payload.isEmpty { payload.withUnsafeMutableBytes(read) }
        let T = Int(header[5]), S = Int(header[6]), L = Int(header[7])
        var b = ForwardBatch()
        var i = 0
        func take(_ n: Int) -> [Int32] { defer { i += n }; return Array(payload[i..<(i + n)]) }
        b.tokens = take(T); b.positions = take(T); b.sequence = take(T); b.slots = take(T)
        b.logitIndices = take(L).map(Int.init)
        let lens = take(S)
        b.blockTables = lens.map { take(Int($0)) }
        var adapters: [AdapterRef] = []
        if header[9] > 0 {
            b.sequenceAdapter = take(S)
            var names = [UInt8](repeating: 0, count: Int(header[10]))
            names.withUnsafeMutableBytes { bcast($0.baseAddress!, $0.count) }
            adapters = (try? JSONValue.parse(Data(names)))?.arrayValue?.compactMap { e in
                guard let a = e.arrayValue, a.count == 3, let serial = a[0].intValue, let path = a[1].stringValue, let half = a[2].boolValue else { return nil }
                return AdapterRef(serial: serial, path: path, half: half)
            } ?? []
            if adapters.count != Int(header[9]) { check(-1, "LoRA adapter list") }
            loraCacheCapacity = Int(header[11])
        }
        b.blockCopies = take(Int(header[12]))
        return .forward(b, cache: CacheGeometry(id: Int(header[1]), numBlocks: Int(header[2]), blockSize: Int(header[3]), dtype: Int(header[4])),
                        adapters: adapters)
    }

    /// Rank 0, once every rank has its part of the model: however this process ends from now on (a command finishing,
    /// an error, SIGTERM's drain), the workers are told to stop, so mpirun sees every rank finish; and a worker that
    /// dies from now on is noticed (`onRankLost`). (Before that, a rank that fails to load exits, and mpirun ends the
    /// job.)
    func loaded() {
        guard rank == 0 else { return }
        atexit { ModelParallel.joined?.finish() }
        watch?.start()
    }

    /// Rank 0: what to do when another rank is gone (the server fails its requests in flight), before this process
    /// exits with status 1. Without it, rank 0 exits at once.
    public func onRankLost(_ report: @escaping @Sendable (String) -> Void) {
        watch?.setOnLost(report)
    }

    /// Rank 0: tells the workers to stop; every rank: leaves MPI.
    public func finish() {
        guard !finished else { return }
        finished = true
        watch?.expectExit()
        if rank == 0 { send(.stop) }
        _ = folio_mpi_finalize()
    }
    var finished = false
}

extension CausalLM {
    /// A worker rank's life (rank > 0): run every forward pass rank 0 sends, on this rank's share, until it says stop.
    public func runParallelWorker() throws {
        guard let tp = parallel, tp.rank > 0 else { return }
        var caches: [Int: PagedKVCache] = [:]
        var adapters: [LoRAAdapter] = []  // most recently used last
        while case .forward(var batch, let g, let refs) = tp.receive() {
            let kv: PagedKVCache
            if let c = caches[g.id] { kv = c } else {
                kv = PagedKVCache(config: config, numBlocks: g.numBlocks, blockSize: g.blockSize, dtype: KVCacheDType.allCases[g.dtype])
                caches[g.id] = kv
            }
            for i in stride(from: 0, to: batch.blockCopies.count, by: 2) {
                kv.copyBlock(Int(batch.blockCopies[i]), to: Int(batch.blockCopies[i + 1]))
            }
            // Rank 0 read each adapter first (a bad one never gets here): this rank reads its share of the same folder.
            batch.adapters = try refs.map { r in
                let a = try adapters.first { $0.serial == r.serial }
                    ?? LoRAAdapter.load(path: r.path, for: self, maxRank: .max, dtype: r.half ? .float16 : .float32, serial: r.serial)
                adapters.removeAll { $0.serial == r.serial }
                adapters.append(a)
                return a
            }
            let keep = max(tp.loraCacheCapacity, refs.count)  // never one of this step's
            if adapters.count > keep { adapters.removeFirst(adapters.count - keep) }
            _ = try forward(batch: batch, kv: kv)
        }
        tp.finish()
    }
}
