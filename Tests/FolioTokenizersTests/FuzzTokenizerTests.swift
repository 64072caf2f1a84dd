import FolioTestSupport
import FolioTokenizers
import FolioWeights
import Foundation
import Testing

/// Seeded mutation fuzzing of the tokenizer loaders; what loads must also encode and decode without trapping.
@Suite("Fuzz: tokenizers")
struct FuzzTokenizerTests {
    @Test("tokenizer.json with hostile numbers (ids beyond Int32, negative) and mutated bytes")
    func tokenizerJSON() throws {
        var f = Fuzzer("tokenizer-json", iterations: 300)
        let dir = try f.scratch()
        let src = Fixtures.path("tokenizers/tokenizer-json/added-tokens")
        let text = try String(contentsOfFile: src + "/tokenizer.json", encoding: .utf8)
        try FileManager.default.copyItem(atPath: src + "/tokenizer_config.json", toPath: dir + "/tokenizer_config.json")
        let r = try f.run { f, _ in
            try Data(f.mutateJSON(text)).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
            let t = try Tokenizer.load(modelPath: dir)
            _ = t.decode(t.encode("Hello <s> world</s> 123 ünïcödé"))
        }
        #expect(r.loaded > 0 && r.rejected > 0)
    }

    @Test("a token id beyond Int32 in tokenizer.json is a FolioError naming it (it trapped)")
    func hugeAddedTokenId() throws {
        let dir = NSTemporaryDirectory() + "folio-tok-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let src = Fixtures.path("tokenizers/tokenizer-json/added-tokens")
        try FileManager.default.copyItem(atPath: src + "/tokenizer_config.json", toPath: dir + "/tokenizer_config.json")
        let text = try String(contentsOfFile: src + "/tokenizer.json", encoding: .utf8)
        let bad = text.replacingOccurrences(of: "\"id\": 2,", with: "\"id\": 4294967298,")
        #expect(bad != text)
        try Data(bad.utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        #expect { try Tokenizer.load(modelPath: dir) } throws: {
            ($0 as? FolioError)?.description.contains("has id 4294967298, outside [0, 10000000)") == true
        }
    }
}
