import FolioModels
import FolioWeights
import Foundation

/// Seeded mutation fuzzing for file and text parsers, run by the test suite for a bounded number of executions.
///
/// Every run prints its target and seed before it starts (a crash is then reproducible with
/// `FOLIO_FUZZ_SEED=<seed> swift test -c release --filter Fuzz`), and `FOLIO_FUZZ_ITERS` scales the executions
/// for longer runs (`scripts/fuzz.sh`).
public struct Fuzzer {
    public let target: String
    public let seed: UInt64
    public let iterations: Int
    var rng: SeededRandom

    /// `iterations` is the CI default; FOLIO_FUZZ_ITERS overrides it, FOLIO_FUZZ_SEED fixes the seed.
    public init(_ target: String, iterations: Int) {
        let env = ProcessInfo.processInfo.environment
        self.target = target
        seed = env["FOLIO_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        self.iterations = env["FOLIO_FUZZ_ITERS"].flatMap { Int($0) } ?? iterations
        rng = SeededRandom(seed: seed)
        print("fuzz \(target): seed \(seed), \(self.iterations) executions (FOLIO_FUZZ_SEED=\(seed) reproduces)")
        fflush(nil)  // every stream: the seed is out before a crash
    }

    public mutating func next() -> UInt64 { rng.next() }

    public mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    /// Values that break size arithmetic: zero, one, sign and width boundaries.
    static let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x8000_0000_0000_0000,
                                        0x7FFF_FFFF_FFFF_FFFF, UInt64.max, 1 << 32, 1 << 40]

    /// A mutated copy of `input`: 1-4 of bit flips, interesting little-endian integers, byte inserts and deletes,
    /// duplicated or truncated ranges. `hot` bytes at the front (headers, counts) are hit half the time.
    public mutating func mutate(_ input: [UInt8], hot: Int = 0) -> [UInt8] {
        var b = input
        for _ in 0...below(4) {
            let pos = hot > 0 && next() & 1 == 0 ? below(min(hot, b.count)) : below(b.count)
            switch below(7) {
            case 0: if !b.isEmpty { b[pos] ^= UInt8(1) << UInt8(below(8)) }
            case 1:
                let v = Self.interesting[below(Self.interesting.count)], width = [1, 2, 4, 8][below(4)]
                for i in 0..<width where pos + i < b.count { b[pos + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            case 2: b.insert(contentsOf: (0...below(8)).map { _ in UInt8(truncatingIfNeeded: next()) }, at: min(pos, b.count))
            case 3: if !b.isEmpty { b.removeSubrange(pos..<min(b.count, pos + 1 + below(16))) }
            case 4: if !b.isEmpty { let end = min(b.count, pos + 1 + below(64)); b.insert(contentsOf: Array(b[pos..<end]), at: end) }
            case 5: if !b.isEmpty { b.removeSubrange(min(b.count, pos + below(max(1, b.count - pos)))...) }
            default: if !b.isEmpty { b[pos] = UInt8(truncatingIfNeeded: next()) }
            }
        }
        return b
    }

    /// Hostile numbers for JSON text.
    static let numbers = ["0", "-1", "-2147483649", "2147483648", "9223372036854775807", "-9223372036854775808",
                          "18446744073709551616", "1e308", "-1e308", "1e-320", "0.5", "NaN", "Infinity", "1e400", "99999999999"]

    /// JSON text with one number replaced by a hostile one (three times in four), or else byte mutations.
    public mutating func mutateJSON(_ text: String) -> [UInt8] {
        var chars = Array(text.utf8)
        if next() % 4 == 0 { return mutate(chars) }
        let starts = chars.indices.filter { i in (chars[i] == 0x2D || (0x30...0x39).contains(chars[i])) && (i == 0 || !(0x30...0x39).contains(chars[i - 1]) && chars[i - 1] != 0x2E && chars[i - 1] != 0x65) }
        guard !starts.isEmpty else { return mutate(chars) }
        let s = starts[below(starts.count)]
        var e = s + 1
        while e < chars.count, (0x30...0x39).contains(chars[e]) || chars[e] == 0x2E || chars[e] == 0x65 || chars[e] == 0x2D || chars[e] == 0x2B { e += 1 }
        chars.replaceSubrange(s..<e, with: Array(Self.numbers[below(Self.numbers.count)].utf8))
        return chars
    }

    /// Runs `body` once per iteration: a normal return counts as loaded, a `FolioError` as cleanly rejected; any
    /// other error fails the run (a trap ends the process, after the seed was printed). Prints and returns the counts.
    public mutating func run(_ body: (inout Fuzzer, Int) throws -> Void) throws -> (loaded: Int, rejected: Int) {
        var loaded = 0, rejected = 0
        for i in 0..<iterations {
            do { try body(&self, i); loaded += 1 } catch is FolioError { rejected += 1 }
        }
        print("fuzz \(target): \(iterations) executions, \(loaded) loaded, \(rejected) rejected with FolioError")
        return (loaded, rejected)
    }

    /// A fresh scratch directory for this target.
    public func scratch() throws -> String {
        let d = NSTemporaryDirectory() + "folio-fuzz-\(target)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
