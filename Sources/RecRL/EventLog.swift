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

/// An event log: one row per (session, time, item, event type, optional price), stored by column
/// (about 21 bytes a row), with session and item keys interned.
///
/// Sessions are whatever groups events into one sequence: a session id, or a user id (MovieLens).
public struct EventLog: Sendable {
    /// Session index per row (into `sessionKeys`).
    public internal(set) var sessions: [Int32] = []
    /// Item index per row (into `itemKeys`).
    public internal(set) var items: [Int32] = []
    /// Event type per row (into `eventTypes`).
    public internal(set) var events: [UInt8] = []
    /// Time per row (seconds, or whatever unit the file used; only the order matters).
    public internal(set) var times: [Double] = []
    /// Price per row when the log has prices (NaN where a row has none).
    public internal(set) var prices: [Float]?
    /// Raw session keys, by session index.
    public internal(set) var sessionKeys: [String] = []
    /// Raw item keys, by item index.
    public internal(set) var itemKeys: [String] = []
    /// Event type names, by event index.
    public internal(set) var eventTypes: [String] = []
    /// Where it came from (for messages).
    public let source: String

    /// Rows (events).
    public var count: Int { items.count }

    /// An empty log whose errors and reports name `source`.
    public init(source: String) { self.source = source }

    /// Builds a log in memory (tests, simulations). `events` are names; `prices` optional.
    /// - Throws: `.invalidParameter` for mismatched lengths.
    public init(
        source: String = "memory", sessions: [String], times: [Double], items: [String], events: [String],
        prices: [Float]? = nil
    ) throws(RecRLError) {
        self.source = source
        let n = sessions.count
        guard times.count == n, items.count == n, events.count == n, prices.map({ $0.count == n }) ?? true else {
            throw .invalidParameter(
                "EventLog: columns of different lengths (\(n) sessions, \(times.count) times, \(items.count) items, \(events.count) events)"
            )
        }
        var s = KeyInterner()
        var it = KeyInterner()
        var types = [String: UInt8]()
        for r in 0..<n {
            self.sessions.append(s.id(sessions[r]))
            self.items.append(it.id(items[r]))
            if types[events[r]] == nil {
                guard eventTypes.count < 255 else { throw .invalidParameter("EventLog: more than 255 event types") }
                types[events[r]] = UInt8(eventTypes.count)
                eventTypes.append(events[r])
            }
            self.events.append(types[events[r]]!)
        }
        self.times = times
        self.prices = prices
        sessionKeys = s.keys
        itemKeys = it.keys
    }

    /// Index of an event type name.
    public func eventIndex(_ name: String) -> Int? { eventTypes.firstIndex(of: name) }

    /// Number of rows of each event type.
    public func eventCounts() -> [String: Int] {
        var c = [Int](repeating: 0, count: eventTypes.count)
        for e in events { c[Int(e)] += 1 }
        return Dictionary(uniqueKeysWithValues: zip(eventTypes, c))
    }
}
