import CFolioKernels
import FolioTestSupport
import Foundation
import Testing

extension Fuzzer: RandomNumberGenerator {}

/// LoRA's grouped shrink/expand kernel (lora.c): each instruction set against float64 sums of the same (float32 or
/// float16-rounded) weights, over several adapters in one batch with their token rows interleaved, ranks 1-64,
/// widths with vector tails, token counts that are not multiples of the 4-token tile, one and two threads.
@Suite("LoRA grouped shrink/expand kernel")
struct LoRAKernelTests {
    struct Group {
        let rows: [Int32]
        let r: Int
        let a, bt: [Float]  // as the kernel sees them (rounded through float16 when half)
    }

    static func floats(_ count: Int, _ rng: inout Fuzzer, half: Bool) -> [Float] {
        (0..<count).map { _ in
            let v = Float(Int(rng.below(2001)) - 1000) / 1000
            return half ? folio_fp16_to_fp32(folio_fp32_to_fp16(v)) : v
        }
    }

    /// Runs one batch of groups on `isa`; returns the max error against float64 sums and whether rows outside every
    /// group stayed untouched.
    static func run(isa: Int32, half: Bool, batch: Int, inF: Int, outF: Int, ranks: [Int], threads: Int, rng: inout Fuzzer) -> (Double, Bool) {
        var order = Array(0..<Int32(batch)).shuffled(using: &rng)
        var groups: [Group] = []
        for (gi, r) in ranks.enumerated() {
            let n = gi == ranks.count - 1 ? max(1, order.count - 2) : min(order.count, 1 + rng.below(6))
            let rows = Array(order.prefix(n))
            order.removeFirst(n)
            groups.append(Group(rows: rows, r: r, a: floats(r * inF, &rng, half: half), bt: floats(r * outF, &rng, half: half)))
        }
        let x = floats(batch * inF, &rng, half: false), y0 = floats(batch * outF, &rng, half: false)
        var y = y0
        // The kernel's view: float32 or float16 copies of the weights, each group's rows and scratch.
        let a16 = groups.map { $0.a.map(folio_fp32_to_fp16) }, b16 = groups.map { $0.bt.map(folio_fp32_to_fp16) }
        let rowsBuf = groups.map { UnsafeMutableBufferPointer<Int32>.allocate(capacity: max(1, $0.rows.count)) }
        let scratch = groups.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.rows.count * $0.r)) }
        defer { rowsBuf.forEach { $0.deallocate() }; scratch.forEach { $0.deallocate() } }
        var desc: [folio_lora_group] = []
        var keep: [Any] = []
        for (gi, g) in groups.enumerated() {
            _ = rowsBuf[gi].initialize(from: g.rows)
            let a: UnsafeMutableRawPointer, bt: UnsafeMutableRawPointer
            if half {
                let pa = UnsafeMutablePointer<UInt16>.allocate(capacity: g.a.count); pa.initialize(from: a16[gi], count: g.a.count)
                let pb = UnsafeMutablePointer<UInt16>.allocate(capacity: g.bt.count); pb.initialize(from: b16[gi], count: g.bt.count)
                a = UnsafeMutableRawPointer(pa); bt = UnsafeMutableRawPointer(pb)
            } else {
                let pa = UnsafeMutablePointer<Float>.allocate(capacity: g.a.count); pa.initialize(from: g.a, count: g.a.count)
                let pb = UnsafeMutablePointer<Float>.allocate(capacity: g.bt.count); pb.initialize(from: g.bt, count: g.bt.count)
                a = UnsafeMutableRawPointer(pa); bt = UnsafeMutableRawPointer(pb)
            }
            keep.append(a); keep.append(bt)
            desc.append(folio_lora_group(rows: rowsBuf[gi].baseAddress!, n: Int64(g.rows.count), a: a, bt: bt, r: Int64(g.r), t: scratch[gi]))
        }
        defer { for p in keep { (p as! UnsafeMutableRawPointer).deallocate() } }
        let rc = folio_lora_apply_isa(isa, x, Int64(inF), Int64(inF), &y, Int64(outF), Int64(outF), desc, Int64(desc.count), half ? 1 : 0, Int32(threads))
        #expect(rc == 0)
        var expected = y0.map(Double.init)
        for g in groups {
            for row in g.rows.map(Int.init) {
                let t = (0..<g.r).map { j in (0..<inF).reduce(0.0) { $0 + Double(g.a[j * inF + $1]) * Double(x[row * inF + $1]) } }
                for c in 0..<outF { for k in 0..<g.r { expected[row * outF + c] += t[k] * Double(g.bt[k * outF + c]) } }
            }
        }
        var worst = 0.0
        for i in expected.indices { worst = max(worst, abs(Double(y[i]) - expected[i])) }
        let touched = Set(groups.flatMap { $0.rows.map(Int.init) })
        let untouched = (0..<batch).filter { !touched.contains($0) }.allSatisfy { r in (0..<outF).allSatisfy { y[r * outF + $0] == y0[r * outF + $0] } }
        return (worst, untouched)
    }

    func check(isa: Int32, name: String) {
        var rng = Fuzzer("lora kernel \(name)", iterations: 1)
        for half in [false, true] {
            for threads in [1, 2] {
                for (batch, inF, outF, ranks) in [(6, 64, 64, [4]), (12, 576, 192, [8, 16]), (20, 100, 1536, [64, 1, 7]),
                                                  (9, 33, 31, [5, 3]), (40, 8, 257, [32, 16, 8, 2])] {
                    let (worst, untouched) = Self.run(isa: isa, half: half, batch: batch, inF: inF, outF: outF, ranks: ranks, threads: threads, rng: &rng)
                    // float32 accumulation of |terms| <= 1 over `in` then `r`: rounding well under 1e-5 per term.
                    let bound = 2e-6 * Double(inF) * Double(ranks.max()!)
                    #expect(worst <= bound, "\(name) half \(half) threads \(threads) in \(inF) out \(outF) ranks \(ranks): max error \(worst) > \(bound)")
                    #expect(untouched, "\(name): rows of no group changed")
                }
            }
        }
        print("LoRA kernel \(name): float32 and float16 weights within float32 rounding of the float64 sums")
    }

    @Test("scalar definition against float64 sums")
    func scalar() { check(isa: Int32(FOLIO_ISA_SCALAR), name: "scalar") }

    @Test("AVX2 against float64 sums", .enabled(if: folio_lora_apply_isa(Int32(FOLIO_ISA_AVX2), nil, 0, 0, nil, 0, 0, nil, 0, 0, 1) == 0,
                                                 "needs AVX2, FMA and F16C"))
    func avx2() { check(isa: Int32(FOLIO_ISA_AVX2), name: "AVX2") }

    @Test("AVX-512 against float64 sums", .enabled(if: folio_lora_apply_isa(Int32(FOLIO_ISA_AVX512), nil, 0, 0, nil, 0, 0, nil, 0, 0, 1) == 0,
                                                    "needs AVX-512F"))
    func avx512() { check(isa: Int32(FOLIO_ISA_AVX512), name: "AVX-512") }

    @Test("an instruction set this CPU lacks is refused, not run")
    func refusesMissingISA() {
        #expect(folio_lora_apply_isa(99, nil, 0, 0, nil, 0, 0, nil, 0, 0, 1) == -1)
    }
}
