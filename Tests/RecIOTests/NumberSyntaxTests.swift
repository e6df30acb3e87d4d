import Foundation
import RecIO
import Testing

/// The numbers text inputs take: decimals with an optional exponent, and inf/nan words (refused
/// later as non-finite); never hexadecimal, which strtod would read (`0x10` as 16).
@Suite struct NumberSyntaxTests {
    func accepts(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        return bytes.withUnsafeBufferPointer {
            NumberSyntax.isNumber($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: bytes.count)
        }
    }

    @Test func decimalsAndWordsOnly() {
        for s in ["1", "-1.5", ".5", "5.", "+2", "1e3", "1E-3", "2.5e+10", "007", "inf", "NaN", "-Infinity", "0.000"] {
            #expect(accepts(s), "\(s)")
        }
        for s in [
            "0x10", "0X1p3", "1e", "e3", ".", "", "1.2.3", " 1", "1 ", "--1", "1e+", "infinit", "nan1", "1,5", "１",
        ] {
            #expect(!accepts(s), "\(s)")
        }
    }

    /// Random strings over the number alphabet: whatever the syntax accepts, strtod reads in full
    /// (so the value is strtod's, to the bit), and every decimal strtod reads in full is accepted.
    @Test func agreesWithStrtodOnDecimals() {
        var g = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789.eE+-x")
        for _ in 0..<20000 {
            let s = String((0..<Int.random(in: 1...8, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
            var end: UnsafeMutablePointer<CChar>?
            let full = s.withCString { p -> Bool in
                _ = strtod(p, &end)
                return end == UnsafeMutablePointer(mutating: p) + s.utf8.count
            }
            if accepts(s) { #expect(full, "\(s)") }
            if full && !s.contains("x") { #expect(accepts(s), "\(s)") }
        }
    }
}
