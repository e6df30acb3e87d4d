import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Why a JSON input does not parse, said the way a person can fix it: the line, and for the
/// usual culprits the token itself (`inf`, `NaN`, `Infinity`, numbers beyond Double's range,
/// which other tools write but JSON has no place for), else the parser's message and column.
enum JSONDiagnosis {
    static func problem(in data: Data, error: Error) -> (line: Int?, message: String) {
        let bytes = [UInt8](data)
        var line = 1
        var i = 0
        var inString = false
        while i < bytes.count {
            let c = bytes[i]
            if c == 10 { line += 1 }
            if inString {
                if c == 92 {
                    i += 2
                    continue
                }  // backslash escape
                if c == 34 { inString = false }
                i += 1
                continue
            }
            if c == 34 {
                inString = true
                i += 1
                continue
            }
            let isLetter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            let startsNumber = c == 45 || c == 43 || (c >= 48 && c <= 57) || c == 46
            if isLetter || startsNumber {
                var j = i
                while j < bytes.count, let ch = Optional(bytes[j]),
                    (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122) || (ch >= 48 && ch <= 57) || ch == 45 || ch == 43
                        || ch == 46
                {
                    j += 1
                }
                let token = String(decoding: bytes[i..<j], as: UTF8.self)
                if ["true", "false", "null"].contains(token) {
                    i = j
                    continue
                }
                let lower = String(token.lowercased().drop(while: { $0 == "+" || $0 == "-" }))
                if ["inf", "infinity", "nan"].contains(lower) {
                    return (
                        line,
                        "'\(clipped(token))' is not a JSON number (non-finite values have no place in a spec; "
                            + "scores must be finite)"
                    )
                }
                if startsNumber, let d = Double(token) {
                    if !d.isFinite { return (line, "\(clipped(token)) is beyond Double's range (±1.8e308)") }
                    i = j
                    continue
                }
                if isLetter || startsNumber { return (line, "'\(clipped(token))' is not a JSON value") }
            }
            i += 1
        }
        if let e = error as? JSONValue.SyntaxError {
            return (e.line, clipped("\(e.message) (column \(e.column))", limit: 160))
        }
        return (nil, clipped(String(describing: error), limit: 120))
    }

    /// The first key that appears twice in one object of valid JSON, and its line (Foundation's
    /// parser keeps one of the two silently).
    static func duplicateKey(in data: Data) -> (line: Int, key: String)? {
        let bytes = [UInt8](data)
        var line = 1
        var i = 0
        // Per open container: nil for an array, else the keys seen so far.
        var stack = [Set<[UInt8]>?]()
        var expectKey = false
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case 10: line += 1
            case 123:  // {
                stack.append([])
                expectKey = true
            case 91:  // [
                stack.append(nil)
                expectKey = false
            case 125, 93:  // } ]
                _ = stack.popLast()
                expectKey = false
            case 44:  // ,
                expectKey = stack.last.map { $0 != nil } ?? false
            case 34:  // a string: a key when one is expected
                var j = i + 1
                while j < bytes.count && bytes[j] != 34 {
                    if bytes[j] == 10 { line += 1 }
                    j += bytes[j] == 92 ? 2 : 1
                }
                let text = Array(bytes[(i + 1)..<min(j, bytes.count)])
                if expectKey, var keys = stack.last ?? nil {
                    if keys.contains(text) { return (line, String(decoding: text, as: UTF8.self)) }
                    keys.insert(text)
                    stack[stack.count - 1] = keys
                }
                expectKey = false
                i = j
            default: break
            }
            i += 1
        }
        return nil
    }
}
