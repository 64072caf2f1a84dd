import CFolioKernels
import FolioWeights
import Foundation
import Testing

/// Keeps test bytes alive behind a `WeightTensor`.
final class TestBytes: @unchecked Sendable {
    let bytes: UnsafeMutableRawPointer
    init(_ b: [UInt8]) {
        bytes = .allocate(byteCount: b.count, alignment: 64)
        b.withUnsafeBytes { bytes.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
    }
    deinit { bytes.deallocate() }
}

@Suite("Column slices (tensor parallelism's row-parallel split)")
struct ColumnSliceTests {
    @Test("each row's columns [start, start + count) dequantize to the same values as the whole row's; misaligned ends are refused",
          arguments: QuantKernelTests.types.map(\.0) + [Int32(FOLIO_GGML_F16.rawValue), Int32(FOLIO_GGML_F32.rawValue)])
    func slices(type: Int32) {
        var rng = KernelRNG(s: UInt64(type) + 7)
        let rows = 5, cols = 1024
        let (bytes, rowBytes) = randomRows(type: type, rows: rows, cols: cols, rng: &rng)
        let store = TestBytes(bytes)
        let t = WeightTensor(name: "w", type: TensorType(rawValue: type), shape: [rows, cols], data: UnsafeRawPointer(store.bytes),
                             byteCount: rows * rowBytes, owner: store)
        let be = max(t.type.blockElements, 1)
        for (start, count) in [(0, 256), (256, 512), (768, 256)] {
            let s = t.columnSlice(start, count)!
            #expect(s.shape == [rows, count])
            var whole = [Float](repeating: 0, count: cols), part = [Float](repeating: 0, count: count)
            for r in 0..<rows {
                t.dequantizeRow(r, into: &whole)
                s.dequantizeRow(r, into: &part)
                #expect(whole[start..<(start + count)].map(\.bitPattern) == part.map(\.bitPattern))  // bit for bit (random bytes hold NaNs)
            }
        }
        if be > 1 {
            #expect(t.columnSlice(be / 2, 256) == nil)
            #expect(t.columnSlice(0, 256 + be / 2) == nil)
        }
        #expect(t.columnSlice(0, cols + be) == nil)
    }
}
