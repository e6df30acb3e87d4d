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

// MARK: - Loaders

/// How the raw values of an event column map to event types. Values absent from the map are an
/// error listing the known values, unless `passThrough` keeps them as they are.
public struct EventMapping: Sendable, Equatable {
    /// Raw value → event type (`skip` drops the row).
    public var map: [String: String]
    /// Whether values absent from `map` are kept as event types of their own (else an error).
    public var passThrough: Bool

    /// A mapping; with `passThrough`, unmapped values are kept as they are.
    public init(_ map: [String: String], passThrough: Bool = false) {
        self.map = map
        self.passThrough = passThrough
    }

    /// Every value is its own event type.
    public static let identity = EventMapping([:], passThrough: true)
    /// RetailRocket: view → click, addtocart → cart, transaction → purchase.
    public static let retailRocket = EventMapping(["view": "click", "addtocart": "cart", "transaction": "purchase"])

    /// Parses `raw=event,raw=event` (the value `skip` drops the rows).
    /// - Throws: `.invalidParameter` for an entry without `=`.
    public static func parse(_ s: String) throws(RecRLError) -> EventMapping {
        var m = [String: String]()
        for part in s.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw .invalidParameter("event map: expected RAW=EVENT, got '\(clipped(part))'")
            }
            m[kv[0]] = kv[1]
        }
        guard !m.isEmpty else { throw .invalidParameter("event map: empty") }
        return EventMapping(m)
    }

    /// The event type for a raw value; nil means skip the row.
    func resolve(_ raw: String, file: String, line: Int) throws(RecRLError) -> String? {
        if let e = map[raw] { return e == "skip" ? nil : e }
        if passThrough { return raw }
        throw .unknownEventType(file: file, line: line, value: raw, known: map.keys.sorted())
    }
}
