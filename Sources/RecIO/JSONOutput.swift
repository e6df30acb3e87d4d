#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// JSON that RecKit writes: never a non-finite number (JSON has none). Infinities and NaN
/// become `null`, and the count of such values is returned so the caller can warn.
public enum JSONOutput {
    /// A string no RecKit value contains, standing for a non-finite number until it becomes null.
    static let marker = "__reckit_non_finite_3f1c__"

    /// Encodes `value` with sorted keys (the same value gives the same bytes); `pretty` indents,
    /// `snakeCase` converts the keys.
    /// - Returns: the bytes and how many non-finite numbers were written as `null`.
    /// - Throws: `RecIOError.cannotWrite` naming `what` if the value cannot be encoded at all.
    public static func encode(
        _ value: some Encodable, pretty: Bool = false, snakeCase: Bool = false,
        what: String = "JSON"
    ) throws(RecIOError) -> (data: Data, nonFinite: Int) {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        if snakeCase { e.keyEncodingStrategy = .convertToSnakeCase }
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: marker, negativeInfinity: marker, nan: marker)
        let raw: Data
        do { raw = try e.encode(value) } catch {
            throw .cannotWrite(file: what, reason: "cannot encode as JSON: \(String(describing: error).prefix(120))")
        }
        let quoted = Data(("\"" + marker + "\"").utf8)
        var out = Data()
        var count = 0
        var rest = raw[...]
        while let r = rest.firstRange(of: quoted) {
            out.append(rest[rest.startIndex..<r.lowerBound])
            out.append(contentsOf: Array("null".utf8))
            count += 1
            rest = rest[r.upperBound...]
        }
        out.append(rest)
        return (out, count)
    }

    /// The warning line for `count` non-finite values in `what`, or nil for none.
    public static func warning(_ count: Int, in what: String) -> String? {
        count == 0
            ? nil : "warning: \(what): \(count) non-finite value\(count == 1 ? "" : "s") (±inf or NaN) written as null"
    }
}
