/// A value from outside as it appears in an error message: one line (control characters shown
/// as escapes) and at most `limit` characters; a longer value is cut and says how long it was.
public func clipped(_ value: some StringProtocol, limit: Int = 80) -> String {
    var out = ""
    var count = 0
    for ch in value {
        count += 1
        if count > limit { continue }
        appendEscaped(ch, to: &out)
    }
    return count > limit ? out + "… (\(count) characters)" : out
}

/// `value` on one line: line breaks, tabs and other control characters (C0, DEL, C1: a
/// terminal's escape sequences among them) written as escapes, so that a path or value inside a
/// message cannot start a second, forged line or drive the terminal.
public func oneLine(_ value: some StringProtocol) -> String {
    var out = ""
    for ch in value { appendEscaped(ch, to: &out) }
    return out
}

func appendEscaped(_ ch: Character, to out: inout String) {
    if ch.isNewline {
        out += ch == "\r" ? "\\r" : "\\n"
    } else if ch == "\t" {
        out += "\\t"
    } else if let v = ch.unicodeScalars.first?.value, ch.unicodeScalars.count == 1,
        v < 32 || (v >= 0x7F && v <= 0x9F)
    {
        out += "\\u{\(String(v, radix: 16))}"
    } else {
        out.append(ch)
    }
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
