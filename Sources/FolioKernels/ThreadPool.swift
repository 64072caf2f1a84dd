import CFolioKernels
#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Splits `count` items into contiguous chunks run on up to `threads` threads of the persistent compute pool
/// (CFolioKernels' pool.c: workers spin between the hundreds of short loops of a decode step instead of sleeping,
/// and take chunks dynamically). `body(range)` must be thread-safe; chunks never overlap.
public func parallelFor(_ count: Int, minChunk: Int = 1, threads: Int = defaultThreadCount, _ body: @Sendable (Range<Int>) -> Void) {
    guard count > 0 else { return }
    // More chunks than threads, so a core slowed by another process takes fewer of them.
    let chunks = max(1, min(count / max(minChunk, 1), threads * 8))
    if threads <= 1 || chunks == 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { b in
        let job = ParallelJob(body: b, count: count, chunks: chunks)
        withExtendedLifetime(job) {
            folio_parallel(Int64(chunks), Int32(threads), { ctx, i in
                let job = Unmanaged<ParallelJob>.fromOpaque(ctx!).takeUnretainedValue()
                let lo = job.count * Int(i) / job.chunks, hi = job.count * (Int(i) + 1) / job.chunks
                if lo < hi { job.body(lo..<hi) }
            }, Unmanaged.passUnretained(job).toOpaque())
        }
    }
}

private final class ParallelJob {
    let body: @Sendable (Range<Int>) -> Void
    let count: Int
    let chunks: Int
    init(body: @escaping @Sendable (Range<Int>) -> Void, count: Int, chunks: Int) {
        self.body = body
        self.count = count
        self.chunks = chunks
    }
}

/// Threads Folio computes on by default: every core.
public let defaultThreadCount: Int = Int(folio_pool_threads())
