import ArgumentParser
import FolioOpenAI
import FolioTokenizers
import FolioTools
import FolioWeights
import Foundation

/// `folio parse`: runs a tool-call and/or reasoning parser on a model output, without a model run.
struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse a model output as the server would: {\"content\", \"reasoning\", \"tool_calls\": [...]}.",
        discussion: """
            With --stream the text is fed token by token (the model's tokenizer, special tokens kept) and the output \
            adds "deltas" (each step's delta, as the server streams it) and "streamed" (the deltas reassembled).
            """)
    @Option(help: "Tool-call parser: \(ToolParsers.names.joined(separator: ", ")).") var toolCallParser: String?
    @Option(help: "Reasoning parser: \(ReasoningParsers.names.joined(separator: ", ")).") var reasoningParser: String?
    @Option(help: "GGUF file or Hugging Face model folder (its tokenizer; needed with --stream).") var model: String?
    @Option(help: "File holding the model output.") var textFile: String
    @Option(help: "JSON file with the request's `tools` (parsers that type arguments by schema use it).") var toolsFile: String?
    @Flag(help: "chat_template_kwargs enable_thinking=false (qwen3: everything is content).") var noThinking = false
    @Flag(help: "Feed the text token by token and print the deltas.") var stream = false

    func run() throws {
        try Folio.run {
            guard toolCallParser != nil || reasoningParser != nil else {
                throw FolioError.invalidArgument(name: "--tool-call-parser", message: "give --tool-call-parser, --reasoning-parser or both")
            }
            guard let d = FileManager.default.contents(atPath: textFile) else { throw FolioError.io(path: textFile, message: "cannot read") }
            let text = String(decoding: d, as: UTF8.self)
            let tools = try toolsFile.map { try JSONValue.parse(file: $0) }
            var toolParser: (any ToolCallParser)? = nil
            if let n = toolCallParser {
                guard let p = ToolParsers.make(n, tools: ToolSchemas(tools)) else {
                    throw FolioError.invalidArgument(name: "--tool-call-parser", message: "unknown parser \(n); choose from \(ToolParsers.names.joined(separator: ", "))")
                }
                toolParser = p
            }
            var reasoning: (any ReasoningParser)? = nil
            if let n = reasoningParser {
                guard let p = ReasoningParsers.make(n, enableThinking: !noThinking) else {
                    throw FolioError.invalidArgument(name: "--reasoning-parser", message: "unknown parser \(n); choose from \(ReasoningParsers.names.joined(separator: ", "))")
                }
                reasoning = p
            }
            let parser = ChatOutputParser(reasoning: reasoning, tools: toolParser)
            var out = Self.json(parser.parse(text))
            if stream {
                guard let m = model else { throw FolioError.invalidArgument(name: "--model", message: "--stream needs --model (its tokenizer)") }
                let tok = try Tokenizer.load(modelPath: m)
                var detok = StreamingDetokenizer(tokenizer: tok, skipSpecialTokens: false)
                var p = parser
                var sofar = ""
                var deltas: [JSONValue] = []
                var reasoningText = "", content = ""
                var calls: [(name: String, args: String)] = []
                func take(_ d: MessageDelta) {
                    guard !d.isEmpty else { return }
                    deltas.append(.object(ResponseBuilder.deltaFields(d)))  // as the server streams it
                    reasoningText += d.reasoning ?? ""
                    content += d.content ?? ""
                    for t in d.toolCalls {
                        if t.index == calls.count { calls.append((t.name ?? "", "")) }
                        if t.index < calls.count { calls[t.index].args += t.arguments ?? "" }
                    }
                }
                for id in tok.encode(text, addSpecialTokens: false) {
                    sofar += detok.push(id)
                    take(p.update(sofar))
                }
                sofar += detok.finish()
                take(p.finish(sofar))
                let streamed = ParsedMessage(reasoning: reasoningText.isEmpty ? nil : reasoningText, content: content.isEmpty ? nil : content,
                                             toolCalls: calls.map { ToolCall(name: $0.name, arguments: $0.args) }, toolsCalled: !calls.isEmpty)
                if case .object(var kv) = out {
                    kv.append(("streamed", Self.json(streamed)))
                    kv.append(("deltas", .array(deltas)))
                    out = .object(kv)
                }
            }
            emit(out)
        }
    }

    static func json(_ m: ParsedMessage) -> JSONValue {
        .object([("content", m.content.map { .string($0) } ?? .null), ("reasoning", m.reasoning.map { .string($0) } ?? .null),
                 ("tool_calls", .array(m.toolCalls.map { .object([("name", .string($0.name)), ("arguments", .string($0.arguments))]) }))])
    }
}
