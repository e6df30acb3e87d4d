/// A value from outside as it appears in an error message: one line (control characters shown
/// as escapes) and at most `limit` characters; a longer value is cut and says how long it was.
public func clipped(_ value: some StringProtocol, limit: Int = 80) -> String {
    var out = ""
    var count = 0
    for ch in value {
        count += 1
        if count > limit { continue }
        if ch.isNewline {
            out += "\\n"
        } else if ch == "\t" {
            out += "\\t"
        } else if ch.asciiValue.map({ $0 < 32 }) == true {
            out += "\\u{\(String(ch.asciiValue!, radix: 16))}"
        } else {
            out.append(ch)
        }
    }
    return count > limit ? out + "… (\(count) characters)" : out
}

/// A short message for a JSON decoding failure: the missing field, or the field's path and
/// what is wrong with it (for errors that name a file and a field).
public func decodingMessage(_ e: any Error) -> String {
    guard let de = e as? DecodingError else { return clipped(String(describing: e)) }
    switch de {
    case .keyNotFound(let k, _): return "missing field '\(k.stringValue)'"
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
        let path = c.codingPath.map(\.stringValue).joined(separator: ".")
        return clipped((path.isEmpty ? "" : path + ": ") + c.debugDescription, limit: 160)
    @unknown default: return "undecodable"
    }
}
