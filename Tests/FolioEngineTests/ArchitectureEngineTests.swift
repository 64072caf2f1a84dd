import FolioEngine
import FolioModels
import FolioTokenizers
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// DeepSeek (latent attention: a step mixes absorbed decode tokens with decompressed prefill chunks, prefix hits read
/// shared latent blocks) and GPT-OSS (sinks, sliding layers with block release) through the engine: batched with
/// chunked prefill, each request's greedy output equals its output alone and the model's own generate (checked
/// against transformers in FolioModelsTests); a prefix-cache hit gives the output of caching off.
@Suite("Engine on latent-attention and attention-sink models")
struct ArchitectureEngineTests {
    func engine(_ arch: String, _ configure: (inout EngineConfig) -> Void = { _ in }) throws -> EngineCore {
        try tinyEngine(arch, configure)
    }

    @Test("a batch with chunked prefill equals each request alone and the model's generate", arguments: ["deepseek-v2", "deepseek-v3", "gpt-oss"])
    func batched(arch: String) throws {
        let ps = prompts(10, seed: 5)
        var alone: [[Int32]] = []
        for p in ps { alone.append(try runAll(try engine(arch), [("x", .tokens(p), greedy(12))])["x"]!.outputs[0].tokenIds) }
        let e = try engine(arch) { $0.maxNumBatchedTokens = 64 }   // long prompts prefill in chunks beside decodes
        let batch = try runAll(e, ps.enumerated().map { ("r\($0.offset)", .tokens($0.element), greedy(12)) })
        for i in ps.indices { #expect(batch["r\(i)"]!.outputs[0].tokenIds == alone[i], "\(arch) prompt \(i)") }
        for i in [0, 4, 9] { #expect(try e.model.generate(prompt: ps[i], maxTokens: 12).tokenIds == alone[i], "\(arch) prompt \(i)") }
        #expect(e.allBlocksFree)
    }

    @Test("a prefix-cache hit gives the output of caching off", arguments: ["deepseek-v2", "gpt-oss"])
    func prefixHit(arch: String) throws {
        var rng = SeededRandom(seed: 8)
        let prefix = (0..<70).map { _ in Int32(rng.next() % 500) + 1 }
        let e = try engine(arch)
        _ = try runAll(e, [("a", .tokens(prefix + [3, 4]), greedy(6))])
        let b = try runAll(e, [("b", .tokens(prefix + [9]), greedy(6))])["b"]!
        #expect(b.numCachedTokens == 64)
        let off = try runAll(try engine(arch) { $0.enablePrefixCaching = false }, [("b", .tokens(prefix + [9]), greedy(6))])["b"]!
        #expect(b.outputs[0].tokenIds == off.outputs[0].tokenIds)
    }
}
