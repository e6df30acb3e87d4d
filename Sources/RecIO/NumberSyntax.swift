/// The numbers RecKit's text inputs take: decimal `[+-]digits[.digits][(e|E)[+-]digits]` (or
/// `[+-].digits...`), and the words `inf`, `infinity`, `nan` in any case (parsed, then refused
/// as non-finite with a message that says so). `strtod` alone also takes hexadecimal (`0x10` is
/// 16, `0x1p3` is 8) and leading spaces, which no log means.
public enum NumberSyntax {
    /// Whether the `count` bytes at `p` are one number in that syntax.
    public static func isNumber(_ p: UnsafePointer<UInt8>, count n: Int) -> Bool {
        var i = 0
        if i < n && (p[i] == 43 || p[i] == 45) { i += 1 }  // + -
        func digits() -> Int {
            let start = i
            while i < n && p[i] >= 48 && p[i] <= 57 { i += 1 }
            return i - start
        }
        let start = i
        var mantissa = digits()
        if i < n && p[i] == 46 {  // .
            i += 1
            mantissa += digits()
        }
        if mantissa == 0 {
            // inf, infinity, nan (any case)
            var word = [UInt8]()
            for k in start..<n { word.append(p[k] | 0x20) }
            return word == Array("inf".utf8) || word == Array("infinity".utf8) || word == Array("nan".utf8)
        }
        if i < n && (p[i] == 101 || p[i] == 69) {  // e E
            i += 1
            if i < n && (p[i] == 43 || p[i] == 45) { i += 1 }
            if digits() == 0 { return false }
        }
        return i == n
    }
}
