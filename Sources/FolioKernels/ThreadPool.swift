import Dispatch
#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Splits `count` items into contiguous chunks and runs them on all cores; `body(range)` must be thread-safe.
public func parallelFor(_ count: Int, minChunk: Int = 1, threads: Int = defaultThreadCount, _ body: @Sendable (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let n = max(1, min(threads, count / max(minChunk, 1)))
    if n == 1 { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: n) { t in
        let lo = count * t / n, hi = count * (t + 1) / n
        if lo < hi { body(lo..<hi) }
    }
}

/// Threads Folio computes on by default: every core.
public let defaultThreadCount: Int = {
    #if os(Linux)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return max(1, ProcessInfo.processInfo.activeProcessorCount)
    #endif
}()
