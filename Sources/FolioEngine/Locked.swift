import Foundation

/// A value shared between threads, read and changed under a lock.
///
/// ```swift
/// let n = Locked(0)
/// let next = n.withLock { $0 += 1; return $0 }
/// ```
public final class Locked<Value>: @unchecked Sendable {
    let lock = NSLock()
    var stored: Value

    public init(_ value: Value) { stored = value }

    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&stored)
    }

    public var value: Value {
        get { withLock { $0 } }
        set { withLock { $0 = newValue } }
    }
}
