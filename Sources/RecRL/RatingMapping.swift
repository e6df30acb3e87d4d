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

/// MovieLens: a rating → event-type map such as `5=purchase,1-4=click` (ranges inclusive,
/// half-star ratings map through their range; `skip` drops the rows).
public struct RatingMapping: Sendable, Equatable {
    /// Closed rating ranges and the event type each maps to (`5=purchase,1-4=click`).
    public var ranges: [(low: Double, high: Double, event: String)]

    public static func == (a: RatingMapping, b: RatingMapping) -> Bool {
        a.ranges.count == b.ranges.count
            && zip(a.ranges, b.ranges).allSatisfy { $0.low == $1.low && $0.high == $1.high && $0.event == $1.event }
    }

    /// Parses `5=purchase,1-4=click`.
    /// - Throws: `.invalidParameter` for a malformed entry.
    public static func parse(_ s: String) throws(RecRLError) -> RatingMapping {
        var r = [(low: Double, high: Double, event: String)]()
        for part in s.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            guard kv.count == 2, !kv[1].isEmpty else {
                throw .invalidParameter("rating map: expected RATING=EVENT or LOW-HIGH=EVENT, got '\(clipped(part))'")
            }
            let bounds = kv[0].split(separator: "-").map { Double($0.trimmingWhitespace()) }
            guard bounds.count == 1 || bounds.count == 2, let lo = bounds.first!, let hi = bounds.last!, lo <= hi else {
                throw .invalidParameter("rating map: bad rating or range '\(clipped(kv[0]))'")
            }
            r.append((lo, hi, kv[1]))
        }
        guard !r.isEmpty else { throw .invalidParameter("rating map: empty") }
        return RatingMapping(ranges: r)
    }

    /// The protocol of the README: 5 → purchase, 1–4 → click.
    public static let purchaseFiveClickRest = RatingMapping(ranges: [(5, 5, "purchase"), (1, 4.5, "click")])

    func resolve(_ rating: Double) -> String?? {
        for r in ranges where rating >= r.low && rating <= r.high { return .some(r.event == "skip" ? nil : r.event) }
        return .none
    }
}
