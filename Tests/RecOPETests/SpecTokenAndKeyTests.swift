import Foundation
import RecCore
import RecIO
import RecOPE
import Testing
import _RecTestSupport

/// Class: JSON specs with tokens JSON has no place for (`inf`, `NaN`, numbers beyond Double), and
/// unknown keys: errors naming the line or the key, never a silently ignored setting.
@Suite struct SpecTokenAndKeyTests {
    func load(_ json: String) throws -> any RankingPolicy {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try PolicySpec.load(path)
    }

    @Test(arguments: [
        (#"{"kind": "plackett_luce", "scores": [1, inf, 2]}"#, ":1: not valid JSON: 'inf' is not a JSON number"),
        ("{\"kind\": \"plackett_luce\",\n \"scores\": [1, NaN]}", ":2: not valid JSON: 'NaN' is not a JSON number"),
        (
            #"{"kind": "plackett_luce", "scores": [-Infinity, 2]}"#,
            ":1: not valid JSON: '-Infinity' is not a JSON number"
        ),
        (#"{"kind": "plackett_luce", "scores": [1, 1e400]}"#, ":1: not valid JSON: 1e400 is beyond Double's range"),
        (#"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": -1e999}"#, "-1e999 is beyond Double's range"),
        (
            #"{"kind": "plackett_luce", "scores": [1, 2], "temprature": 5}"#,
            #"unknown key "temprature" for kind plackett_luce"#
        ),
        (
            #"{"kind": "uniform", "items": 3, "seed": 4}"#,
            #"unknown key "seed" for kind uniform (it takes: items, kind)"#
        ),
        (
            #"{"kind": "bernoulli_ts", "alpha": [1], "beta": [2], "boost": {"items": [0], "rule": "additive", "amont": 2}}"#,
            #"unknown key "amont" in "boost""#
        ),
        (#"{"kind": "dts", "alpha": [1], "beta": [2], "period": 3}"#, #"unknown key "period" for kind dts"#),
    ])
    func badSpecsAreTypedErrors(json: String, expected: String) {
        #expect {
            _ = try load(json)
        } throws: { error in
            "\(error)".contains(expected) && !"\(error)".contains("\n") && !"\(error)".contains("NSCocoaErrorDomain")
        }
    }

    @Test func everyDocumentedKeyIsAccepted() throws {
        _ = try load(
            #"{"kind": "bernoulli_ts", "alpha": [1, 2], "beta": [3, 4], "clicks": [0, 1], "impressions": [1, 2], "optimistic": true}"#
        )
        _ = try load(
            #"{"kind": "dots", "alpha": [1, 2], "beta": [3, 4], "discount": 0.9, "period_hours": 2, "at": 10}"#)
        _ = try load(#"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": 0.1}"#)
        _ = try load(
            #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [3, 4], "boost": {"items": [1], "rule": "multiplicative", "amount": 2}}"#
        )
    }
}
