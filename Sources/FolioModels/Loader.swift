import FolioKernels
import FolioWeights
import Foundation

extension CausalLM {
    /// Loads a model: a `.gguf` file, or a Hugging Face folder (config.json + safetensors). Weights stay in the mmapped
    /// file; `options` picks the fast kernels or the float32 reference path and the thread count. With
    /// `options.tensorParallelSize` or `pipelineParallelSize` N > 1 (under `mpirun -np N`), rank 0 gets its part of the
    /// model and drives the others; every other rank never returns from here: it runs rank 0's forward passes and exits
    /// when rank 0 stops.
    public static func load(path: String, options: ForwardOptions = ForwardOptions()) throws -> CausalLM {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FolioError.io(path: path, message: "no such file or directory")
        }
        let cfg: ModelConfig, source: any WeightSource
        if isDir.boolValue {
            let cfgPath = path + "/config.json"
            guard FileManager.default.fileExists(atPath: cfgPath) else { throw FolioError.missing(path: path, what: "config.json") }
            let j = try JSONValue.parse(file: cfgPath)
            let names = j["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard let name = names.first(where: { Architectures.forHuggingFace($0) != nil }), let arch = Architectures.forHuggingFace(name) else {
                throw FolioError.unsupported(path: cfgPath, what: "architecture \(names) (supported: \(Architectures.supportedNames.joined(separator: ", ")))")
            }
            cfg = try ModelConfig.fromHuggingFace(j, arch: arch, architecture: name, path: cfgPath)
            source = try SafetensorsCheckpoint(directory: path)
        } else {
            let g = try GGUFFile(path: path)
            guard let arch = g.architecture else { throw FolioError.missing(path: path, what: "general.architecture") }
            guard let family = Architectures.forGGUF(arch) else {
                throw FolioError.unsupported(path: path, what: "architecture \(arch) (supported: \(Architectures.supportedNames.joined(separator: ", ")))")
            }
            cfg = try ModelConfig.fromGGUF(g, arch: family)
            source = g
        }
        var w = try WeightLoader(source: source, config: cfg, isGGUF: !isDir.boolValue).load()
        var local = cfg, tp: ModelParallel? = nil, plan: ShardPlan? = nil, stages: PipelinePlan? = nil
        if options.tensorParallelSize > 1, options.pipelineParallelSize > 1 {
            throw FolioError.invalidArgument(name: "--pipeline-parallel-size", message: "does not combine with --tensor-parallel-size yet")
        }
        if options.pipelineParallelSize > 1 {
            let t = try ModelParallel.join(size: options.pipelineParallelSize, flag: "--pipeline-parallel-size")
            t.pointToPoint = true
            let p = try PipelinePlan(config: cfg, rank: t.rank, size: t.size)
            w = p.part(w)
            local = p.local(cfg)
            (tp, stages) = (t, p)
        }
        if options.tensorParallelSize > 1 {
            let t = try ModelParallel.join(size: options.tensorParallelSize)
            // down_proj (each expert's too) is split by columns: its ranges must be whole blocks of its encoding.
            let align = w.layers.reduce(1) { a, l in
                switch l.ffn {
                case .dense(let m): return max(a, m.down.type.blockElements)
                case .moe(let m): return ([m.shared].compactMap { $0 } + m.experts).reduce(a) { max($0, $1.down.type.blockElements) }
                }
            }
            let p = try ShardPlan(config: cfg, rank: t.rank, size: t.size, intermediateAlign: align)
            w = try p.shard(w, config: cfg)
            local = p.local(cfg)
            (tp, plan) = (t, p)
        }
        if let qt = options.quantization { w = try w.quantized(to: qt, threads: options.threads) }
        if !options.reference && options.repack { w = try w.packed(threads: options.threads) }
        let lm = CausalLM(config: local, weights: w, source: source, path: path, options: options, parallel: tp, shard: plan,
                          pipeline: stages)
        tp?.loaded()
        if let t = tp, t.rank > 0 {
            // A worker rank's whole life: rank 0's forward passes on this share, until rank 0 stops (then exit 0).
            do { try lm.runParallelWorker() } catch {
                FileHandle.standardError.write(Data("folio: rank \(t.rank): \(error)\n".utf8))
                t.check(-1, "forward pass")
            }
            exit(0)
        }
        return lm
    }

    /// Parameter count (elements of every tensor).
    public var parameterCount: Int { source.tensorNames.reduce(0) { $0 + (source.tensor(named: $1)?.elementCount ?? 0) } }
}

extension CausalLM {
    /// The encoding of every tensor (e.g. "Q4_1"), one entry per tensor.
    public var tensorTypes: [String] { source.tensorNames.compactMap { source.tensor(named: $0)?.type.description } }
}

extension CausalLM {
    /// How many projections of each tensor type run on each kernel on this CPU (`MatrixRef.kernel`; "float32" is the
    /// reference matmul, which dequantizes the weights on every call), e.g. ["Q5_0": ["int8-avx2": 81]].
    public var projectionKernels: [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        _ = try? weights.mapProjections { w in
            counts[w.type.base.description, default: [:]][options.reference ? "float32" : w.ref.kernel, default: 0] += 1
            return w
        }
        return counts
    }

    /// One line naming the projections that run on the slow float32 fallback on the fast path, or nil if none do.
    public var slowProjectionsNote: String? {
        guard !options.reference else { return nil }
        let slow = projectionKernels.compactMap { t, k in k["float32"].map { "\($0) \(t)" } }.sorted()
        guard !slow.isEmpty else { return nil }
        return "no fast kernel on this CPU for \(slow.joined(separator: ", ")) projection(s): they run the float32 matmul, "
            + "dequantizing their weights on every call"
    }
}
