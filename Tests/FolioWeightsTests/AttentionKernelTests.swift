import CFolioKernels
import FolioTestSupport
import Foundation
import Testing

/// One layer's K/V for `nSlots` slots of `heads` KV heads stored in a KV format, plus the float32 originals.
private struct StoredKV {
    let fmt: Int32, heads: Int, d: Int, nSlots: Int
    var k: [UInt8], v: [UInt8], ks: [Float], vs: [Float]

    init(fmt: Int32, heads: Int, d: Int, nSlots: Int, rng: inout KernelRNG) {
        self.fmt = fmt; self.heads = heads; self.d = d; self.nSlots = nSlots
        let es = Int(folio_kv_elem_size(fmt)), row = heads * d
        k = [UInt8](repeating: 0, count: nSlots * row * es); v = k
        ks = [Float](repeating: 0, count: nSlots * heads); vs = ks
        for s in 0..<nSlots {
            // Keys with a few large outlier dimensions, as real models have; values in [-1, 1].
            let kr = (0..<row).map { i in rng.float(-1, 1) * (i % 17 == 3 ? 8 : 1) }, vr = (0..<row).map { _ in rng.float(-1, 1) }
            k.withUnsafeMutableBytes { b in ks.withUnsafeMutableBufferPointer { folio_kv_store(fmt, kr, Int64(heads), Int64(d), b.baseAddress! + s * row * es, $0.baseAddress! + s * heads) } }
            v.withUnsafeMutableBytes { b in vs.withUnsafeMutableBufferPointer { folio_kv_store(fmt, vr, Int64(heads), Int64(d), b.baseAddress! + s * row * es, $0.baseAddress! + s * heads) } }
        }
    }

    /// Runs body with the kernels' view of KV head h.
    func withHead<R>(_ h: Int, _ body: (UnsafePointer<folio_kv_head>) -> R) -> R {
        let es = Int(folio_kv_elem_size(fmt)), scaled = fmt == FOLIO_KV_INT8 || fmt == FOLIO_KV_FP8
        return k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in ks.withUnsafeBufferPointer { kp in vs.withUnsafeBufferPointer { vp in
            var head = folio_kv_head(k: kb.baseAddress! + h * d * es, v: vb.baseAddress! + h * d * es,
                                     ks: scaled ? kp.baseAddress! + h : nil, vs: scaled ? vp.baseAddress! + h : nil,
                                     fmt: fmt, stride: Int64(heads * d), scale_stride: Int64(heads))
            return body(&head)
        } } } }
    }
}

/// folio_attend_rows over all chunks, finished: [R, d].
private func attendRows(isa: Int32, q: [Float], R: Int, d: Int, head: UnsafePointer<folio_kv_head>, slots: [Int32],
                        lo: [Int32], hi: [Int32], scale: Float, cap: Float) -> [Float] {
    let chunks = Int64((Int(hi.max()!) + Int(FOLIO_ATT_CHUNK) - 1) / Int(FOLIO_ATT_CHUNK))
    var O = [Float](repeating: 0, count: R * d), M = [Float](repeating: 0, count: R), L = M, out = O
    var scratch = [Float](repeating: 0, count: Int(folio_attend_scratch_floats(Int64(R), Int64(d))))
    folio_attend_init(Int64(R), Int64(d), &O, &M, &L)
    let rc = folio_attend_rows_isa(isa, q, Int64(R), Int64(d), head, slots, lo, hi, 0, chunks, scale, cap, &O, &M, &L, &scratch)
    #expect(rc == 0)
    folio_attend_finish(Int64(R), Int64(d), O, L, &out)
    return out
}

@Suite("Attention over every KV format")
struct AttentionKernelTests {
    static let formats: [(String, Int32)] = [("float32", Int32(FOLIO_KV_F32)), ("float16", Int32(FOLIO_KV_F16)), ("bfloat16", Int32(FOLIO_KV_BF16)),
                                             ("int8", Int32(FOLIO_KV_INT8)), ("fp8", Int32(FOLIO_KV_FP8))]

    @Test("chunked kernels (AVX2 and scalar) match the one-softmax definition: formats, windows, soft-capping, scattered slots")
    func matchesDefinition() {
        var rng = KernelRNG(s: 21)
        let d = 64, heads = 3, nSlots = 900
        for (name, fmt) in Self.formats {
            let kv = StoredKV(fmt: fmt, heads: heads, d: d, nSlots: nSlots, rng: &rng)
            for (R, n) in [(3, 1), (3, 17), (5, 256), (7, 257), (48, 700), (2, 513)] {
                let slots = (0..<n).map { _ in Int32(rng.next() % UInt64(nSlots)) }
                let q = (0..<(R * d)).map { _ in rng.float(-1, 1) }
                // Causal rows ending at the last positions, one sliding-window row, and one row with no keys at all.
                var lo = (0..<R).map { _ in Int32(0) }, hi = (0..<R).map { r in Int32(max(1, n - R + 1 + r)) }
                if R > 2 { lo[1] = Int32(max(0, Int(hi[1]) - 100)); lo[2] = hi[2] }
                for cap: Float in [0, 5] {
                    kv.withHead(1) { head in
                        var want = [Float](repeating: 0, count: R * d)
                        folio_attend_ref(q, Int64(R), Int64(d), head, slots, lo, hi, 0.125, cap, nil, &want)
                        for isa in [Int32(FOLIO_ISA_SCALAR), Int32(FOLIO_ISA_AVX2)] {
                            if isa == FOLIO_ISA_AVX2 && folio_attend_isa() != FOLIO_ISA_AVX2 { continue }
                            let got = attendRows(isa: isa, q: q, R: R, d: d, head: head, slots: slots, lo: lo, hi: hi, scale: 0.125, cap: cap)
                            let diff = zip(got, want).map { abs($0 - $1) }.max()!
                            #expect(diff <= 1e-5, "\(name) isa \(isa) R \(R) n \(n) cap \(cap): max diff \(diff)")
                            if R > 2 { #expect(got[(2 * d)..<(3 * d)].allSatisfy { $0 == 0 }, "a row with no keys gives 0") }
                        }
                    }
                }
            }
        }
        if folio_attend_isa() != FOLIO_ISA_AVX2 { print("AVX2 attention not available on this CPU: scalar chunk kernel tested only") }
    }

    @Test("a row's result is bit-identical alone, in a block, and with its chunks run separately and merged (split-K)")
    func invariance() {
        var rng = KernelRNG(s: 22)
        let d = 64, heads = 2, nSlots = 1200, n = 1100, R = 12
        for (name, fmt) in Self.formats {
            let kv = StoredKV(fmt: fmt, heads: heads, d: d, nSlots: nSlots, rng: &rng)
            let slots = (0..<n).map { _ in Int32(rng.next() % UInt64(nSlots)) }
            let q = (0..<(R * d)).map { _ in rng.float(-1, 1) }
            let lo = (0..<R).map { r in Int32(r == 4 ? 300 : 0) }, hi = (0..<R).map { r in Int32(n - R + 1 + r) }
            kv.withHead(0) { head in
                let isa = folio_attend_isa()
                let block = attendRows(isa: isa, q: q, R: R, d: d, head: head, slots: slots, lo: lo, hi: hi, scale: 0.125, cap: 0)
                for r in [0, 4, 7, 11] {
                    let alone = attendRows(isa: isa, q: Array(q[(r * d)..<((r + 1) * d)]), R: 1, d: d, head: head, slots: slots,
                                           lo: [lo[r]], hi: [hi[r]], scale: 0.125, cap: 0)
                    #expect(alone == Array(block[(r * d)..<((r + 1) * d)]), "\(name): row \(r) alone vs in a block of \(R)")
                }
                // Split-K: each chunk into its own state, merged in order.
                let chunks = (n + Int(FOLIO_ATT_CHUNK) - 1) / Int(FOLIO_ATT_CHUNK)
                var O = [Float](repeating: 0, count: R * d), M = [Float](repeating: 0, count: R), L = M, out = O
                var scratch = [Float](repeating: 0, count: Int(folio_attend_scratch_floats(Int64(R), Int64(d))))
                folio_attend_init(Int64(R), Int64(d), &O, &M, &L)
                for c in (0..<chunks).reversed().reversed() {
                    var o = [Float](repeating: 0, count: R * d), m = [Float](repeating: 0, count: R), l = m
                    folio_attend_init(Int64(R), Int64(d), &o, &m, &l)
                    _ = folio_attend_rows_isa(isa, q, Int64(R), Int64(d), head, slots, lo, hi, Int64(c), Int64(c + 1), 0.125, 0, &o, &m, &l, &scratch)
                    folio_attend_merge(Int64(R), Int64(d), &O, &M, &L, o, m, l)
                }
                folio_attend_finish(Int64(R), Int64(d), O, L, &out)
                #expect(out == block, "\(name): split-K equals one pass")
            }
        }
    }

    @Test("int8 and fp8 rows round-trip within half a quantization step; 16-bit rows round to nearest")
    func storeLoad() {
        var rng = KernelRNG(s: 23)
        let d = 64, heads = 2
        let x = (0..<(heads * d)).map { i in rng.float(-3, 3) * (i == 5 ? 20 : 1) }
        for (name, fmt) in Self.formats {
            var buf = [UInt8](repeating: 0, count: heads * d * 4), sc = [Float](repeating: 0, count: heads), back = [Float](repeating: 0, count: d)
            folio_kv_store(fmt, x, Int64(heads), Int64(d), &buf, &sc)
            for h in 0..<heads {
                buf.withUnsafeBytes { folio_kv_load(fmt, $0.baseAddress! + h * d * Int(folio_kv_elem_size(fmt)), sc[h], Int64(d), &back) }
                let xs = Array(x[(h * d)..<((h + 1) * d)]), amax = xs.map(abs).max()!
                for i in 0..<d {
                    let err = abs(back[i] - xs[i])
                    switch name {
                    case "float32": #expect(err == 0)
                    case "float16": #expect(err <= abs(xs[i]) * 0x1p-11 * 1.0001)
                    case "bfloat16": #expect(err <= abs(xs[i]) * 0x1p-8 * 1.0001)
                    case "int8": #expect(err <= amax / 127 / 2 * 1.0001, "int8 \(xs[i]) -> \(back[i])")
                    default: #expect(err <= max(abs(xs[i]) * 0x1p-4, amax / 448 * 0x1p-9) * 1.0001, "fp8 \(xs[i]) -> \(back[i])")
                    }
                }
            }
        }
    }

    @Test("fp8 e4m3 encoding and decoding equal ml_dtypes' float8_e4m3fn (Tests/Fixtures/quant/fp8_e4m3.json)")
    func fp8Golden() throws {
        struct Golden: Decodable { let inputs: [Float]; let bytes: [UInt8]; let decoded: [Float?] }
        let g = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("quant/fp8_e4m3.json"))))
        #expect(g.inputs.count > 1000)
        var bad = 0
        for (x, b) in zip(g.inputs, g.bytes) where folio_fp8_e4m3_from_f32(x) != b {
            bad += 1
            if bad < 5 { Issue.record("fp8(\(x)) = \(folio_fp8_e4m3_from_f32(x)), ml_dtypes \(b)") }
        }
        #expect(bad == 0)
        for (b, want) in g.decoded.enumerated() {
            let got = folio_fp8_e4m3_to_f32(UInt8(b))
            if let want { #expect(got == want, "byte \(b)") } else { #expect(got.isNaN, "byte \(b) is NaN") }
        }
        // The kernels' own fp8 read (AVX2: via float16 bits): one key whose value row holds every finite code, scale 1;
        // a single key has weight 1, so the output is the decoded row.
        let codes = (0..<256).map { UInt8($0) }.filter { $0 & 0x7f != 0x7f }
        let d = 8 * (codes.count / 8)
        let vrow = Array(codes.prefix(d)), krow = [UInt8](repeating: 0, count: d), one: [Float] = [1]
        let q = [Float](repeating: 0, count: d)
        for isa in [Int32(FOLIO_ISA_SCALAR), folio_attend_isa()] {
            let out: [Float] = krow.withUnsafeBytes { kb in vrow.withUnsafeBytes { vb in one.withUnsafeBufferPointer { s in
                var head = folio_kv_head(k: kb.baseAddress!, v: vb.baseAddress!, ks: s.baseAddress!, vs: s.baseAddress!,
                                         fmt: Int32(FOLIO_KV_FP8), stride: Int64(d), scale_stride: 1)
                return attendRows(isa: isa, q: q, R: 1, d: d, head: &head, slots: [0], lo: [0], hi: [1], scale: 1, cap: 0)
            } } }
            for i in 0..<d { #expect(out[i] == g.decoded[Int(vrow[i])]!, "isa \(isa): fp8 code \(vrow[i]) read as \(out[i])") }
        }
    }
}
