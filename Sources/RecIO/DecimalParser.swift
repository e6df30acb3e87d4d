import CSIMD

#if canImport(Glibc)
    import Glibc
#endif

/// The numbers of `NumberSyntax` parsed to the same `Double` as `strtod`, to the last bit, without
/// a copy or a C call for the forms logs hold.
///
/// Why our own: `strtod` needs a NUL-terminated copy of every field and a locale lookup, and was
/// 6% of a log pass. The fast paths are exact by construction and everything else goes to
/// `strtod`:
/// - **Clinger's path**: a significand `m < 2⁵³` and a power of ten `10^|e|` with `|e| ≤ 22` are
///   both exact doubles, so `m · 10^e` (or `m / 10^-e`) is one correctly rounded operation.
/// - **Extended path** (x86-64): a significand of up to 19 digits (`m < 2⁶⁴`) and `10^|e|` with
///   `|e| ≤ 27` are exact in `Float80`; the one `Float80` operation rounds to 64 bits, then to 53.
///   That double rounding can differ from rounding once only when the 64-bit result lies exactly
///   on a midpoint between two doubles (a midpoint strictly between the true value and its
///   nearest `Float80` would be nearer still), so a result whose 11 extra bits are `100…0` goes to
///   `strtod`. Results stay far inside the normal range (`10⁻²⁷ ≤ |x| < 2⁶⁴·10²⁷`).
/// - Anything else (20 or more significant digits, larger exponents, `inf`/`nan`) is `strtod`'s.
///
/// The test `DecimalParserTests` compares bit patterns with `strtod` on random and edge-case strings.
public enum DecimalParser {
    /// 10^e for 0 ≤ e ≤ 22, exact (a C constant table: a Swift tuple literal indexed at run time
    /// was rebuilt on the stack at every call).
    @inlinable
    static func power(_ e: Int) -> Double { rk_pow10_exact(e) }

    #if arch(x86_64) && !os(Windows)
        /// 10^e for 0 ≤ e ≤ 27 as Float80, exact (5²⁷ < 2⁶⁴): 10^e = 10^(e-22) · 10^22 with both
        /// factors and the product exact.
        @inlinable
        static func power80(_ e: Int) -> Float80 {
            e <= 22 ? Float80(power(e)) : Float80(power(e - 22)) * Float80(power(22))
        }
    #endif

    /// The value of the `count` bytes at `p` as `CSVReader.double` reads a field: leading spaces
    /// or tabs, then one number of `NumberSyntax`; nil for anything else, and for fields longer
    /// than 63 bytes (as before).
    @inlinable
    public static func double(_ p: UnsafePointer<UInt8>, count n: Int) -> Double? {
        if n == 1 {
            // One digit (a 0/1 reward, a count): its value, exactly.
            let d = p[0] &- 48
            if d <= 9 { return Double(d) }
        }
        if n == 0 || n > 63 { return nil }
        var i = 0
        while i < n && (p[i] == 32 || p[i] == 9) { i += 1 }
        let start = i
        var negative = false
        if i < n && (p[i] == 45 || p[i] == 43) {
            negative = p[i] == 45
            i += 1
        }
        // Integer digits (leading zeros are not significant), then fraction digits (leading
        // zeros not significant while the value is still zero).
        let intStart = i
        while i < n && p[i] == 48 { i += 1 }
        var m: UInt64 = 0
        var sigStart = i
        while i < n {
            let d = p[i] &- 48
            if d > 9 { break }
            m = m &* 10 &+ UInt64(d)
            i += 1
        }
        var significant = i - sigStart
        var digits = i - intStart
        var scale = 0
        if i < n && p[i] == 46 {
            i += 1
            let fracStart = i
            if significant == 0 { while i < n && p[i] == 48 { i += 1 } }
            sigStart = i
            while i < n {
                let d = p[i] &- 48
                if d > 9 { break }
                m = m &* 10 &+ UInt64(d)
                i += 1
            }
            significant += i - sigStart
            digits += i - fracStart
            scale = fracStart - i
        }
        if digits == 0 { return slow(p + start, count: n - start) }  // inf, nan, or not a number
        var e = 0
        if i < n && (p[i] == 101 || p[i] == 69) {
            i += 1
            var eNegative = false
            if i < n && (p[i] == 45 || p[i] == 43) {
                eNegative = p[i] == 45
                i += 1
            }
            let eStart = i
            while i < n {
                let d = p[i] &- 48
                if d > 9 { break }
                if e < 100_000 { e = e * 10 + Int(d) }
                i += 1
            }
            if i == eStart { return nil }
            if eNegative { e = -e }
        }
        if i != n { return nil }
        if significant == 0 { return negative ? -0.0 : 0.0 }  // only zeros
        if significant > 19 { return slow(p + start, count: n - start) }
        let exponent = e + scale
        if m <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            let v = exponent >= 0 ? Double(m) * power(exponent) : Double(m) / power(-exponent)
            return negative ? -v : v
        }
        #if arch(x86_64) && !os(Windows)
            if exponent >= -27 && exponent <= 27 {
                let x = exponent >= 0 ? Float80(m) * power80(exponent) : Float80(m) / power80(-exponent)
                if x.significandBitPattern & 0x7FF != 0x400 {
                    let v = Double(x)
                    return negative ? -v : v
                }
            }
        #endif
        return slow(p + start, count: n - start)
    }

    /// The `count` bytes at `p` (one number of `NumberSyntax`, nothing around it) as the Float
    /// `strtof` gives, to the last bit; nil for anything else.
    ///
    /// Through `double`: its result is the value correctly rounded to 53 bits, and rounding that to
    /// 24 bits differs from rounding the value once only when it lies exactly on a midpoint between
    /// two Floats (its 29 extra bits `100…0`); those, subnormal and out-of-range results, and
    /// anything `double` hands to `strtod`, go to `strtof`.
    @inlinable
    public static func float(_ p: UnsafePointer<UInt8>, count n: Int) -> Float? {
        guard n > 0 && p[0] != 32 && p[0] != 9 else { return nil }
        if n > 63 { return slowFloat(p, count: n) }
        return narrowed(double(p, count: n), p, count: n)
    }

    /// The field's Float from its Double `d` (`double`'s value of the `count` bytes at `p`): `d`
    /// rounded to 24 bits unless that could differ from rounding the decimal once (a midpoint
    /// between two Floats, a subnormal or out-of-range result: `strtof`).
    @inlinable @inline(__always)
    static func narrowed(_ d: Double?, _ p: UnsafePointer<UInt8>, count n: Int) -> Float? {
        guard let d else { return nil }
        let m = d.magnitude
        if d == 0 || (m >= Double(Float.leastNormalMagnitude) && m <= Double(Float.greatestFiniteMagnitude)),
            d.significandBitPattern & 0x1FFF_FFFF != 0x1000_0000
        {
            return Float(d)
        }
        return slowFloat(p, count: n)
    }

    /// `strtof` on a NUL-terminated copy, accepting only a whole-field parse.
    @usableFromInline
    static func slowFloat(_ p: UnsafePointer<UInt8>, count n: Int) -> Float? {
        guard NumberSyntax.isNumber(p, count: n) else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { t -> Float? in
            for k in 0..<n { t[k] = CChar(bitPattern: p[k]) }
            t[n] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtof(t.baseAddress!, &end)
            return end == t.baseAddress! + n ? v : nil
        }
    }

    /// `strtod` on a NUL-terminated copy, accepting only a whole-field parse.
    @usableFromInline
    static func slow(_ p: UnsafePointer<UInt8>, count n: Int) -> Double? {
        guard NumberSyntax.isNumber(p, count: n) else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: n + 1) { t -> Double? in
            for k in 0..<n { t[k] = CChar(bitPattern: p[k]) }
            t[n] = 0
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(t.baseAddress!, &end)
            return end == t.baseAddress! + n ? v : nil
        }
    }

    /// The form logs write most, `[-]digits.digits` with 1 to 8 digits on each side (a
    /// propensity, a price, an embedding's value), read eight digits at a time
    /// (`digits(_:count:)`) when the bytes up to `end` may be read: the digits as one integer
    /// `m ≤ 2⁵³`, the fraction's length `f` and the sign; nil for any other field.
    @inlinable @inline(__always)
    static func shortDecimal(_ p: UnsafePointer<UInt8>, count n: Int, readableTo end: UnsafePointer<UInt8>)
        -> (m: UInt64, f: Int, negative: Bool)?
    {
        let negative = n > 0 && p[0] == 45
        let q = negative ? p + 1 : p
        let len = negative ? n &- 1 : n
        guard len >= 3 && len <= 17 && end - q >= 17 else { return nil }
        let w = UnsafeRawPointer(q).loadUnaligned(as: UInt64.self)
        // The first '.' among the first eight bytes: a zero byte of w ^ "........".
        let x = w ^ 0x2E2E_2E2E_2E2E_2E2E
        let zero = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
        let dot = zero.trailingZeroBitCount >> 3
        let f = len &- dot &- 1
        guard dot >= 1 && dot < 8 && f >= 1 && f <= 8, let whole = digits(w, count: dot),
            let fraction = digits(UnsafeRawPointer(q + dot + 1).loadUnaligned(as: UInt64.self), count: f)
        else { return nil }
        let m = whole &* UInt64(truncatingIfNeeded: Int(power(f))) &+ fraction
        return m <= 1 << 53 ? (m, f, negative) : nil
    }

    /// `double(p, count: n)` where the bytes up to `end` may be read (a field inside a span that
    /// runs to `end`). A `shortDecimal` is `±m / 10^f`: one correctly rounded division, which is
    /// what `double` does for it, so the bits are the same. Anything else goes to
    /// `double(_:count:)`.
    @inlinable @inline(__always)
    public static func double(_ p: UnsafePointer<UInt8>, count n: Int, readableTo end: UnsafePointer<UInt8>) -> Double?
    {
        if let s = shortDecimal(p, count: n, readableTo: end) {
            let v = Double(s.m) / power(s.f)
            return s.negative ? -v : v
        }
        return double(p, count: n)
    }

    /// `float(p, count: n)` where the bytes up to `end` may be read: `strtof`'s bits.
    ///
    /// A `shortDecimal` `x = m / 10^f` (in [10⁻⁸, 10⁸]: a normal Float) is `d = m · 10^-f` with
    /// the double nearest `10^-f`: two roundings, so `|d − x| < 2.01` units in the last place of
    /// `d`. `x` and `d` round to the same Float unless a point halfway between two Floats lies
    /// between them, and such a point, as a double, has its 29 bits below the Float's `100…0`
    /// (`0x1000_0000`); so a `d` whose 29 bits are more than 4 from that pattern gives `Float(d)`,
    /// and the rest (1 in 2²⁶) take the exact division and `float`'s check. Multiplying instead
    /// of dividing: the division's latency was half of `CSVMatrix`'s time. Anything else goes
    /// through `double(_:count:readableTo:)` and `float`'s check.
    @inlinable
    public static func float(_ p: UnsafePointer<UInt8>, count n: Int, readableTo end: UnsafePointer<UInt8>) -> Float? {
        if let s = shortDecimal(p, count: n, readableTo: end) {
            let d = Double(s.m) * rk_pow10_inverse(s.f)
            let low = Int64(truncatingIfNeeded: d.bitPattern & 0x1FFF_FFFF) &- 0x1000_0000
            if low > 4 || low < -4 {
                let v = Float(d)
                return s.negative ? -v : v
            }
            let exact = Double(s.m) / power(s.f)
            return narrowed(s.negative ? -exact : exact, p, count: n)
        }
        guard n > 0 && p[0] != 32 && p[0] != 9 else { return nil }
        if n > 63 { return slowFloat(p, count: n) }
        return narrowed(double(p, count: n, readableTo: end), p, count: n)
    }

    /// `int(p, count: n)` where the bytes up to `end` may be read (a field inside a span that
    /// runs to `end`): 4 to 16 unsigned digits are read eight at a time, as one word each (the
    /// digit check and the value by three multiplies, no loop per digit); anything else (fewer
    /// digits, where the loop is as fast; a sign; a field within 8 bytes of `end`) goes to
    /// `int(_:count:)`. The same value or nil.
    @inlinable @inline(__always)
    public static func int(_ p: UnsafePointer<UInt8>, count n: Int, readableTo end: UnsafePointer<UInt8>) -> Int? {
        if n >= 4 && n <= 16 && end - p >= 8 {
            if n <= 8 {
                if let v = digits(UnsafeRawPointer(p).loadUnaligned(as: UInt64.self), count: n) {
                    return Int(truncatingIfNeeded: v)
                }
            } else if let high = digits(UnsafeRawPointer(p).loadUnaligned(as: UInt64.self), count: n &- 8),
                let low = digits(UnsafeRawPointer(p + (n &- 8)).loadUnaligned(as: UInt64.self), count: 8)
            {
                return Int(truncatingIfNeeded: high &* 100_000_000 &+ low)
            }
        }
        // A sign, another byte, or a field near `end`: the loop.
        return int(p, count: n)
    }

    /// The value of the first `n` (1...8) bytes of the little-endian word `w` read as decimal
    /// digits (the first byte the most significant), or nil when one of them is not a digit.
    @inlinable @inline(__always)
    static func digits(_ w: UInt64, count n: Int) -> UInt64? {
        // The n bytes move to the top of the word; the bytes below them become '0' (leading zeros).
        let shift = UInt64(truncatingIfNeeded: 64 &- 8 &* n)
        let zeros: UInt64 = 0x3030_3030_3030_3030
        let low = shift == 0 ? 0 : ~(UInt64.max << shift)
        let v = (w << shift) | (zeros & low)
        // Every byte is 0x30...0x39: its high nibble is 3, and adding 6 does not carry into it.
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
        guard (v & high) | (((v &+ 0x0606_0606_0606_0606) & high) >> 4) == 0x3333_3333_3333_3333 else { return nil }
        var x = v & 0x0F0F_0F0F_0F0F_0F0F
        x = (x &* 2561) >> 8
        x = ((x & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
        return ((x & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    }

    /// The integer of the `count` bytes at `p` (`[-]digits`), or nil (empty, other bytes, or
    /// outside `Int`), as `CSVReader.int` reads a field.
    @inlinable
    public static func int(_ p: UnsafePointer<UInt8>, count n: Int) -> Int? {
        if n == 0 { return nil }
        var k = 0
        var neg = false
        if p[0] == 45 {
            neg = true
            k = 1
            if n == 1 { return nil }
        }
        if n - k <= 18 {
            // At most 18 digits: no overflow is possible.
            var v = 0
            while k < n {
                let d = p[k] &- 48
                if d > 9 { return nil }
                v = v &* 10 &+ Int(d)
                k += 1
            }
            return neg ? -v : v
        }
        var v = 0
        while k < n {
            let d = Int(p[k]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = a
            k += 1
        }
        return neg ? -v : v
    }
}
