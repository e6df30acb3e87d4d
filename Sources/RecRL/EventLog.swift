import Foundation
import RecCore
import RecIO

/// Dense ids for keys read from a file: integer keys without building a String per row.
struct KeyInterner {
    private var ints = [Int: Int32]()
    private var strings = [String: Int32]()
    private(set) var keys = [String]()

    mutating func id(_ reader: CSVReader, _ field: Int) -> Int32 {
        if let v = reader.int(field) {
            if let id = ints[v] { return id }
            let id = Int32(keys.count)
            ints[v] = id
            keys.append(String(v))
            return id
        }
        let s = reader.string(field)
        if let id = strings[s] { return id }
        let id = Int32(keys.count)
        strings[s] = id
        keys.append(s)
        return id
    }

    mutating func id(_ s: String) -> Int32 {
        if let v = Int(s) {
            if let id = ints[v] { return id }
            let id = Int32(keys.count)
            ints[v] = id
            keys.append(s)
            return id
        }
        if let id = strings[s] { return id }
        let id = Int32(keys.count)
        strings[s] = id
        keys.append(s)
        return id
    }
}

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
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
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
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[1].isEmpty else {
                throw .invalidParameter("rating map: expected RATING=EVENT or LOW-HIGH=EVENT, got '\(clipped(part))'")
            }
            let bounds = kv[0].split(separator: "-").map { Double($0.trimmingCharacters(in: .whitespaces)) }
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

/// Appends rows while reading; shared by the loaders.
struct EventLogBuilder {
    var log: EventLog
    var sessions = KeyInterner(), items = KeyInterner()
    var types = [String: UInt8]()
    var hasPrices = false

    init(source: String) { log = EventLog(source: source) }

    mutating func append(session: Int32, item: Int32, event: String, time: Double, price: Float?) throws(RecRLError) {
        let code: UInt8
        if let c = types[event] {
            code = c
        } else {
            guard log.eventTypes.count < 255 else {
                throw .invalidParameter("\(log.source): more than 255 event types")
            }
            code = UInt8(log.eventTypes.count)
            types[event] = code
            log.eventTypes.append(event)
        }
        log.sessions.append(session)
        log.items.append(item)
        log.events.append(code)
        log.times.append(time)
        if let p = price {
            if !hasPrices {
                hasPrices = true
                log.prices = [Float](repeating: .nan, count: log.count - 1)
            }
            log.prices!.append(p)
        } else if hasPrices {
            log.prices!.append(.nan)
        }
    }

    func finish() throws(RecRLError) -> EventLog {
        var l = log
        l.sessionKeys = sessions.keys
        l.itemKeys = items.keys
        guard l.count > 0 else { throw .empty("\(l.source): no events") }
        return l
    }
}

extension EventLog {
    private static func open(_ path: String, separator: UInt8 = UInt8(ascii: ",")) throws(RecRLError) -> CSVReader {
        do { return try CSVReader(path: path, separator: separator) } catch { throw .io(error) }
    }
    private static func next(_ r: CSVReader) throws(RecRLError) -> Bool {
        do { return try r.next() } catch { throw .io(error) }
    }
    private static func header(_ r: CSVReader) throws(RecRLError) -> [String] {
        guard try next(r) else { throw .empty("\(r.path): the file is empty") }
        return (0..<r.count).map { r.string($0).trimmingCharacters(in: .whitespaces) }
    }
    private static func column(_ name: String, in header: [String], file: String) throws(RecRLError) -> Int {
        // RecBole headers carry a type suffix ("user_id:token").
        if let i = header.firstIndex(of: name)
            ?? header.firstIndex(where: { $0.split(separator: ":").first.map(String.init) == name })
        {
            return i
        }
        throw .missingColumn(file: file, column: name, header: header)
    }
    private static func time(_ r: CSVReader, _ c: Int, field: String) throws(RecRLError) -> Double {
        if let t = r.double(c), t.isFinite { return t }
        if let t = parseTimestamp(r.string(c)) { return t }
        throw .malformed(
            file: r.path, line: r.line, field: field,
            message: "'\(clipped(r.string(c)))' is not a number or an ISO 8601 time")
    }
    private static func need(_ r: CSVReader, _ c: Int, field: String) throws(RecRLError) {
        guard c < r.count else {
            throw .malformed(file: r.path, line: r.line, field: field, message: "the row has \(r.count) fields")
        }
        guard !r.fields[c].isEmpty else { throw .malformed(file: r.path, line: r.line, field: field, message: "empty") }
    }

    /// A generic CSV with a header row; `columns` names the columns, `events` maps raw event
    /// values to event types (`.identity` keeps them).
    /// - Throws: `.io`, `.missingColumn`, `.malformed` (file:line:field), `.unknownEventType`, `.empty`.
    public static func load(csv path: String, columns: EventColumns = EventColumns(), events: EventMapping = .identity)
        throws(RecRLError) -> EventLog
    {
        let r = try open(path)
        let h = try header(r)
        let cs = try column(columns.session, in: h, file: path)
        let ct = try column(columns.time, in: h, file: path)
        let ci = try column(columns.item, in: h, file: path)
        let ce = try column(columns.event, in: h, file: path)
        let cp = try columns.price.map { (n: String) throws(RecRLError) -> Int in try column(n, in: h, file: path) }
        var b = EventLogBuilder(source: path)
        var eventCache = [String: String?]()
        while try next(r) {
            try need(r, cs, field: columns.session)
            try need(r, ci, field: columns.item)
            try need(r, ce, field: columns.event)
            try need(r, ct, field: columns.time)
            let raw = r.string(ce)
            let ev: String?
            if let c = eventCache[raw] {
                ev = c
            } else {
                ev = try events.resolve(raw, file: path, line: r.line)
                eventCache[raw] = ev
            }
            guard let event = ev else { continue }
            var price: Float? = nil
            if let cp, cp < r.count, !r.fields[cp].isEmpty {
                guard let p = r.double(cp), p.isFinite, p >= 0 else {
                    throw .malformed(
                        file: path, line: r.line, field: columns.price!,
                        message: "'\(clipped(r.string(cp)))' is not a non-negative number")
                }
                price = Float(p)
            }
            let t = try time(r, ct, field: columns.time)
            try b.append(session: b.sessions.id(r, cs), item: b.items.id(r, ci), event: event, time: t, price: price)
        }
        return try b.finish()
    }

    /// RetailRocket `events.csv` (timestamp, visitorid, event, itemid, transactionid): visitors are
    /// sessions; view → click, addtocart → cart, transaction → purchase unless `events` says otherwise.
    public static func loadRetailRocket(_ path: String, events: EventMapping = .retailRocket) throws(RecRLError)
        -> EventLog
    {
        var c = EventColumns()
        c.session = "visitorid"
        c.time = "timestamp"
        c.item = "itemid"
        c.event = "event"
        return try load(csv: path, columns: c, events: events)
    }

    /// YooChoose (RecSys Challenge 2015): `clicks` rows are session, time, item, category; `buys`
    /// rows are session, time, item, price, quantity (no header). Clicks become `click` events and
    /// buys `purchase` events with their price (0 when missing).
    public static func loadYooChoose(clicks: String, buys: String?) throws(RecRLError) -> EventLog {
        var b = EventLogBuilder(source: clicks)
        for (path, event) in [(clicks, "click")] + (buys.map { [($0, "purchase")] } ?? []) {
            let r = try open(path)
            while try next(r) {
                try need(r, 0, field: "session")
                try need(r, 1, field: "timestamp")
                try need(r, 2, field: "item")
                let t = try time(r, 1, field: "timestamp")
                var price: Float? = nil
                if event == "purchase" {
                    if r.count > 3, !r.fields[3].isEmpty {
                        guard let p = r.double(3), p.isFinite, p >= 0 else {
                            throw .malformed(
                                file: path, line: r.line, field: "price",
                                message: "'\(clipped(r.string(3)))' is not a non-negative number")
                        }
                        price = Float(p)
                    } else {
                        price = 0
                    }
                }
                try b.append(session: b.sessions.id(r, 0), item: b.items.id(r, 2), event: event, time: t, price: price)
            }
        }
        return try b.finish()
    }

    /// MovieLens ratings: RecBole's `.inter` (tab-separated, typed header), `u.data` (tab, no
    /// header: user, item, rating, time), `ratings.csv` (userId, movieId, rating, timestamp) or
    /// `ratings.dat` (`::`). Users are sessions; `ratings` maps each rating to an event type.
    /// - Throws: `.malformed` for a rating outside the map (naming the line), and the loader errors.
    public static func loadMovieLens(_ path: String, ratings: RatingMapping) throws(RecRLError) -> EventLog {
        let sep: UInt8
        if path.hasSuffix(".dat") {
            sep = UInt8(ascii: ":")
        } else if path.hasSuffix(".csv") {
            sep = UInt8(ascii: ",")
        } else {
            sep = UInt8(ascii: "\t")
        }
        let r = try open(path, separator: sep)
        var cu = 0
        var ci = 1
        var cr = 2
        var ct = 3
        var names = ["user", "item", "rating", "timestamp"]
        guard try next(r) else { throw .empty("\(path): the file is empty") }
        var pending = true
        if r.count > 0, r.int(0) == nil, sep != UInt8(ascii: ":") {  // a header row
            let h = (0..<r.count).map { r.string($0).trimmingCharacters(in: .whitespaces) }
            cu = try column(h.contains("userId") ? "userId" : "user_id", in: h, file: path)
            ci = try column(h.contains("movieId") ? "movieId" : "item_id", in: h, file: path)
            cr = try column("rating", in: h, file: path)
            ct = try column("timestamp", in: h, file: path)
            names = [h[cu], h[ci], h[cr], h[ct]]
            pending = false
        }
        var b = EventLogBuilder(source: path)
        var fieldsIdx = [Int](repeating: 0, count: 4)
        while true {
            if !pending { guard try next(r) else { break } }
            pending = false
            if sep == UInt8(ascii: ":") {  // "a::b::c::d" splits into a, "", b, "", ...
                var k = 0
                for f in 0..<r.count where !r.fields[f].isEmpty && k < 4 {
                    fieldsIdx[k] = f
                    k += 1
                }
                guard k == 4 else { throw .malformed(file: path, line: r.line, field: names[k], message: "missing") }
            } else {
                fieldsIdx = [cu, ci, cr, ct]
                for (k, c) in fieldsIdx.enumerated() { try need(r, c, field: names[k]) }
            }
            guard let rating = r.double(fieldsIdx[2]), rating.isFinite else {
                throw .malformed(
                    file: path, line: r.line, field: names[2],
                    message: "'\(clipped(r.string(fieldsIdx[2])))' is not a number")
            }
            guard let mapped = ratings.resolve(rating) else {
                throw .malformed(
                    file: path, line: r.line, field: names[2],
                    message: "rating \(rating) is not in the rating map (add it, or map it to skip)")
            }
            guard let event = mapped else { continue }
            let t = try time(r, fieldsIdx[3], field: names[3])
            try b.append(
                session: b.sessions.id(r, fieldsIdx[0]), item: b.items.id(r, fieldsIdx[1]), event: event, time: t,
                price: nil)
        }
        return try b.finish()
    }
}

/// The event-log formats `reckit train` and `evaluate` read (`--format`).
public enum EventLogFormat: String, NamedChoice {
    /// A CSV with column roles (`EventColumns`): session, time, item, event, price.
    case csv
    /// RetailRocket's `events.csv` (visitors are sessions).
    case retailrocket
    /// YooChoose (RecSys Challenge 2015): the clicks file and, optionally, the buys file.
    case yoochoose
    /// MovieLens ratings (`u.data`, `ratings.csv`, `ratings.dat` or RecBole's `.inter`), ratings
    /// mapped to event types (users are sessions).
    case movielens
}
