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

extension EventLog {
    private static func open(_ path: String, separator: UInt8 = UInt8(ascii: ",")) throws(RecRLError) -> CSVReader {
        do { return try CSVReader(path: path, separator: separator) } catch { throw .io(error) }
    }
    private static func next(_ r: CSVReader) throws(RecRLError) -> Bool {
        do { return try r.next() } catch { throw .io(error) }
    }
    private static func header(_ r: CSVReader) throws(RecRLError) -> [String] {
        guard try next(r) else { throw .empty("\(r.path): the file is empty") }
        return (0..<r.count).map { r.string($0).trimmingWhitespace() }
    }
    static func column(_ name: String, in header: [String], file: String) throws(RecRLError) -> Int {
        // RecBole headers carry a type suffix ("user_id:token").
        let exact = header.indices.filter { header[$0] == name }
        let matches =
            exact.isEmpty
            ? header.indices.filter { header[$0].split(separator: ":").first.map(String.init) == name } : exact
        guard let i = matches.first else { throw .missingColumn(file: file, column: name, header: header) }
        // Two columns of that name: which one is meant is not for the reader to guess.
        guard matches.count == 1 else {
            throw .malformed(
                file: file, line: 1, field: clipped(name),
                message:
                    "the header names column '\(clipped(name))' \(matches.count) times (fields \(matches.map { String($0 + 1) }.joined(separator: ", ")))"
            )
        }
        return i
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
    /// values to event types (`.identity` keeps them). Read in blocks of lines parsed on
    /// `parallelism`'s threads; the log is the same for any thread count.
    /// - Throws: `.io`, `.missingColumn`, `.malformed` (file:line:field), `.unknownEventType`, `.empty`.
    public static func load(
        csv path: String, columns: EventColumns = EventColumns(), events: EventMapping = .identity,
        parallelism: Parallelism = .automatic, blockBytes: Int = 4 << 20
    ) throws(RecRLError) -> EventLog {
        try loadBlocks(
            path: path, columns: columns, events: events, threads: parallelism.resolvedCount, blockBytes: blockBytes)
    }

    /// The row-at-a-time loader `load(csv:)` replaced (a `CSVReader` row per step), kept as the
    /// reference its logs and errors are tested against.
    @_spi(Reference)
    public static func loadRowByRow(
        csv path: String, columns: EventColumns = EventColumns(), events: EventMapping = .identity
    ) throws(RecRLError) -> EventLog {
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
                guard let p = r.double(cp), p.isFinite, p >= 0, Float(p).isFinite else {
                    throw .malformed(
                        file: path, line: r.line, field: columns.price!,
                        message: "'\(clipped(r.string(cp)))' is not a non-negative number up to 3.4e38 (a price)")
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
                        guard let p = r.double(3), p.isFinite, p >= 0, Float(p).isFinite else {
                            throw .malformed(
                                file: path, line: r.line, field: "price",
                                message: "'\(clipped(r.string(3)))' is not a non-negative number up to 3.4e38 (a price)"
                            )
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
            let h = (0..<r.count).map { r.string($0).trimmingWhitespace() }
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
