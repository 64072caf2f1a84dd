import Foundation

/// One memory-mapped `.safetensors` file: an 8-byte header length, a JSON header, then raw tensor data.
public final class SafetensorsFile: WeightSource, @unchecked Sendable {
    public let path: String
    public let file: MappedFile
    public let metadata: [String: String]
    private var infos: [String: (type: TensorType, shape: [Int], offset: Int, size: Int)] = [:]
    private let order: [String]

    static let dtypes: [String: TensorType] = [
        "F32": .f32, "F16": .f16, "BF16": .bf16, "F64": .f64, "I8": .i8, "I16": .i16, "I32": .i32, "I64": .i64,
        // Bytes of a packed encoding (GPT-OSS's MXFP4 blocks and scales), read as raw bytes (MXFP4Checkpoint).
        "U8": .i8,
    ]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = ByteReader(bytes: file.bytes, path: path)
        let n = try r.read(UInt64.self, "header length")
        guard n >= 2, n <= UInt64(file.count - 8), n <= 100_000_000 else {
            throw FolioError.malformedFile(path: path, problem: "header length \(n) does not fit a \(file.count)-byte file")
        }
        let headerBytes = try r.readBytes(Int(n), "header")
        let dataStart = 8 + Int(n)
        let dataSize = file.count - dataStart
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes))
        } catch {
            throw FolioError.malformedFile(path: path, problem: "header is not valid JSON")
        }
        guard let header = json as? [String: Any] else {
            throw FolioError.malformedFile(path: path, problem: "header is not a JSON object")
        }
        var meta: [String: String] = [:]
        var names: [String] = []
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in value as? [String: Any] ?? [:] { meta[k] = "\(v)" }
                continue
            }
            guard let d = value as? [String: Any], let dt = d["dtype"] as? String,
                  let shapeAny = d["shape"] as? [Any], let offs = d["data_offsets"] as? [Any], offs.count == 2 else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name): needs dtype, shape and data_offsets")
            }
            let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
            let o = offs.compactMap { ($0 as? NSNumber)?.intValue }
            guard shape.count == shapeAny.count, shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }), o.count == 2 else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name): bad shape or offsets")
            }
            guard let type = Self.dtypes[dt] else {
                throw FolioError.unsupported(path: path, what: "dtype \(dt) of tensor \(name)")
            }
            var count = 1
            for s in shape {
                let (p, of) = count.multipliedReportingOverflow(by: s)
                guard !of, p < 1 << 40 else { throw FolioError.malformedFile(path: path, problem: "tensor \(name): shape too large") }
                count = p
            }
            let size = type.byteCount(elements: count)!
            guard o[0] >= 0, o[1] >= o[0], o[1] <= dataSize else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name): data [\(o[0]), \(o[1])) lies past the end of the file (\(dataSize) data bytes)")
            }
            guard o[1] - o[0] == size else {
                throw FolioError.malformedFile(path: path, problem: "tensor \(name): \(o[1] - o[0]) bytes for shape \(shape) of \(dt) (needs \(size))")
            }
            infos[name] = (type, shape, dataStart + o[0], size)
            names.append(name)
        }
        metadata = meta
        order = names.sorted()
    }

    public var tensorNames: [String] { order }

    public func tensor(named name: String) -> WeightTensor? {
        guard let i = infos[name] else { return nil }
        let base = file.base ?? UnsafeRawPointer(bitPattern: 1)!
        return WeightTensor(name: name, type: i.type, shape: i.shape, data: base + i.offset, byteCount: i.size, owner: file)
    }
}

/// A Hugging Face checkpoint: `model.safetensors`, or shards listed in `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: WeightSource, @unchecked Sendable {
    public let path: String
    public let files: [SafetensorsFile]
    private let byName: [String: SafetensorsFile]

    public init(directory: String) throws {
        path = directory
        let fm = FileManager.default
        let index = directory + "/model.safetensors.index.json"
        var files: [SafetensorsFile] = []
        var map: [String: SafetensorsFile] = [:]
        if fm.fileExists(atPath: index) {
            let obj = try JSONValue.parse(file: index)
            guard let wm = obj["weight_map"]?.objectValue else {
                throw FolioError.malformedFile(path: index, problem: "no weight_map object")
            }
            var shards: [String: SafetensorsFile] = [:]
            for (name, v) in wm {
                guard let f = v.stringValue, !f.contains("/") else {
                    throw FolioError.malformedFile(path: index, problem: "weight_map entry \(name) is not a file name")
                }
                if shards[f] == nil {
                    let s = try SafetensorsFile(path: directory + "/" + f)
                    shards[f] = s
                    files.append(s)
                }
                guard shards[f]!.tensor(named: name) != nil else {
                    throw FolioError.malformedFile(path: index, problem: "tensor \(name) is not in shard \(f)")
                }
                map[name] = shards[f]
            }
        } else {
            let single = directory + "/model.safetensors"
            guard fm.fileExists(atPath: single) else {
                throw FolioError.missing(path: directory, what: "model.safetensors or model.safetensors.index.json")
            }
            let s = try SafetensorsFile(path: single)
            files = [s]
            for n in s.tensorNames { map[n] = s }
        }
        self.files = files
        byName = map
    }

    public var tensorNames: [String] { byName.keys.sorted() }
    public func tensor(named name: String) -> WeightTensor? { byName[name]?.tensor(named: name) }
}
