import FolioModels
import FolioTestSupport
import Foundation
import Testing

/// GPT-OSS from GGUF (the safetensors checkpoint is in HFTinyGoldenTests): llama.cpp's converter's float32 file and
/// llama-quantize's MXFP4_MOE file of the tiny random model, each against transformers run on exactly the weights the
/// file holds (dequantized by gguf-py; scripts/make_gpt_oss_gguf_goldens.py), and attention sinks on the split-K
/// decode path.
@Suite("GPT-OSS: GGUF, MXFP4 experts and attention sinks")
struct GptOssTests {
    static let dir = Fixtures.path("models/hf-tiny/gpt-oss")
    /// The tiny-model tolerance (HFTinyGoldenTests): max |diff| / max |logit| per position.
    static let tolerance: Float = 1e-3

    func golden(_ name: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: "\(Self.dir)/gguf-golden-\(name).json")))
    }

    func relativeError(_ got: [Float], _ want: [Float]) -> Float {
        (zip(got, want).map { abs($0 - $1) }.max() ?? 0) / (want.map(abs).max() ?? 1)
    }

    func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] }! }

    @Test("float32 GGUF from llama.cpp's converter: logits and greedy continuations")
    func float32File() throws {
        let model = try CausalLM.load(path: "\(Self.dir)/gpt-oss-f32.gguf")
        #expect(model.config.attentionSinks && model.config.activation == .swigluClamped)
        for c in try golden("f32").cases {
            let logits = try model.forward(tokens: c.prompt_token_ids, cache: model.makeCache(capacity: 128), allLogits: true)
            let worst = zip(logits, c.logits).map { relativeError($0, $1) }.max()!
            print("gpt-oss f32 GGUF L=\(c.prompt_token_ids.count): \(worst)")
            #expect(worst <= Self.tolerance)
            if !c.prompt_token_ids.contains(0) { #expect(try model.generate(prompt: c.prompt_token_ids, maxTokens: 16).tokenIds == c.greedy_16) }
        }
    }

    /// MXFP4 experts: llama-quantize's MXFP4_MOE GGUF (with Q8_0/F16 projections), and a safetensors checkpoint
    /// stored as the released GPT-OSS models are (`*_blocks` / `*_scales`, `quantization_config` mxfp4;
    /// scripts/make_gpt_oss_mxfp4_safetensors.py, golden from transformers' own MXFP4 decoder). The float32 reference
    /// path is held to the tiny-model tolerance against the dequantized weights; the fast path (int8 activations on
    /// the MXFP4 and Q8_0 kernels) to the fast path's rule on SmolLM2 (FastPathTests): top-1 agreement >= 90% and mean
    /// KL < 0.01 over every position.
    @Test("MXFP4 experts (llama-quantize's GGUF; safetensors as released): reference path within tolerance, fast path by top-1 agreement and KL",
          arguments: ["gguf", "safetensors"])
    func mxfp4File(format: String) throws {
        let path = format == "gguf" ? "\(Self.dir)/gpt-oss-mxfp4.gguf" : Fixtures.path("models/hf-tiny/gpt-oss-mxfp4")
        let ref = try CausalLM.load(path: path, options: ForwardOptions(reference: true)), fast = try CausalLM.load(path: path)
        // 3 layers x 4 experts: gate, up and down (llama-quantize keeps down_proj F16).
        #expect(fast.projectionKernels["MXFP4"]?.values.reduce(0, +) == 3 * 4 * (format == "gguf" ? 2 : 3), "\(fast.projectionKernels)")
        let cases = format == "gguf" ? try golden("mxfp4").cases
            : try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: path + "/golden.json"))).cases
        var positions = 0, agree = 0, kl = 0.0
        for c in cases {
            let r = try ref.forward(tokens: c.prompt_token_ids, cache: ref.makeCache(capacity: 128), allLogits: true)
            let worst = zip(r, c.logits).map { relativeError($0, $1) }.max()!
            print("gpt-oss MXFP4 \(format) reference L=\(c.prompt_token_ids.count): \(worst)")
            #expect(worst <= Self.tolerance)
            if !c.prompt_token_ids.contains(0) { #expect(try ref.generate(prompt: c.prompt_token_ids, maxTokens: 16).tokenIds == c.greedy_16) }
            let f = try fast.forward(tokens: c.prompt_token_ids, cache: fast.makeCache(capacity: 128), allLogits: true)
            for (a, b) in zip(f, c.logits) {
                positions += 1
                if argmax(a) == argmax(b) { agree += 1 }
                let la = logSoftmax(b), lb = logSoftmax(a)
                kl += zip(la, lb).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
            }
        }
        print("gpt-oss MXFP4 \(format) fast path: top-1 agreement \(agree)/\(positions), mean KL \(kl / Double(positions))")
        #expect(Double(agree) >= 0.9 * Double(positions))
        #expect(kl / Double(positions) < 0.01)
    }

    /// Past 256 positions a full-attention layer's keys span two chunks; a lone decode token splits them over the
    /// threads and merges the partial softmaxes, then adds the sink: equal to the scalar definition's one softmax.
    @Test("sinks after split-K decode equal the scalar definition (seeded random 300-token prompt)")
    func sinksSplitK() throws {
        let seed = UInt64(20261201)
        print("sinksSplitK seed \(seed)")
        var rng = SeededRandom(seed: seed)
        let prompt = (0..<300).map { _ in Int32(1 + rng.next() % 511) }
        let fast = try CausalLM.load(path: "\(Self.dir)/gpt-oss-f32.gguf")
        let ref = try CausalLM.load(path: "\(Self.dir)/gpt-oss-f32.gguf", options: ForwardOptions(reference: true))
        let fc = fast.makeCache(capacity: 320), rc = ref.makeCache(capacity: 320)
        _ = try fast.forward(tokens: prompt, cache: fc)
        _ = try ref.forward(tokens: prompt, cache: rc)
        let a = try fast.forward(tokens: [7], cache: fc)[0], b = try ref.forward(tokens: [7], cache: rc)[0]
        #expect(relativeError(a, b) <= Self.tolerance, "\(relativeError(a, b))")
    }
}
