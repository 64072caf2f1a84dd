import FolioEngine
import FolioOpenAI
import FolioWeights
import Foundation
import Hummingbird
import Logging

/// An adapter `folio serve` offers as a model (`--lora-modules name=path`, or loaded at runtime).
public struct LoRAModule: Sendable {
    public var name: String
    public var path: String
    /// The base model it belongs to (`parent` in /v1/models; default: the served model name).
    public var baseModelName: String?
    public init(name: String, path: String, baseModelName: String? = nil) {
        self.name = name
        self.path = path
        self.baseModelName = baseModelName
    }

    /// vLLM's `--lora-modules` forms: `name=path`, or JSON `{"name": ..., "path": ..., "base_model_name": ...}`.
    public static func parse(_ s: String) throws -> LoRAModule {
        if s.hasPrefix("{") {
            guard let j = try? JSONValue.parse(Data(s.utf8)), let name = j["name"]?.stringValue, let path = j["path"]?.stringValue else {
                throw FolioError.invalidArgument(name: "--lora-modules", message: "invalid JSON format for --lora-modules: \(s) (expected {\"name\": ..., \"path\": ...})")
            }
            return LoRAModule(name: name, path: path, baseModelName: j["base_model_name"]?.stringValue)
        }
        let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw FolioError.invalidArgument(name: "--lora-modules", message: "'\(s)' is not name=path or a JSON object")
        }
        return LoRAModule(name: parts[0], path: parts[1])
    }
}

/// The adapters the server offers by name, each with the request (and prefix-cache id) of its current load.
final class LoRAModules: Sendable {
    struct Entry { let module: LoRAModule; let request: LoRARequest }
    let state = Locked<(entries: [Entry], nextId: Int)>(([], 1))

    func request(named name: String) -> LoRARequest? { state.withLock { s in s.entries.first { $0.module.name == name }?.request } }
    var entries: [Entry] { state.withLock { $0.entries } }

    /// A new id for every load: blocks cached under an earlier load of the same name are never reused.
    func makeRequest(_ m: LoRAModule) -> LoRARequest {
        state.withLock { s in
            defer { s.nextId += 1 }
            return LoRARequest(name: m.name, id: s.nextId, path: m.path)
        }
    }

    func add(_ m: LoRAModule, _ r: LoRARequest) {
        state.withLock { s in
            s.entries.removeAll { $0.module.name == m.name }
            s.entries.append(Entry(module: m, request: r))
        }
    }

    func remove(named name: String) -> LoRARequest? {
        state.withLock { s in
            guard let i = s.entries.firstIndex(where: { $0.module.name == name }) else { return nil }
            return s.entries.remove(at: i).request
        }
    }
}

extension OpenAIServer {
    /// Reads an adapter for the engine (also its check), at startup and for the load route alike: a name that is the
    /// base model's is vLLM's 400, a missing folder vLLM's 404, a bad adapter a 400 naming the problem.
    func loadAdapter(_ m: LoRAModule) throws -> LoRARequest {
        guard let registry = core?.loras else {
            throw APIError.invalid("LoRA is not enabled; start the server with --enable-lora")
        }
        if m.name == config.servedModelName {
            throw APIError(status: 400, message: "The lora adapter '\(m.name)' conflicts with a served base model.", type: "InvalidUserInput")
        }
        let r = loraModules.makeRequest(m)
        do { _ = try registry.adapter(for: r) } catch let FolioError.io(path, _) where path == m.path {
            throw APIError(status: 404, message: "Loading lora \(m.name) failed: No adapter found for \(m.path)")
        } catch { throw APIError.invalid("Loading lora \(m.name) failed: \(error)") }
        loraModules.add(m, r)
        return r
    }

    /// The model a request names: nil for the base model (or no name), the adapter's request, or vLLM's 404.
    func resolveModel(_ name: String?) throws -> LoRARequest? {
        guard let name, name != config.servedModelName else { return nil }
        if let r = loraModules.request(named: name) { return r }
        throw APIError(status: 404, message: "The model `\(name)` does not exist.", type: "NotFoundError", param: "model")
    }

    /// /v1/models entries of the adapters (vLLM's cards: root is the path, parent the base model).
    func adapterCards(created: Int) -> [JSONValue] {
        loraModules.entries.map { e in
            .object([("id", .string(e.module.name)), ("object", .string("model")), ("created", .int(created)), ("owned_by", .string("folio")),
                     ("root", .string(e.module.path)), ("parent", .string(e.module.baseModelName ?? config.servedModelName)),
                     ("max_model_len", .null)])
        }
    }

    /// vLLM's runtime adapter routes (`VLLM_ALLOW_RUNTIME_LORA_UPDATING`; Folio's `--allow-runtime-lora-updating`).
    func addLoRARoutes(_ router: Router<BasicRequestContext>) {
        router.post("/v1/load_lora_adapter") { req, _ in
            try await self.handle(req) {
                try await self.withBody(req) { _, body in
                    guard let name = body["lora_name"]?.stringValue, !name.isEmpty, let path = body["lora_path"]?.stringValue, !path.isEmpty else {
                        throw APIError(status: 400, message: "Both 'lora_name' and 'lora_path' must be provided.", type: "InvalidUserInput")
                    }
                    if body["load_inplace"]?.boolValue != true, self.loraModules.request(named: name) != nil {
                        throw APIError(status: 400, message: "The lora adapter '\(name)' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.",
                                       type: "InvalidUserInput")
                    }
                    _ = try self.loadAdapter(LoRAModule(name: name, path: path, baseModelName: nil))
                    self.logger.info("Loaded new LoRA adapter: name '\(name)', path '\(path)'")
                    return Self.text("Success: LoRA adapter '\(name)' added successfully.")
                }
            }
        }
        router.post("/v1/unload_lora_adapter") { req, _ in
            try await self.handle(req) {
                try await self.withBody(req) { _, body in
                    guard let name = body["lora_name"]?.stringValue, !name.isEmpty else {
                        throw APIError(status: 400, message: "'lora_name' needs to be provided to unload a LoRA adapter.", type: "InvalidUserInput")
                    }
                    guard let r = self.loraModules.remove(named: name) else {
                        throw APIError(status: 404, message: "The lora adapter '\(name)' cannot be found.", type: "NotFoundError")
                    }
                    // Requests running with it hold it and finish; new ones naming it get 404.
                    self.core?.loras?.remove(id: r.id)
                    self.logger.info("Removed LoRA adapter: name '\(name)'")
                    return Self.text("Success: LoRA adapter '\(name)' removed successfully.")
                }
            }
        }
    }

    static func text(_ s: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: s)))
    }
}
