/// Code-point ranges as UTF-8 byte-range sequences: [0x80, 0x7FF] is C2..DF followed by 80..BF, and so on. Every
/// sequence is a run of byte ranges whose product is exactly a slice of the code points, so a byte automaton built
/// from them accepts exactly the characters (surrogates, which UTF-8 cannot carry, are left out).
enum UTF8Ranges {
    static func sequences(_ set: [ClosedRange<UInt32>]) -> [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        for r in set {
            for (a, b) in [(UInt32(0), UInt32(0x7F)), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)] {
                let x = max(r.lowerBound, a), y = min(r.upperBound, b)
                if x <= y { split(x, y, &out) }
            }
        }
        return out
    }

    static func split(_ a: UInt32, _ b: UInt32, _ out: inout [[ClosedRange<UInt8>]]) {
        for k in 1..<4 {
            let m: UInt32 = (1 << (6 * UInt32(k))) - 1
            if a & ~m != b & ~m {
                if a & m != 0 { split(a, a | m, &out); split((a | m) + 1, b, &out); return }
                if b & m != m { split(a, (b & ~m) - 1, &out); split(b & ~m, b, &out); return }
            }
        }
        let ea = encode(a), eb = encode(b)
        out.append(zip(ea, eb).map { $0...$1 })
    }

    static func encode(_ c: UInt32) -> [UInt8] {
        switch c {
        case 0..<0x80: return [UInt8(c)]
        case 0x80..<0x800: return [UInt8(0xC0 | c >> 6), UInt8(0x80 | c & 0x3F)]
        case 0x800..<0x10000: return [UInt8(0xE0 | c >> 12), UInt8(0x80 | c >> 6 & 0x3F), UInt8(0x80 | c & 0x3F)]
        default: return [UInt8(0xF0 | c >> 18), UInt8(0x80 | c >> 12 & 0x3F), UInt8(0x80 | c >> 6 & 0x3F), UInt8(0x80 | c & 0x3F)]
        }
    }
}
