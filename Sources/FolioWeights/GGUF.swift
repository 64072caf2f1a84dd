/// A GGUF metadata value (every value type of GGUF v2/v3).
public indirect enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var intValue: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var boolValue: Bool? {
        switch self {
        case .bool(let b): return b
        case .uint(let v): return v != 0
        case .int(let v): return v != 0
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }

    public var description: String {
        switch self {
        case .uint(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))...\"" : "\"\(s)\""
        case .array(let a): return "[\(a.count) items]"
        }
    }
}

/// A GGUF tensor info: `shape` is in PyTorch order (outermost first), the reverse of ggml's `ne`.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let type: TensorType
    public let shape: [Int]
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int
}

/// A memory-mapped GGUF file (v2 or v3): metadata, tensor infos, and tensors used in place.
///
/// ```swift
/// let gguf = try GGUFFile(path: "model.gguf")
/// let arch = gguf.metadata["general.architecture"]?.stringValue
/// let emb = try gguf.require("token_embd.weight")
/// ```
public final class GGUFFile: WeightSource, @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    private let byName: [String: Int]

    static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    static let maxDims = 4

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = ByteReader(bytes: file.bytes, path: path)
        let m = try r.read(UInt32.self, "magic")
        guard m == Self.magic else {
            throw FolioError.malformedFile(path: path, problem: "bad magic (not a GGUF file)")
        }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw FolioError.unsupported(path: path, what: "GGUF version \(version) (2 and 3 are supported)")
        }
        let nTensors = try r.read(UInt64.self, "tensor count")
        let nKV = try r.read(UInt64.self, "metadata count")
        // Every tensor info takes at least 24 bytes and every key/value at least 13: bound the counts by the file.
        let remaining = UInt64(file.count - r.offset)
        guard nTensors <= remaining / 24 else {
            throw FolioError.malformedFile(path: path, problem: "absurd tensor count \(nTensors) for a \(file.count)-byte file")
        }
        guard nKV <= remaining / 13 else {
            throw FolioError.malformedFile(path: path, problem: "absurd metadata count \(nKV) for a \(file.count)-byte file")
        }
        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(nKV))
        for i in 0..<Int(nKV) {
            let key = try Self.readString(&r, "metadata key #\(i)")
            let t = try r.read(UInt32.self, "type of \(key)")
            meta[key] = try Self.readValue(&r, type: t, key: key, depth: 0)
            keys.append(key)
        }
        metadata = meta
        metadataKeys = keys
        var align = 32
        if let a = meta["general.alignment"] {
            guard let v = a.intValue, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw FolioError.malformedFile(path: path, problem: "general.alignment \(a) is not a power of two")
            }
            align = v
        }
        alignment = align
        var infos: [(String, TensorType, [Int], UInt64)] = []
        infos.reserveCapacity(Int(nTensors))
        for i in 0..<Int(nTensors) {
            let name = try Self.readString(&r, "tensor #\(i) name")
            let nd = try r.read(UInt32.self, "dims of \(name)")
            guard nd >= 1, nd <= UInt32(Self.maxDims) else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name) has \(nd) dimensions (1...4 allowed)")
            }
            var ne: [Int] = []
            for d in 0..<Int(nd) {
                let v = try r.read(UInt64.self, "dim \(d) of \(name)")
                guard v >= 1, v <= UInt64(Int32.max) else {
                    throw FolioError.malformedFile(path: path, problem: "tensor \(name) dimension \(d) is \(v)")
                }
                ne.append(Int(v))
            }
            let type = TensorType(rawValue: Int32(bitPattern: try r.read(UInt32.self, "type of \(name)")))
            let off = try r.read(UInt64.self, "offset of \(name)")
            infos.append((name, type, ne.reversed(), off))
        }
        let dataStart = (r.offset + align - 1) / align * align
        var list: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for (name, type, shape, off) in infos {
            var n = 1
            for d in shape {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                guard !o, p < 1 << 40 else {
                    throw FolioError.malformedFile(path: path, problem: "tensor \(name) shape \(shape) is too large")
                }
                n = p
            }
            guard type.isSupported else {
                throw FolioError.unsupported(path: path, what: "tensor type \(type) of \(name)")
            }
            guard shape.last! % type.blockElements == 0, let size = type.byteCount(elements: n) else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name) row length \(shape.last!) is not a multiple of the \(type) block size \(type.blockElements)")
            }
            guard off % UInt64(align) == 0 else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name) offset \(off) is not aligned to \(align)")
            }
            guard off <= UInt64(file.count), UInt64(dataStart) + off + UInt64(size) <= UInt64(file.count) else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name) data (\(size) bytes at \(off)) lies past the end of the file (\(file.count) bytes)")
            }
            guard index[name] == nil else {
                throw FolioError.malformedFile(path: path, problem: "duplicate tensor \(name)")
            }
            index[name] = list.count
            list.append(GGUFTensorInfo(name: name, type: type, shape: shape, offset: dataStart + Int(off), byteCount: size))
        }
        tensors = list
        byName = index
    }

    public var tensorNames: [String] { tensors.map(\.name) }

    public func tensor(named name: String) -> WeightTensor? {
        guard let i = byName[name], let base = file.base else { return nil }
        let t = tensors[i]
        return WeightTensor(name: name, type: t.type, shape: t.shape, data: base + t.offset, byteCount: t.byteCount, owner: file)
    }

    /// `general.architecture`, e.g. "llama", "qwen2", "gemma3".
    public var architecture: String? { metadata["general.architecture"]?.stringValue }

    /// Metadata value of an architecture-scoped key, e.g. `archValue("context_length")` reads `llama.context_length`.
    public func archValue(_ suffix: String) -> GGUFValue? {
        guard let a = architecture else { return nil }
        return metadata["\(a).\(suffix)"]
    }

    static func readString(_ r: inout ByteReader, _ what: @autoclosure () -> String) throws -> String {
        let n = try r.read(UInt64.self, what() + " length")
        guard n <= UInt64(r.bytes.count) else {
            throw FolioError.malformedFile(path: r.path, problem: "\(what()) length \(n) exceeds the file size")
        }
        let b = try r.readBytes(Int(n), what())
        return String(decoding: b, as: UTF8.self)
    }

    static func readValue(_ r: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try r.read(UInt8.self, key)))
        case 1: return .int(Int64(try r.read(Int8.self, key)))
        case 2: return .uint(UInt64(try r.read(UInt16.self, key)))
        case 3: return .int(Int64(try r.read(Int16.self, key)))
        case 4: return .uint(UInt64(try r.read(UInt32.self, key)))
        case 5: return .int(Int64(try r.read(Int32.self, key)))
        case 6: return .float(Double(try r.readFloat(key)))
        case 7:
            let b = try r.read(UInt8.self, key)
            guard b <= 1 else { throw FolioError.malformedFile(path: r.path, problem: "\(key): bool value \(b)") }
            return .bool(b == 1)
        case 8: return .string(try readString(&r, key))
        case 9:
            guard depth < 4 else { throw FolioError.malformedFile(path: r.path, problem: "\(key): arrays nested too deeply") }
            let et = try r.read(UInt32.self, "\(key) array type")
            let n = try r.read(UInt64.self, "\(key) array length")
            guard n <= UInt64(r.bytes.count - r.offset) else {
                throw FolioError.malformedFile(path: r.path, problem: "\(key): array length \(n) exceeds the file size")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { out.append(try readValue(&r, type: et, key: key, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint(try r.read(UInt64.self, key))
        case 11: return .int(try r.read(Int64.self, key))
        case 12: return .float(try r.readDouble(key))
        default:
            throw FolioError.malformedFile(path: r.path, problem: "\(key): unknown metadata value type \(type)")
        }
    }
}
