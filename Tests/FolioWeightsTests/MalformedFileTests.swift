import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// Builds GGUF files byte by byte so each test can break exactly one thing.
struct GGUFBuilder {
    var version: UInt32 = 3
    var kv: [(String, UInt32, [UInt8])] = [("general.architecture", 8, GGUFBuilder.str("llama"))]
    var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)] = []
    var data: [UInt8] = []
    var tensorCountOverride: UInt64?
    var kvCountOverride: UInt64?

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func str(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

    func bytes() -> [UInt8] {
        var b = Array("GGUF".utf8) + Self.u32(version)
        b += Self.u64(tensorCountOverride ?? UInt64(tensors.count)) + Self.u64(kvCountOverride ?? UInt64(kv.count))
        for (k, t, v) in kv { b += Self.str(k) + Self.u32(t) + v }
        for t in tensors {
            b += Self.str(t.name) + Self.u32(UInt32(t.dims.count))
            for d in t.dims { b += Self.u64(d) }
            b += Self.u32(t.type) + Self.u64(t.offset)
        }
        while b.count % 32 != 0 { b.append(0) }
        return b + data
    }

    func write() throws -> String {
        let p = NSTemporaryDirectory() + "folio-test-\(UUID().uuidString).gguf"
        try Data(bytes()).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// A valid file: one 4x32 F32 tensor.
    static func valid() -> GGUFBuilder {
        var g = GGUFBuilder()
        g.tensors = [("w", [32, 4], 0, 0)]
        g.data = [UInt8](repeating: 0, count: 4 * 32 * 4)
        return g
    }
}

func expectMalformed(_ path: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try GGUFFile(path: path)
        Issue.record("expected an error containing '\(fragment)'", sourceLocation: sourceLocation)
    } catch let e as FolioError {
        let s = e.description
        #expect(s.contains(path), "error names the file: \(s)", sourceLocation: sourceLocation)
        #expect(s.contains(fragment), "\(s)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Malformed weight files give clear errors")
struct MalformedFileTests {
    @Test("a valid hand-built GGUF reads back")
    func valid() throws {
        let g = try GGUFFile(path: try GGUFBuilder.valid().write())
        #expect(g.architecture == "llama")
        let t = try g.require("w")
        #expect(t.shape == [4, 32])
        #expect(t.type == .f32)
    }

    @Test("bad magic") func badMagic() throws {
        let p = try GGUFBuilder.valid().write()
        var d = try Data(contentsOf: URL(fileURLWithPath: p)); d[0] = 0x58
        try d.write(to: URL(fileURLWithPath: p))
        expectMalformed(p, "bad magic")
    }

    @Test("unsupported version") func version() throws {
        var g = GGUFBuilder.valid(); g.version = 9
        do { _ = try GGUFFile(path: try g.write()); Issue.record("no error") } catch let e as FolioError {
            #expect(e.description.contains("GGUF version 9"))
        }
    }

    @Test("truncated header, at every length") func truncated() throws {
        let full = GGUFBuilder.valid().bytes()
        for n in [0, 3, 7, 15, 23, 30, 50, full.count - 600] {
            let p = NSTemporaryDirectory() + "folio-trunc-\(n).gguf"
            try Data(full.prefix(n)).write(to: URL(fileURLWithPath: p))
            do { _ = try GGUFFile(path: p); Issue.record("truncated at \(n) read fine") } catch let e as FolioError {
                #expect(e.description.contains(p))
            }
        }
    }

    @Test("tensor data past the end of the file") func dataPastEnd() throws {
        var g = GGUFBuilder.valid(); g.data.removeLast(10)
        expectMalformed(try g.write(), "past the end")
    }

    @Test("unknown tensor type") func unknownType() throws {
        var g = GGUFBuilder.valid(); g.tensors[0].type = 77
        do { _ = try GGUFFile(path: try g.write()); Issue.record("no error") } catch let e as FolioError {
            #expect(e.description.contains("type#77"))
        }
    }

    @Test("row length not a multiple of the block size") func blockMismatch() throws {
        var g = GGUFBuilder.valid(); g.tensors[0].type = 2; g.tensors[0].dims = [30, 4]
        expectMalformed(try g.write(), "block size")
    }

    @Test("absurd counts do not allocate") func absurdCounts() throws {
        var g = GGUFBuilder.valid(); g.tensorCountOverride = 1 << 60
        expectMalformed(try g.write(), "absurd tensor count")
        var h = GGUFBuilder.valid(); h.kvCountOverride = 1 << 50
        expectMalformed(try h.write(), "absurd metadata count")
        var s = GGUFBuilder.valid(); s.kv = [("x", 8, GGUFBuilder.u64(1 << 62))]
        expectMalformed(try s.write(), "exceeds the file size")
        var a = GGUFBuilder.valid(); a.kv = [("x", 9, GGUFBuilder.u32(4) + GGUFBuilder.u64(1 << 40))]
        expectMalformed(try a.write(), "exceeds the file size")
    }

    @Test("bad metadata value type and too many dimensions") func badTypes() throws {
        var g = GGUFBuilder.valid(); g.kv = [("x", 99, [])]
        expectMalformed(try g.write(), "unknown metadata value type 99")
        var d = GGUFBuilder.valid(); d.tensors[0].dims = [32, 1, 1, 1, 4]
        expectMalformed(try d.write(), "dimensions")
    }

    @Test("misaligned tensor offset") func misaligned() throws {
        var g = GGUFBuilder.valid(); g.tensors[0].offset = 4; g.data += [UInt8](repeating: 0, count: 32)
        expectMalformed(try g.write(), "not aligned")
    }

    func safetensors(_ header: String, dataBytes: Int) throws -> String {
        let h = Array(header.utf8)
        let p = NSTemporaryDirectory() + "folio-\(UUID().uuidString).safetensors"
        try Data(GGUFBuilder.u64(UInt64(h.count)) + h + [UInt8](repeating: 0, count: dataBytes)).write(to: URL(fileURLWithPath: p))
        return p
    }

    func expectSafetensorsError(_ p: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do { _ = try SafetensorsFile(path: p); Issue.record("no error for \(fragment)", sourceLocation: sourceLocation) } catch let e as FolioError {
            #expect(e.description.contains(p) && e.description.contains(fragment), "\(e)", sourceLocation: sourceLocation)
        } catch { Issue.record("\(error)", sourceLocation: sourceLocation) }
    }

    @Test("safetensors: valid, wrong sizes, bad header, data past the end, unknown dtype") func safetensorsErrors() throws {
        let ok = try SafetensorsFile(path: try safetensors(#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, dataBytes: 24))
        #expect(ok.tensor(named: "a")?.shape == [2, 3])
        expectSafetensorsError(try safetensors(#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, dataBytes: 24), "needs 24")
        expectSafetensorsError(try safetensors(#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, dataBytes: 8), "past the end")
        expectSafetensorsError(try safetensors(#"{"a":{"dtype":"F32","#, dataBytes: 8), "not valid JSON")
        expectSafetensorsError(try safetensors(#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}}"#, dataBytes: 8), "dtype Q9")
        let p = NSTemporaryDirectory() + "folio-hdr.safetensors"
        try Data(GGUFBuilder.u64(1 << 40) + [1, 2, 3]).write(to: URL(fileURLWithPath: p))
        expectSafetensorsError(p, "header length")
    }

    @Test("missing files name the path") func missing() {
        do { _ = try GGUFFile(path: "/nonexistent/x.gguf"); Issue.record("no error") } catch let e as FolioError {
            #expect(e.description.contains("/nonexistent/x.gguf"))
        } catch { Issue.record("\(error)") }
    }
}
