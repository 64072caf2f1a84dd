import FolioTemplates
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

@Suite("ChatTemplate sources")
struct ChatTemplateLoadingTests {
    static let expected: JSONValue = ChatTemplateFixtureTests.fixture

    func conversation(_ name: String) throws -> (JSONValue, String) {
        let c = try #require(Self.expected[name]?["cases"]?.arrayValue?.first { $0["case"]?.stringValue == "system_multi_turn" })
        return (c["context"]!, c["output"]!.stringValue!)
    }

    @Test("from GGUF metadata (SmolLM2), rendering messages like jinja2")
    func fromGGUF() throws {
        let path = try RealModels.smol
        let chat = try #require(try ChatTemplate.load(modelPath: path))
        #expect(chat.source == Self.expected["SmolLM2-135M-Instruct.from-gguf"]?["template"]?.stringValue)
        let (ctx, out) = try conversation("SmolLM2-135M-Instruct.from-gguf")
        #expect(try chat.render(messages: ctx["messages"]!, addGenerationPrompt: ctx["add_generation_prompt"]?.boolValue ?? false) == out)
    }

    @Test("from tokenizer_config.json (string and named list) and chat_template.jinja")
    func fromFolder() throws {
        let name = "Qwen-Qwen2.5-7B-Instruct"
        let src = try #require(Self.expected[name]?["template"]?.stringValue)
        let (ctx, out) = try conversation(name)
        let dir = NSTemporaryDirectory() + "folio-chat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var cfg = ""
        JSONValue.quote(src, into: &cfg)
        try Data(#"{"bos_token": null, "eos_token": {"content": "<|im_end|>"}, "chat_template": \#(cfg)}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        let a = try #require(try ChatTemplate.load(modelPath: dir))
        #expect(a.eosToken == "<|im_end|>")
        #expect(try a.render(messages: ctx["messages"]!, addGenerationPrompt: true) == out)
        try Data(#"{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": \#(cfg)}]}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
        #expect(try ChatTemplate.load(modelPath: dir)?.source == src)
        try Data("{{ messages | length }}".utf8).write(to: URL(fileURLWithPath: dir + "/chat_template.jinja"))
        #expect(try ChatTemplate.load(modelPath: dir)?.render(messages: ctx["messages"]!) == "4")
    }

    @Test("raise_exception reaches the caller with its message")
    func raiseException() throws {
        let chat = try ChatTemplate(source: "{% if messages[0].role != 'user' %}{{ raise_exception('First message must be from the user') }}{% endif %}")
        #expect(throws: TemplateError.raised("First message must be from the user")) {
            try chat.render(messages: .array([.object([("role", .string("assistant")), ("content", .string("x"))])]))
        }
    }
}
