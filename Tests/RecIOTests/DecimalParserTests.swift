import Foundation
import RecCore
import RecIO
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `DecimalParser` against the reference it replaces: `NumberSyntax` and `strtod` on a
/// NUL-terminated copy, the bit pattern compared (and nil where the reference refuses).
@Suite struct DecimalParserTests {
    /// The reference: what `CSVReader.double` did before (leading spaces, ≤ 63 bytes, the syntax,
    /// then strtod on the whole field).
    static func reference(_ s: String) -> Double? {
        let b = Array(s.utf8)
        if b.isEmpty || b.count > 63 { return nil }
        var lead = 0
        while lead < b.count && (b[lead] == 32 || b[lead] == 9) { lead += 1 }
        let ok = b.withUnsafeBufferPointer { NumberSyntax.isNumber($0.baseAddress! + lead, count: b.count - lead) }
        guard ok else { return nil }
        var c = b.map { CChar(bitPattern: $0) }
        c.append(0)
        return c.withUnsafeMutableBufferPointer { t -> Double? in
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(t.baseAddress!, &end)
            return end == t.baseAddress! + b.count ? v : nil
        }
    }

    static func parsed(_ s: String) -> Double? {
        let b = Array(s.utf8)
        return b.withUnsafeBufferPointer {
            DecimalParser.double($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: b.count)
        }
    }

    func same(_ s: String) -> Bool {
        let (a, b) = (Self.parsed(s), Self.reference(s))
        switch (a, b) {
        case (nil, nil): return true
        case (let x?, let y?): return x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)
        default: return false
        }
    }

    @Test func edgeCases() {
        let cases = [
            "0", "-0", "+0", "0.0", "-0.0", "00", "000.000", ".5", "-.5", "+.5", "5.", "5.e3", ".e3", ".", "-", "+",
            "e5",
            "1e", "1e+", "1e-", "1E5", "1e+5", "1e-5", "1.5e-07", "0.1", "0.2", "0.3", "1e22", "1e23", "9e22", "1e-22",
            "1e-23", "9007199254740992", "9007199254740993", "9007199254740995", "18446744073709551615",
            "18446744073709551616", "9999999999999999999", "99999999999999999999", "1234567890123456789",
            "0.000000000000000000000000000001", "1e-300", "1e-320", "4.9e-324", "2.2250738585072014e-308",
            "1.7976931348623157e308", "1.8e308", "1e400", "-1e400", "inf", "-inf", "Infinity", "nan", "NaN", "-nan",
            "0x10", "0x1p3", " 1.5", "\t2", "  ", " ", "1.5 ", "1,5", "1_000", "١", "0.0125", "0.05019470",
            "8.589973e9", "2.0000000000000004", "0.30000000000000004", "123456789012345678", "1e0000000000000000005",
            "1e-99999999999", "0e99999", "-0e-5", "7.038531e-26",
            "1.00000000000000011102230246251565404236316680908203125",
            "4.4501477170144023e-308", "3.0540870182740225e-290", String(repeating: "1", count: 63),
            String(repeating: "1", count: 64), "0." + String(repeating: "0", count: 30) + "1",
        ]
        for c in cases {
            #expect(same(c), "\(c): \(String(describing: Self.parsed(c))) vs \(String(describing: Self.reference(c)))")
        }
    }

    /// Doubles printed every way a log writer prints them, and random digit strings.
    @Test func randomStrings() {
        var g = Xoshiro256(seed: 35)
        var bad = [String]()
        for i in 0..<200_000 {
            let s: String
            switch i % 6 {
            case 0:
                let v = Double(bitPattern: g.next() & 0x7FEF_FFFF_FFFF_FFFF) * (g.next() & 1 == 0 ? 1 : -1)
                s = String(format: "%.\(Int(g.next() % 20))g", v)
            case 1:
                let v = Sampling.uniform(&g) * pow(10, Double(Int(g.next() % 40)) - 20)
                s = String(format: "%.\(Int(g.next() % 18))e", v)
            case 2:
                let v = Sampling.uniform(&g) * pow(10, Double(Int(g.next() % 12)) - 4)
                s = String(format: "%.\(Int(g.next() % 21))f", v)
            case 3:
                s = "\(Sampling.uniform(&g))"  // Swift's shortest round-trip form
            case 4:
                // Random digits, a random point, a random exponent.
                let n = 1 + Int(g.next() % 24)
                var d = (0..<n).map { _ in String(g.next() % 10) }.joined()
                if g.next() % 2 == 0 {
                    d.insert(".", at: d.index(d.startIndex, offsetBy: Int(g.next() % UInt64(n + 1))))
                }
                if g.next() % 2 == 0 { d += "e\(Int(g.next() % 70) - 35)" }
                s = (g.next() % 3 == 0 ? "-" : "") + d
            default:
                // Halfway cases: a double's midpoint with its next one, printed in full.
                let v = Double(bitPattern: 0x3000_0000_0000_0000 &+ (g.next() % 0x2000_0000_0000_0000))
                let mid = (Float80(v) + Float80(v.nextUp)) / 2
                s = "\(mid)"
            }
            if !same(s) { bad.append(s) }
        }
        #expect(bad.isEmpty, "\(bad.prefix(10))")
    }

    @Test func integers() {
        func reference(_ s: String) -> Int? {
            let b = Array(s.utf8)
            if b.isEmpty { return nil }
            var k = 0
            var neg = false
            if b[0] == 45 {
                neg = true
                k = 1
                if b.count == 1 { return nil }
            }
            var v = 0
            while k < b.count {
                let d = Int(b[k]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(d)
                if o1 || o2 { return nil }
                v = a
                k += 1
            }
            return neg ? -v : v
        }
        var cases = [
            "0", "-0", "-", "", "+1", "12a", "9223372036854775807", "9223372036854775808", "-9223372036854775807",
            "-9223372036854775808", "999999999999999999", "1000000000000000000", "00000000000000000000001", " 1",
        ]
        var g = Xoshiro256(seed: 7)
        for _ in 0..<20000 { cases.append(String(Int(bitPattern: UInt(g.next() >> (g.next() % 64))))) }
        for c in cases {
            let b = Array(c.utf8)
            let got = b.withUnsafeBufferPointer {
                DecimalParser.int($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: b.count)
            }
            #expect(got == reference(c), "\(c)")
        }
    }

    /// The readers' forms that may read past the field (`double`, `float` and `int` with
    /// `readableTo`: eight digits a word) give the field's value alone, whatever bytes follow it:
    /// against `strtod` (bits), `float` (strtof's bits) and the integer loop, on the edge cases, random
    /// numbers, every `digits.digits` shape up to 8 + 8 digits with a wrong byte at each place,
    /// followed by digits, dots, separators or nothing readable.
    @Test func windowedFormsReadTheFieldAlone() {
        var g = Xoshiro256(seed: 351)
        var cases = [
            "0.5", "1.0", "0.0", "00.00", "12345678.12345678", "99999999.99999999", "9007199.254740993",
            "90071992.54740993", "0.0501947", "0.00726762", "1.", ".5", "1.2.3", "1..2", "1e5", "1.5e3", "-0.5",
            "+0.5", " 0.5", "0.5 ", "0,5", "0x1.8", "123456789.5", "1.123456789", "1600000009", "49194", "0123",
            "1234567812345678", "12345678123456789", "-1234", "12a4", "１２３４",
        ]
        for whole in 1...8 {
            for fraction in 1...8 {
                let digits = (0..<(whole + fraction)).map { _ in Character(String(g.next() % 10)) }
                var s = String(digits[..<whole]) + "." + String(digits[whole...])
                cases.append(s)
                cases.append("-" + s)
                // A wrong byte at each place.
                for k in 0..<s.count {
                    var b = Array(s.utf8)
                    b[k] =
                        [UInt8(ascii: "a"), UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "."), 0x80][
                            Int(g.next() % 5)]
                    s = String(decoding: b, as: UTF8.self)
                    cases.append(s)
                    s = String(digits[..<whole]) + "." + String(digits[whole...])
                }
            }
        }
        for n in 1...16 { cases.append((0..<n).map { _ in String(g.next() % 10) }.joined()) }
        // Points halfway between two Floats that have 8 or fewer decimals (Floats of 2^16 to
        // 2^24), and their decimal neighbours: where the float reader's product must not decide.
        for k in 16...26 {
            for _ in 0..<300 {
                let v = Float(sign: .plus, exponent: k, significand: 1 + Float(Sampling.uniform(&g)))
                let mid = (Double(v) + Double(v.nextUp)) / 2
                // With the fewest decimals (the product of the digits and 10^-f is then often
                // not the midpoint itself), and with 8.
                for (d, decimals) in [(0, max(24 - k, 1)), (-1e-8, 8), (0, 8), (1e-8, 8)] {
                    let text = String(format: "%.\(decimals)f", mid + d)
                    cases.append(text)
                    cases.append("-" + text)
                }
            }
        }
        for i in 0..<50_000 {
            switch i % 3 {
            case 0: cases.append(String(format: "%.\(Int(g.next() % 10))f", Sampling.uniform(&g) * 2000 - 1000))
            case 1: cases.append("\(Float(Sampling.uniform(&g) * 2 - 1))")
            default: cases.append(String(g.next() >> (g.next() % 64)))
            }
        }
        let tails = ["", ",", "0123456789", "........", "9.9.9.9.9.9.9.9", "\n1,2,3\n", ",0.5,0.25"]
        var bad = [String]()
        for c in cases {
            let want = Self.reference(c)
            let wantInt: Int? = Array(c.utf8).withUnsafeBufferPointer {
                DecimalParser.int($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count)
            }
            // `float` is tested against strtof above.
            let wantFloat: Float? = Array(c.utf8).withUnsafeBufferPointer {
                DecimalParser.float($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count)
            }
            for t in tails {
                for readable in [0, 4, 8, 16, 24] {
                    let field = Array(c.utf8)
                    var bytes = field + Array(t.utf8)
                    bytes += (0..<readable).map { _ in UInt8(truncatingIfNeeded: 48 + g.next() % 10) }
                    let (got, gotInt, gotFloat) = bytes.withUnsafeBufferPointer { b in
                        let p = b.baseAddress!
                        let end = p + min(b.count, field.count + readable)
                        return (
                            DecimalParser.double(p, count: field.count, readableTo: end),
                            DecimalParser.int(p, count: field.count, readableTo: end),
                            DecimalParser.float(p, count: field.count, readableTo: end)
                        )
                    }
                    let same =
                        switch (got, want) {
                        case (nil, nil): true
                        case (let x?, let y?): x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)
                        default: false
                        }
                    let sameFloat = gotFloat?.bitPattern == wantFloat?.bitPattern
                    if !same || gotInt != wantInt || !sameFloat { bad.append(c + " + " + t.debugDescription) }
                }
            }
        }
        #expect(bad.isEmpty, "\(bad.prefix(10))")
    }

    /// `DecimalParser.float` against `strtof` on the same strings (bits), long fields included.
    @Test func floatsEqualStrtof() {
        func reference(_ s: String) -> Float? {
            let b = Array(s.utf8)
            guard !b.isEmpty, b.withUnsafeBufferPointer({ NumberSyntax.isNumber($0.baseAddress!, count: b.count) })
            else { return nil }
            var c = b.map { CChar(bitPattern: $0) }
            c.append(0)
            return c.withUnsafeMutableBufferPointer { t -> Float? in
                var end: UnsafeMutablePointer<CChar>?
                let v = strtof(t.baseAddress!, &end)
                return end == t.baseAddress! + b.count ? v : nil
            }
        }
        var g = Xoshiro256(seed: 36)
        var cases = [
            "0", "-0", "1e39", "-1e39", "3.4028235e38", "3.4028236e38", "1e-38", "1e-45", "1e-46", "1.4e-45", "inf",
            "nan", " 1", "1 ", "", "0.1", "16777217", "16777219", "0x10", String(repeating: "1", count: 80),
            "0." + String(repeating: "0", count: 70) + "1",
        ]
        for i in 0..<100_000 {
            switch i % 4 {
            case 0:
                let v = Float(bitPattern: UInt32(truncatingIfNeeded: g.next()) & 0x7F7F_FFFF)
                cases.append(String(format: "%.\(Int(g.next() % 12))g", Double(v)))
            case 1:
                // Midpoints between two Floats, printed in full (the double-rounding cases).
                let v = Float(bitPattern: 0x0080_0000 &+ UInt32(truncatingIfNeeded: g.next() % 0x7E00_0000))
                cases.append(String(format: "%.17g", (Double(v) + Double(v.nextUp)) / 2))
            case 2: cases.append("\(Sampling.uniform(&g) * 10)")
            default:
                let n = 1 + Int(g.next() % 12)
                cases.append((0..<n).map { _ in String(g.next() % 10) }.joined() + "e\(Int(g.next() % 80) - 40)")
            }
        }
        var bad = [String]()
        for c in cases {
            let b = Array(c.utf8)
            let got = b.withUnsafeBufferPointer {
                DecimalParser.float($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: b.count)
            }
            let want = reference(c)
            let same =
                switch (got, want) {
                case (nil, nil): true
                case (let x?, let y?): x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)
                default: false
                }
            if !same { bad.append(c) }
        }
        #expect(bad.isEmpty, "\(bad.prefix(10))")
    }
}
