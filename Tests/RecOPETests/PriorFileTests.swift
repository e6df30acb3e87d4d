import Foundation
import RecCore
import RecOPE
import Testing

@Suite struct PriorFileTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prior-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsCampaigns() throws {
        let path = try write(
            "# prior\nall:\n  alpha:\n    - 2.0\n    - 3\n  beta:\n    - 100.0\n    - 200.0\nmen:\n  alpha:\n    - 1\n  beta:\n    - 5\n"
        )
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = try BetaPrior.load(yaml: path, campaign: "all")
        #expect(p.alpha == [2, 3] && p.beta == [100, 200])
        #expect(try BetaPrior.load(yaml: path, campaign: "men").alpha == [1])
        #expect(
            throws: RecOPEError.malformedFile(
                file: path, line: nil, message: "no campaign 'women'; the file has all, men")
        ) {
            try BetaPrior.load(yaml: path, campaign: "women")
        }
    }

    @Test func errorsNameTheLine() throws {
        let bad = try write("all:\n  alpha:\n    - 2.0\n    - x\n  beta:\n    - 1\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect(throws: RecOPEError.malformedFile(file: bad, line: 4, message: "'x' is not a number")) {
            try BetaPrior.load(yaml: bad, campaign: "all")
        }
        let neg = try write("all:\n  alpha:\n    - -2.0\n  beta:\n    - 1\n")
        defer { try? FileManager.default.removeItem(atPath: neg) }
        #expect(
            throws: RecOPEError.malformedFile(
                file: neg, line: 3, message: "alpha value -2.0 must be positive and finite")
        ) { try BetaPrior.load(yaml: neg, campaign: "all") }
        let short = try write("all:\n  alpha:\n    - 2.0\n    - 3.0\n  beta:\n    - 1\n")
        defer { try? FileManager.default.removeItem(atPath: short) }
        #expect(throws: RecOPEError.self) { try BetaPrior.load(yaml: short, campaign: "all") }
        #expect(throws: RecOPEError.cannotOpen(file: "/nonexistent.yaml", reason: "no such file")) {
            try BetaPrior.load(yaml: "/nonexistent.yaml", campaign: "all")
        }
    }

    /// Other YAML spellings of the same structure read the same (Yams on libyaml); syntax and
    /// structure errors name their line.
    @Test func yamlSpellingsAndSyntaxErrors() throws {
        let flow = try write(
            "all: {alpha: [2.0, '3'], beta: [100, 200]}  # one line\nmen:\n  alpha: [1]\n  beta: [5]\n")
        defer { try? FileManager.default.removeItem(atPath: flow) }
        let p = try BetaPrior.load(yaml: flow, campaign: "all")
        #expect(p.alpha == [2, 3] && p.beta == [100, 200])
        let anchors = try write("all:\n  alpha: &a\n    - 4\n  beta: *a\n")
        defer { try? FileManager.default.removeItem(atPath: anchors) }
        #expect(try BetaPrior.load(yaml: anchors, campaign: "all").beta == [4])
        let cases: [(String, Int?, String)] = [
            ("all:\n  alpha:\n    - 2.0\n  beta: [1\n", 5, "YAML:"),  // unclosed flow list
            ("all:\n  alpha:\n    - 1\n  gamma:\n    - 1\n", 4, "unknown key 'gamma' (expected alpha or beta)"),
            ("all:\n  alpha: 3\n  beta: [1]\n", 2, "alpha must be a list of numbers"),
            ("all:\n  alpha:\n    - [1, 2]\n  beta: [1]\n", 3, "alpha entries must be numbers"),
            ("- 1\n- 2\n", 1, "expected campaign names"),
            ("all:\n  alpha: [1]\n  beta: [2]\nall:\n  alpha: [1]\n  beta: [2]\n", 1, "duplicate keys all"),
            ("all:\n  alpha: [1, inf]\n  beta: [1, 2]\n", 2, "alpha value inf must be positive and finite"),
            ("all:\n  alpha: [1]\n  beta: [1, 2]\n", 1, "has 1 alpha and 2 beta values"),
        ]
        for (text, line, message) in cases {
            let path = try write(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect {
                _ = try BetaPrior.load(yaml: path, campaign: "all")
            } throws: { error in
                guard case .malformedFile(let f, let l, let m) = error as? RecOPEError else { return false }
                return f == path && l == line && m.contains(message)
            }
        }
    }
}
