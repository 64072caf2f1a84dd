import FolioModels
import FolioTestSupport
import Foundation
import Testing

/// DeepSeek's multi-head latent attention against transformers' float32 logits (the tiny random DeepSeek V2/V3
/// checkpoints of scripts/make_tiny_goldens.py), path by path: HFTinyGoldenTests runs each prompt as one prefill
/// (decompressed keys and values) and the greedy continuation (absorbed decode); these run every position through
/// the absorbed path, the float32 reference path, and a batch that mixes both paths in one step.
@Suite("Multi-head latent attention (DeepSeek V2/V3) matches transformers")
struct LatentAttentionTests {
    static let archs = ["deepseek-v2", "deepseek-v3", "deepseek-v3-plain-rope"]
    /// The tiny-model tolerance of HFTinyGoldenTests: max |diff| / max |logit| per position.
    static let tolerance: Float = 1e-3

    func golden(_ arch: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/hf-tiny/\(arch)/golden.json"))))
    }

    func relativeError(_ got: [Float], _ want: [Float]) -> Float {
        let scale = want.map(abs).max() ?? 1
        return (zip(got, want).map { abs($0 - $1) }.max() ?? 0) / scale
    }

    @Test("one token at a time (the absorbed decode path) at every position", arguments: archs)
    func absorbedEveryPosition(arch: String) throws {
        let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/\(arch)"))
        let c = try golden(arch).cases[2]   // 40 tokens
        let cache = model.makeCache(capacity: 64)
        var worst: Float = 0
        for (i, t) in c.prompt_token_ids.enumerated() {
            let logits = try model.forward(tokens: [t], cache: cache)[0]
            worst = max(worst, relativeError(logits, c.logits[i]))
        }
        print("\(arch) absorbed, 40 positions: max relative error \(worst)")
        #expect(worst <= Self.tolerance)
    }

    @Test("the float32 reference path (keys and values decompressed for every token)", arguments: archs)
    func referencePath(arch: String) throws {
        let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/\(arch)"), options: ForwardOptions(reference: true))
        for c in try golden(arch).cases {
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 128), allLogits: true)
            let worst = zip(logits, c.logits).map { relativeError($0, $1) }.max()!
            #expect(worst <= Self.tolerance, "\(arch) prompt of \(c.prompt_token_ids.count): \(worst)")
        }
    }

    @Test("one step mixing a decode token and another sequence's prefill", arguments: archs)
    func mixedBatch(arch: String) throws {
        let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/\(arch)"))
        let g = try golden(arch), a = g.cases[2], b = g.cases[3]
        let kv = PagedKVCache(config: model.config, numBlocks: 8, blockSize: 16)
        // Sequence 0 (blocks 0, 1) prefills 7 tokens alone.
        var first = ForwardBatch()
        first.tokens = Array(a.prompt_token_ids[0..<7])
        first.positions = (0..<7).map { Int32($0) }
        first.sequence = Array(repeating: 0, count: 7)
        first.slots = first.positions
        first.blockTables = [[0, 1]]
        first.logitIndices = [6]
        _ = try model.forward(batch: first, kv: kv)
        // Then its 8th token (decode) together with sequence 1's first 5 tokens (prefill, blocks 2, 3).
        var step = ForwardBatch()
        step.tokens = [a.prompt_token_ids[7]] + Array(b.prompt_token_ids[0..<5])
        step.positions = [7] + (0..<5).map { Int32($0) }
        step.sequence = [0, 1, 1, 1, 1, 1]
        step.slots = [7] + (0..<5).map { Int32(32 + $0) }
        step.blockTables = [[0, 1], [2, 3]]
        step.logitIndices = [0, 5]
        let out = try model.forward(batch: step, kv: kv)
        let e0 = relativeError(out[0], a.logits[7]), e1 = relativeError(out[1], b.logits[4])
        print("\(arch) mixed step: decode \(e0), prefill \(e1)")
        #expect(e0 <= Self.tolerance)
        #expect(e1 <= Self.tolerance)
    }

    /// llama.cpp's converter splits kv_b_proj into attn_k_b (transposed per head) and attn_v_b and writes the routing
    /// as metadata (scripts/make_gguf_without_tokenizer.py): the same goldens hold.
    @Test("GGUF deepseek2 files from llama.cpp's converter", arguments: ["deepseek-v2", "deepseek-v3"])
    func gguf(arch: String) throws {
        let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/\(arch)/\(arch)-f32.gguf"))
        #expect(model.config.latentAttention != nil && model.config.routing.sharedExperts > 0)
        let g = try golden(arch)
        for c in g.cases {
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 128), allLogits: true)
            let worst = zip(logits, c.logits).map { relativeError($0, $1) }.max()!
            print("\(arch) GGUF L=\(c.prompt_token_ids.count): \(worst)")
            #expect(worst <= Self.tolerance, "\(arch) GGUF prompt of \(c.prompt_token_ids.count): \(worst)")
            if !c.prompt_token_ids.contains(0) {
                #expect(try model.generate(prompt: c.prompt_token_ids, maxTokens: 16).tokenIds == c.greedy_16)
            }
        }
    }

    @Test("the KV cache holds only the latent: (kv_lora_rank + qk_rope_head_dim) x layers x dtype size per token")
    func cacheHoldsLatentOnly() throws {
        for arch in Self.archs {
            let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/\(arch)"))
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/hf-tiny/\(arch)/config.json")))) as! [String: Any]
            let width = (json["kv_lora_rank"] as! Int) + (json["qk_rope_head_dim"] as! Int), layers = json["num_hidden_layers"] as! Int
            #expect(PagedKVCache.bytesPerToken(model.config, dtype: .float32) == width * layers * 4)
            #expect(PagedKVCache.bytesPerToken(model.config, dtype: .float16) == width * layers * 2)
            #expect(PagedKVCache.bytesPerToken(model.config, dtype: .bfloat16) == width * layers * 2)
            // 8-bit formats: one byte per element and one float scale per token and layer.
            #expect(PagedKVCache.bytesPerToken(model.config, dtype: .int8) == (width + 4) * layers)
        }
    }

    @Test("16-bit and 8-bit latent caches keep the greedy continuations", arguments: archs)
    func quantizedCache(arch: String) throws {
        let model = try CausalLM.load(path: Fixtures.path("models/hf-tiny/\(arch)"))
        let c = try golden(arch).cases[2]
        for dtype in [KVCacheDType.float16, .bfloat16, .int8] {
            let cache = model.makeCache(capacity: 64, dtype: dtype)
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: cache, allLogits: true)
            let agree = zip(logits, c.logits).filter { argmax($0) == argmax($1) }.count
            print("\(arch) \(dtype): top-1 agreement \(agree)/\(logits.count)")
            #expect(agree >= logits.count - 1, "\(arch) \(dtype)")
        }
    }

    func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] }! }
}
