import FolioGrammar
import FolioWeights
import Foundation
import Testing

@Suite("Triggered tags (strict tool calls inside free text)")
struct TriggeredTagsTests {
    static let begin = "<tool_call>\n{\"name\": \"add\", \"arguments\": "
    static let schema = try! JSONValue.parse(Data(#"{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": false}"#.utf8))
    static func grammar(stopAfterFirst: Bool = false) throws -> CompiledGrammar {
        try CompiledGrammar.bytes(StructuredOutputs.triggeredTags(TriggeredTags(
            trigger: "<tool_call>", tags: [.init(begin: begin, schema: schema, end: "}\n</tool_call>")], stopAfterFirst: stopAfterFirst)).grammar())
    }

    @Test("free text, then calls whose arguments follow the schema, then free text")
    func matches() throws {
        let g = try Self.grammar()
        let call = Self.begin + "{\"a\": 1}}\n</tool_call>"
        for ok in ["", "plain text < with tool_ and <tool_cal", "Sure. " + call, call + " done " + call, "<" + call] {
            #expect(g.match(ok).complete, "\(ok.debugDescription)")
        }
        for bad in ["<tool_call>oops", Self.begin + "{\"a\": \"x\"}}\n</tool_call>", Self.begin + "{\"b\": 1}}\n</tool_call>",
                    "text <tool_call>\n{\"name\": \"other\""] {
            #expect(!g.match(bad).prefix, "\(bad.debugDescription)")
        }
        #expect(g.match(Self.begin + "{\"a\": 1").prefix && !g.match(Self.begin + "{\"a\": 1").complete)
        let one = try Self.grammar(stopAfterFirst: true)
        #expect(one.match("hi " + call).complete && !one.match(call + " more").prefix)
    }
}
