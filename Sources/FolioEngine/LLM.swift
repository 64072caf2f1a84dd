import FolioModels
import FolioTemplates
import FolioTokenizers
import FolioWeights
import Foundation

/// The offline API, shaped like vLLM's `LLM`: load once, generate for many prompts at a time.
///
/// ```swift
/// let llm = try await LLM(model: "models/smollm2-135m-instruct-q4_1.gguf")
/// let outs = try await llm.generate(["Hello, my name is", "The capital of France is"], SamplingParams(temperature: 0.8, topP: 0.95))
/// print(outs[0].outputs[0].text)
/// ```
public final class LLM: @unchecked Sendable {
    public let engine: EngineCore
    public let chatTemplate: ChatTemplate?
    public let generationConfig: GenerationConfig?
    var counter = 0

    public init(model path: String, config: EngineConfig = EngineConfig(), options: ForwardOptions = ForwardOptions()) async throws {
        let model = try CausalLM.load(path: path, options: options)
        let tok = try Tokenizer.load(modelPath: path)
        generationConfig = try? GenerationConfig.load(modelPath: path)
        let draft = try config.speculative?.loadDraft(options: options)
        engine = try EngineCore(model: model, tokenizer: tok, config: config, extraEOS: generationConfig?.eosTokenIds ?? [], draftModel: draft)
        chatTemplate = try ChatTemplate.load(modelPath: path)
    }

    public var tokenizer: Tokenizer { engine.tokenizer }

    /// Generates for every prompt (all scheduled together with continuous batching); outputs in prompt order.
    /// `progress` sees (finished, total) after each step.
    /// `lora`: one adapter for every prompt (the engine needs `EngineConfig.lora`).
    public func generate(_ prompts: [PromptInput], _ params: SamplingParams = SamplingParams(), lora: LoRARequest? = nil,
                         progress: ((Int, Int) -> Void)? = nil) async throws -> [RequestOutput] {
        try generate(prompts, params: Array(repeating: params, count: prompts.count), loras: Array(repeating: lora, count: prompts.count),
                     progress: progress)
    }

    /// `loras`: each prompt's adapter (nil: the base model), or empty for none.
    public func generate(_ prompts: [PromptInput], params: [SamplingParams], loras: [LoRARequest?] = [],
                         progress: ((Int, Int) -> Void)? = nil) throws -> [RequestOutput] {
        guard prompts.count == params.count else { throw FolioError.invalidArgument(name: "params", message: "one per prompt") }
        guard loras.isEmpty || loras.count == prompts.count else { throw FolioError.invalidArgument(name: "loras", message: "one per prompt") }
        var ids: [String] = []
        for (i, (p, var sp)) in zip(prompts, params).enumerated() {
            counter += 1
            let id = "offline-\(counter)"
            sp.outputKind = .finalOnly  // only the final outputs are kept (vLLM's LLM does the same)
            do { try engine.addRequest(id: id, prompt: p, params: sp, lora: loras.isEmpty ? nil : loras[i]) } catch {
                for added in ids { engine.abort(id: added) }
                throw error
            }
            ids.append(id)
        }
        var finals: [String: RequestOutput] = [:]
        while finals.count < ids.count {
            for o in try engine.step() where o.finished {
                if let e = o.error {
                    for id in ids { engine.abort(id: id) }
                    throw AsyncEngine.RequestFailed(message: e)
                }
                finals[o.requestId] = o
            }
            progress?(finals.count, ids.count)
        }
        return ids.map { finals[$0]! }
    }

    /// Renders each conversation with the model's chat template (generation prompt added), then generates.
    public func chat(_ conversations: [JSONValue], _ params: SamplingParams = SamplingParams()) async throws -> [RequestOutput] {
        guard let t = chatTemplate else { throw FolioError.missing(path: "model", what: "chat template") }
        let prompts = try conversations.map { PromptInput.tokens(engine.tokenizer.encode(try t.render(messages: $0), addSpecialTokens: false)) }
        return try await generate(prompts, params)
    }
}
