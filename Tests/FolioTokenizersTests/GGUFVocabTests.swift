import FolioTestSupport
import Foundation
import FolioTokenizers
import FolioWeights
import Testing

/// llama.cpp's vocab test files: `.inp` texts separated by `__ggml_vocab_test__`, `.out` the ids that Hugging Face
/// `AutoTokenizer.encode(text, add_special_tokens=False)` gives with each model's original tokenizer.
struct VocabCase: Sendable, CustomTestStringConvertible {
    let name: String
    var testDescription: String { name }
}

func loadVocabCases(_ name: String) throws -> [(String, [Int32])] {
    let base = Fixtures.path("tokenizers/gguf-vocab/ggml-vocab-\(name).gguf")
    let inp = try String(contentsOfFile: base + ".inp", encoding: .utf8)
    let out = try String(contentsOfFile: base + ".out", encoding: .utf8)
    var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
    if let last = texts.last, last.hasSuffix("\n__ggml_vocab_test__") || last == "" { texts.removeLast() }
    if texts.last?.hasSuffix("\n__ggml_vocab_test__") == true {
        texts[texts.count - 1] = String(texts[texts.count - 1].dropLast("\n__ggml_vocab_test__".count))
    }
    let lines = out.components(separatedBy: "\n")
    return texts.enumerated().map { (i, t) in
        (t, lines[i].split(separator: " ").compactMap { Int32($0) })
    }
}

@Suite("GGUF vocabularies match Hugging Face token ids")
struct GGUFVocabTests {
    static let names = ["llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3", "deepseek-coder", "falcon", "starcoder",
                        "gemma-4", "bert-bge"]

    @Test("every .inp case encodes to the .out ids", arguments: names)
    func encodesLikeReference(name: String) throws {
        let tok = try Tokenizer.fromGGUF(GGUFFile(path: Fixtures.path("tokenizers/gguf-vocab/ggml-vocab-\(name).gguf")))
        let cases = try loadVocabCases(name)
        #expect(cases.count >= 40)
        var failures: [String] = []
        for (text, expected) in cases {
            let got = tok.encode(text, addSpecialTokens: false)
            if got != expected { failures.append("\(text.debugDescription): got \(got) expected \(expected)") }
        }
        for f in failures.prefix(4) { print("MISMATCH \(name): \(f)") }
        #expect(failures.isEmpty, "\(name): \(failures.count) of \(cases.count) differ:\n\(failures.prefix(6).joined(separator: "\n"))")
    }
}
