import Foundation
import RecCore
import RecIO
import RecOPE
import Testing
import _RecTestSupport

/// Class: numbers in JSON specs that do not fit the integer they become.
@Suite struct SpecNumberTests {
    func spec(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [
        #"{"kind": "uniform", "items": 1e30}"#,
        #"{"kind": "uniform", "items": 99999999999999999999999999999999999999999}"#,
        #"{"kind": "uniform", "items": -3}"#,
        #"{"kind": "uniform", "items": 2.5}"#,
        #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [5, 5], "boost": {"items": [1e30], "rule": "additive", "amount": 0.1}}"#,
        #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [5, 5], "boost": {"items": [-1], "rule": "additive", "amount": 0.1}}"#,
        #"{"kind": "dts", "alpha": [1, 1], "beta": [9, 9], "at": -1e308}"#,
        #"{"kind": "dts", "alpha": [1, 1], "beta": [9, 9], "period_hours": 1e-300, "at": 1e10}"#,
        #"{"kind": "dts", "alpha": [1, 1], "beta": [9, 9], "at": 1e300}"#,
    ])
    func outOfRangeNumbersAreTypedErrors(json: String) throws {
        let path = try spec(json)
        #expect(throws: RecOPEError.self) {
            let p = try PolicySpec.load(path)
            _ = try p.exactMarginals(k: 1)
        }
    }
}
