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

/// Filters of the preprocessing, applied in this order, once each (as the papers did):
/// items with at least `minItemCount` events are kept, then sessions with at least
/// `minSessionLength` of the remaining events.
public struct Preprocessing: Sendable, Equatable {
    /// Keep items with at least this many events (applied first).
    public var minItemCount = 1
    /// Then keep sessions with at least this many events.
    public var minSessionLength = 3
    /// Filters with these thresholds.
    public init(minItemCount: Int = 1, minSessionLength: Int = 3) {
        self.minItemCount = minItemCount
        self.minSessionLength = minSessionLength
    }
}

/// Sessions ready for training: events sorted by (session, time, raw item id), items encoded
/// densely as 1...itemCount in the order of their raw ids (numeric ids numerically), 0 free for
/// padding. Session s holds events `offsets[s]..<offsets[s + 1]`.
public struct SessionData: Sendable {
    /// Items N (ids 1...N).
    public let itemCount: Int
    /// Raw key of item i at index i − 1.
    public let itemKeys: [String]
    /// Event type names (`events` holds indices into it).
    public let eventTypes: [String]
    /// Raw session keys, by session.
    public let sessionKeys: [String]
    /// Session s holds events `offsets[s]..<offsets[s + 1]` (count + 1 entries).
    public let offsets: [Int]
    /// Item id (1...N) per event.
    public let items: [Int32]
    /// Event type index per event.
    public let events: [UInt8]
    /// Price per event (NaN where none) when the log had prices.
    public let prices: [Float]?
    /// Where the events came from (for messages and reports).
    public let source: String

    /// Sessions.
    public var sessionCount: Int { sessionKeys.count }
    /// Events.
    public var eventCount: Int { items.count }
    /// The events of session `s`.
    public func range(_ s: Int) -> Range<Int> { offsets[s]..<offsets[s + 1] }

    /// The dense id of a raw item key, if the item is in the catalog.
    public func itemID(raw: String) -> Int? {
        itemIndex[raw]
    }
    private let itemIndex: [String: Int]

    init(
        itemKeys: [String], eventTypes: [String], sessionKeys: [String], offsets: [Int], items: [Int32],
        events: [UInt8], prices: [Float]?, source: String
    ) {
        self.itemCount = itemKeys.count
        self.itemKeys = itemKeys
        self.eventTypes = eventTypes
        self.sessionKeys = sessionKeys
        self.offsets = offsets
        self.items = items
        self.events = events
        self.prices = prices
        self.source = source
        var idx = [String: Int](minimumCapacity: itemKeys.count)
        for (i, k) in itemKeys.enumerated() { idx[k] = i + 1 }
        itemIndex = idx
    }

    /// Builds sessions from a log.
    /// - Throws: `.empty` when nothing is left after filtering.
    public init(_ log: EventLog, preprocessing p: Preprocessing = Preprocessing()) throws(RecRLError) {
        let n = log.count
        // 1. Items with enough events.
        var itemCounts = [Int32](repeating: 0, count: log.itemKeys.count)
        for i in log.items { itemCounts[Int(i)] += 1 }
        let keepItem = itemCounts.map { Int($0) >= p.minItemCount }
        // 2. Sessions with enough remaining events.
        var sessionCounts = [Int32](repeating: 0, count: log.sessionKeys.count)
        for r in 0..<n where keepItem[Int(log.items[r])] { sessionCounts[Int(log.sessions[r])] += 1 }
        let keepSession = sessionCounts.map { Int($0) >= p.minSessionLength }
        var rows = [Int32]()
        rows.reserveCapacity(n)
        for r in 0..<n where keepItem[Int(log.items[r])] && keepSession[Int(log.sessions[r])] { rows.append(Int32(r)) }
        guard !rows.isEmpty else {
            throw .empty(
                "\(log.source): no session is left after filtering (items with at least \(p.minItemCount) events, then sessions with at least \(p.minSessionLength) events)"
            )
        }
        // Dense item ids in raw-id order (numeric keys numerically, then strings).
        var usedItems = [Bool](repeating: false, count: log.itemKeys.count)
        for r in rows { usedItems[Int(log.items[Int(r)])] = true }
        let itemOrder = (0..<log.itemKeys.count).filter { usedItems[$0] }.sorted {
            rawKeyLess(log.itemKeys[$0], log.itemKeys[$1])
        }
        var dense = [Int32](repeating: 0, count: log.itemKeys.count)
        for (k, i) in itemOrder.enumerated() { dense[i] = Int32(k + 1) }
        // Sessions in raw-key order; events by (time, item id, file order).
        var usedSessions = [Bool](repeating: false, count: log.sessionKeys.count)
        for r in rows { usedSessions[Int(log.sessions[Int(r)])] = true }
        let sessionOrder = (0..<log.sessionKeys.count).filter { usedSessions[$0] }.sorted {
            rawKeyLess(log.sessionKeys[$0], log.sessionKeys[$1])
        }
        var sessionRank = [Int32](repeating: -1, count: log.sessionKeys.count)
        for (k, s) in sessionOrder.enumerated() { sessionRank[s] = Int32(k) }
        rows.sort { a, b in
            let sa = sessionRank[Int(log.sessions[Int(a)])]
            let sb = sessionRank[Int(log.sessions[Int(b)])]
            if sa != sb { return sa < sb }
            let ta = log.times[Int(a)]
            let tb = log.times[Int(b)]
            if ta != tb { return ta < tb }
            let ia = dense[Int(log.items[Int(a)])]
            let ib = dense[Int(log.items[Int(b)])]
            if ia != ib { return ia < ib }
            return a < b
        }
        var offsets = [0]
        offsets.reserveCapacity(sessionOrder.count + 1)
        var items = [Int32]()
        var events = [UInt8]()
        items.reserveCapacity(rows.count)
        events.reserveCapacity(rows.count)
        var prices: [Float]? = log.prices == nil ? nil : []
        var current = sessionRank[Int(log.sessions[Int(rows[0])])]
        for r in rows {
            let s = sessionRank[Int(log.sessions[Int(r)])]
            if s != current {
                offsets.append(items.count)
                current = s
            }
            items.append(dense[Int(log.items[Int(r)])])
            events.append(log.events[Int(r)])
            if log.prices != nil { prices!.append(log.prices![Int(r)]) }
        }
        offsets.append(items.count)
        self.init(
            itemKeys: itemOrder.map { log.itemKeys[$0] }, eventTypes: log.eventTypes,
            sessionKeys: sessionOrder.map { log.sessionKeys[$0] },
            offsets: offsets, items: items, events: events, prices: prices, source: log.source)
    }

    /// A subset of the sessions, same catalog.
    public func subset(_ sessions: [Int]) -> SessionData {
        var offsets = [0]
        var items = [Int32]()
        var events = [UInt8]()
        var prices: [Float]? = self.prices == nil ? nil : []
        for s in sessions {
            let r = range(s)
            items += self.items[r]
            events += self.events[r]
            if let p = self.prices { prices! += p[r] }
            offsets.append(items.count)
        }
        return SessionData(
            itemKeys: itemKeys, eventTypes: eventTypes, sessionKeys: sessions.map { sessionKeys[$0] }, offsets: offsets,
            items: items, events: events, prices: prices, source: source)
    }

    /// Events per item over these sessions (index i − 1 for item i).
    public func itemCounts() -> [Int] {
        var c = [Int](repeating: 0, count: itemCount)
        for i in items { c[Int(i) - 1] += 1 }
        return c
    }
}

/// Numeric keys before others, numerically; then strings.
func rawKeyLess(_ a: String, _ b: String) -> Bool {
    switch (Int(a), Int(b)) {
    case (let x?, let y?): return x < y
    case (.some, nil): return true
    case (nil, .some): return false
    default: return a < b
    }
}

/// Train / validation / test sessions.
public struct SessionSplit: Sendable {
    /// The training sessions (indices into the `SessionData`).
    public let train: [Int]
    /// The validation sessions (they pick the best epoch).
    public let validation: [Int]
    /// The test sessions (reported).
    public let test: [Int]

    /// A split from session index lists (disjoint).
    public init(train: [Int], validation: [Int], test: [Int]) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    /// A random split by sessions in proportions (default 8:1:1), seeded: the sessions are
    /// shuffled (Fisher–Yates with xoshiro256++), then cut.
    public static func random(sessions n: Int, fractions: (Double, Double, Double) = (0.8, 0.1, 0.1), seed: UInt64)
        -> SessionSplit
    {
        let order = shuffledIndices(n, seed: seed)
        let total = fractions.0 + fractions.1 + fractions.2
        let nTrain = Int((Double(n) * fractions.0 / total).rounded())
        let nVal = Int((Double(n) * fractions.1 / total).rounded())
        let a = min(nTrain, n)
        let b = min(a + nVal, n)
        return SessionSplit(train: order[0..<a].sorted(), validation: order[a..<b].sorted(), test: order[b...].sorted())
    }

    /// Reads a split file: CSV rows `session id, split` with split `train`, `valid`/`validation`
    /// or `test` (an optional header row is skipped). Every session of `data` must be listed;
    /// listed sessions absent from the data are ignored (they were filtered out), unless they
    /// outnumber the data's sessions (a split of other data).
    /// - Throws: `.split` naming the file and line.
    public static func load(_ path: String, for data: SessionData) throws(RecRLError) -> SessionSplit {
        let r: CSVReader
        do { r = try CSVReader(path: path) } catch { throw .io(error) }
        var index = [String: Int](minimumCapacity: data.sessionCount)
        for (i, k) in data.sessionKeys.enumerated() { index[k] = i }
        var which = [Int8](repeating: -1, count: data.sessionCount)
        var first = true
        var absent = 0
        var firstAbsent: (String, Int)?
        while true {
            let more: Bool
            do { more = try r.next() } catch { throw .io(error) }
            if !more { break }
            guard r.count >= 2 else {
                throw .split(file: path, line: r.line, message: "expected 'session id, split', got \(r.count) field(s)")
            }
            let key = r.string(0).trimmingWhitespace()
            let name = r.string(1).trimmingWhitespace().lowercased()
            let code: Int8
            switch name {
            case "train": code = 0
            case "valid", "validation", "val": code = 1
            case "test": code = 2
            default:
                if first {
                    first = false
                    continue
                }  // header
                throw .split(file: path, line: r.line, message: "split '\(clipped(name))' is not train, valid or test")
            }
            first = false
            if let s = index[key] {
                if which[s] >= 0 && which[s] != code {
                    throw .split(file: path, line: r.line, message: "session '\(clipped(key))' is listed in two splits")
                }
                which[s] = code
            } else {
                absent += 1
                if firstAbsent == nil { firstAbsent = (key, r.line) }
            }
        }
        // The filters drop some sessions; a split of another dataset lists mostly sessions this
        // data does not have (and may still cover it when its ids are small integers).
        if let (key, line) = firstAbsent, absent > data.sessionCount {
            throw .split(
                file: path, line: line,
                message:
                    "\(absent) listed sessions (e.g. '\(clipped(key))') are not in \(data.source), which has \(data.sessionCount): a split of other data? (sessions the filters dropped are ignored, but not more than the data keeps)"
            )
        }
        if let missing = which.firstIndex(of: -1) {
            let n = which.filter { $0 < 0 }.count
            throw .split(
                file: path, line: nil,
                message: "\(n) session(s) of the data are not listed, e.g. '\(clipped(data.sessionKeys[missing]))'")
        }
        return SessionSplit(
            train: which.indices.filter { which[$0] == 0 }, validation: which.indices.filter { which[$0] == 1 },
            test: which.indices.filter { which[$0] == 2 })
    }

    /// Writes the split as `session_id,split` (atomically).
    public func write(_ path: String, data: SessionData) throws(RecRLError) {
        var s = "session_id,split\n"
        for (name, list) in [("train", train), ("valid", validation), ("test", test)] {
            for i in list { s += "\(data.sessionKeys[i]),\(name)\n" }
        }
        do { try AtomicFile.write(Data(s.utf8), to: path) } catch { throw .io(error) }
    }
}
