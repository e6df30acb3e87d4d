import Foundation
import RecIO
import Testing

/// The strict JSON parser against Foundation's JSONSerialization on the same texts: the same
/// values for valid JSON, an error (with a position) where Foundation refuses.
@Suite struct JSONValueTests {
    /// A JSONSerialization object as a JSONValue (numbers compared as Doubles).
    func convert(_ any: Any) -> JSONValue {
        switch any {
        case is NSNull: return .null
        case let s as String: return .string(s)
        case let a as [Any]: return .array(a.map(convert))
        case let o as [String: Any]: return .object(o.mapValues(convert))
        case let n as NSNumber:
            if String(describing: type(of: n)).contains("Boolean") { return .bool(n.boolValue) }
            return .number(n.doubleValue, exact: nil)
        default: return .string("?")
        }
    }

    /// Drops the exact integers so that values compare by Double.
    func doubles(_ v: JSONValue) -> JSONValue {
        switch v {
        case .number(let d, _): return .number(d, exact: nil)
        case .array(let a): return .array(a.map(doubles))
        case .object(let o): return .object(o.mapValues(doubles))
        default: return v
        }
    }

    static let valid = [
        #"{"a": [1, 2.5, -0.0, 1e3, 1E-3, 123456789012345678, true, false, null], "b": {"c": "x\"y\\z\/"}}"#,
        #"  [ ]  "#, #"{}"#, #""\u00e9\ud83d\ude00\n\t\b\f\r""#, #"0"#, #"-12.5e+2"#,
        #"[[[[[]]]]]"#, "{\"k\":\n [1,\n2]\n}", #""é""#, #"1.7976931348623157e308"#, #"5e-324"#,
        #"[0.1, 2.2250738585072014e-308]"#,
    ]

    @Test(arguments: valid) func validTextsMatchFoundation(_ text: String) throws {
        let data = Data(text.utf8)
        let reference = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        #expect(doubles(try JSONValue.parse(data)) == convert(reference))
    }

    static let invalid = [
        "", "[1 2]", "{'a': 1}", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[NaN]",
        "[Infinity]", "tru", "\"abc", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "[1e400]", "{\"a\" 1}", "[1]]",
        "{\"a\":1", "\"a\tb\"", "[+1]", "nul", "{1: 2}",
    ]

    @Test(arguments: invalid) func invalidTextsAreRefusedLikeFoundation(_ text: String) {
        let data = Data(text.utf8)
        #expect(
            (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) == nil || text == "[1e400]")
        #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.parse(data) }
    }

    /// Where the two differ: Foundation on Linux reads trailing commas and misrounds some numbers
    /// by one unit in the last place; RFC 8259 has no trailing commas, and Swift's `Double(String)`
    /// rounds correctly (0.1 + 0.2 is 0x3FD3333333333334).
    @Test func stricterAndCorrectlyRounded() throws {
        for text in ["[1,]", "{\"a\":1,}"] {
            #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.parse(Data(text.utf8)) }
        }
        let v = try JSONValue.parse(Data("0.30000000000000004".utf8))
        #expect(v.number?.bitPattern == (0.1 + 0.2).bitPattern)
        #expect(v.number?.bitPattern == 0x3FD3_3333_3333_3334)
    }

    @Test func exactIntegersAndPositions() throws {
        #expect(
            try JSONValue.parse(Data("9007199254740993".utf8))
                == .number(9_007_199_254_740_992, exact: 9_007_199_254_740_993))
        #expect(try JSONValue.parse(Data("2.0".utf8)) == .number(2, exact: nil))
        #expect(try JSONValue.parse(Data("99999999999999999999".utf8)) == .number(1e20, exact: nil))
        #expect(throws: JSONValue.SyntaxError(line: 3, column: 3, message: "unexpected ']'; expected a value")) {
            try JSONValue.parse(Data("[\n1,\n  ]".utf8))
        }
        #expect(throws: JSONValue.SyntaxError(line: 1, column: 2, message: "a string is not closed (it starts here)")) {
            try JSONValue.parse(Data("[\"é".utf8))
        }
        let deep =
            String(repeating: "[", count: JSONValue.maxDepth + 1)
            + String(repeating: "]", count: JSONValue.maxDepth + 1)
        #expect(throws: JSONValue.SyntaxError.self) { try JSONValue.parse(Data(deep.utf8)) }
        let ok = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        #expect(throws: Never.self) { try JSONValue.parse(Data(ok.utf8)) }
    }
}
