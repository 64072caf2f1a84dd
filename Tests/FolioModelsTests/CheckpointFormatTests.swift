import FolioModels
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// Writes safetensors files the way Hugging Face does (8-byte header length, JSON header, data).
func writeSafetensors(_ path: String, _ tensors: [(String, String, [Int], [UInt8])]) throws {
    var header = "{"
    var data: [UInt8] = []
    for (i, (name, dtype, shape, bytes)) in tensors.enumerated() {
        if i > 0 { header += "," }
        header += "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(data.count),\(data.count + bytes.count)]}"
        data += bytes
    }
    header += "}"
    var h = Array(header.utf8)
    while h.count % 8 != 0 { h.append(0x20) }
    var out = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
    out += h + data
    try Data(out).write(to: URL(fileURLWithPath: path))
}

@Suite("Checkpoint formats")
struct CheckpointFormatTests {
    /// The tiny Llama re-saved as two shards (F16 and BF16) with model.safetensors.index.json.
    @Test("sharded F16/BF16 safetensors load and match the F32 model")
    func sharded() throws {
        let src = Fixtures.path("models/hf-tiny/llama")
        let st = try SafetensorsFile(path: src + "/model.safetensors")
        let dir = NSTemporaryDirectory() + "folio-shards-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir + "/config.json")
        var shards: [[(String, String, [Int], [UInt8])]] = [[], []]
        var map: [(String, JSONValue)] = []
        for (i, name) in st.tensorNames.enumerated() {
            let t = try #require(st.tensor(named: name))
            let f = try t.toFloats()
            let half = i % 2 == 0
            var bytes: [UInt8] = []
            for v in f {
                let bits: UInt16 = half ? Float16(v).bitPattern : UInt16(v.bitPattern >> 16)
                bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            }
            shards[i % 2].append((name, half ? "F16" : "BF16", t.shape, bytes))
            map.append((name, .string("model-0000\(i % 2 + 1)-of-00002.safetensors")))
        }
        try writeSafetensors(dir + "/model-00001-of-00002.safetensors", shards[0])
        try writeSafetensors(dir + "/model-00002-of-00002.safetensors", shards[1])
        try Data(JSONValue.object([("weight_map", .object(map))]).jsonString.utf8).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let a = try CausalLM.load(path: src), b = try CausalLM.load(path: dir)
        let ids: [Int32] = [5, 17, 300, 42, 7]
        let la = try a.forward(tokens: ids, cache: a.makeCache(capacity: 8))[0]
        let lb = try b.forward(tokens: ids, cache: b.makeCache(capacity: 8))[0]
        let scale = la.map(abs).max()!
        let diff = zip(la, lb).map { abs($0 - $1) }.max()!
        print("sharded F16/BF16 vs F32: max |diff| / max|logit| = \(diff / scale)")
        #expect(diff / scale < 2e-2)
        #expect(b.tensorTypes.contains("F16") && b.tensorTypes.contains("BF16"))
    }

    @Test("a shard listed in the index but missing, and a bad config, give clear errors")
    func badCheckpoints() throws {
        let dir = NSTemporaryDirectory() + "folio-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_attention_heads": 8, "num_hidden_layers": 1, "vocab_size": 16}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/config.json"))
        try Data(#"{"weight_map": {"x": "model-1.safetensors"}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        #expect { try CausalLM.load(path: dir) } throws: { ($0 as? FolioError)?.description.contains("model-1.safetensors") == true }
        try Data(#"{"architectures": ["GPTBigCodeForCausalLM"]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect { try CausalLM.load(path: dir) } throws: { ($0 as? FolioError)?.description.contains("unsupported architecture") == true }
        try Data(#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        #expect { try CausalLM.load(path: dir) } throws: { ($0 as? FolioError)?.description.contains("num_attention_heads") == true }
        // Tensors with the wrong shape.
        try Data(#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_attention_heads": 8, "num_hidden_layers": 1, "vocab_size": 16, "intermediate_size": 32}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/config.json"))
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors.index.json")
        try writeSafetensors(dir + "/model.safetensors", [("model.embed_tokens.weight", "F32", [16, 32], [UInt8](repeating: 0, count: 16 * 32 * 4))])
        #expect { try CausalLM.load(path: dir) } throws: { ($0 as? FolioError)?.description.contains("model.embed_tokens.weight has shape [16, 32]") == true }
    }

    @Test("generation_config.json defaults")
    func generationConfig() throws {
        let g = try #require(try GenerationConfig.load(modelPath: Fixtures.path("models/hf-tiny/llama")))
        #expect(g.eosTokenIds == [2])
        #expect(g.bosTokenId == 1)
        let dir = NSTemporaryDirectory() + "folio-gen-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(#"{"do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 20, "eos_token_id": [128001, 128009]}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/generation_config.json"))
        let h = try #require(try GenerationConfig.load(modelPath: dir))
        #expect(h.temperature == 0.6 && h.topP == 0.9 && h.topK == 20 && h.eosTokenIds == [128001, 128009])
        #expect(try GenerationConfig.load(modelPath: "/nonexistent") == nil)
    }
}
