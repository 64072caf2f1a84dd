import CFolioKernels
import FolioTestSupport
import FolioWeights
import Foundation
import Testing

/// Seeded mutation fuzzing of the weight-file readers: every mutated file either loads (and every tensor reads)
/// or raises a FolioError; nothing traps. The seed is printed first (see FolioTestSupport/Fuzz.swift).
@Suite("Fuzz: weight files")
struct FuzzWeightsTests {
    @Test("GGUF reader on mutated GGUF files (header, metadata, tensor infos)")
    func gguf() throws {
        var f = Fuzzer("gguf", iterations: 300)
        let dir = try f.scratch()
        let seeds = ["ggml-vocab-bert-bge.gguf", "ggml-vocab-gpt-2.gguf"].map { Fixtures.path("tokenizers/gguf-vocab/" + $0) }
        // Vocabulary-only GGUFs: headers, every metadata value type, arrays, tensor infos.
        let corpus = try seeds.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: $0))) }
        let r = try f.run { f, i in
            let path = dir + "/m.gguf"
            try Data(f.mutate(corpus[i % corpus.count], hot: 4096)).write(to: URL(fileURLWithPath: path))
            let g = try GGUFFile(path: path)
            for n in g.tensorNames.prefix(8) { _ = try g.tensor(named: n)?.toFloats() }
        }
        #expect(r.loaded > 0 && r.rejected > 0)
    }

    @Test("safetensors reader on mutated headers and data")
    func safetensors() throws {
        var f = Fuzzer("safetensors", iterations: 500)
        let dir = try f.scratch()
        let corpus = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("models/hf-tiny/llama/model.safetensors"))))
        let headerLen = Int(corpus[0]) | Int(corpus[1]) << 8 | Int(corpus[2]) << 16
        let r = try f.run { f, _ in
            var bytes: [UInt8]
            if f.next() % 2 == 0 {
                bytes = f.mutate(corpus, hot: 8 + headerLen)
            } else {
                // Numbers in the JSON header replaced by hostile ones (shapes, offsets), the length prefix kept right.
                let header = String(decoding: corpus[8..<(8 + headerLen)], as: UTF8.self)
                let h = f.mutateJSON(header)
                bytes = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + corpus[(8 + headerLen)...]
            }
            let path = dir + "/model.safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let s = try SafetensorsFile(path: path)
            for n in s.tensorNames { _ = try s.tensor(named: n)?.toFloats() }
        }
        #expect(r.loaded > 0 && r.rejected > 0)
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256() {
        func hex(_ s: [UInt8]) -> String {
            var out = [UInt8](repeating: 0, count: 32)
            folio_sha256(s, s.count, &out)
            return out.map { String(format: "%02x", $0) }.joined()
        }
        #expect(hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8))
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(hex([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
