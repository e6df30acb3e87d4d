import Foundation
import RecCore
import Testing

/// The FoundationEssentials-only helpers against full Foundation's.
@Suite struct TextTests {
    @Test func cFormatMatchesStringFormat() {
        let values: [Double] = [0, -0.0, 1, 0.1, 2.5e-300, 1.7976931348623157e308, 123_456.789, -3.25, .nan, .infinity]
        for v in values {
            for f in ["%g", "%.4g", "%.3f", "%.1f", "%e", "%.2g", "%.0f"] {
                #expect(cFormat(f, v) == String(format: f, v), "\(f) \(v)")
            }
        }
        for n in [0, 7, -42, 1 << 40, Int.max] {
            for f in ["%ld", "%7ld", "%02ld"] { #expect(cFormat(f, n) == String(format: f, n)) }
        }
        #expect(cFormat("\\u%04x", UInt32(31)) == String(format: "\\u%04x", UInt32(31)))
        let long = String(repeating: "x", count: 300)
        #expect(cFormat(long + " %ld", 5) == long + " 5")  // longer than the first buffer
    }

    @Test func trimmingAndPadding() {
        for s in ["", "  ", " a b ", "\t7\n", "x"] {
            #expect(s.trimmingWhitespace() == s.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        for s in ["", "ab", "abcdefghij"] {
            #expect(s.padded(to: 5) == s.padding(toLength: 5, withPad: " ", startingAt: 0))
        }
    }

    @Test func pathsMatchNSString() {
        // (NSString crashes on a path with no slash, "c", in swift-corelibs-foundation 6.3.)
        #expect(PathText.parent(of: "c") == "")
        for p in ["a/b/c", "/c", "/", "a/b/", "/a/b", "a//b", ""] {
            #expect(PathText.parent(of: p) == (p as NSString).deletingLastPathComponent, "\(p)")
        }
        for (d, n) in [("a", "b"), ("a/", "b"), ("/", "b"), ("", "b")] {
            #expect(PathText.join(d, n) == (d as NSString).appendingPathComponent(n))
        }
    }

    @Test func threadLocalValuesStayOnTheirThread() {
        let local = ThreadLocal<Int>()
        local.value = 1
        nonisolated(unsafe) var seen = [Int?]()
        let t = Thread {
            seen.append(local.value)  // a fresh thread starts with nil
            local.value = 3
            seen.append(local.value)
        }
        t.start()
        while !t.isFinished { usleep(1000) }
        #expect(seen == [nil, 3])
        #expect(local.value == 1)  // the other thread's store stayed there
        local.value = nil
        #expect(local.value == nil)
    }
}
