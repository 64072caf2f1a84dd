import FolioModels
import FolioTestSupport
import FolioWeights
import Foundation
import Testing

/// config.json and weight problems that trapped (division by zero, non-finite conversions, short vectors read
/// through raw pointers) now raise a FolioError naming the file and field.
@Suite("Malformed model files")
struct MalformedConfigTests {
    static let src = Fixtures.path("models/hf-tiny/llama")

    /// A copy of the tiny Llama whose config.json has `key` set to the raw JSON `value`.
    func variant(_ edits: [(String, String)], tensors: [(String, String, [Int], [UInt8])]? = nil) throws -> String {
        let dir = NSTemporaryDirectory() + "folio-cfg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var cfg = try String(contentsOfFile: Self.src + "/config.json", encoding: .utf8)
        for (k, v) in edits {
            let re = try NSRegularExpression(pattern: "\"\(k)\": [^,}\\n]+")
            let range = NSRange(cfg.startIndex..., in: cfg)
            if re.firstMatch(in: cfg, range: range) != nil {
                cfg = re.stringByReplacingMatches(in: cfg, range: range, withTemplate: "\"\(k)\": \(v)")
            } else {
                cfg = cfg.replacingOccurrences(of: "{", with: "{\"\(k)\": \(v), ", options: [], range: cfg.range(of: "{"))
            }
        }
        try Data(cfg.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        if let tensors { try writeSafetensors(dir + "/model.safetensors", tensors) } else {
            try FileManager.default.copyItem(atPath: Self.src + "/model.safetensors", toPath: dir + "/model.safetensors")
        }
        return dir
    }

    func expectError(_ edits: [(String, String)], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try variant(edits)
        #expect(sourceLocation: sourceLocation) { try CausalLM.load(path: dir) } throws: {
            guard let e = $0 as? FolioError else { return false }
            return e.description.contains(fragment) && e.description.contains(dir)
        }
    }

    @Test("zero or negative sizes, non-finite and negative numbers in config.json")
    func badNumbers() throws {
        try expectError([("num_attention_heads", "0")], "heads 0")
        try expectError([("num_hidden_layers", "-3")], "layers -3")
        try expectError([("hidden_size", "0")], "hidden 0")
        try expectError([("num_key_value_heads", "0")], "non-positive size")
        try expectError([("rms_norm_eps", "-1e-5")], "rms_norm_eps is -")
        try expectError([("rope_theta", "0")], "rope_theta is 0.0")
        try expectError([("rope_theta", "-10000")], "rope_theta is -10000.0")
        try expectError([("partial_rotary_factor", "1e308")], "partial_rotary_factor")
        try expectError([("max_position_embeddings", "-5")], "max_position_embeddings -5")
        try expectError([("intermediate_size", "0")], "intermediate 0")
        try expectError([("rope_scaling", #"{"rope_type": "linear", "factor": -2}"#)], "rope_scaling.factor is -2.0")
    }

    @Test("norm and bias vectors shorter than the model's sizes")
    func shortVectors() throws {
        let st = try SafetensorsFile(path: Self.src + "/model.safetensors")
        var tensors: [(String, String, [Int], [UInt8])] = []
        for n in st.tensorNames {
            let t = try #require(st.tensor(named: n))
            var f = try t.toFloats(), shape = t.shape
            if n == "model.norm.weight" { f.removeLast(); shape = [f.count] }
            tensors.append((n, "F32", shape, f.withUnsafeBytes { Array($0) }))
        }
        let dir = try variant([], tensors: tensors)
        #expect { try CausalLM.load(path: dir) } throws: {
            ($0 as? FolioError)?.description.contains("model.norm.weight has \(tensors.first { $0.0 == "model.norm.weight" }!.2[0]) elements, expected") == true
        }
    }

    @Test("config.json with hostile numbers never traps")
    func fuzzConfig() throws {
        var f = Fuzzer("config-json", iterations: 300)
        let text = try String(contentsOfFile: Self.src + "/config.json", encoding: .utf8)
        let dir = try f.scratch()
        try FileManager.default.copyItem(atPath: Self.src + "/model.safetensors", toPath: dir + "/model.safetensors")
        let r = try f.run { f, _ in
            try Data(f.mutateJSON(text)).write(to: URL(fileURLWithPath: dir + "/config.json"))
            let m = try CausalLM.load(path: dir)
            _ = try m.forward(tokens: [1, 2, 3], cache: m.makeCache(capacity: 4))
        }
        #expect(r.loaded > 0 && r.rejected > 0)
    }
}
