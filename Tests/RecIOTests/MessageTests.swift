import Foundation
import RecCore
import RecIO
import Testing

/// Class: messages are one line with values cut to about 80 characters.
@Suite struct MessageTests {
    @Test func clippedValues() {
        #expect(clipped("short") == "short")
        #expect(clipped("a\nb\tc\u{1}") == "a\\nb\\tc\\u{1}")
        let long = clipped(String(repeating: "é", count: 100_000))
        #expect(long.count < 110 && long.hasSuffix("… (100000 characters)"))
        #expect(clipped(String(repeating: "x", count: 80)) == String(repeating: "x", count: 80))
    }
}
