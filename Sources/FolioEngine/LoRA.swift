import FolioModels
import FolioWeights
import Foundation

/// Which LoRA adapter a request runs with (vLLM's `LoRARequest`): `id` identifies one load of the adapter (its
/// prefix-cache blocks are keyed by it), `name` is what the API and metrics call it.
///
/// ```swift
/// let sql = LoRARequest(name: "sql", id: 1, path: "adapters/sql-lora")
/// try core.addRequest(id: "a", prompt: .text("SELECT"), params: .greedy, lora: sql)
/// ```
public struct LoRARequest: Sendable, Hashable {
    public let name: String
    public let id: Int
    public let path: String
    public init(name: String, id: Int, path: String) {
        self.name = name
        self.id = id
        self.path = path
    }
}

/// Multi-LoRA settings (vLLM's `--max-loras`, `--max-lora-rank`, `--max-cpu-loras`); `EngineConfig.lora` nil is
/// `--enable-lora` off.
public struct LoRAConfig: Sendable {
    /// Distinct adapters in one step's batch.
    public var maxLoras = 1
    /// Largest rank an adapter may have.
    public var maxLoraRank = 16
    /// Adapters kept in memory (least recently used evicted; nil: `maxLoras`). Adapters of requests in flight stay
    /// in memory until those requests end, whatever this says.
    public var maxCPULoras: Int? = nil
    /// How adapter weights are held (vLLM's `--lora-dtype`).
    public var dtype: LoRADType = .auto
    public init(maxLoras: Int = 1, maxLoraRank: Int = 16, maxCPULoras: Int? = nil, dtype: LoRADType = .auto) {
        self.maxLoras = maxLoras
        self.maxLoraRank = maxLoraRank
        self.maxCPULoras = maxCPULoras
        self.dtype = dtype
    }

    func validate() throws {
        guard maxLoras >= 1 else { throw FolioError.invalidArgument(name: "max_loras", message: "must be >= 1, got \(maxLoras)") }
        guard maxLoraRank >= 1 else { throw FolioError.invalidArgument(name: "max_lora_rank", message: "must be >= 1, got \(maxLoraRank)") }
        if let c = maxCPULoras, c < maxLoras {
            throw FolioError.invalidArgument(name: "max_cpu_loras", message: "max_cpu_loras (\(c)) must be >= max_loras (\(maxLoras)).")
        }
    }
}

/// The adapters in memory, by request id, least recently used first out. Loading happens on the caller's thread
/// (`EngineCore.prepare`), never in the step loop; a request holds its adapter, so evicting or unloading one never
/// changes a request in flight.
public final class LoRARegistry: Sendable {
    let model: CausalLM
    let config: LoRAConfig
    struct Entry { let request: LoRARequest; let adapter: LoRAAdapter }
    let state = Locked<[Entry]>([])  // most recently used last

    init(model: CausalLM, config: LoRAConfig) {
        self.model = model
        self.config = config
    }

    /// The adapter for `request`, read from its path the first time (or after eviction).
    public func adapter(for request: LoRARequest) throws -> LoRAAdapter {
        if let a = state.withLock({ s -> LoRAAdapter? in
            guard let i = s.firstIndex(where: { $0.request.id == request.id }) else { return nil }
            let e = s.remove(at: i)
            s.append(e)
            return e.adapter
        }) { return a }
        let adapter = try LoRAAdapter.load(path: request.path, for: model, maxRank: config.maxLoraRank, dtype: config.dtype)
        state.withLock { s in
            s.removeAll { $0.request.id == request.id }
            s.append(Entry(request: request, adapter: adapter))
            let keep = config.maxCPULoras ?? config.maxLoras
            if s.count > keep { s.removeFirst(s.count - keep) }
        }
        return adapter
    }

    /// Forgets an adapter (requests holding it finish with it).
    public func remove(id: Int) { state.withLock { $0.removeAll { $0.request.id == id } } }

    /// The requests whose adapters are in memory, least recently used first.
    public var loaded: [LoRARequest] { state.withLock { $0.map(\.request) } }
}
