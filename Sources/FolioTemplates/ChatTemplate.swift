import FolioWeights
import Foundation

/// A model's chat template: turns messages (and tools) into the prompt text the model was trained on.
///
/// ```swift
/// let chat = try ChatTemplate(source: tokenizer.chatTemplate!, bosToken: "<s>", eosToken: "</s>")
/// let prompt = try chat.render(messages: [["role": "user", "content": "Hello"]].json, addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
    public let source: String
    let template: Template
    public var bosToken: String
    public var eosToken: String

    public init(source: String, bosToken: String = "", eosToken: String = "") throws {
        self.source = source
        template = try Template(source)
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// Loads the template of a model: `chat_template.jinja` or `tokenizer_config.json` (string or named list) in a
    /// Hugging Face folder, or GGUF metadata `tokenizer.chat_template`.
    public static func load(modelPath: String) throws -> ChatTemplate? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDir) else {
            throw FolioError.io(path: modelPath, message: "no such file or directory")
        }
        if isDir.boolValue {
            let cfg = try TokenizerConfig.load(directory: modelPath)
            return try cfg.chatTemplate.map { try ChatTemplate(source: $0, bosToken: cfg.bosToken ?? "", eosToken: cfg.eosToken ?? "") }
        }
        let g = try GGUFFile(path: modelPath)
        guard let text = g.metadata["tokenizer.chat_template"]?.stringValue else { return nil }
        let tokens = g.metadata["tokenizer.ggml.tokens"]?.arrayValue
        func tok(_ key: String) -> String {
            guard let id = g.metadata[key]?.intValue, let t = tokens, id >= 0, id < t.count else { return "" }
            return t[id].stringValue ?? ""
        }
        return try ChatTemplate(source: text, bosToken: tok("tokenizer.ggml.bos_token_id"), eosToken: tok("tokenizer.ggml.eos_token_id"))
    }

    /// Renders `messages` (JSON array of message objects: `role`, `content` as a string or typed parts,
    /// `tool_calls`, ...) with `tools`, `documents` and any extra variables (`chat_template_kwargs`).
    public func render(messages: JSONValue, tools: JSONValue? = nil, documents: JSONValue? = nil,
                       addGenerationPrompt: Bool = true, extra: [(String, JSONValue)] = [], now: Date = Date()) throws -> String {
        var ctx: [String: Value] = [
            "messages": Value(json: messages),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken), "eos_token": .string(eosToken),
        ]
        if let tools, !tools.isNull { ctx["tools"] = Value(json: tools) }
        if let documents, !documents.isNull { ctx["documents"] = Value(json: documents) }
        for (k, v) in extra { ctx[k] = Value(json: v) }
        return try template.render(ctx, now: now)
    }
}
