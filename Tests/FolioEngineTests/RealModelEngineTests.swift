import FolioEngine
import FolioModels
import FolioTokenizers
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// SmolLM2-135M-Instruct through the whole engine (fetched by scripts/fetch-models.sh).
@Suite("Engine on SmolLM2", .serialized)
struct RealModelEngineTests {
    static var path: String { get throws { try RealModels.smol } }

    @Test("stop strings across token boundaries, include_stop_str_in_output, and the golden greedy text")
    func stopStrings() async throws {
        // The float32 reference path, whose greedy text is transformers' (the fast path's int8 activations part from it
        // at a near tie after " Paris.\n\n"; FastPathTests measures how close the two are).
        let llm = try await LLM(model: try Self.path, config: { var c = EngineConfig(); c.numKVBlocks = 64; return c }(),
                                options: ForwardOptions(reference: true))
        var p = SamplingParams.greedy
        p.maxTokens = 32
        // Greedy continues " Paris.\n\nThe answer is: 2018-..." (transformers' golden): " Paris", ".", "\n" are tokens.
        let plain = try await llm.generate(["The capital of France is"], p)[0].outputs[0]
        #expect(plain.text == " Paris.\n\nThe answer is: 2018-01-22 12:12:53.")
        #expect(plain.finishReason == .stop)  // <|im_end|>
        p.stop = ["s.\n"]
        let cut = try await llm.generate(["The capital of France is"], p)[0].outputs[0]
        #expect(cut.text == " Pari")
        #expect(cut.stopReason == "s.\n" && cut.finishReason == .stop)
        p.includeStopStrInOutput = true
        #expect(try await llm.generate(["The capital of France is"], p)[0].outputs[0].text == " Paris.\n")
        p.stop = ["answer", "zzz"]
        p.includeStopStrInOutput = false
        #expect(try await llm.generate(["The capital of France is"], p)[0].outputs[0].text == " Paris.\n\nThe ")
        #expect(llm.engine.allBlocksFree)
    }

    @Test("batch invariance on real text (fast kernels), and the chat template")
    func batchAndChat() async throws {
        let path = try Self.path
        let llm = try await LLM(model: path)
        let texts = ["The capital of France is", "def fibonacci(n):", "Once upon a time, there was a little", "1, 2, 3, 4,",
                     "Grüß Gott! 你好，世界 🌍", "The quick brown fox", "In 1492,", "Water is made of"]
        var p = SamplingParams.greedy
        p.maxTokens = 12
        var alone: [String] = []
        for t in texts { alone.append(try await llm.generate([.text(t)], p)[0].outputs[0].text) }
        let batch = try await llm.generate(texts.map { PromptInput.text($0) }, p)
        #expect(batch.map { $0.outputs[0].text } == alone)
        let ref = try await LLM(model: path, options: ForwardOptions(reference: true))
        let chat = try await ref.chat([.array([.object([("role", .string("user")), ("content", .string("What is the capital of France?"))])])], p)
        #expect(chat[0].outputs[0].text.contains("Paris"))
    }
}
