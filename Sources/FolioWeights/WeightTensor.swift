import CFolioKernels

/// The element encodings Folio reads, by their ggml type ids (safetensors dtypes map onto the same ids).
public struct TensorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let f32 = TensorType(rawValue: 0), f16 = TensorType(rawValue: 1)
    public static let q4_0 = TensorType(rawValue: 2), q4_1 = TensorType(rawValue: 3)
    public static let q5_0 = TensorType(rawValue: 6), q5_1 = TensorType(rawValue: 7)
    public static let q8_0 = TensorType(rawValue: 8), q8_1 = TensorType(rawValue: 9)
    public static let q2_K = TensorType(rawValue: 10), q3_K = TensorType(rawValue: 11)
    public static let q4_K = TensorType(rawValue: 12), q5_K = TensorType(rawValue: 13)
    public static let q6_K = TensorType(rawValue: 14), q8_K = TensorType(rawValue: 15)
    public static let i8 = TensorType(rawValue: 24), i16 = TensorType(rawValue: 25)
    public static let i32 = TensorType(rawValue: 26), i64 = TensorType(rawValue: 27)
    public static let f64 = TensorType(rawValue: 28), bf16 = TensorType(rawValue: 30)
    public static let iq4_nl = TensorType(rawValue: 20), iq4_xs = TensorType(rawValue: 23)
    public static let mxfp4 = TensorType(rawValue: 39)

    static let names: [Int32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
        11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
        27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]

    public var description: String {
        if isPacked { return "\(base) (packed)" }
        return Self.names[rawValue] ?? "type#\(rawValue)"
    }
    /// Whether this is a matrix repacked at load into 16-row panels (CFolioKernels' packed.c).
    public var isPacked: Bool { rawValue & Int32(FOLIO_PACKED) != 0 }
    /// The source encoding of a packed type (itself otherwise).
    public var base: TensorType { TensorType(rawValue: rawValue & ~Int32(FOLIO_PACKED)) }
    /// The packed layout of this encoding.
    public var packed: TensorType { TensorType(rawValue: rawValue | Int32(FOLIO_PACKED)) }
    /// Elements per quantization block (1 for plain types); 0 when Folio cannot decode the type.
    public var blockElements: Int { Int(folio_type_block_elements(rawValue)) }
    /// Bytes per block; 0 when Folio cannot decode the type.
    public var blockBytes: Int { Int(folio_type_block_bytes(rawValue)) }
    public var isSupported: Bool { blockElements > 0 }

    /// Bytes that `elements` values take, or nil when that is not a whole number of blocks (or overflows).
    public func byteCount(elements: Int) -> Int? {
        guard blockElements > 0, elements >= 0, elements % blockElements == 0 else { return nil }
        let (r, o) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
        return o ? nil : r
    }
}

/// A tensor used in place from a mapped file. `shape` is outermost first (PyTorch order): a linear layer's
/// weight is `[outFeatures, inFeatures]`, each row stored contiguously.
public struct WeightTensor: @unchecked Sendable {
    public let name: String
    public let type: TensorType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int
    /// Keeps the mapping (or owned storage) alive while the tensor is used.
    public let owner: AnyObject

    public init(name: String, type: TensorType, shape: [Int], data: UnsafeRawPointer, byteCount: Int, owner: AnyObject) {
        self.name = name
        self.type = type
        self.shape = shape
        self.data = data
        self.byteCount = byteCount
        self.owner = owner
    }

    public var elementCount: Int { shape.reduce(1, *) }
    /// Innermost dimension (the length of one stored row).
    public var cols: Int { shape.last ?? 1 }
    public var rows: Int { elementCount / max(cols, 1) }
    public var rowBytes: Int { type.byteCount(elements: cols) ?? 0 }

    /// The whole tensor as float32 (allocates `elementCount` floats: for small tensors such as norms and biases).
    public func toFloats() throws -> [Float] {
        guard type.isSupported else { throw FolioError.unsupported(path: name, what: "tensor type \(type)") }
        var out = [Float](repeating: 0, count: elementCount)
        if type.isPacked {
            out.withUnsafeMutableBufferPointer { o in for r in 0..<rows { dequantizeRow(r, into: o.baseAddress! + r * cols) } }
            return out
        }
        let rc = out.withUnsafeMutableBufferPointer { folio_dequantize(type.rawValue, data, $0.baseAddress!, Int64(elementCount)) }
        guard rc == 0 else { throw FolioError.unsupported(path: name, what: "tensor type \(type)") }
        return out
    }

    /// Dequantizes row `r` into `dst` (`cols` floats).
    public func dequantizeRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        if type.isPacked {
            _ = folio_packed_row(type.rawValue, data, Int64(rowBytes), Int64(cols), Int64(r), dst)
        } else {
            _ = folio_dequantize(type.rawValue, data + r * rowBytes, dst, Int64(cols))
        }
    }

    /// A view of rows `[start, start + count)` (for fused tensors such as qkv or gate_up; whole panels of a packed one).
    public func rowSlice(_ start: Int, _ count: Int, name: String? = nil) -> WeightTensor {
        precondition(!type.isPacked || (start % 16 == 0 && count % 16 == 0), "slice of a packed matrix across a panel")
        var s = shape
        s[0] = count
        let rowsPerLeading = elementCount / max(shape[0], 1) / max(cols, 1)
        let bytesPerLeading = rowsPerLeading * rowBytes
        return WeightTensor(name: name ?? "\(self.name)[\(start)..<\(start + count)]", type: type, shape: s,
                            data: data + start * bytesPerLeading, byteCount: count * bytesPerLeading, owner: owner)
    }
}

extension WeightTensor {
    /// Columns `[start, start + count)` of every row, copied into memory Folio owns (tensor parallelism's split of a
    /// row-parallel projection). Both ends must fall on the type's block boundaries; nil where they do not.
    public func columnSlice(_ start: Int, _ count: Int) -> WeightTensor? {
        let be = max(type.blockElements, 1)
        guard !type.isPacked, type.isSupported, start >= 0, count > 0, start + count <= cols, start % be == 0, count % be == 0,
              let skip = type.byteCount(elements: start), let rb = type.byteCount(elements: count) else { return nil }
        let store = OwnedBytes(count: rows * rb)
        for r in 0..<rows { store.pointer.advanced(by: r * rb).copyMemory(from: data + r * rowBytes + skip, byteCount: rb) }
        var s = shape
        s[s.count - 1] = count
        return WeightTensor(name: "\(name)[:, \(start)..<\(start + count)]", type: type, shape: s, data: UnsafeRawPointer(store.pointer),
                            byteCount: rows * rb, owner: store)
    }
}

/// Where a model's tensors come from: one GGUF file or a (possibly sharded) safetensors checkpoint.
public protocol WeightSource: AnyObject, Sendable {
    var path: String { get }
    var tensorNames: [String] { get }
    func tensor(named: String) -> WeightTensor?
}

extension WeightSource {
    /// The tensor, or a `FolioError.missing` naming it.
    public func require(_ name: String) throws -> WeightTensor {
        guard let t = tensor(named: name) else { throw FolioError.missing(path: path, what: "tensor \(name)") }
        return t
    }
}

/// Bytes Folio allocates itself (weights quantized at load time), freed with the last tensor that uses them.
final class OwnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) { pointer = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}

extension WeightTensor {
    /// A float32 matrix [rows, cols] of `values` in memory Folio owns (weights rearranged at load, such as GPT-OSS's
    /// fused, transposed expert projections).
    public static func float32(name: String, rows: Int, cols: Int, values: [Float]) -> WeightTensor {
        precondition(values.count == rows * cols)
        let store = OwnedBytes(count: values.count * 4)
        values.withUnsafeBytes { store.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return WeightTensor(name: name, type: .f32, shape: [rows, cols], data: UnsafeRawPointer(store.pointer), byteCount: values.count * 4,
                            owner: store)
    }

    /// This matrix transposed ([cols, rows]) as float32 in memory Folio owns (DeepSeek's absorbed key projection
    /// from the stored one, and back).
    public func transposedFloat32(name: String? = nil) throws -> WeightTensor {
        let x = try toFloats(), R = rows, C = cols
        var y = [Float](repeating: 0, count: x.count)
        for r in 0..<R { for c in 0..<C { y[c * R + r] = x[r * C + c] } }
        return .float32(name: name ?? "\(self.name)^T", rows: C, cols: R, values: y)
    }

    /// Whether `quantized(to:)` applies: a float tensor (F32, F16, BF16) whose rows are whole 32-element blocks.
    public var isQuantizable: Bool { [.f32, .f16, .bf16].contains(type) && cols % 32 == 0 && shape.count >= 2 }

    /// This tensor re-encoded row by row as `target` (Q8_0 or Q4_0, ggml's reference quantizers) in memory Folio
    /// owns. `parallel` runs a row-range body on several threads (pass a serial loop to stay on this one).
    public func quantized(to target: TensorType, parallel: (Int, @escaping @Sendable (Range<Int>) -> Void) -> Void) throws -> WeightTensor {
        guard target == .q8_0 || target == .q4_0 else {
            throw FolioError.invalidArgument(name: "quantization", message: "'\(target)' (supported: q8_0, q4_0)")
        }
        guard isQuantizable else { throw FolioError.unsupported(path: name, what: "quantizing \(type) rows of \(cols) values to \(target)") }
        guard let outRow = target.byteCount(elements: cols) else { throw FolioError.unsupported(path: name, what: "row length \(cols)") }
        let store = OwnedBytes(count: rows * outRow)
        let src = self, cols = self.cols, dst = store
        parallel(rows) { range in
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: cols)
            defer { tmp.deallocate() }
            for r in range {
                src.dequantizeRow(r, into: tmp)
                _ = folio_quantize(target.rawValue, tmp, dst.pointer + r * outRow, Int64(cols))
            }
        }
        return WeightTensor(name: name, type: target, shape: shape, data: UnsafeRawPointer(store.pointer), byteCount: rows * outRow, owner: store)
    }

    /// Whether `packed(parallel:)` applies on this CPU: a Q4_0/Q4_1/Q8_0/F32/F16/BF16 matrix of whole 16-row panels.
    public var isPackable: Bool {
        shape.count >= 2 && !type.isPacked && folio_pack_supported(type.rawValue, Int64(rows), Int64(cols)) != 0
    }

    /// This matrix repacked into 16-row panels (the packed kernels' layout: same bytes, rows interleaved by column)
    /// in memory Folio owns; `parallel` as for `quantized(to:parallel:)`. The source pages of a mapped file are released
    /// (the caller stops reading this tensor).
    public func packed(parallel: (Int, @escaping @Sendable (Range<Int>) -> Void) -> Void) throws -> WeightTensor {
        guard isPackable else { throw FolioError.unsupported(path: name, what: "packing \(type) [\(rows), \(cols)]") }
        let store = OwnedBytes(count: byteCount)
        let src = self, dst = store
        parallel(rows / 16) { panels in
            _ = folio_pack(src.type.rawValue, src.data, Int64(src.rowBytes), Int64(src.cols), Int64(panels.lowerBound),
                           Int64(panels.upperBound), dst.pointer)
        }
        (owner as? MappedFile)?.release(data, byteCount)
        return WeightTensor(name: name, type: type.packed, shape: shape, data: UnsafeRawPointer(store.pointer), byteCount: byteCount, owner: store)
    }
}

