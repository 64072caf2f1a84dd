import FolioWeights
import Foundation

/// A request's own pooling choices: `dimensions` cuts the embedding (Matryoshka), `normalize` overrides the model's.
public struct PoolingOptions: Sendable, Equatable {
    public var dimensions: Int?
    public var normalize: Bool?
    public init(dimensions: Int? = nil, normalize: Bool? = nil) {
        self.dimensions = dimensions
        self.normalize = normalize
    }
}

/// How a sequence's hidden states become one embedding: Sentence-Transformers' `Pooling` module (or vLLM's
/// `--pooler-config`), then optional L2 normalization (its `Normalize` module).
public struct PoolingConfig: Sendable, Equatable {
    /// vLLM's `pooling_type` names.
    public enum Kind: String, Sendable, CaseIterable { case mean = "MEAN", cls = "CLS", last = "LAST" }
    public var kind: Kind
    public var normalize: Bool
    /// Sentence-Transformers' `max_seq_length` (sentence_bert_config.json), when the model folder has one.
    public var maxSeqLength: Int? = nil
    /// sentence_bert_config.json's `do_lower_case`: lowercase text before tokenizing.
    public var lowercase = false

    public init(kind: Kind, normalize: Bool) {
        self.kind = kind
        self.normalize = normalize
    }

    /// The pooling a Sentence-Transformers folder declares (modules.json and each module's config), or nil when the
    /// folder has no modules.json. Modules Folio does not run (Dense projections, other pooling modes, ...) are
    /// refused with their name rather than skipped: a skipped module is a wrong embedding nobody sees.
    public static func sentenceTransformers(modelPath: String) throws -> PoolingConfig? {
        let modules = modelPath + "/modules.json"
        guard FileManager.default.fileExists(atPath: modules) else { return nil }
        guard let list = try JSONValue.parse(file: modules).arrayValue else {
            throw FolioError.malformedFile(path: modules, problem: "not a list of modules")
        }
        var kind: Kind? = nil, normalize = false
        for m in list {
            let type = m["type"]?.stringValue ?? ""
            let dir = modelPath + "/" + (m["path"]?.stringValue ?? "")
            switch type {
            case "sentence_transformers.models.Transformer", "sentence_transformers.base.modules.transformer.Transformer": break
            case "sentence_transformers.models.Pooling", "sentence_transformers.base.modules.pooling.Pooling":
                kind = try poolingMode(dir + "/config.json")
            case "sentence_transformers.models.Normalize", "sentence_transformers.base.modules.normalize.Normalize": normalize = true
            default: throw FolioError.unsupported(path: modules, what: "Sentence-Transformers module \(type)")
            }
        }
        guard let kind else { throw FolioError.unsupported(path: modules, what: "modules without a Pooling module") }
        var p = PoolingConfig(kind: kind, normalize: normalize)
        let st = modelPath + "/sentence_bert_config.json"
        if FileManager.default.fileExists(atPath: st) {
            let j = try JSONValue.parse(file: st)
            p.maxSeqLength = j["max_seq_length"]?.intValue
            p.lowercase = j["do_lower_case"]?.boolValue ?? false
        }
        return p
    }

    static func poolingMode(_ path: String) throws -> Kind {
        let j = try JSONValue.parse(file: path)
        let modes: [(String, Kind?)] = [("pooling_mode_cls_token", .cls), ("pooling_mode_mean_tokens", .mean), ("pooling_mode_lasttoken", .last),
                                        ("pooling_mode_max_tokens", nil), ("pooling_mode_mean_sqrt_len_tokens", nil),
                                        ("pooling_mode_weightedmean_tokens", nil)]
        let on = modes.filter { j[$0.0]?.boolValue == true }
        guard on.count == 1 else {
            throw FolioError.unsupported(path: path, what: "pooling with \(on.count) modes on (\(on.map(\.0).joined(separator: ", "))); one of cls, mean or lasttoken is")
        }
        guard let k = on[0].1 else { throw FolioError.unsupported(path: path, what: "pooling mode \(on[0].0) (supported: cls_token, mean_tokens, lasttoken)") }
        if j["include_prompt"]?.boolValue == false { throw FolioError.unsupported(path: path, what: "include_prompt false") }
        return k
    }

    /// vLLM's `--pooler-config` JSON: `pooling_type` (MEAN, CLS, LAST) and `use_activation` (or the older
    /// `normalize`) over `base`.
    public static func parse(json: String, over base: PoolingConfig) throws -> PoolingConfig {
        let j: JSONValue
        do { j = try JSONValue.parse(Data(json.utf8)) } catch {
            throw FolioError.invalidArgument(name: "--pooler-config", message: "not valid JSON: \(json)")
        }
        guard let o = j.objectValue else { throw FolioError.invalidArgument(name: "--pooler-config", message: "must be a JSON object") }
        var p = base
        for (k, v) in o {
            switch k {
            case "pooling_type", "seq_pooling_type":
                guard let s = v.stringValue, let kind = Kind(rawValue: s.uppercased()) else {
                    throw FolioError.invalidArgument(name: "--pooler-config", message: "pooling_type must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), got \(v.jsonString)")
                }
                p.kind = kind
            case "use_activation", "normalize":
                guard let b = v.boolValue else { throw FolioError.invalidArgument(name: "--pooler-config", message: "\(k) must be true or false") }
                p.normalize = b
            default: throw FolioError.invalidArgument(name: "--pooler-config", message: "unknown or unsupported field \(k)")
            }
        }
        return p
    }

    /// One embedding from a sequence's hidden states (`hidden`: `count` rows of `width`, all of them for MEAN; for
    /// CLS or LAST the caller may pass just that row), cut to `dimensions` (Matryoshka) before normalizing, as vLLM.
    public func pool(_ hidden: UnsafeBufferPointer<Float>, count: Int, width: Int, options: PoolingOptions = PoolingOptions()) -> [Float] {
        var e = [Float](repeating: 0, count: width)
        switch kind {
        case .mean:
            var acc = [Double](repeating: 0, count: width)
            for t in 0..<count { for i in 0..<width { acc[i] += Double(hidden[t * width + i]) } }
            for i in 0..<width { e[i] = Float(acc[i] / Double(count)) }
        case .cls: for i in 0..<width { e[i] = hidden[i] }
        case .last: for i in 0..<width { e[i] = hidden[(count - 1) * width + i] }
        }
        if let d = options.dimensions, d < width { e.removeLast(width - d) }
        if options.normalize ?? normalize {
            let n = e.reduce(Double(0)) { $0 + Double($1) * Double($1) }.squareRoot()
            // torch.nn.functional.normalize's eps.
            let inv = Float(1 / max(n, 1e-12))
            for i in e.indices { e[i] *= inv }
        }
        return e
    }
}
