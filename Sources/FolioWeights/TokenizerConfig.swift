import Foundation

/// What a Hugging Face model folder says about its tokenizer outside `tokenizer.json`: `tokenizer_config.json`
/// (BOS/EOS texts, flags) and the chat template, from `chat_template.jinja` (which wins, as in transformers) or
/// the config's `chat_template` (a string, or a list of `{name, template}` where "default" is taken).
public struct TokenizerConfig: Sendable {
    /// The parsed tokenizer_config.json, if the folder has one.
    public let json: JSONValue?
    public let bosToken: String?
    public let eosToken: String?
    public let chatTemplate: String?

    public static func load(directory: String) throws -> TokenizerConfig {
        let cfgPath = directory + "/tokenizer_config.json"
        let json = FileManager.default.fileExists(atPath: cfgPath) ? try JSONValue.parse(file: cfgPath) : nil
        var template = json?["chat_template"].flatMap(Self.templateText)
        if let d = FileManager.default.contents(atPath: directory + "/chat_template.jinja") { template = String(decoding: d, as: UTF8.self) }
        return TokenizerConfig(json: json, bosToken: Self.tokenText(json?["bos_token"]), eosToken: Self.tokenText(json?["eos_token"]),
                               chatTemplate: template)
    }

    /// A special token given as a string or as an added-token object `{"content": ...}`.
    static func tokenText(_ v: JSONValue?) -> String? { v?.stringValue ?? v?["content"]?.stringValue }

    static func templateText(_ v: JSONValue) -> String? {
        if let s = v.stringValue { return s }
        guard let list = v.arrayValue else { return nil }
        let named = list.compactMap { e -> (String, String)? in
            guard let n = e["name"]?.stringValue, let t = e["template"]?.stringValue else { return nil }
            return (n, t)
        }
        return named.first(where: { $0.0 == "default" })?.1 ?? named.first?.1
    }
}
