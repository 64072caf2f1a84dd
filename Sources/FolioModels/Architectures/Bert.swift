import CFolioKernels
import FolioKernels
import FolioWeights
import Foundation

/// A BERT-family encoder's config (Hugging Face `BertModel` config.json), every field that changes the math either
/// honoured or refused: post-LayerNorm layers, absolute positions, token types, bidirectional attention.
public struct BertConfig: Sendable {
    public enum Activation: String, Sendable { case gelu, geluTanh, relu }
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var activation: Activation
    public var headDim: Int { hiddenSize / numHeads }

    /// Hugging Face `architectures` names read as BERT encoders.
    public static let architectures = ["BertModel", "BertForMaskedLM", "BertForPreTraining"]

    static func fromHuggingFace(_ j: JSONValue, path: String) throws -> BertConfig {
        func int(_ k: String, _ d: Int? = nil) throws -> Int {
            guard let v = j[k]?.intValue ?? d else { throw FolioError.missing(path: path, what: "config field \(k)") }
            return v
        }
        func bad(_ m: String) -> FolioError { .unsupported(path: path, what: m) }
        let act: Activation
        switch j["hidden_act"]?.stringValue ?? "gelu" {
        case "gelu": act = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": act = .geluTanh
        case "relu": act = .relu
        case let a: throw bad("hidden_act \(a) (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)")
        }
        if let p = j["position_embedding_type"]?.stringValue, p != "absolute" { throw bad("position_embedding_type \(p) (only absolute)") }
        if j["is_decoder"]?.boolValue == true { throw bad("is_decoder true (Folio runs BERT as an encoder)") }
        if j["add_cross_attention"]?.boolValue == true { throw bad("add_cross_attention true") }
        let c = BertConfig(vocabSize: try int("vocab_size"), hiddenSize: try int("hidden_size"), numLayers: try int("num_hidden_layers"),
                           numHeads: try int("num_attention_heads"), intermediateSize: try int("intermediate_size"),
                           maxPositionEmbeddings: try int("max_position_embeddings", 512), typeVocabSize: try int("type_vocab_size", 2),
                           layerNormEps: Float(j["layer_norm_eps"]?.doubleValue ?? 1e-12), activation: act)
        try c.validate(path: path)
        return c
    }

    /// llama.cpp's `bert` GGUF metadata (its converter writes no activation: BERT's is exact gelu, as transformers').
    static func fromGGUF(_ g: GGUFFile) throws -> BertConfig {
        func int(_ k: String) throws -> Int {
            guard let v = g.archValue(k)?.intValue else { throw FolioError.missing(path: g.path, what: "metadata bert.\(k)") }
            return v
        }
        if g.archValue("attention.causal")?.boolValue == true { throw FolioError.unsupported(path: g.path, what: "a causal BERT (bert.attention.causal)") }
        guard let emb = g.tensor(named: "token_embd.weight"), let types = g.tensor(named: "token_types.weight") else {
            throw FolioError.missing(path: g.path, what: "tensor token_embd.weight or token_types.weight")
        }
        let c = BertConfig(vocabSize: emb.rows, hiddenSize: try int("embedding_length"), numLayers: try int("block_count"),
                           numHeads: try int("attention.head_count"), intermediateSize: try int("feed_forward_length"),
                           maxPositionEmbeddings: try int("context_length"), typeVocabSize: types.rows,
                           layerNormEps: Float(g.archValue("attention.layer_norm_epsilon")?.doubleValue ?? 1e-12), activation: .gelu)
        try c.validate(path: g.path)
        return c
    }

    func validate(path: String) throws {
        guard vocabSize > 0, hiddenSize > 0, numLayers > 0, numHeads > 0, intermediateSize > 0, maxPositionEmbeddings > 0,
              typeVocabSize > 0, hiddenSize <= 1 << 16, intermediateSize <= 1 << 18, numLayers <= 1 << 10 else {
            throw FolioError.malformedFile(path: path, problem: "config has an invalid size")
        }
        guard hiddenSize % numHeads == 0 else {
            throw FolioError.malformedFile(path: path, problem: "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numHeads)")
        }
        guard layerNormEps.isFinite, layerNormEps > 0 else { throw FolioError.malformedFile(path: path, problem: "layer_norm_eps must be positive") }
    }
}

/// A BERT encoder over a Hugging Face checkpoint (weights read in place): token, position and token-type embeddings,
/// then post-LayerNorm layers with bidirectional attention. Returns every token's last hidden state; pooling is the
/// caller's (`EmbeddingModel`).
public final class BertModel: Sendable {
    struct Layer: Sendable {
        let q, k, v, o, up, down: WeightTensor
        let qb, kb, vb, ob, upb, downb: [Float]
        let attnNormW, attnNormB, outNormW, outNormB: [Float]
    }
    public let config: BertConfig
    public let path: String
    public let options: ForwardOptions
    let source: any WeightSource
    let word, position, tokenType: WeightTensor
    let embNormW, embNormB: [Float]
    let layers: [Layer]

    /// A Hugging Face folder (config.json + safetensors).
    public convenience init(path: String, config j: JSONValue, options: ForwardOptions = ForwardOptions()) throws {
        let c = try BertConfig.fromHuggingFace(j, path: path + "/config.json")
        let src = try SafetensorsCheckpoint(directory: path)
        // BertForMaskedLM / BertForPreTraining checkpoints put the encoder under "bert.".
        let p = src.tensor(named: "bert.embeddings.word_embeddings.weight") != nil ? "bert." : ""
        try self.init(config: c, source: src, path: path, options: options) { p + $0 }
    }

    /// A llama.cpp `bert` GGUF file (any tensor type Folio reads; float32 activations).
    public convenience init(gguf g: GGUFFile, options: ForwardOptions = ForwardOptions()) throws {
        try self.init(config: try BertConfig.fromGGUF(g), source: g, path: g.path, options: options, name: Self.ggufName)
    }

    /// llama.cpp's converter's name for a Hugging Face BERT tensor.
    static func ggufName(_ hf: String) -> String {
        let fixed = ["embeddings.word_embeddings.weight": "token_embd.weight", "embeddings.position_embeddings.weight": "position_embd.weight",
                     "embeddings.token_type_embeddings.weight": "token_types.weight", "embeddings.LayerNorm.weight": "token_embd_norm.weight",
                     "embeddings.LayerNorm.bias": "token_embd_norm.bias"]
        if let f = fixed[hf] { return f }
        let parts = hf.split(separator: ".")   // encoder.layer.N.<module...>.(weight|bias)
        guard parts.count >= 5, parts[0] == "encoder", parts[1] == "layer" else { return hf }
        let module = parts[3..<(parts.count - 1)].joined(separator: ".")
        let map = ["attention.self.query": "attn_q", "attention.self.key": "attn_k", "attention.self.value": "attn_v",
                   "attention.output.dense": "attn_output", "attention.output.LayerNorm": "attn_output_norm",
                   "intermediate.dense": "ffn_up", "output.dense": "ffn_down", "output.LayerNorm": "layer_output_norm"]
        return "blk.\(parts[2]).\(map[module] ?? module).\(parts.last!)"
    }

    /// The weights of `source`, named as Hugging Face names them through `name`.
    init(config c: BertConfig, source src: any WeightSource, path: String, options: ForwardOptions, name: (String) -> String) throws {
        config = c
        self.path = path
        self.options = options
        source = src
        let H = c.hiddenSize, F = c.intermediateSize
        func matrix(_ n: String, _ rows: Int, _ cols: Int) throws -> WeightTensor {
            let t = try src.require(name(n))
            guard t.rows == rows, t.cols == cols, t.shape.count == 2 else {
                throw FolioError.malformedFile(path: path, problem: "\(name(n)) has shape \(t.shape), expected [\(rows), \(cols)]")
            }
            guard t.type.isSupported else { throw FolioError.unsupported(path: path, what: "type \(t.type) of \(name(n))") }
            return t
        }
        func vector(_ n: String, _ len: Int) throws -> [Float] {
            let t = try src.require(name(n))
            guard t.elementCount == len, t.shape.count == 1 else {
                throw FolioError.malformedFile(path: path, problem: "\(name(n)) has shape \(t.shape), expected [\(len)]")
            }
            return try t.toFloats()
        }
        word = try matrix("embeddings.word_embeddings.weight", c.vocabSize, H)
        position = try matrix("embeddings.position_embeddings.weight", c.maxPositionEmbeddings, H)
        tokenType = try matrix("embeddings.token_type_embeddings.weight", c.typeVocabSize, H)
        embNormW = try vector("embeddings.LayerNorm.weight", H)
        embNormB = try vector("embeddings.LayerNorm.bias", H)
        layers = try (0..<c.numLayers).map { l in
            let b = "encoder.layer.\(l)."
            return Layer(q: try matrix(b + "attention.self.query.weight", H, H), k: try matrix(b + "attention.self.key.weight", H, H),
                         v: try matrix(b + "attention.self.value.weight", H, H), o: try matrix(b + "attention.output.dense.weight", H, H),
                         up: try matrix(b + "intermediate.dense.weight", F, H), down: try matrix(b + "output.dense.weight", H, F),
                         qb: try vector(b + "attention.self.query.bias", H), kb: try vector(b + "attention.self.key.bias", H),
                         vb: try vector(b + "attention.self.value.bias", H), ob: try vector(b + "attention.output.dense.bias", H),
                         upb: try vector(b + "intermediate.dense.bias", F), downb: try vector(b + "output.dense.bias", H),
                         attnNormW: try vector(b + "attention.output.LayerNorm.weight", H),
                         attnNormB: try vector(b + "attention.output.LayerNorm.bias", H),
                         outNormW: try vector(b + "output.LayerNorm.weight", H), outNormB: try vector(b + "output.LayerNorm.bias", H))
        }
    }

    /// Parameter count (elements of every tensor but buffers such as position_ids).
    public var parameterCount: Int {
        source.tensorNames.reduce(0) { n, name in
            guard let t = source.tensor(named: name), [TensorType.f32, .f16, .bf16].contains(t.type) else { return n }
            return n + t.elementCount
        }
    }

    /// The last hidden state of every token of every sequence: `[sequences][length * hidden]`. Sequences are run
    /// together (their tokens concatenated, attention within each); `tokenTypes` defaults to 0 for every token.
    public func hiddenStates(_ seqs: [[Int32]], tokenTypes: [[Int32]]? = nil) throws -> [[Float]] {
        let c = config, H = c.hiddenSize, F = c.intermediateSize
        for (i, s) in seqs.enumerated() {
            guard !s.isEmpty else { throw FolioError.invalidArgument(name: "input", message: "sequence \(i) is empty") }
            guard s.count <= c.maxPositionEmbeddings else {
                throw FolioError.invalidArgument(name: "input", message: "sequence \(i) has \(s.count) tokens; the model has \(c.maxPositionEmbeddings) positions")
            }
            for t in s where t < 0 || Int(t) >= c.vocabSize {
                throw FolioError.invalidArgument(name: "token id", message: "\(t) is outside the vocabulary (0..<\(c.vocabSize))")
            }
        }
        if let tt = tokenTypes {
            guard tt.count == seqs.count, zip(tt, seqs).allSatisfy({ $0.count == $1.count }) else {
                throw FolioError.invalidArgument(name: "token types", message: "one token type per token is needed")
            }
            for t in tt.joined() where t < 0 || Int(t) >= c.typeVocabSize {
                throw FolioError.invalidArgument(name: "token type", message: "\(t) is outside 0..<\(c.typeVocabSize)")
            }
        }
        let starts = seqs.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let T = starts.last!
        guard T > 0 else { return [] }
        let x = UnsafeMutablePointer<Float>.allocate(capacity: T * H)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: T * H), k = UnsafeMutablePointer<Float>.allocate(capacity: T * H)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: T * H), att = UnsafeMutablePointer<Float>.allocate(capacity: T * H)
        let o = UnsafeMutablePointer<Float>.allocate(capacity: T * H), u = UnsafeMutablePointer<Float>.allocate(capacity: T * F)
        defer { for p in [x, q, k, v, att, o, u] { p.deallocate() } }

        let row = UnsafeMutablePointer<Float>.allocate(capacity: H)
        defer { row.deallocate() }
        for (s, seq) in seqs.enumerated() {
            for (i, id) in seq.enumerated() {
                let dst = x + (starts[s] + i) * H
                word.dequantizeRow(Int(id), into: dst)
                position.dequantizeRow(i, into: row)
                for j in 0..<H { dst[j] += row[j] }
                tokenType.dequantizeRow(Int(tokenTypes?[s][i] ?? 0), into: row)
                for j in 0..<H { dst[j] += row[j] }
            }
        }
        norm(x, embNormW, embNormB, T)
        let act: Int32
        switch c.activation {
        case .gelu: act = Int32(FOLIO_ACT_GELU)
        case .geluTanh: act = Int32(FOLIO_ACT_GELU_TANH)
        case .relu: act = Int32(FOLIO_ACT_RELU)
        }
        for L in layers {
            linear(L.q, L.qb, x, T, q)
            linear(L.k, L.kb, x, T, k)
            linear(L.v, L.vb, x, T, v)
            attention(q, k, v, att, starts)
            linear(L.o, L.ob, att, T, o)
            residualNorm(x, o, L.attnNormW, L.attnNormB, T)
            linear(L.up, L.upb, x, T, u, act: act)
            linear(L.down, L.downb, u, T, o)
            residualNorm(x, o, L.outNormW, L.outNormB, T)
        }
        return seqs.indices.map { Array(UnsafeBufferPointer(start: x + starts[$0] * H, count: seqs[$0].count * H)) }
    }

    /// y = act(x W^T + b) for T rows (the bias and activation on the pool too, in row chunks).
    func linear(_ w: WeightTensor, _ b: [Float], _ x: UnsafePointer<Float>, _ T: Int, _ y: UnsafeMutablePointer<Float>,
                act: Int32 = Int32(FOLIO_ACT_NONE)) {
        matmul(w.ref, x, T, y, threads: options.threads)
        let n = w.rows, ys = SharedPointer(y)
        b.withUnsafeBufferPointer { bp in
            let bs = SharedPointer(UnsafeMutablePointer(mutating: bp.baseAddress!))
            parallelFor(T, minChunk: 16, threads: options.threads) { r in
                folio_bias_act(ys.p + r.lowerBound * n, bs.p, Int64(r.count), Int64(n), act)
            }
        }
    }

    /// x = LayerNorm(x + o), row by row on the pool.
    func residualNorm(_ x: UnsafeMutablePointer<Float>, _ o: UnsafePointer<Float>, _ w: [Float], _ b: [Float], _ T: Int) {
        let H = config.hiddenSize, eps = config.layerNormEps
        let xs = SharedPointer(x), os = SharedPointer(UnsafeMutablePointer(mutating: o))
        w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                let ws = SharedPointer(UnsafeMutablePointer(mutating: wp.baseAddress!)), bs = SharedPointer(UnsafeMutablePointer(mutating: bp.baseAddress!))
                parallelFor(T, minChunk: 16, threads: options.threads) { r in
                    for t in r {
                        let row = xs.p + t * H, add = os.p + t * H
                        for i in 0..<H { row[i] += add[i] }
                        layerNorm(row, ws.p, bs.p, H, eps: eps, row)
                    }
                }
            }
        }
    }

    func norm(_ x: UnsafeMutablePointer<Float>, _ w: [Float], _ b: [Float], _ T: Int) {
        let H = config.hiddenSize, eps = config.layerNormEps
        w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in for t in 0..<T { layerNorm(x + t * H, wp.baseAddress!, bp.baseAddress!, H, eps: eps, x + t * H) } }
        }
    }

    /// Bidirectional multi-head attention within each sequence (`starts`: each sequence's first token), one
    /// (sequence, head) pair per work item, on the decoder's attention kernel (`folio_attend_rows`): the sequence's
    /// own K/V rows read in place as a float32 "cache" whose slot j is its token j, every query row over all of them.
    func attention(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                   _ starts: [Int]) {
        let H = config.hiddenSize, nh = config.numHeads, d = config.headDim
        let scale = 1 / Float(d).squareRoot()
        let qs = SharedPointer(UnsafeMutablePointer(mutating: q)), ks = SharedPointer(UnsafeMutablePointer(mutating: k))
        let vs = SharedPointer(UnsafeMutablePointer(mutating: v)), os = SharedPointer(out)
        let nseq = starts.count - 1
        let maxLen = (0..<nseq).map { starts[$0 + 1] - starts[$0] }.max() ?? 0
        let scratchFloats = Int(folio_attend_scratch_floats(Int64(maxLen), Int64(d)))
        parallelFor(nseq * nh, threads: options.threads) { range in
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: 3 * maxLen * d + 2 * maxLen + scratchFloats)
            let ints = UnsafeMutablePointer<Int32>.allocate(capacity: 3 * maxLen)
            defer { buf.deallocate(); ints.deallocate() }
            let qb = buf, O = qb + maxLen * d, ob = O + maxLen * d, M = ob + maxLen * d, L = M + maxLen, scratch = L + maxLen
            let slots = ints, lo = ints + maxLen, hi = lo + maxLen
            for item in range {
                let s = item / nh, h = item % nh
                let s0 = starts[s], n = starts[s + 1] - s0
                for i in 0..<n {
                    (qb + i * d).update(from: qs.p + (s0 + i) * H + h * d, count: d)
                    slots[i] = Int32(i)
                    lo[i] = 0
                    hi[i] = Int32(n)
                }
                var head = folio_kv_head(k: UnsafeRawPointer(ks.p + s0 * H + h * d), v: UnsafeRawPointer(vs.p + s0 * H + h * d),
                                         ks: nil, vs: nil, fmt: Int32(FOLIO_KV_F32), stride: Int64(H), scale_stride: 0)
                let R = Int64(n), chunks = (n + Int(FOLIO_ATT_CHUNK) - 1) / Int(FOLIO_ATT_CHUNK)
                folio_attend_init(R, Int64(d), O, M, L)
                folio_attend_rows(qb, R, Int64(d), &head, slots, lo, hi, 0, Int64(chunks), scale, 0, O, M, L, scratch)
                folio_attend_finish(R, Int64(d), O, L, ob)
                for i in 0..<n { (os.p + (s0 + i) * H + h * d).update(from: ob + i * d, count: d) }
            }
        }
    }
}
