import Foundation

/// Grammars for numbers within bounds, exactly: canonical integers in [lo, hi] (JSON's integer syntax: no leading
/// zeros, no "-0") and decimals within inclusive or exclusive bounds that may have fractions. The integer part is a
/// digit-range construction; the fraction is compared digit by digit (0.D against 0.f), so 0.5 <= x excludes 0.49
/// and admits 0.5000001 with any number of fraction digits.
enum NumberRanges {
    static let digit = GrammarExpr.chars([48...57])
    static func digits(_ lo: Int, _ hi: Int) -> GrammarExpr { .chars([UInt32(48 + lo)...UInt32(48 + hi)]) }
    static func lit(_ d: [Int]) -> GrammarExpr { .literal(d.map { UInt8(48 + $0) }) }
    static func decimalDigits(_ x: UInt64) -> [Int] { String(x).utf8.map { Int($0) - 48 } }

    /// Canonical decimal integers in [lo, hi] (nil: unbounded), or nil when the range is empty.
    static func integer(lo: Int64?, hi: Int64?) -> GrammarExpr? {
        if let l = lo, let h = hi, l > h { return nil }
        var alts: [GrammarExpr] = []
        // Negative part: "-" and a magnitude in [max(1, -hi), -lo].
        if lo == nil || lo! < 0 {
            let mlo = hi.map { $0 < 0 ? UInt64(-($0 + 1)) + 1 : 1 } ?? 1
            let mhi: UInt64? = lo.map { UInt64(-($0 + 1)) + 1 }
            if mhi == nil || mhi! >= mlo, let m = natural(lo: mlo, hi: mhi) { alts.append(.seq([.text("-"), m])) }
        }
        if hi == nil || hi! >= 0 {
            let nlo = UInt64(max(lo ?? 0, 0))
            if let m = natural(lo: nlo, hi: hi.map { UInt64($0) }) { alts.append(m) }
        }
        return alts.isEmpty ? nil : alts.count == 1 ? alts[0] : .alt(alts)
    }

    /// Canonical non-negative integers in [lo, hi].
    static func natural(lo: UInt64, hi: UInt64?) -> GrammarExpr? {
        if let h = hi, h < lo { return nil }
        var alts: [GrammarExpr] = []
        var a = lo
        if a == 0 { alts.append(.text("0")); a = 1 }
        if let h = hi, h < a { return alts.first }
        let la = decimalDigits(a).count
        let lb = hi.map { decimalDigits($0).count } ?? la
        for L in la...lb {
            let first: UInt64 = L == 1 ? 1 : pow10(L - 1)
            let last: UInt64 = L >= 20 ? UInt64.max : pow10(L) - 1
            let x = max(a, first), y = min(hi ?? last, last)
            if x <= y { alts.append(fixed(decimalDigits(x), decimalDigits(y))) }
        }
        if hi == nil {
            // Every number with more digits than a.
            alts.append(.seq([digits(1, 9), .rep(digit, min: la, max: nil)]))
        }
        return alts.isEmpty ? nil : alts.count == 1 ? alts[0] : .alt(alts)
    }

    static func pow10(_ n: Int) -> UInt64 { (0..<n).reduce(UInt64(1)) { x, _ in x &* 10 } }

    /// Digit strings of one length between lo and hi.
    static func fixed(_ lo: [Int], _ hi: [Int]) -> GrammarExpr {
        guard let l0 = lo.first, let h0 = hi.first else { return .empty }
        if lo.allSatisfy({ $0 == 0 }), hi.allSatisfy({ $0 == 9 }) { return .rep(digit, min: lo.count, max: lo.count) }
        let rl = Array(lo.dropFirst()), rh = Array(hi.dropFirst())
        if l0 == h0 { return .seq([lit([l0]), fixed(rl, rh)]) }
        var alts: [GrammarExpr] = [.seq([lit([l0]), fixed(rl, rl.map { _ in 9 })])]
        if l0 + 1 <= h0 - 1 { alts.append(.seq([digits(l0 + 1, h0 - 1), .rep(digit, min: rl.count, max: rl.count)])) }
        alts.append(.seq([lit([h0]), fixed(rh.map { _ in 0 }, rh)]))
        return .alt(alts)
    }

    /// A decimal bound: value = sign * (int + 0.frac).
    struct Bound {
        var negative: Bool
        var int: UInt64
        var frac: [Int]
        var inclusive: Bool
        var isZero: Bool { int == 0 && frac.allSatisfy { $0 == 0 } }
    }

    /// Parses a bound from its JSON number text ("-2.50", "1e3", "0.000001").
    static func bound(_ x: Double, inclusive: Bool) -> Bound? {
        guard x.isFinite, abs(x) < 9e18 else { return nil }
        // Fixed notation with enough digits to round-trip, trailing zeros dropped.
        var s = String(format: "%.17f", abs(x))
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        // Prefer the shortest representation Swift prints when it is plain decimal.
        let short = "\(abs(x))"
        if !short.contains("e"), Double(short) == abs(x) { s = short.hasSuffix(".0") ? String(short.dropLast(2)) : short }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard let i = UInt64(parts[0]) else { return nil }
        let f = parts.count > 1 ? parts[1].utf8.map { Int($0) - 48 } : []
        return Bound(negative: x < 0, int: i, frac: f, inclusive: inclusive)
    }

    /// JSON numbers without exponent within [lo, hi] (each optional, inclusive or not), or nil when none exist.
    static func decimal(lo: Bound?, hi: Bound?) -> GrammarExpr? {
        var alts: [GrammarExpr] = []
        // v >= 0, written without "-": magnitude within [max(lo, 0), hi].
        let hiNonNeg = hi.map { !$0.negative || $0.isZero } ?? true
        if hiNonNeg {
            var l = lo
            if let b = l, b.negative || b.isZero { l = b.isZero && !b.inclusive ? Bound(negative: false, int: 0, frac: [], inclusive: false) : nil }
            var h = hi
            if let b = h, b.negative { h = Bound(negative: false, int: 0, frac: [], inclusive: b.inclusive) }
            if let e = magnitude(lo: l, hi: h) { alts.append(e) }
        }
        // v < 0: "-" m with m > 0, m <= -lo, m >= -hi.
        let loNeg = lo.map { $0.negative && !$0.isZero } ?? true
        if loNeg {
            let mhi = lo.map { Bound(negative: false, int: $0.int, frac: $0.frac, inclusive: $0.inclusive) }
            // "-0" and "-0.0" are zero: allowed when zero is.
            let zeroAbove = lo.map { $0.negative || ($0.isZero && $0.inclusive) } ?? true
            let zeroBelow = hi.map { !$0.negative && !$0.isZero || ($0.isZero && $0.inclusive) } ?? true
            var mlo = Bound(negative: false, int: 0, frac: [], inclusive: zeroAbove && zeroBelow)
            if let h = hi, h.negative, !h.isZero { mlo = Bound(negative: false, int: h.int, frac: h.frac, inclusive: h.inclusive) }
            if let e = magnitude(lo: mlo, hi: mhi) { alts.append(.seq([.text("-"), e])) }
        }
        return alts.isEmpty ? nil : alts.count == 1 ? alts[0] : .alt(alts)
    }

    /// Non-negative "I(.D)?" within the (non-negative) bounds.
    static func magnitude(lo: Bound?, hi: Bound?) -> GrammarExpr? {
        let anyFrac = GrammarExpr.opt(.seq([.text("."), .plus(digit)]))
        var alts: [GrammarExpr] = []
        let a = lo?.int ?? 0
        if let b = hi?.int, b < a { return nil }
        // Integer parts strictly between the bounds' integer parts: any fraction.
        let innerLo = lo == nil ? a : a + 1
        let innerHi: UInt64?? = hi.map { $0.int == 0 ? nil : $0.int - 1 }
        if case .some(.none) = innerHi {} else if let ip = natural(lo: innerLo, hi: innerHi ?? nil) { alts.append(.seq([ip, anyFrac])) }
        let lf = lo.map { FracBound(digits: $0.frac, inclusive: $0.inclusive) }
        let hf = hi.map { FracBound(digits: $0.frac, inclusive: $0.inclusive) }
        if let lo, let hi, lo.int == hi.int {
            if let s = suffix(lo: lf, hi: hf) { alts.append(.seq([lit(decimalDigits(lo.int)), s])) }
        } else {
            if let lo, let s = suffix(lo: lf, hi: nil) { alts.append(.seq([lit(decimalDigits(lo.int)), s])) }
            if let hi, let s = suffix(lo: nil, hi: hf) { alts.append(.seq([lit(decimalDigits(hi.int)), s])) }
        }
        return alts.isEmpty ? nil : alts.count == 1 ? alts[0] : .alt(alts)
    }

    struct FracBound: Equatable {
        var digits: [Int]
        var inclusive: Bool
        var trimmed: FracBound {
            var d = digits
            while d.last == 0 { d.removeLast() }
            return FracBound(digits: d, inclusive: inclusive)
        }
    }

    /// The optional fraction "(.D)?" with 0.D within the bounds.
    static func suffix(lo: FracBound?, hi: FracBound?) -> GrammarExpr? {
        let emptyOK = zeroSatisfies(lo: lo, hi: hi)
        let n = fraction(lo: lo?.trimmed, hi: hi?.trimmed)
        var alts: [GrammarExpr] = []
        if emptyOK { alts.append(.empty) }
        if let n { alts.append(.seq([.text("."), n])) }
        return alts.isEmpty ? nil : alts.count == 1 ? alts[0] : .alt(alts)
    }

    static func zeroSatisfies(lo: FracBound?, hi: FracBound?) -> Bool {
        let l = lo?.trimmed, h = hi?.trimmed
        if let l, !(l.digits.isEmpty && l.inclusive) { return false }
        if let h, h.digits.isEmpty, !h.inclusive { return false }
        return true
    }

    /// Non-empty digit strings D with 0.D within the bounds (trimmed), or nil when none.
    static func fraction(lo: FracBound?, hi: FracBound?) -> GrammarExpr? {
        var lo = lo
        if let l = lo, l.digits.isEmpty, l.inclusive { lo = nil }
        if lo == nil, hi == nil { return .plus(digit) }
        let zeroLo = lo.map { $0.digits.isEmpty } ?? false, zeroHi = hi.map { $0.digits.isEmpty } ?? false
        // The bounds that stay the same after a 0 digit: D > 0 (a non-zero digit somewhere), D <= 0 (only zeros).
        if zeroLo, zeroHi { return nil }
        if zeroLo, hi == nil { return .seq([.star(digit), digits(1, 9), .star(digit)]) }
        if zeroHi { return hi!.inclusive && lo == nil ? .plus(.text("0")) : nil }
        var groups: [(ClosedRange<Int>, FracBound?, FracBound?)] = []
        for d in 0...9 {
            var nl: FracBound? = nil, nh: FracBound? = nil
            if let l = lo {
                if let l0 = l.digits.first {
                    if d < l0 { continue }
                    if d == l0 { nl = FracBound(digits: Array(l.digits.dropFirst()), inclusive: l.inclusive).trimmed }
                } else if !l.inclusive, d == 0 { nl = l }
            }
            if let h = hi {
                if let h0 = h.digits.first {
                    if d > h0 { continue }
                    if d == h0 { nh = FracBound(digits: Array(h.digits.dropFirst()), inclusive: h.inclusive).trimmed }
                } else {
                    if !h.inclusive || d > 0 { continue }
                    nh = h
                }
            }
            if let last = groups.last, last.1 == nil, last.2 == nil, nl == nil, nh == nil, last.0.upperBound == d - 1 {
                groups[groups.count - 1].0 = last.0.lowerBound...d
            } else { groups.append((d...d, nl, nh)) }
        }
        var alts: [GrammarExpr] = []
        for (r, nl, nh) in groups {
            let head = digits(r.lowerBound, r.upperBound)
            var rest: [GrammarExpr] = []
            if zeroSatisfies(lo: nl, hi: nh) { rest.append(.empty) }
            if let n = (nl == nil && nh == nil) ? .plus(digit) : fraction(lo: nl, hi: nh) { rest.append(n) }
            guard !rest.isEmpty else { continue }
            alts.append(.seq([head, rest.count == 1 ? rest[0] : .alt(rest)]))
        }
        return alts.isEmpty ? nil : alts.count == 1 ? alts[0] : .alt(alts)
    }
}
