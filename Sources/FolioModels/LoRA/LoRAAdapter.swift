import CFolioKernels
import FolioWeights
import Foundation

/// The projections of a decoder layer an adapter can change.
public enum LoRATarget: Int, CaseIterable, Sendable {
    case q, k, v, o, gate, up, down
}

/// How an adapter's weights are held in memory (vLLM's `--lora-dtype`): `auto` is float32 (the engine computes in
/// float32, and the adapter then equals transformers+peft's); float16 halves the bytes each decode step streams per
/// adapter, at float16's rounding of the weights.
public enum LoRADType: String, Sendable, CaseIterable {
    case auto, float16, float32
}

/// A matrix of float32 or float16 values in its own allocation (the kernels read it through a raw pointer).
final class LoRAMatrix: @unchecked Sendable {
    let count: Int
    let isHalf: Bool
    let data: UnsafeMutableRawPointer

    /// Fills [count] values from `fill(i)`; converted to float16 if `half`.
    init(count: Int, half: Bool, _ fill: (UnsafeMutablePointer<Float>) -> Void) {
        self.count = count
        isHalf = half
        let f = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        fill(f)
        if half {
            let h = UnsafeMutablePointer<UInt16>.allocate(capacity: max(count, 1))
            for i in 0..<count { h[i] = folio_fp32_to_fp16(f[i]) }
            f.deallocate()
            data = UnsafeMutableRawPointer(h)
        } else {
            data = UnsafeMutableRawPointer(f)
        }
    }

    deinit { data.deallocate() }
    var byteCount: Int { count * (isHalf ? 2 : 4) }
}

/// One projection's low-rank update, y += scale * B (A x) (Hu et al.; PEFT's `lora_A`, `lora_B`).
struct LoRAProjection: Sendable {
    let rank: Int
    let inFeatures: Int
    let outFeatures: Int
    /// [rank, in]: PEFT's lora_A.
    let a: LoRAMatrix
    /// [rank, out]: lora_B transposed with the scale folded in (the expand kernel streams its rows).
    let bt: LoRAMatrix
}

/// A Hugging Face PEFT LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`) read for one base model:
/// its tensors checked against the model's projection shapes, scaled (alpha / r, or alpha / sqrt(r) with rsLoRA),
/// and for GGUF llama-family bases with the Q/K row permutation llama.cpp's converter applied to the base applied
/// to lora_B of q_proj and k_proj too.
///
/// ```swift
/// let adapter = try LoRAAdapter.load(path: "adapters/sql", for: model, maxRank: 64)
/// let logits = try model.forward(tokens: ids, cache: model.makeCache(), lora: adapter)
/// ```
public final class LoRAAdapter: Sendable {
    public let path: String
    /// The largest rank over the adapted projections.
    public let rank: Int
    /// `base_model_name_or_path` from the adapter's config (informational).
    public let baseModelName: String?
    /// Projections adapted, as names ("q", "k", ...), in order.
    public let targets: [String]
    /// [layer][LoRATarget.rawValue]
    let layers: [[LoRAProjection?]]
    /// This load's number (every load gets a new one): how model-parallel workers tell a step's adapters apart.
    public let serial: Int
    /// Held as float16 (`LoRADType.float16`).
    let isHalf: Bool
    static let serials = NSLock()
    nonisolated(unsafe) static var lastSerial = 0

    init(path: String, rank: Int, baseModelName: String?, targets: [String], layers: [[LoRAProjection?]], half: Bool, serial: Int?) {
        self.serial = serial ?? Self.serials.withLock { Self.lastSerial += 1; return Self.lastSerial }
        isHalf = half
        self.path = path
        self.rank = rank
        self.baseModelName = baseModelName
        self.targets = targets
        self.layers = layers
    }

    /// Bytes of weights held (A and the scaled, transposed B of every projection; a fused projection's A once).
    public var byteCount: Int {
        var seen = Set<ObjectIdentifier>(), n = 0
        for l in layers { for p in l.compactMap({ $0 }) { for m in [p.a, p.bt] where seen.insert(ObjectIdentifier(m)).inserted { n += m.byteCount } } }
        return n
    }

    func projection(_ layer: Int, _ target: LoRATarget) -> LoRAProjection? { layers[layer][target.rawValue] }

    /// Reads and checks an adapter folder for `model`. Errors name the file and what is wrong: a missing file, a
    /// PEFT feature Folio does not implement (DoRA, modules_to_save, bias, ...), a module it cannot adapt, a rank
    /// above `maxRank`, a shape that does not fit the base model. `dtype`: how the weights are held.
    /// `serial`: the load number rank 0 gave the same adapter (a model-parallel worker's load).
    public static func load(path: String, for model: CausalLM, maxRank: Int, dtype: LoRADType = .auto, serial: Int? = nil) throws -> LoRAAdapter {
        guard model.pipeline == nil else { throw FolioError.invalidArgument(name: "lora", message: "LoRA adapters do not run with pipeline parallelism yet") }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw FolioError.io(path: path, message: "no such adapter directory")
        }
        let cfgPath = path + "/adapter_config.json"
        guard FileManager.default.fileExists(atPath: cfgPath) else { throw FolioError.missing(path: path, what: "adapter_config.json") }
        let cfg = try PEFTConfig(try JSONValue.parse(file: cfgPath), path: cfgPath, maxRank: maxRank)
        let weightsPath = path + "/adapter_model.safetensors"
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw FolioError.missing(path: path, what: "adapter_model.safetensors (only safetensors adapters are read)")
        }
        let file = try SafetensorsFile(path: weightsPath)
        return try LoRAReader(model: model, config: cfg, file: file, maxRank: maxRank,
                              half: dtype == .float16).read(path: path, serial: serial)
    }
}

/// The fields of a PEFT `LoraConfig` that decide how the weights apply, validated as vLLM's PEFTHelper does.
struct PEFTConfig {
    let r: Int
    let alpha: Double
    let useRSLoRA: Bool
    let rankPattern: [(String, Int)]
    let alphaPattern: [(String, Double)]
    let baseModelName: String?

    init(_ j: JSONValue, path: String, maxRank: Int) throws {
        func bad(_ m: String) -> FolioError { .unsupported(path: path, what: m) }
        if let t = j["peft_type"]?.stringValue, t.uppercased() != "LORA" { throw bad("peft_type \(t) (only LORA adapters are served)") }
        guard let r = j["r"]?.intValue, r > 0 else {
            throw FolioError.malformedFile(path: path, problem: "LoRA rank `r` must be a positive integer, got \(j["r"]?.jsonString ?? "nothing")")
        }
        self.r = r
        alpha = j["lora_alpha"]?.doubleValue ?? 8
        useRSLoRA = j["use_rslora"]?.boolValue ?? false
        rankPattern = (j["rank_pattern"]?.objectValue ?? []).compactMap { k, v in v.intValue.map { (k, $0) } }
        alphaPattern = (j["alpha_pattern"]?.objectValue ?? []).compactMap { k, v in v.doubleValue.map { (k, $0) } }
        baseModelName = j["base_model_name_or_path"]?.stringValue
        var errors: [String] = []
        if let m = j["modules_to_save"]?.arrayValue, !m.isEmpty {
            errors.append("Folio only supports modules_to_save being None. Unsupported modules_to_save: \(m.compactMap(\.stringValue))")
        }
        if j["use_dora"]?.boolValue == true { errors.append("Folio does not yet support DoRA.") }
        if j["lora_bias"]?.boolValue == true { errors.append("Folio does not support LoRA bias (lora_bias).") }
        if let b = j["bias"]?.stringValue, b != "none" { errors.append("Adapter bias is not supported.") }
        if j["fan_in_fan_out"]?.boolValue == true { errors.append("fan_in_fan_out (Conv1D) adapters are not supported.") }
        if let i = j["init_lora_weights"]?.stringValue, !["gaussian", "eva", "orthogonal", "mica", "lora_ga"].contains(i.lowercased()) {
            errors.append("Folio does not support init_lora_weights='\(i)': it modifies the base model's weights.")
        }
        if let l = j["layer_replication"], !l.isNull { errors.append("Folio does not support layer_replication.") }
        let maxR = ([r] + rankPattern.map(\.1)).max()!
        if maxR > maxRank { errors.append("LoRA rank \(maxR) is greater than max_lora_rank \(maxRank).") }
        if !errors.isEmpty { throw FolioError.invalidArgument(name: "lora", message: errors.joined(separator: " ")) }
    }

    /// PEFT's pattern lookup: a key applies to a module whose name is the key or ends with "." + key (as a regex).
    func value<T>(_ patterns: [(String, T)], module: String) -> T? {
        for (k, v) in patterns {
            if let re = try? NSRegularExpression(pattern: "^(.*\\.)?(\(k))$"),
               re.firstMatch(in: module, range: NSRange(module.startIndex..., in: module)) != nil { return v }
        }
        return nil
    }

    func scale(module: String, rank: Int) -> Float {
        let a = value(alphaPattern, module: module) ?? alpha
        return Float(useRSLoRA ? a / Double(rank).squareRoot() : a / Double(rank))
    }
}

/// Maps an adapter's tensors onto the base model's projections.
struct LoRAReader {
    let model: CausalLM
    let config: PEFTConfig
    let file: SafetensorsFile
    let maxRank: Int
    let half: Bool

    /// The whole model's config (under tensor parallelism `model.config` is this rank's share; adapters come whole).
    var base: ModelConfig { model.shard.map { $0.full(model.config) } ?? model.config }

    /// The targets a PEFT module name (after `layers.N.`) covers, and the row range of lora_B each takes.
    func targets(_ suffix: String) -> [(LoRATarget, Range<Int>)]? {
        let c = base, ff = c.intermediateSize
        switch suffix {
        case "self_attn.q_proj": return [(.q, 0..<c.qDim)]
        case "self_attn.k_proj": return [(.k, 0..<c.kvDim)]
        case "self_attn.v_proj": return [(.v, 0..<c.kvDim)]
        case "self_attn.o_proj": return [(.o, 0..<c.hiddenSize)]
        case "self_attn.qkv_proj":
            return [(.q, 0..<c.qDim), (.k, c.qDim..<(c.qDim + c.kvDim)), (.v, (c.qDim + c.kvDim)..<(c.qDim + 2 * c.kvDim))]
        case "mlp.gate_proj": return [(.gate, 0..<ff)]
        case "mlp.up_proj": return [(.up, 0..<ff)]
        case "mlp.down_proj": return [(.down, 0..<c.hiddenSize)]
        case "mlp.gate_up_proj": return [(.gate, 0..<ff), (.up, ff..<(2 * ff))]
        default: return nil
        }
    }

    func inFeatures(_ t: LoRATarget) -> Int {
        let c = base
        switch t {
        case .q, .k, .v, .gate, .up: return c.hiddenSize
        case .o: return c.qDim
        case .down: return c.intermediateSize
        }
    }

    func read(path: String, serial: Int?) throws -> LoRAAdapter {
        let c = base
        let fpath = file.path
        func bad(_ m: String) -> FolioError { .malformedFile(path: fpath, problem: m) }
        guard c.latentAttention == nil else {
            throw FolioError.unsupported(path: fpath, what: "LoRA adapters on \(c.architecture) (multi-head latent attention)")
        }
        var modules: [String: (a: WeightTensor?, b: WeightTensor?)] = [:]
        for name in file.tensorNames {
            var n = name
            if n.hasPrefix("base_model.model.") { n.removeFirst("base_model.model.".count) }
            for (suffix, isA) in [(".lora_A.weight", true), (".lora_B.weight", false)] where n.hasSuffix(suffix) {
                let module = String(n.dropLast(suffix.count))
                if isA { modules[module, default: (nil, nil)].a = file.tensor(named: name) } else { modules[module, default: (nil, nil)].b = file.tensor(named: name) }
            }
            if !n.hasSuffix(".lora_A.weight") && !n.hasSuffix(".lora_B.weight") {
                if n.contains("lora_magnitude_vector") { throw FolioError.invalidArgument(name: "lora", message: "Folio does not yet support DoRA.") }
                throw FolioError.unsupported(path: fpath, what: "adapter tensor \(name) (Folio applies lora_A/lora_B of q/k/v/o and gate/up/down projections)")
            }
        }
        guard !modules.isEmpty else { throw bad("no lora_A/lora_B tensors") }
        var layers = [[LoRAProjection?]](repeating: Array(repeating: nil, count: LoRATarget.allCases.count), count: c.numLayers)
        var maxR = 0
        var seen = Set<String>()
        let layerRE = try! NSRegularExpression(pattern: "(^|\\.)layers\\.([0-9]+)\\.(.+)$")
        for module in modules.keys.sorted() {
            let (aT, bT) = modules[module]!
            guard let aT, let bT else { throw bad("module \(module) has lora_\(aT == nil ? "A" : "B") but not lora_\(aT == nil ? "B" : "A")") }
            guard let m = layerRE.firstMatch(in: module, range: NSRange(module.startIndex..., in: module)),
                  let li = Int(module[Range(m.range(at: 2), in: module)!]),
                  let list = targets(String(module[Range(m.range(at: 3), in: module)!])) else {
                throw FolioError.unsupported(path: fpath, what: "LoRA on module \(module) (Folio adapts the q/k/v/o and gate/up/down projections of decoder layers)")
            }
            guard li < c.numLayers else { throw bad("module \(module): the model has \(c.numLayers) layers") }
            if case .moe = model.weights.layers[li].ffn, list.contains(where: { [.gate, .up, .down].contains($0.0) }) {
                throw FolioError.unsupported(path: fpath, what: "LoRA on the MLP of a mixture-of-experts layer (\(module))")
            }
            guard aT.shape.count == 2, bT.shape.count == 2 else { throw bad("\(module): lora_A \(aT.shape), lora_B \(bT.shape) are not matrices") }
            let r = aT.shape[0], inF = inFeatures(list[0].0), outF = list.last!.1.upperBound
            guard r > 0, aT.shape[1] == inF, bT.shape == [outF, r] else {
                throw bad("\(module): lora_A \(aT.shape) and lora_B \(bT.shape) do not fit the base projection (expected [r, \(inF)] and [\(outF), r])")
            }
            if r > maxRank {
                throw FolioError.invalidArgument(name: "lora", message: "LoRA rank \(r) is greater than max_lora_rank \(maxRank).")
            }
            maxR = max(maxR, r)
            let aF = try aT.toFloats(), b = try bT.toFloats()
            // Under tensor parallelism: this rank's input columns of A (o, down) and output rows of B (q/k/v, gate/up).
            let cols = model.shard?.lora(list[0].0, c).columns ?? 0..<inF
            let a = LoRAMatrix(count: r * cols.count, half: half) { p in
                for k in 0..<r { for (j, i) in cols.enumerated() { p[k * cols.count + j] = aF[k * inF + i] } }
            }
            let scale = config.scale(module: module, rank: r)
            for (t, rows) in list {
                let perm = permutation(t, rows.count), first = rows.lowerBound
                let keep = model.shard?.lora(t, c).rows ?? 0..<rows.count, n = keep.count
                let bt = LoRAMatrix(count: r * n, half: half) { dst in
                    b.withUnsafeBufferPointer { src in
                        for (o, s) in perm[keep].enumerated() {
                            let row = src.baseAddress! + (first + s) * r
                            for k in 0..<r { dst[k * n + o] = row[k] * scale }
                        }
                    }
                }
                guard layers[li][t.rawValue] == nil else { throw bad("layer \(li) \(t) is adapted twice") }
                layers[li][t.rawValue] = LoRAProjection(rank: r, inFeatures: cols.count, outFeatures: n, a: a, bt: bt)
                seen.insert("\(t)")
            }
        }
        let order = LoRATarget.allCases.map { "\($0)" }.filter { seen.contains($0) }
        return LoRAAdapter(path: path, rank: maxR, baseModelName: config.baseModelName, targets: order, layers: layers, half: half, serial: serial)
    }

    /// Output row o of the base projection comes from row perm[o] of the Hugging Face lora_B. GGUF llama-family
    /// files hold q/k rows as llama.cpp's converter permuted them (per head, halves interleaved: GGUF row
    /// h*d + 2j + s is HF row h*d + s*d/2 + j); everything else keeps the HF order.
    func permutation(_ t: LoRATarget, _ rows: Int) -> [Int] {
        let c = base
        guard c.ropeStyle == .interleaved, t == .q || t == .k else { return Array(0..<rows) }
        let d = rows / (t == .q ? c.numHeads : c.numKVHeads), half = d / 2
        return (0..<rows).map { o in
            let h = o / d, i = o % d
            return h * d + (i % 2) * half + i / 2
        }
    }
}
