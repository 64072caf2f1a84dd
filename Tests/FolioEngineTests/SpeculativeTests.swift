import FolioEngine
import FolioGrammar
import FolioModels
import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// Prompts whose continuations repeat what came before (spans copied from earlier in the prompt), so that
/// prompt lookup and suffix trees have something to propose; the random tiny model also loops on its own.
func repetitivePrompts(_ n: Int, seed: UInt64) -> [[Int32]] {
    var rng = SeededRandom(seed: seed)
    return (0..<n).map { i in
        let base = (0..<(8 + i % 7)).map { _ in Int32(rng.next() % 500) + 1 }
        var p: [Int32] = []
        while p.count < 20 + (i * 13) % 90 { p += base.prefix(Int(rng.next() % UInt64(base.count)) + 1) }
        return p
    }
}

func spec(_ method: SpeculativeConfig.Method, k: Int = 4, adaptive: Bool = false, draft: String? = nil) -> SpeculativeConfig {
    var c = SpeculativeConfig(method: method, numSpeculativeTokens: k)
    c.promptLookupMin = 1
    c.promptLookupMax = 4
    c.suffixMaxTreeDepth = 16
    c.model = draft
    c.adaptive = adaptive
    return c
}

/// The tiny Llama engine with speculation (`draft`: a fixture model with the same 512-token vocabulary).
func tinySpecEngine(_ sc: SpeculativeConfig?, _ configure: (inout EngineConfig) -> Void = { _ in }) throws -> EngineCore {
    var cfg = EngineConfig()
    cfg.numKVBlocks = 256
    cfg.speculative = sc
    configure(&cfg)
    let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/llama"))
    let tok = try Tokenizer.fromGGUF(GGUFFile(path: Fixtures.path("tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf")))
    let draft = try sc?.loadDraft(options: ForwardOptions())
    return try EngineCore(model: model, tokenizer: tok, config: cfg, draftModel: draft)
}

@Suite("Speculative decoding")
struct SpeculativeTests {
    @Test("n-gram proposals equal vLLM 0.32's prompt lookup on 300 token lists (scripts/make_ngram_goldens.py)")
    func ngramGoldens() throws {
        let doc = try JSONValue.parse(file: Fixtures.path("speculative/ngram.json"))
        let cases = try #require(doc["cases"]?.arrayValue)
        #expect(cases.count == 300)
        for (i, c) in cases.enumerated() {
            let toks = c["tokens"]!.arrayValue!.map { Int32($0.intValue!) }
            let want = c["draft"]!.arrayValue!.map { Int32($0.intValue!) }
            let got = NgramProposer.lookup(toks, minN: c["min"]!.intValue!, maxN: c["max"]!.intValue!, k: c["k"]!.intValue!)
            #expect(got == want, "case \(i)")
        }
    }

    /// A mixed workload: repetitive prompts with shared prefixes (prefix caching), chunked prefill, penalties,
    /// stop strings, logprobs, a grammar, and n = 3 top-k-1 samples (each equal to greedy).
    static func workload(_ e: EngineCore) -> [(String, PromptInput, SamplingParams)] {
        let ps = repetitivePrompts(10, seed: 31)
        return ps.enumerated().map { i, p in
            var sp = greedy(24 + i % 3 * 8)
            switch i {
            case 1: sp.repetitionPenalty = 1.2; sp.frequencyPenalty = 0.3
            case 2: sp.logprobs = 2
            case 3: sp.structuredOutputs = .regex("[a-z ]+ [0-9]{1,3}( [a-z]+)*")
            case 4: sp = SamplingParams(n: 3, temperature: 1, topK: 1, maxTokens: 30, seed: 4); sp.ignoreEOS = true
            case 5: sp.stop = [e.tokenizer.decode([p[3], p[4]])]
            case 6: sp.minTokens = 10; sp.ignoreEOS = false
            default: break
            }
            // Two prompts share the first one's prefix.
            let prompt = i == 7 || i == 8 ? ps[0] + p : p
            return ("r\(i)", .tokens(prompt), sp)
        }
    }

    static func check(_ got: [String: RequestOutput], _ want: [String: RequestOutput], _ label: String) {
        #expect(got.count == want.count)
        for (id, w) in want {
            guard let g = got[id] else { Issue.record("\(label): \(id) missing"); continue }
            #expect(g.error == nil, "\(label) \(id): \(g.error ?? "")")
            for (a, b) in zip(g.outputs, w.outputs) {
                #expect(a.tokenIds == b.tokenIds, "\(label) \(id)")
                #expect(a.text == b.text && a.finishReason == b.finishReason && a.stopReason == b.stopReason, "\(label) \(id)")
                if let la = a.logprobs, let lb = b.logprobs {
                    #expect(la.count == lb.count)
                    for (x, y) in zip(la, lb) {
                        #expect(abs(x.chosen.logprob - y.chosen.logprob) <= 1e-4 && x.top.map(\.tokenId) == y.top.map(\.tokenId), "\(label) \(id)")
                    }
                }
            }
        }
    }

    @Test("greedy outputs are token-identical with every method on and off: mixed batches, chunked prefill, prefix caching, preemption, n = 3")
    func greedyIdentical() throws {
        let configs: [(String, SpeculativeConfig, (inout EngineConfig) -> Void)] = [
            ("ngram", spec(.ngram), { _ in }),
            ("ngram adaptive", spec(.ngram, k: 6, adaptive: true), { _ in }),
            ("ngram chunked", spec(.ngram), { $0.maxNumBatchedTokens = 40 }),
            ("ngram preempting", spec(.ngram, k: 8), { $0.numKVBlocks = 14; $0.blockSize = 16 }),
            ("suffix", spec(.suffix, k: 8), { _ in }),
            ("suffix preempting", spec(.suffix, k: 8), { $0.numKVBlocks = 14; $0.blockSize = 16 }),
            // The target as its own draft: every proposal must be accepted (a wrong draft K/V would show here).
            ("draft self", spec(.draftModel, k: 3, draft: Fixtures.path("models/hf-tiny/llama")), { _ in }),
            ("draft qwen2 chunked", spec(.draftModel, k: 2, draft: Fixtures.path("models/hf-tiny/qwen2")), { $0.maxNumBatchedTokens = 40 }),
            ("draft self preempting", spec(.draftModel, k: 4, draft: Fixtures.path("models/hf-tiny/llama")),
             { $0.numKVBlocks = 14; $0.blockSize = 16 }),
        ]
        for (label, sc, configure) in configs {
            let off = try tinySpecEngine(nil, configure)
            let want = try runAll(off, Self.workload(off))
            let on = try tinySpecEngine(sc, configure)
            let got = try runAll(on, Self.workload(on))
            Self.check(got, want, label)
            let st = try #require(on.stats.specDecode)
            // The adaptive planner may find speculation a loss in this batch on this machine: no claim on its drafts.
            if !sc.adaptive { #expect(st.numDrafts > 0 && st.numAcceptedTokens > 0, "\(label): \(st)") }
            #expect(st.numAcceptedTokensPerPos.reduce(0, +) == st.numAcceptedTokens)
            #expect(on.allBlocksFree, "\(label)")
            if label.hasSuffix("preempting") { #expect(on.stats.numPreemptions > 0, "\(label)") }
            print("[spec] \(label): drafts \(st.numDrafts), proposed \(st.numDraftTokens), accepted \(st.numAcceptedTokens), "
                  + "rate \(String(format: "%.2f", st.acceptanceRate)), steps \(on.stats.steps) vs \(off.stats.steps)")
        }
    }

    @Test("the target as its own draft model: every proposal of plain greedy requests is accepted (the draft's K/V through shared block tables are right)")
    func selfDraft() throws {
        let e = try tinySpecEngine(spec(.draftModel, k: 4, draft: Fixtures.path("models/hf-tiny/llama"))) { $0.numKVBlocks = 20 }
        let ps = repetitivePrompts(6, seed: 5)
        let outs = try runAll(e, ps.enumerated().map { ("r\($0.offset)", .tokens($0.element + ($0.offset % 2 == 0 ? ps[0] : [])), greedy(40)) })
        #expect(outs.count == 6)
        let st = e.stats.specDecode!
        #expect(st.numDraftTokens > 100 && st.numAcceptedTokens == st.numDraftTokens, "\(st)")
        #expect(e.stats.numPreemptions > 0)
        #expect(e.allBlocksFree)
    }

    @Test("suffix decoding proposes an earlier request's response: the same prompt again is accepted almost whole")
    func suffixRemembersResponses() throws {
        let e = try tinySpecEngine(spec(.suffix, k: 8))
        var rng = SeededRandom(seed: 77)
        let prompt = (0..<30).map { _ in Int32(rng.next() % 500) + 1 }
        let first = try runAll(e, [("a", .tokens(prompt), greedy(40))])["a"]!
        let before = e.stats.specDecode!
        let second = try runAll(e, [("b", .tokens(prompt), greedy(40))])["b"]!
        let after = e.stats.specDecode!
        #expect(second.outputs[0].tokenIds == first.outputs[0].tokenIds)
        let proposed = after.numDraftTokens - before.numDraftTokens, accepted = after.numAcceptedTokens - before.numAcceptedTokens
        #expect(proposed >= 20 && Double(accepted) >= 0.9 * Double(proposed), "proposed \(proposed), accepted \(accepted)")
    }

    @Test("the adaptive length: all proposals when a forward costs the same for more tokens, none when each token costs its share or acceptance is low, and the batch shares the budget")
    func adaptiveLengths() {
        let flat: (Int, [Int]) -> Double = { _, _ in 1 }
        let linear: (Int, [Int]) -> Double = { n, _ in Double(n) }
        // Bandwidth-bound: 1 token costs 10, each more 1 (batch 1 decode on a CPU).
        let decode: (Int, [Int]) -> Double = { n, _ in 9 + Double(n) }
        #expect(Speculator.lengths(acceptance: [0.6], available: [5], baseTokens: 1, sampling: 1, budget: 100, stepTime: flat) == [5])
        #expect(Speculator.lengths(acceptance: [0.9, 0.9], available: [5, 5], baseTokens: 2, sampling: 2, budget: 100, stepTime: linear) == [0, 0])
        // Acceptance 0.6: rates 1/10, 1.6/11, 1.96/12, 2.176/13 = 0.167, then 2.31/14 = 0.165 falls: 3 tokens.
        #expect(Speculator.lengths(acceptance: [0.6], available: [8], baseTokens: 1, sampling: 1, budget: 100, stepTime: decode) == [3])
        #expect(Speculator.lengths(acceptance: [0.05], available: [8], baseTokens: 1, sampling: 1, budget: 100, stepTime: decode) == [0])
        // The better sample first; the budget caps the total.
        #expect(Speculator.lengths(acceptance: [0.3, 0.95], available: [4, 4], baseTokens: 2, sampling: 2, budget: 3, stepTime: flat) == [0, 3])
        // 64 decoding samples in a step: a token's share of a forward is its whole cost, so no speculation.
        let big: (Int, [Int]) -> Double = { n, _ in 9 + Double(n) }
        #expect(Speculator.lengths(acceptance: Array(repeating: 0.7, count: 64), available: Array(repeating: 4, count: 64), baseTokens: 64,
                                   sampling: 64, budget: 1000, stepTime: big) == Array(repeating: 0, count: 64))
    }

    @Test("bad configurations fail at start with vLLM's messages")
    func configErrors() throws {
        func message(_ json: String) -> String {
            do { _ = try SpeculativeConfig.parse(json); return "" } catch { return "\(error)" }
        }
        #expect(message(#"{"method": "ngram", "num_speculative_tokens": 0}"#)
            == "invalid speculative_config: Expected num_speculative_tokens to be greater than zero (0).")
        #expect(message(#"{"method": "ngram", "num_speculative_tokens": 33}"#)
            == "invalid speculative_config: num_speculative_tokens=33 is above Folio's limit of 32")
        #expect(message(#"{"method": "ngram"}"#).hasSuffix("num_speculative_tokens must be provided with speculative model unless the draft model config contains an n_predict parameter."))
        #expect(message(#"{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_min": 4, "prompt_lookup_max": 2}"#)
            == "invalid speculative_config: prompt_lookup_min=4 must be <= prompt_lookup_max=2")
        #expect(message(#"{"method": "eagle", "num_speculative_tokens": 3}"#).contains("Unsupported speculative method: 'eagle'"))
        #expect(message(#"{"method": "ngram", "num_speculative_tokens": 3, "foo": 1}"#).contains("unknown key foo"))
        #expect(message(#"{"num_speculative_tokens": 3}"#) == "invalid speculative_config: method 'draft_model' needs \"model\": the draft model's path")
        let ok = try SpeculativeConfig.parse(#"{"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_max": 4}"#)
        #expect(ok.promptLookupMin == 4 && ok.promptLookupMax == 4 && ok.numSpeculativeTokens == 5)
        let sfx = try SpeculativeConfig.parse(#"{"method": "suffix"}"#)
        #expect(sfx.numSpeculativeTokens == 24)
        // A draft with another vocabulary (SmolLM2's 49,152 tokens for the tiny Llama's 512).
        let smol = try RealModels.smol
        #expect(throws: FolioError.invalidArgument(name: "speculative_config", message:
            "Target and draft model should have the same vocabulary size. Target model vocab_size=512. Draft model vocab_size=49152. "
            + "Using models with different tokenizers can cause out-of-bounds errors during speculative decoding.")) {
            _ = try tinySpecEngine(spec(.draftModel, draft: smol))
        }
    }
}
