import Foundation
import RecCore

/// Why a JSON input does not parse, said the way a person can fix it: the line, and for the
/// usual culprits the token itself (`inf`, `NaN`, `Infinity`, numbers beyond Double's range,
/// which other tools write but JSON has no place for), else Foundation's description cut to
/// one line.
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
                let lower = token.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "+-"))
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
        let ns = error as NSError
        let detail = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        return (nil, clipped(detail, limit: 120))
    }
}
