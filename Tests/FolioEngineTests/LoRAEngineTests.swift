import FolioEngine
import FolioModels
import FolioTestSupport
import FolioWeights
import Foundation
import Testing

/// Multi-LoRA inside continuous batching: the tiny Llama with four PEFT adapters (Tests/Fixtures/lora).
@Suite("Engine: many LoRA adapters in one batch")
struct LoRAEngineTests {
    static let names = ["llama-r4-qv", "llama-r16-all-rslora", "llama-r8-regex", "llama-r64-pattern"]
    static let adapters = names.enumerated().map { LoRARequest(name: $0.element, id: $0.offset + 1, path: Fixtures.path("lora/\($0.element)")) }

    static func engine(_ configure: (inout EngineConfig) -> Void = { _ in }) throws -> EngineCore {
        try tinyEngine { c in
            c.lora = LoRAConfig(maxLoras: 4, maxLoraRank: 64)
            configure(&c)
        }
    }

    static func run(_ e: EngineCore, _ reqs: [(String, [Int32], LoRARequest?)], maxTokens: Int = 12) throws -> [String: [Int32]] {
        for (id, p, l) in reqs { try e.addRequest(id: id, prompt: .tokens(p), params: greedy(maxTokens), lora: l) }
        var done: [String: [Int32]] = [:]
        while e.hasUnfinishedRequests {
            for o in try e.step() where o.finished {
                #expect(o.error == nil, "\(o.requestId): \(o.error ?? "")")
                done[o.requestId] = o.outputs[0].tokenIds
            }
        }
        #expect(e.allBlocksFree)
        return done
    }

    @Test("base + 4 adapters interleaved, chunked prefill and prefix caching: each request's output equals its output alone")
    func mixedBatch() throws {
        let ps = prompts(20, seed: 5)
        // Shared prefixes too: the same prompt under different adapters must not share cached blocks.
        let shared = Array(ps[8].prefix(40)) + [7, 8, 9]  // ps[8] has 98 tokens
        var reqs: [(String, [Int32], LoRARequest?)] = []
        for (i, p) in ps.enumerated() { reqs.append(("r\(i)", p, i % 5 == 0 ? nil : Self.adapters[i % 5 - 1])) }
        for j in 0..<5 { reqs.append(("s\(j)", shared, j == 0 ? nil : Self.adapters[j - 1])) }
        var alone: [String: [Int32]] = [:]
        for (id, p, l) in reqs {
            let e = try Self.engine()
            alone[id] = try Self.run(e, [(id, p, l)])[id]
            // The engine runs what the single-sequence reference path with the same adapter gives.
            if id == "r3" || id == "s2" {
                let a = try LoRAAdapter.load(path: l!.path, for: e.model, maxRank: 64)
                #expect(try e.model.generate(prompt: p, maxTokens: 12, lora: a).tokenIds == alone[id])
            }
        }
        let e = try Self.engine { $0.maxNumBatchedTokens = 64 }  // chunked prefill of the long prompts
        let batch = try Self.run(e, reqs)
        for (id, _, l) in reqs { #expect(batch[id] == alone[id], "\(id) (\(l?.name ?? "base"))") }
        // The adapters change the outputs (otherwise this test would show nothing).
        #expect(Set((0..<5).map { alone["s\($0)"]! }).count == 5)
        // Prefix caching: a second round of the shared prompt per adapter reuses each adapter's own blocks.
        let hitsBefore = e.stats.prefixCacheHitTokens
        let again = try Self.run(e, (0..<5).map { j in ("t\(j)", shared, j == 0 ? nil : Self.adapters[j - 1]) })
        for j in 0..<5 { #expect(again["t\(j)"] == alone["s\(j)"], "adapter \(j) from cached blocks") }
        #expect(e.stats.prefixCacheHitTokens - hitsBefore >= 5 * 32)
    }

    @Test("at most max_loras distinct adapters per step; the others wait and then run")
    func maxLorasPerStep() throws {
        let e = try Self.engine { $0.lora = LoRAConfig(maxLoras: 2, maxLoraRank: 64) }
        let ps = prompts(8, seed: 9)
        for (i, p) in ps.enumerated() { try e.addRequest(id: "r\(i)", prompt: .tokens(p), params: greedy(6), lora: Self.adapters[i % 4]) }
        var maxSeen = 0
        while e.hasUnfinishedRequests {
            _ = try e.step()
            let st = e.stats
            maxSeen = max(maxSeen, st.runningLoRAAdapters!.count)
            #expect(st.runningLoRAAdapters!.count <= 2)
            #expect(st.maxLoras == 2)
        }
        #expect(maxSeen == 2)
    }

    @Test("errors: LoRA off, a bad path, a rank above max_lora_rank, bad limits")
    func errors() throws {
        func message(_ body: () throws -> Void) -> String { do { try body(); return "no error" } catch { return "\(error)" } }
        let off = try tinyEngine()
        #expect(message { try off.addRequest(id: "a", prompt: .tokens([1, 2]), params: greedy(2), lora: Self.adapters[0]) }
            .contains("LoRA is not enabled"))
        let e = try Self.engine { $0.lora = LoRAConfig(maxLoras: 1, maxLoraRank: 16) }
        #expect(message { try e.addRequest(id: "b", prompt: .tokens([1, 2]), params: greedy(2), lora: Self.adapters[3]) }
            .contains("LoRA rank 64 is greater than max_lora_rank 16."))
        #expect(message { try e.addRequest(id: "c", prompt: .tokens([1, 2]), params: greedy(2), lora: LoRARequest(name: "x", id: 9, path: "/no/such")) }
            .contains("no such adapter directory"))
        #expect(!e.hasUnfinishedRequests)
        #expect(message { _ = try Self.engine { $0.lora = LoRAConfig(maxLoras: 4, maxCPULoras: 2) } }
            .contains("max_cpu_loras (2) must be >= max_loras (4)."))
    }

    @Test("max_cpu_loras: least recently used adapters leave memory; a request in flight keeps its own")
    func cpuCache() throws {
        let e = try Self.engine { $0.lora = LoRAConfig(maxLoras: 1, maxLoraRank: 64, maxCPULoras: 2) }
        let reg = e.loras!
        for a in Self.adapters { _ = try reg.adapter(for: a) }
        #expect(reg.loaded.map(\.id) == [3, 4])
        _ = try reg.adapter(for: Self.adapters[2])
        #expect(reg.loaded.map(\.id) == [4, 3])
        try e.addRequest(id: "a", prompt: .tokens([5, 6, 7]), params: greedy(4), lora: Self.adapters[0])
        reg.remove(id: 1)
        var out: [Int32] = []
        while e.hasUnfinishedRequests { for o in try e.step() where o.finished { out = o.outputs[0].tokenIds } }
        let a = try LoRAAdapter.load(path: Self.adapters[0].path, for: e.model, maxRank: 64)
        #expect(out == (try e.model.generate(prompt: [5, 6, 7], maxTokens: 4, lora: a).tokenIds))
    }
}
