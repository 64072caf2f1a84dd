import FolioTokenizers
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// swift-transformers' tokenizer test vectors (Tests/Fixtures/tokenizers/vectors, Apache-2.0), for the tokenizers
/// whose vocabularies we have: each model's GGUF vocabulary (same vocabulary as the Hugging Face tokenizer).
@Suite("swift-transformers tokenizer vectors")
struct VectorTests {
    struct Case: Decodable {
        struct Enc: Decodable { let input_ids: [Int32] }
        let input: String
        let encoded: Enc
        let decoded_with_special: String
        let decoded_without_special: String
    }

    static let models: [(hf: String, vocab: String)] = [
        ("bert-base-uncased", "bert-bge"), ("google-bert/bert-base-uncased", "bert-bge"), ("distilgpt2", "gpt-2"),
        ("coreml-projects/Llama-2-7b-chat-coreml", "llama-spm"), ("tiiuae/falcon-7b", "falcon"),
        ("pcuenq/Llama-3.2-1B-Instruct-tokenizer", "llama-bpe"),
    ]

    static func vocab(_ name: String) throws -> Tokenizer {
        try Tokenizer.fromGGUF(GGUFFile(path: Fixtures.path("tokenizers/gguf-vocab/ggml-vocab-\(name).gguf")))
    }

    @Test("encode with special tokens, decode with and without", arguments: models.map { "\($0.hf)|\($0.vocab)" })
    func vectors(pair: String) throws {
        let parts = pair.split(separator: "|").map(String.init)
        let all = try JSONDecoder().decode([String: [Case]].self,
                                           from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizers/vectors/tokenizer_tests.json"))))
        let cases = try #require(all[parts[0]])
        let tok = try Self.vocab(parts[1])
        var bad: [String] = []
        for c in cases {
            let ids = tok.encode(c.input)
            if ids != c.encoded.input_ids { bad.append("encode \(c.input.debugDescription): \(ids) vs \(c.encoded.input_ids)") }
            let w = tok.decode(c.encoded.input_ids), wo = tok.decode(c.encoded.input_ids, skipSpecialTokens: true)
            if w != c.decoded_with_special { bad.append("decode \(w.debugDescription) vs \(c.decoded_with_special.debugDescription)") }
            if wo != c.decoded_without_special { bad.append("decode(skip) \(wo.debugDescription) vs \(c.decoded_without_special.debugDescription)") }
        }
        for b in bad.prefix(5) { print("MISMATCH \(parts[0]): \(b)") }
        #expect(bad.isEmpty, "\(parts[0]): \(bad.count) mismatches")
    }

    struct Encoded: Decodable { let text: String; let token_ids: [Int32]; let decoded_text: String? }

    @Test("long French text", arguments: [("llama_encoded", "llama-spm"), ("llama_3.2_encoded", "llama-bpe"),
                                           ("gpt2_encoded_tokens", "gpt-2"), ("falcon_encoded", "falcon")].map { "\($0.0)|\($0.1)" })
    func encodedFiles(pair: String) throws {
        let parts = pair.split(separator: "|").map(String.init)
        let e = try JSONDecoder().decode(Encoded.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizers/vectors/\(parts[0]).json"))))
        let tok = try Self.vocab(parts[1])
        let ids = tok.encode(e.text)
        // Some vectors were made with BOS, some without.
        let expected = e.token_ids
        let got = expected.first == ids.first ? ids : tok.encode(e.text, addSpecialTokens: false)
        #expect(got == expected)
        if let d = e.decoded_text { #expect(tok.decode(expected) == d) }
    }
}

@Suite("tokenizer.json pipelines")
struct TokenizerJSONTests {
    @Test("tokenizer.json gives the same ids as the GGUF vocabulary's reference", arguments: [("phi-3", "phi-3"), ("falcon-tokenizer", "falcon")].map { "\($0.0)|\($0.1)" })
    func sameAsReference(pair: String) throws {
        let parts = pair.split(separator: "|").map(String.init)
        let tok = try Tokenizer.fromHuggingFace(directory: Fixtures.path("tokenizers/tokenizer-json/\(parts[0])"))
        var bad: [String] = []
        for (text, expected) in try loadVocabCases(parts[1]) {
            let got = tok.encode(text, addSpecialTokens: false)
            if got != expected { bad.append("\(text.debugDescription): \(got) vs \(expected)") }
        }
        for b in bad.prefix(4) { print("MISMATCH \(parts[0]): \(b)") }
        #expect(bad.isEmpty, "\(parts[0]): \(bad.count) differ")
    }

    @Test("added tokens are matched before the model; phi-2 byte-level round trip")
    func addedTokens() throws {
        let tok = try Tokenizer.fromHuggingFace(directory: Fixtures.path("tokenizers/tokenizer-json/phi-3"))
        // Reference: Python `tokenizers` 0.22 on the same tokenizer.json.
        let ids = tok.encode("<|user|>\nHi<|end|>", addSpecialTokens: false)
        #expect(ids == [32010, 29871, 13, 18567, 32007])
        #expect(tok.decode(ids) == "<|user|> \nHi<|end|>")
        let phi2 = try Tokenizer.fromHuggingFace(directory: Fixtures.path("tokenizers/tokenizer-json/phi-2"))
        let text = "def f(x):\n    return x ** 2  # héllo 🌍"
        #expect(phi2.decode(phi2.encode(text)) == text)
    }
}

@Suite("decoding")
struct DecodingTests {
    static let lossless = ["llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3", "deepseek-coder", "falcon", "starcoder", "gemma-4"]

    @Test("decode(encode(x)) == x on the reference inputs", arguments: lossless)
    func roundTrip(name: String) throws {
        let tok = try VectorTests.vocab(name)
        var bad: [String] = []
        for (text, _) in try loadVocabCases(name) {
            let back = tok.decode(tok.encode(text, addSpecialTokens: false), cleanUpSpaces: false)
            if back != text { bad.append("\(text.debugDescription) -> \(back.debugDescription)") }
        }
        for b in bad.prefix(4) { print("ROUNDTRIP \(name): \(b)") }
        #expect(bad.isEmpty, "\(name): \(bad.count) differ")
    }

    @Test("the streaming detokenizer never emits half a character", arguments: ["gpt-2", "llama-spm", "qwen2"])
    func streaming(name: String) throws {
        let tok = try VectorTests.vocab(name)
        let text = "Grüß Gott! 你好，世界 🌍🦙 ok"
        let ids = tok.encode(text, addSpecialTokens: false)
        var d = StreamingDetokenizer(tokenizer: tok)
        var pieces: [String] = []
        for id in ids { pieces.append(d.push(id)) }
        pieces.append(d.finish())
        #expect(pieces.joined() == text)
        #expect(!pieces.joined().contains("\u{FFFD}"))
        #expect(pieces.allSatisfy { !$0.contains("\u{FFFD}") })
    }
}
