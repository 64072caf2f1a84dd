/// MXFP4 weights as Hugging Face checkpoints store them (the released GPT-OSS models): a `*_blocks` tensor
/// [experts, rows, cols / 32, 16] of uint8, two e2m1 codes per byte with the lower-indexed element in the low nibble,
/// and a `*_scales` tensor [experts, rows, cols / 32] of E8M0 exponents. GGUF's MXFP4 block (the one Folio's kernels
/// read, `block_mxfp4`) holds the same exponent byte, then 16 bytes where byte j carries element j in its low nibble
/// and element j + 16 in its high one; both decode as 2^(e - 127) x e2m1(code). Rearranged at load, value for value.
public enum MXFP4Checkpoint {
    /// Rows `rows` of entry `entry` of a blocks/scales pair, as a GGUF MXFP4 matrix [rows.count, cols] in memory Folio
    /// owns; an error naming the tensors when their shapes do not fit each other.
    public static func matrix(name: String, blocks: WeightTensor, scales: WeightTensor, entry: Int, rows: [Int], path: String) throws -> WeightTensor {
        let b = blocks.shape, s = scales.shape
        guard b.count == 4, b[3] == 16, s == Array(b.prefix(3)), entry >= 0, entry < b[0], rows.allSatisfy({ $0 >= 0 && $0 < b[1] }),
              blocks.byteCount == b.reduce(1, *), scales.byteCount == s.reduce(1, *) else {
            throw FolioError.malformedFile(path: path, problem: "MXFP4 tensors \(blocks.name) \(b) and \(scales.name) \(s) do not fit ([experts, rows, blocks, 16] and [experts, rows, blocks])")
        }
        let nb = b[2], rowBytes = nb * 17
        let store = OwnedBytes(count: rows.count * rowBytes)
        let src = blocks.data.assumingMemoryBound(to: UInt8.self), sc = scales.data.assumingMemoryBound(to: UInt8.self)
        let dst = store.pointer.assumingMemoryBound(to: UInt8.self)
        for (r, row) in rows.enumerated() {
            for k in 0..<nb {
                let from = src + ((entry * b[1] + row) * nb + k) * 16, to = dst + r * rowBytes + k * 17
                to[0] = sc[(entry * b[1] + row) * nb + k]
                // Element i's code: nibble i % 2 of byte i / 2.
                func code(_ i: Int) -> UInt8 { (from[i >> 1] >> UInt8(4 * (i & 1))) & 0x0F }
                for j in 0..<16 { to[1 + j] = code(j) | code(j + 16) << 4 }
            }
        }
        return WeightTensor(name: name, type: .mxfp4, shape: [rows.count, nb * 32], data: UnsafeRawPointer(store.pointer),
                            byteCount: rows.count * rowBytes, owner: store)
    }
}
