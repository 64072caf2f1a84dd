#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Weights are used in place from it; nothing is copied whole.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let count: Int
    /// Start of the mapping (nil only for an empty file).
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FolioError.io(path: path, message: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FolioError.io(path: path, message: "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FolioError.io(path: path, message: "not a regular file") }
        count = Int(st.st_size)
        if count == 0 { base = nil; return }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw FolioError.io(path: path, message: "mmap failed") }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Drops this process's copy of the whole pages inside [start, start + count) (bytes repacked elsewhere and no
    /// longer read), so they stop counting as resident memory; reading them again faults them back in from the file.
    public func release(_ start: UnsafeRawPointer, _ count: Int) {
        guard let base, start >= base, start + count <= base + self.count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (Int(bitPattern: start) + page - 1) / page * page, hi = (Int(bitPattern: start) + count) / page * page
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, Int32(MADV_DONTNEED)) }
    }

    /// The bytes as a buffer (empty for an empty file).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// A bounds-checked little-endian cursor over mapped bytes; every read past the end is a `FolioError`.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public let path: String
    public var offset: Int = 0

    public init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    public mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, offset <= bytes.count, bytes.count - offset >= n else {
            throw FolioError.malformedFile(path: path, problem: "truncated: \(what()) needs \(n) bytes at offset \(offset), file has \(bytes.count)")
        }
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    public mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    public mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    public mutating func readBytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        let r = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return r
    }
}
