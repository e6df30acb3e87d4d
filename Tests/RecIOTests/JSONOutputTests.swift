import Foundation
import RecCore
import RecIO
import Testing

/// Class: JSON never carries non-finite numbers: null, counted for a warning.
@Suite struct JSONOutputTests {
    @Test func nonFiniteNumbersBecomeNull() throws {
        struct Row: Encodable {
            let name: String
            let value: Double
            let values: [Float]
        }
        let rows = [
            Row(name: "a", value: .infinity, values: [1, .nan, -.infinity]), Row(name: "inf", value: 2, values: []),
        ]
        let (data, count) = try JSONOutput.encode(rows, pretty: true)
        #expect(count == 3)
        let compact = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
        #expect(compact == #"[{"name":"a","value":null,"values":[1,null,null]},{"name":"inf","value":2,"values":[]}]"#)
        #expect(JSONOutput.warning(0, in: "x") == nil)
        #expect(
            JSONOutput.warning(3, in: "r.json") == "warning: r.json: 3 non-finite values (±inf or NaN) written as null")
        _ = try JSONSerialization.jsonObject(with: data)
    }
}
