import FolioEngine
import FolioGrammar
import FolioModels
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

@Suite("Engine: structured outputs")
struct StructuredOutputEngineTests {
    static func constrained(_ max: Int, n: Int = 1, seed: UInt64? = nil) -> SamplingParams {
        var p = n > 1 ? SamplingParams(n: n, temperature: 1, maxTokens: max, seed: seed) : SamplingParams.greedy
        p.maxTokens = max
        p.ignoreEOS = true
        p.structuredOutputs = .regex("[a-z ]+ [0-9]{1,3}( [a-z]+)*")
        return p
    }

    @Test("masked outputs match the grammar, greedy and n=2 sampled, and preemption leaves them unchanged")
    func preemption() throws {
        let ps = prompts(8, seed: 9).map { Array($0.prefix(40)) + [7] }
        func reqs() -> [(String, PromptInput, SamplingParams)] {
            ps.enumerated().map { ("r\($0.offset)", .tokens($0.element), $0.offset == 3 ? Self.constrained(40, n: 2, seed: 5) : Self.constrained(40)) }
        }
        let free = try runAll(try tinyEngine(), reqs())
        let e = try tinyEngine { $0.numKVBlocks = 12; $0.blockSize = 16 }
        let tight = try runAll(e, reqs())
        #expect(e.stats.numPreemptions > 0)
        let g = try CompiledGrammar.bytes(Regex.grammar("[a-z ]+ [0-9]{1,3}( [a-z]+)*"))
        for i in 0..<8 {
            let a = tight["r\(i)"]!, b = free["r\(i)"]!
            #expect(a.error == nil)
            #expect(a.outputs.count == (i == 3 ? 2 : 1))
            for (x, y) in zip(a.outputs, b.outputs) {
                #expect(x.tokenIds == y.tokenIds, "request \(i)")
                #expect(x.tokenIds.count == 40 && x.finishReason == .length)
                // Cut at 40 tokens: a prefix of a match.
                #expect(g.match(e.tokenizer.decode(x.tokenIds)).prefix, "request \(i): \(x.text)")
            }
        }
        #expect(tight["r3"]!.outputs[0].tokenIds != tight["r3"]!.outputs[1].tokenIds)
        #expect(e.allBlocksFree)
    }

    @Test("with a reasoning tag, the grammar starts with the token after the tag: the free part is the unconstrained output")
    func startsAfterTag() throws {
        let prompt = Array(prompts(1, seed: 4)[0].prefix(30))
        var free = SamplingParams.greedy
        free.maxTokens = 30
        free.ignoreEOS = true
        let e = try tinyEngine()
        let base = try runAll(e, [("free", .tokens(prompt), free)])["free"]!.outputs[0].tokenIds
        // The tag: the text of two tokens of the free output (first found after the token that completes it).
        let tag = e.tokenizer.decode(Array(base[3..<5]))
        try #require(!tag.trimmingCharacters(in: .whitespaces).isEmpty && !tag.contains("\u{FFFD}"))
        let k = (1...base.count).first { e.tokenizer.decode(Array(base[..<$0])).contains(tag) }!
        var p = free
        p.structuredOutputs = .regex("[a-z ]+ [0-9]{1,3}( [a-z]+)*")
        p.structuredOutputsAfter = tag
        let out = try runAll(e, [("c", .tokens(prompt), p)])["c"]!.outputs[0].tokenIds
        #expect(Array(out[..<k]) == Array(base[..<k]), "before the tag the output is free")
        let g = try CompiledGrammar.bytes(Regex.grammar("[a-z ]+ [0-9]{1,3}( [a-z]+)*"))
        let rest = e.tokenizer.decode(Array(out[k...]))
        #expect(g.match(rest).prefix, "after the tag the grammar holds: \(rest.debugDescription)")
        #expect(!g.match(e.tokenizer.decode(Array(base[k...]))).prefix, "the unconstrained continuation would not have matched")
        #expect(e.allBlocksFree)
    }

    @Test("a bad spec fails the request at admission naming structured_outputs")
    func badSpec() throws {
        let e = try tinyEngine()
        var p = SamplingParams.greedy
        p.structuredOutputs = .grammar("root ::= root \"a\" | \"b\"")
        #expect(throws: FolioError.invalidArgument(name: "structured_outputs", message: "Rule root is left-recursive (it can reach itself without reading a character)")) {
            try e.addRequest(id: "x", prompt: .tokens([1, 2]), params: p)
        }
        #expect(!e.hasUnfinishedRequests)
    }
}
