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

/// Column names of a generic event CSV (with a header row).
public struct EventColumns: Sendable, Equatable {
    /// The session column (default `session_id`).
    public var session = "session_id"
    /// The timestamp column (seconds or `YYYY-MM-DD HH:MM:SS`; default `timestamp`).
    public var time = "timestamp"
    /// The item column (default `item_id`).
    public var item = "item_id"
    /// The event-type column (default `event`).
    public var event = "event"
    /// Optional price column.
    public var price: String? = nil
    /// The default column names.
    public init() {}

    /// Parses `session=user_id,time=ts,item=item,event=type,price=price`.
    public static func parse(_ s: String) throws(RecRLError) -> EventColumns {
        var c = EventColumns()
        for part in s.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw .invalidParameter("columns: expected ROLE=NAME, got '\(clipped(part))'") }
            switch kv[0] {
            case "session", "user": c.session = kv[1]
            case "time", "timestamp": c.time = kv[1]
            case "item": c.item = kv[1]
            case "event": c.event = kv[1]
            case "price": c.price = kv[1]
            default:
                throw .invalidParameter(
                    "columns: unknown role '\(clipped(kv[0]))' (roles: session, time, item, event, price)")
            }
        }
        return c
    }
}
