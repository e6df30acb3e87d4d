import RecCore
import RecIO

#if canImport(Glibc)
    import Glibc
#endif
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The generic event-log CSV read in blocks of whole lines, each cut at line ends into one span
/// per thread and parsed at once (fields checked and converted, session and item keys interned
/// per span); the spans are then joined in file order, where keys get their ids in the order
/// they first appear in the file. The result equals the row-at-a-time loader's
/// (`loadRowByRow`, the reference path of every quoted or bad row), field by field, with the
/// same first error, for any thread count.
struct EventSpanParser: Sendable {
    let path: String
    let session: Int, time: Int, item: Int, event: Int
    let price: Int?
    let columns: EventColumns
    let events: EventMapping

    /// How a span's distinct raw event value resolves.
    enum Resolution {
        case event(String)
        case skip
        case unknown
    }

    /// One span's rows: columns the span owns (raw memory, filled by the parse loop without a
    /// capacity or uniqueness check per row).
    final class Span: @unchecked Sendable {
        var rows = 0
        /// Rows the columns can hold.
        let capacity: Int
        /// Keys as `KeyCode`s: a non-negative integer key by its value, any other by its
        /// span-local string id.
        let sessions: UnsafeMutablePointer<Int64>
        let items: UnsafeMutablePointer<Int64>
        let events: UnsafeMutablePointer<Int32>
        let times: UnsafeMutablePointer<Double>
        /// NaN where a row has no price.
        let prices: UnsafeMutablePointer<Float>
        var anyPrice = false
        var sessionKeys = ByteInterner()
        var itemKeys = ByteInterner()
        var eventValues = ByteInterner()
        var resolutions: [Resolution] = []
        var lineCount = 0
        var firstLine = 0
        /// The span's bytes.
        var bytes = 0
        /// The first bad row and its line in the span: the reference path makes its error.
        var failure: (row: CSVRow, line: Int, unterminatedField: Int?)?

        init(capacity: Int) {
            self.capacity = capacity
            sessions = .allocate(capacity: capacity)
            items = .allocate(capacity: capacity)
            events = .allocate(capacity: capacity)
            times = .allocate(capacity: capacity)
            prices = .allocate(capacity: capacity)
        }

        deinit {
            sessions.deallocate()
            items.deallocate()
            events.deallocate()
            times.deallocate()
            prices.deallocate()
        }
    }

    /// A key field's code: a non-negative integer key is its value (the row loader keys integers
    /// by value: "007" and "7" are one key); any other key is `-(id + 1)` of its text in the span's
    /// `strings` (negative integers by their canonical text, `String(value)`).
    @inline(__always)
    static func key(
        _ p: UnsafePointer<UInt8>, _ n: Int, _ strings: inout ByteInterner, readableTo end: UnsafePointer<UInt8>
    ) -> Int64 {
        if let v = DecimalParser.int(p, count: n, readableTo: end) {
            if v >= 0 { return Int64(v) }
            var s = String(v)
            return -1 - Int64(s.withUTF8 { strings.id($0.baseAddress!, count: $0.count) })
        }
        return -1 - Int64(strings.id(p, count: n))
    }

    /// Whether the `n` bytes at `a` and `b` are equal (short keys: no call).
    @inline(__always)
    static func same(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self)
                != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self)
            {
                return false
            }
            i += 8
        }
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// The span-local id of a raw event value and how it resolves (resolved once per value).
    @inline(__always)
    func resolve(
        _ raw: UnsafePointer<UInt8>, _ n: Int, _ values: inout ByteInterner, _ resolutions: inout [Resolution]
    ) -> Int32 {
        let id = values.id(raw, count: n)
        if Int(id) == resolutions.count {
            let v = String(decoding: UnsafeBufferPointer(start: raw, count: n), as: UTF8.self)
            if let e = events.map[v] {
                resolutions.append(e == "skip" ? .skip : .event(e))
            } else {
                resolutions.append(events.passThrough ? .event(v) : .unknown)
            }
        }
        return id
    }

    /// The few raw event values a log has, each by the bytes of its first appearance in the span:
    /// a row's value is found by comparing bytes (no hashing); values past `limit` go to the
    /// interner.
    struct EventCache {
        static let limit = 8
        var starts: [UnsafePointer<UInt8>] = []
        var lengths: [Int] = []
        /// Span-local id and how it resolves: 0 an event, 1 skip, 2 unknown.
        var ids: [Int32] = []
        var kinds: [UInt8] = []

        @inline(__always)
        func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
            for k in 0..<lengths.count where lengths[k] == n && EventSpanParser.same(starts[k], p, n) {
                return k
            }
            return nil
        }
    }

    /// Parses the lines of `span`. The loop works on local columns and tables (no class
    /// property access per row), handed to the span at the end.
    func parse(_ span: UnsafeBufferPointer<UInt8>) -> Span {
        let out = Span(capacity: CSVLines.lineCount(span) + 1)
        out.bytes = span.count
        let sessions = out.sessions
        let items = out.items
        let eventIds = out.events
        let times = out.times
        let prices = out.prices
        var sessionKeys = ByteInterner()
        var itemKeys = ByteInterner()
        var values = ByteInterner()
        var resolutions = [Resolution]()
        var cache = EventCache()
        var anyPrice = false
        var rows = 0
        // The previous row's session (rows of a session are usually together).
        var lastSession: (UnsafePointer<UInt8>, Int, Int64)? = nil
        var scan = CSVLines(span.baseAddress!, count: span.count, separator: 44, atFileStart: false)
        let end = span.baseAddress! + span.count
        var row = CSVRow()
        let needed = max(session, time, item, event)
        while scan.next() {
            if scan.isPlain && scan.count > needed {
                // The fast path: every check of the row loader, on the span's bytes; anything it
                // does not take goes to the reference path below.
                let (sp, sn) = scan.field(session)
                let (ip, iN) = scan.field(item)
                let (ep, en) = scan.field(event)
                let (tp, tn) = scan.field(time)
                if sn > 0 && iN > 0 && en > 0 && tn > 0 {
                    let eid: Int32
                    let kind: UInt8
                    if let k = cache.find(ep, en) {
                        eid = cache.ids[k]
                        kind = cache.kinds[k]
                    } else {
                        eid = resolve(ep, en, &values, &resolutions)
                        switch resolutions[Int(eid)] {
                        case .event: kind = 0
                        case .skip: kind = 1
                        case .unknown: kind = 2
                        }
                        if cache.ids.count < EventCache.limit {
                            cache.starts.append(ep)
                            cache.lengths.append(en)
                            cache.ids.append(eid)
                            cache.kinds.append(kind)
                        }
                    }
                    if kind == 1 { continue }
                    if kind == 0 {
                        var priceOK = true
                        var pv = Float.nan
                        if let cp = price, cp < scan.count {
                            let (pp, pn) = scan.field(cp)
                            if pn > 0 {
                                if let p = DecimalParser.double(pp, count: pn, readableTo: end), p.isFinite, p >= 0,
                                    Float(p).isFinite
                                {
                                    pv = Float(p)
                                    anyPrice = true
                                } else {
                                    priceOK = false
                                }
                            }
                        }
                        // Whole seconds (the usual form): the integer's Double is strtod's value
                        // (both round once); a sign goes the general way ("-0" is -0.0).
                        var t: Double? =
                            tp[0] != 45 ? DecimalParser.int(tp, count: tn, readableTo: end).map(Double.init) : nil
                        if t == nil { t = DecimalParser.double(tp, count: tn, readableTo: end) }
                        if t == nil || !t!.isFinite {
                            t = parseTimestamp(bytes: UnsafeBufferPointer(start: tp, count: tn))
                        }
                        if priceOK, let t {
                            let sid: Int64
                            if let (lp, ln, lid) = lastSession, ln == sn, Self.same(lp, sp, sn) {
                                sid = lid
                            } else {
                                sid = Self.key(sp, sn, &sessionKeys, readableTo: end)
                                lastSession = (sp, sn, sid)
                            }
                            sessions[rows] = sid
                            items[rows] = Self.key(ip, iN, &itemKeys, readableTo: end)
                            eventIds[rows] = eid
                            times[rows] = t
                            prices[rows] = pv
                            rows += 1
                            continue
                        }
                    }
                }
            }
            // The reference path: a quoted row, or one the fast path refused.
            row.line = scan.lineIndex
            if let f = row.split(scan.line.baseAddress!, count: scan.line.count, separator: 44) {
                out.failure = (row, scan.lineIndex, f)
                break
            }
            do {
                guard let v = try reference(row, line: scan.lineIndex) else { continue }
                sessions[rows] = v.session.withUTF8Bytes { Self.key($0, $1, &sessionKeys, readableTo: $0 + $1) }
                items[rows] = v.item.withUTF8Bytes { Self.key($0, $1, &itemKeys, readableTo: $0 + $1) }
                lastSession = nil
                eventIds[rows] = v.raw.withUTF8Bytes { resolve($0, $1, &values, &resolutions) }
                times[rows] = v.time
                prices[rows] = v.price ?? .nan
                if v.price != nil { anyPrice = true }
                rows += 1
            } catch {
                out.failure = (row, scan.lineIndex, nil)
                break
            }
        }
        while scan.next() {}
        out.lineCount = scan.lineIndex
        out.rows = rows
        out.anyPrice = anyPrice
        out.sessionKeys = sessionKeys
        out.itemKeys = itemKeys
        out.eventValues = values
        out.resolutions = resolutions
        return out
    }

    /// A row's values the row loader's way; nil for a row whose event maps to `skip`.
    struct Values {
        var session: String
        var item: String
        var raw: String
        var time: Double
        var price: Float?
    }

    /// One row the row loader's way, with its messages (`line` is the row's line in the file).
    func reference(_ r: CSVRow, line: Int) throws(RecRLError) -> Values? {
        func need(_ c: Int, _ field: String) throws(RecRLError) {
            guard c < r.count else {
                throw .malformed(file: path, line: line, field: field, message: "the row has \(r.count) fields")
            }
            guard !r.fields[c].isEmpty else { throw .malformed(file: path, line: line, field: field, message: "empty") }
        }
        try need(session, columns.session)
        try need(item, columns.item)
        try need(event, columns.event)
        try need(time, columns.time)
        let raw = r.string(event)
        guard (try events.resolve(raw, file: path, line: line)) != nil else { return nil }
        var amount: Float? = nil
        if let cp = price, cp < r.count, !r.fields[cp].isEmpty {
            guard let p = r.double(cp), p.isFinite, p >= 0, Float(p).isFinite else {
                throw .malformed(
                    file: path, line: line, field: columns.price!,
                    message: "'\(clipped(r.string(cp)))' is not a non-negative number up to 3.4e38 (a price)")
            }
            amount = Float(p)
        }
        let t: Double
        if let v = r.double(time), v.isFinite {
            t = v
        } else if let v = parseTimestamp(r.string(time)) {
            t = v
        } else {
            throw .malformed(
                file: path, line: line, field: columns.time,
                message: "'\(clipped(r.string(time)))' is not a number or an ISO 8601 time")
        }
        func canonical(_ c: Int) -> String { r.int(c).map { String($0) } ?? r.string(c) }
        return Values(session: canonical(session), item: canonical(item), raw: raw, time: t, price: amount)
    }
}

extension String {
    /// Calls `body` with the string's UTF-8 bytes and their count.
    fileprivate func withUTF8Bytes<R>(_ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        var s = self
        return s.withUTF8 { b in
            b.baseAddress.map { body($0, b.count) }
                ?? withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) {
                    body($0.baseAddress!, 0)
                }
        }
    }
}

extension EventLog {
    /// The generic CSV loader's body: blocks of lines parsed in spans on `threads` threads, joined
    /// in file order.
    static func loadBlocks(
        path: String, columns: EventColumns, events: EventMapping, threads: Int, blockBytes: Int = 2 << 20
    ) throws(RecRLError) -> EventLog {
        var blocks: LineBlockReader
        do { blocks = try LineBlockReader(path: path, blockBytes: max(threads, 1) * max(blockBytes, 16)) } catch {
            throw .io(error)
        }
        // The header: the first non-empty line.
        let found: (row: CSVRow, dataFrom: Int)?
        do { found = try blocks.header() } catch { throw .io(error) }
        guard let (row, dataFrom) = found else { throw .empty("\(path): the file is empty") }
        let h = (0..<row.count).map { row.string($0).trimmingWhitespace() }
        let parser = EventSpanParser(
            path: path, session: try column(columns.session, in: h, file: path),
            time: try column(columns.time, in: h, file: path), item: try column(columns.item, in: h, file: path),
            event: try column(columns.event, in: h, file: path),
            price: try columns.price.map { (n: String) throws(RecRLError) -> Int in try column(n, in: h, file: path) },
            columns: columns, events: events)
        var join = EventSpanJoin(source: path, parser: parser)
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG { join.fileBytes = Int(st.st_size) }
        var linesBefore = row.line - 1  // the header's line is counted again by the rest of its block
        // Block k's spans are joined while block k + 1's are parsed: the join is one more task
        // of the same parallel step (task 0, taken first), so the serial join overlaps parsing.
        var parsed = [EventSpanParser.Span]()
        func joinAll(_ spans: [EventSpanParser.Span]) throws(RecRLError) {
            for s in spans {
                s.firstLine = linesBefore
                linesBefore += s.lineCount
                try join.add(s)
            }
        }
        func step(_ block: UnsafeBufferPointer<UInt8>, from: Int, readAhead: ReadAhead? = nil) throws(RecRLError) {
            let rest = UnsafeBufferPointer(rebasing: block[from...])
            guard rest.count > 0 else { return }
            // Several spans per thread, so that the join task and the spans balance.
            let cuts = LineBlockReader.lineAlignedCuts(rest, pieces: threads == 1 ? 1 : 4 * threads)
            var spans = [EventSpanParser.Span?](repeating: nil, count: cuts.count)
            let previous = parsed
            var joinError: RecRLError?
            // The read of the next block is one more task (task 1) on more than one thread.
            let extra = readAhead != nil && threads > 1 ? 2 : 1
            spans.withUnsafeMutableBufferPointer { o in
                let box = UncheckedSendableSpans(o)
                Threading.parallelFor(chunks: cuts.count + extra, parallelism: .threads(threads)) { task in
                    if task == 0 {
                        do throws(RecRLError) { try joinAll(previous) } catch { joinError = error }
                        return
                    }
                    if task == 1 && extra == 2 {
                        readAhead!.run()
                        return
                    }
                    let k = task - extra
                    let a = k == 0 ? 0 : cuts[k - 1]
                    box.buffer[k] = parser.parse(UnsafeBufferPointer(rebasing: rest[a..<cuts[k]]))
                }
            }
            if let joinError { throw joinError }
            parsed = spans.map { $0! }
        }
        try blocks.withCurrent { (b) throws(RecRLError) in try step(b, from: dataFrom) }
        while true {
            let got: Result<Void, RecRLError>?
            do {
                got = try blocks.nextReadingAhead { (b, _, ahead) throws(RecRLError) in
                    try step(b, from: 0, readAhead: ahead)
                }
            } catch {
                // Rows before a read error are joined first: their errors come first.
                try joinAll(parsed)
                throw .io(error)
            }
            guard let got else { break }
            if case .failure(let e) = got { throw e }
        }
        try joinAll(parsed)
        return try join.finish()
    }
}

struct UncheckedSendableSpans: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<EventSpanParser.Span?>
    init(_ b: UnsafeMutableBufferPointer<EventSpanParser.Span?>) { buffer = b }
}

/// Global ids of keys in order of first appearance: integer keys by value (a dense table for
/// values below `denseLimit`, a dictionary above), string keys by their bytes.
struct KeyIndex {
    var dense: [Int32] = []
    var sparse: [Int64: Int32] = [:]
    var strings = ByteInterner()
    var keys: [String] = []
    static let denseLimit = 1 << 23

    /// The id of an integer key `v ≥ 0`.
    @inline(__always)
    mutating func id(value v: Int64) -> Int32 {
        if v < Self.denseLimit {
            let i = Int(v)
            if i >= dense.count {
                dense.append(
                    contentsOf: repeatElement(
                        -1, count: max(i + 1, min(2 * dense.count, Self.denseLimit)) - dense.count))
            }
            let g = dense[i]
            if g >= 0 { return g }
            let n = Int32(keys.count)
            dense[i] = n
            keys.append(String(v))
            return n
        }
        if let g = sparse[v] { return g }
        let n = Int32(keys.count)
        sparse[v] = n
        keys.append(String(v))
        return n
    }

    /// The id of a span's key code (`EventSpanParser.key`): an integer by value, a string
    /// through the span's map of its string ids (filled on first use).
    @inline(__always)
    mutating func id(code: Int64, _ map: inout [Int32], of local: ByteInterner) -> Int32 {
        if code >= 0 { return id(value: code) }
        let l = Int(-1 - code)
        if map[l] < 0 { map[l] = id(string: l, of: local) }
        return map[l]
    }

    /// The id of string key `i` of `local`.
    mutating func id(string i: Int, of local: ByteInterner) -> Int32 {
        let before = strings.count
        let s = local.withBytes(i) { strings.id($0, count: $1) }
        if strings.count > before {
            // A new string: its global id is the next key id.
            stringIds.append(Int32(keys.count))
            keys.append(local.string(i))
        }
        return stringIds[Int(s)]
    }
    var stringIds: [Int32] = []
}

/// Spans joined in file order: keys and event types get ids in order of first appearance.
struct EventSpanJoin {
    var log: EventLog
    let parser: EventSpanParser
    var sessions = KeyIndex()
    var items = KeyIndex()
    var types = [String: UInt8]()
    var prices: [Float] = []
    var anyPrice = false
    var lastSession: (code: Int64, id: Int32) = (.min, -1)

    /// The file's size when it is a regular file: the first span's bytes per row then give the
    /// rows to reserve (the columns are not copied again as they grow).
    var fileBytes: Int?

    init(source: String, parser: EventSpanParser) {
        log = EventLog(source: source)
        self.parser = parser
    }

    /// Reserves the log's columns for the rows a file of `fileBytes` holds at the density of `s`.
    mutating func reserve(like s: EventSpanParser.Span) {
        guard let total = fileBytes, total > 0, s.bytes > 0, s.rows > 0 else { return }
        // 5% more than the first span's density predicts; a row takes at least 2 bytes.
        let rows = min(Int(Double(total) / Double(s.bytes) * Double(s.rows) * 1.05) + 16, total / 2 + 16)
        log.sessions.reserveCapacity(rows)
        log.items.reserveCapacity(rows)
        log.events.reserveCapacity(rows)
        log.times.reserveCapacity(rows)
        prices.reserveCapacity(rows)
        fileBytes = nil
    }

    mutating func add(_ s: EventSpanParser.Span) throws(RecRLError) {
        if fileBytes != nil { reserve(like: s) }
        // Ids in order of first appearance in the file: walk the span's rows in order.
        var sMap = [Int32](repeating: -1, count: s.sessionKeys.count)
        var iMap = [Int32](repeating: -1, count: s.itemKeys.count)
        var eMap = [Int](repeating: -1, count: s.resolutions.count)
        // The span's columns as locals: no class property access per row.
        let spanSessions = s.sessions
        let spanItems = s.items
        let spanEvents = s.events
        let resolutions = s.resolutions
        let sessionKeys = s.sessionKeys
        let itemKeys = s.itemKeys
        let n = s.rows
        // The span's rows are written in place (no capacity or uniqueness check per row).
        let gS = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        let gI = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        let gE = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n, 1))
        defer {
            gS.deallocate()
            gI.deallocate()
            gE.deallocate()
        }
        for r in 0..<n {
            let ks = spanSessions[r]
            let gs =
                ks == lastSession.code ? lastSession.id : sessions.id(code: ks, &sMap, of: sessionKeys)
            // A string code is the span's: the cache holds integer keys only.
            lastSession = ks >= 0 ? (ks, gs) : (.min, -1)
            let gi = items.id(code: spanItems[r], &iMap, of: itemKeys)
            let le = Int(spanEvents[r])
            var code = eMap[le]
            if code < 0 {
                guard case .event(let name) = resolutions[le] else { preconditionFailure("an unresolved event kept") }
                if let c = types[name] {
                    code = Int(c)
                } else {
                    guard log.eventTypes.count < 255 else {
                        throw .invalidParameter("\(log.source): more than 255 event types")
                    }
                    code = log.eventTypes.count
                    types[name] = UInt8(code)
                    log.eventTypes.append(name)
                }
                eMap[le] = code
            }
            gS[r] = gs
            gI[r] = gi
            gE[r] = UInt8(code)
        }
        log.sessions.append(contentsOf: UnsafeBufferPointer(start: gS, count: n))
        log.items.append(contentsOf: UnsafeBufferPointer(start: gI, count: n))
        log.events.append(contentsOf: UnsafeBufferPointer(start: gE, count: n))
        log.times.append(contentsOf: UnsafeBufferPointer(start: s.times, count: n))
        prices.append(contentsOf: UnsafeBufferPointer(start: s.prices, count: n))
        anyPrice = anyPrice || s.anyPrice
        if let bad = s.failure {
            let line = s.firstLine + bad.line
            if let f = bad.unterminatedField {
                throw .io(.malformed(file: parser.path, line: line, field: f, message: "unterminated quote"))
            }
            _ = try parser.reference(bad.row, line: line)
            throw .malformed(file: parser.path, line: line, field: "", message: "unreadable row")
        }
    }

    func finish() throws(RecRLError) -> EventLog {
        var l = log
        l.sessionKeys = sessions.keys
        l.itemKeys = items.keys
        if anyPrice { l.prices = prices }
        guard l.count > 0 else { throw .empty("\(l.source): no events") }
        return l
    }
}
