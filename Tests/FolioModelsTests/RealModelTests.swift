import FolioModels
import FolioTokenizers
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// SmolLM2-135M-Instruct (Q4_1 GGUF) against transformers' logits on the same file dequantized to float32
/// (Tests/Fixtures/models/smollm2-golden.json, made by golden_gguf.py).
@Suite("SmolLM2 matches transformers", .serialized)
struct SmolLM2GoldenTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let prompt: String
            let prompt_token_ids: [Int32]
            let top10_ids: [[Int]]
            let top10_logits: [[Float]]
            let last_logits: [Float]
            let greedy_32: [Int32]
            let greedy_32_text: String
        }
        let cases: [Case]
    }

    @Test("prompt ids, argmax at every position, last logits, 32-token greedy")
    func golden() throws {
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/smollm2-golden.json"))))
        let path = try RealModels.smol
        let tok = try Tokenizer.load(modelPath: path)
        let model = try CausalLM.load(path: path, options: ForwardOptions(reference: true))
        var stops = tok.eogIds
        if let e = tok.eosId { stops.insert(e) }
        for c in g.cases {
            let ids = tok.encode(c.prompt, addSpecialTokens: false)
            #expect(ids == c.prompt_token_ids, "\(c.prompt.debugDescription)")
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 128), allLogits: true)
            for (pos, row) in logits.enumerated() {
                var best = 0
                for i in row.indices where row[i] > row[best] { best = i }
                let ref = c.top10_ids[pos]
                #expect(best == ref[0], "\(c.prompt.debugDescription) position \(pos): argmax \(best) vs \(ref[0])")
            }
            let diff = zip(logits.last!, c.last_logits).map { abs($0 - $1) }.max()!
            print("SmolLM2 \(c.prompt.debugDescription): max |last logits - transformers| = \(diff)")
            #expect(diff <= 2e-2)
            let gen = try model.generate(prompt: c.prompt_token_ids, maxTokens: 32, stopTokenIds: stops)
            #expect(gen.tokenIds == c.greedy_32, "\(c.prompt.debugDescription)")
            #expect(tok.decode(gen.tokenIds) == c.greedy_32_text)
        }
    }
}

/// The fast path (int8 activations on VNNI kernels, C attention, thread pool) against the float32 reference path on
/// the SmolLM2 golden prompts: top-1 agreement and mean KL(reference || fast) over every prompt position, and the fast
/// path's argmax against transformers' at each position.
@Suite("SmolLM2 fast kernels vs reference", .serialized)
struct FastPathTests {
    @Test("top-1 agreement and mean KL divergence at every prompt position")
    func agreement() throws {
        let g = try JSONDecoder().decode(SmolLM2GoldenTests.Golden.self,
                                         from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/smollm2-golden.json"))))
        let path = try RealModels.smol
        let ref = try CausalLM.load(path: path, options: ForwardOptions(reference: true)), fast = try CausalLM.load(path: path)
        var positions = 0, agree = 0, agreeHF = 0, kl = 0.0, maxKL = 0.0
        for c in g.cases {
            let a = try ref.forward(tokens: c.prompt_token_ids, cache: ref.makeCache(capacity: 128), allLogits: true)
            let b = try fast.forward(tokens: c.prompt_token_ids, cache: fast.makeCache(capacity: 128), allLogits: true)
            for (pos, (ra, rb)) in zip(a, b).enumerated() {
                let la = logSoftmax(ra), lb = logSoftmax(rb)
                let k = zip(la, lb).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
                kl += k
                maxKL = max(maxKL, k)
                positions += 1
                let am = ra.indices.max { ra[$0] < ra[$1] }!, bm = rb.indices.max { rb[$0] < rb[$1] }!
                if am == bm { agree += 1 }
                if bm == c.top10_ids[pos][0] { agreeHF += 1 }
            }
        }
        let meanKL = kl / Double(positions)
        print("SmolLM2 fast vs reference over \(positions) positions: top-1 agreement \(agree)/\(positions), mean KL \(meanKL), max KL \(maxKL); fast argmax = transformers' at \(agreeHF)/\(positions)")
        #expect(Double(agree) >= 0.9 * Double(positions))
        #expect(meanKL < 0.01)
    }
}

/// Gemma-3-270M (Q4_K_M GGUF: sliding/global layers, sandwich norms, 262k vocabulary) against llama.cpp's greedy
/// text on the same file (Tests/Fixtures/models/gemma3-llamacpp.json, made by scripts/make_gemma_llamacpp_golden.py).
/// llama.cpp quantizes activations to 8 bits in its dot products, so the two may part at a near tie: each continuation
/// must agree for 8 tokens, or up to a position where Folio's top two logits are within 0.5 of each other (a tie that
/// int8 rounding can flip). The test prints how far each pair agrees.
@Suite("Gemma 3 matches llama.cpp", .serialized)
struct GemmaLlamaCppTests {
    struct Golden: Decodable {
        struct Case: Decodable { let prompt: String; let llamacpp_text: String }
        let cases: [Case]
    }

    @Test("greedy continuations agree with llama.cpp")
    func greedy() throws {
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/gemma3-llamacpp.json"))))
        let path = try RealModels.gemma
        let tok = try Tokenizer.load(modelPath: path)
        let model = try CausalLM.load(path: path)
        for c in g.cases {
            let ids = tok.encode(c.prompt)
            #expect(ids.first == tok.bosId)
            let gen = try model.generate(prompt: ids, maxTokens: 24, stopTokenIds: tok.eogIds.union([tok.eosId!]))
            var agree = 0
            while agree < gen.tokenIds.count, c.llamacpp_text.hasPrefix(tok.decode(Array(gen.tokenIds[...agree]), cleanUpSpaces: false)) { agree += 1 }
            print("Gemma \(c.prompt.debugDescription): \(agree)/\(gen.tokenIds.count) tokens agree; folio \(tok.decode(gen.tokenIds).debugDescription) llama.cpp \(c.llamacpp_text.debugDescription)")
            if agree < min(8, gen.tokenIds.count) {
                let logits = try model.forward(tokens: ids + gen.tokenIds[..<agree], cache: model.makeCache(capacity: 64))[0]
                let top = logits.sorted(by: >)
                print("  parted at token \(agree): Folio's top-2 margin \(top[0] - top[1])")
                #expect(top[0] - top[1] < 0.5, "\(c.prompt.debugDescription) parted at token \(agree) without a near tie")
            }
        }
    }
}
