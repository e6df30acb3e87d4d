import Foundation
import RecCore
import RecIO

/// Logged bandit feedback for ranking: one row per (impression, position).
///
/// Stored by column (32 bytes a row with every optional column), so 10 million rows take about
/// 320 MB. Positions are 0-based (rank 0 is the top).
public struct LoggedData: Sendable {
    /// Logged item per row (index into the policies' items).
    public internal(set) var items: [Int32] = []
    /// 0-based position per row.
    public internal(set) var positions: [Int32] = []
    /// Reward per row (click 0/1, or any finite value).
    public internal(set) var rewards: [Float] = []
    /// Logging propensity P_A(item at position | context) per row, when logged.
    public internal(set) var propensities: [Double]?
    /// Event time in seconds since 1970, when logged.
    public internal(set) var times: [Double]?
    /// Dense context id per row (from the context columns), when logged.
    public internal(set) var contexts: [Int32]?
    /// The context key of each context id.
    public internal(set) var contextKeys: [String] = []
    /// The context columns one by one: per column a dense id per row (for grouping by a feature).
    public internal(set) var contextFeatures: [[Int32]] = []
    /// The names of those columns.
    public internal(set) var contextFeatureNames: [String] = []
    /// Event type per row (dense id into `eventNames`), when logged (click, cart, purchase, …).
    public internal(set) var events: [Int32]?
    public internal(set) var eventNames: [String] = []
    /// Where the data came from.
    public let source: String

    public var count: Int { items.count }

    public init(source: String) { self.source = source }

    /// Builds logs in memory (for simulations and tests).
    /// - Throws: `.invalidParameter` for mismatched lengths or a bad propensity.
    public init(items: [Int], positions: [Int], rewards: [Double], propensities: [Double]? = nil,
                contexts: [Int]? = nil, source: String = "memory") throws(RecOPEError) {
        guard items.count == positions.count, items.count == rewards.count,
              propensities.map({ $0.count == items.count }) ?? true, contexts.map({ $0.count == items.count }) ?? true else {
            throw .invalidParameter("logged data: columns have different lengths")
        }
        self.source = source
        self.items = items.map { Int32($0) }
        self.positions = positions.map { Int32($0) }
        self.rewards = rewards.map { Float($0) }
        if let p = propensities {
            if let bad = p.firstIndex(where: { !($0 > 0 && $0 <= 1) }) {
                throw .invalidParameter("logged data: row \(bad) has propensity \(p[bad]); it must be in (0, 1]")
            }
            self.propensities = p
        }
        if let c = contexts {
            guard c.allSatisfy({ $0 >= 0 }) else { throw .invalidParameter("logged data: context ids must be non-negative") }
            self.contexts = c.map { Int32($0) }
            contextKeys = (0...(c.max() ?? 0)).map(String.init)
            contextFeatures = [self.contexts!]
            contextFeatureNames = ["context"]
        }
    }

    /// The same rows with item ids renumbered 0..<m in increasing order of the original ids;
    /// returns the original id of each new one (for policies over the logged items only).
    public func compactingItems() -> (logs: LoggedData, originalIDs: [Int]) {
        let ids = Array(Set(items)).sorted()
        var index = [Int32: Int32](minimumCapacity: ids.count)
        for (k, i) in ids.enumerated() { index[i] = Int32(k) }
        var out = self
        out.items = items.map { index[$0]! }
        return (out, ids.map(Int.init))
    }

    /// The mean reward of the logs (the logging policy's on-policy value).
    public var meanReward: Double { rewards.reduce(0.0) { $0 + Double($1) } / Double(max(count, 1)) }
}

/// Which columns of a CSV hold what.
public struct LogColumns: Sendable, Equatable {
    public var item: String
    public var position: String
    public var reward: String
    public var propensity: String?
    public var time: String?
    /// The event-type column, if any.
    public var event: String? = nil
    /// Columns whose joined values identify the context (empty: no contexts).
    public var context: [String]
    /// The value of the top position in the file (1 for OBD, 0 for 0-based files).
    public var positionBase: Int

    public init(item: String, position: String, reward: String, propensity: String? = nil, time: String? = nil,
                context: [String] = [], positionBase: Int = 0) {
        self.item = item; self.position = position; self.reward = reward; self.propensity = propensity
        self.time = time; self.context = context; self.positionBase = positionBase
    }

    /// The Open Bandit Dataset's columns (`obp/dataset/obd/{random,bts}/{all,men,women}/*.csv`).
    public static let openBanditDataset = LogColumns(
        item: "item_id", position: "position", reward: "click", propensity: "propensity_score", time: "timestamp",
        context: ["user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"], positionBase: 1)

    /// Parses `item=COL,position=COL,reward=COL[,propensity=COL][,time=COL][,context=COL+COL][,position_base=1]`.
    /// - Throws: `.invalidParameter` naming the unknown key or the missing required one.
    public static func parse(_ spec: String) throws(RecOPEError) -> LogColumns {
        var m = [String: String]()
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[1].isEmpty else { throw .invalidParameter("column mapping: '\(part)' is not key=column") }
            guard ["item", "position", "reward", "propensity", "time", "context", "position_base", "event"].contains(kv[0]) else {
                throw .invalidParameter("column mapping: unknown key '\(kv[0])' (item, position, reward, propensity, time, context, event, position_base)")
            }
            m[kv[0]] = kv[1]
        }
        guard let i = m["item"], let p = m["position"], let r = m["reward"] else {
            throw .invalidParameter("column mapping: item, position and reward are required")
        }
        var base = 0
        if let b = m["position_base"] {
            guard let v = Int(b), v == 0 || v == 1 else { throw .invalidParameter("column mapping: position_base must be 0 or 1") }
            base = v
        }
        var cols = LogColumns(item: i, position: p, reward: r, propensity: m["propensity"], time: m["time"],
                              context: m["context"].map { $0.split(separator: "+").map(String.init) } ?? [], positionBase: base)
        cols.event = m["event"]
        return cols
    }
}

extension LoggedData {
    /// Streams a CSV log with a header row into columns.
    /// - Throws: `RecOPEError.malformedFile` naming the file, line and column of the first bad
    ///   value (a propensity that is zero, negative, above 1 or not finite; a non-integer item or
    ///   position; a non-finite reward; an unreadable time), a missing column, or an empty log.
    public static func load(csv path: String, columns: LogColumns) throws(RecOPEError) -> LoggedData {
        let reader: CSVReader
        do { reader = try CSVReader(path: path) } catch { throw .cannotOpen(file: path, reason: "\(error)") }
        func next() throws(RecOPEError) -> Bool {
            do { return try reader.next() } catch { throw .malformedFile(file: path, line: reader.line, message: "\(error)") }
        }
        guard try next() else { throw .malformedFile(file: path, line: nil, message: "the file is empty") }
        var header = [String: Int]()
        for i in 0..<reader.count { header[reader.string(i).trimmingCharacters(in: .whitespaces)] = i }
        func col(_ name: String) throws(RecOPEError) -> Int {
            guard let i = header[name] else { throw .malformedFile(file: path, line: 1, message: "missing column '\(name)'") }
            return i
        }
        let ci = try col(columns.item), cp = try col(columns.position), cr = try col(columns.reward)
        let cprop = try columns.propensity.map { (n: String) throws(RecOPEError) in try col(n) }
        let ct = try columns.time.map { (n: String) throws(RecOPEError) in try col(n) }
        var cctx = [Int]()
        for n in columns.context { cctx.append(try col(n)) }
        let cev = try columns.event.map { (n: String) throws(RecOPEError) in try col(n) }
        let needed = ([ci, cp, cr] + cctx + [cprop, ct, cev].compactMap { $0 }).max()!
        var eventIds = [String: Int32]()
        var data = LoggedData(source: path)
        if cprop != nil { data.propensities = [] }
        if ct != nil { data.times = [] }
        if cev != nil { data.events = [] }
        if !cctx.isEmpty { data.contexts = [] }
        var contextIds = [String: Int32]()
        data.contextFeatureNames = columns.context
        data.contextFeatures = columns.context.map { _ in [] }
        var featureIds = columns.context.map { _ in [String: Int32]() }
        while try next() {
            let line = reader.line
            guard reader.count > needed else {
                throw .malformedFile(file: path, line: line, message: "\(reader.count) fields, the header names at least \(needed + 1)")
            }
            func bad(_ column: String, _ what: String) -> RecOPEError {
                .malformedFile(file: path, line: line, message: "column '\(column)': \(what)")
            }
            guard let item = reader.int(ci), item >= 0, item <= Int(Int32.max) else {
                throw bad(columns.item, "'\(reader.string(ci))' is not a non-negative integer item id")
            }
            guard let pos = reader.int(cp), pos >= columns.positionBase, pos - columns.positionBase <= Int(Int32.max) else {
                throw bad(columns.position, "'\(reader.string(cp))' is not a position (the top position is \(columns.positionBase))")
            }
            guard let r = reader.double(cr), r.isFinite else { throw bad(columns.reward, "'\(reader.string(cr))' is not a finite number") }
            data.items.append(Int32(item))
            data.positions.append(Int32(pos - columns.positionBase))
            data.rewards.append(Float(r))
            if let c = cprop {
                guard let p = reader.double(c), p.isFinite, p > 0, p <= 1 else {
                    throw bad(columns.propensity!, "propensity '\(reader.string(c))' must be a number in (0, 1]")
                }
                data.propensities!.append(p)
            }
            if let c = ct {
                guard let t = reader.double(c) ?? parseTimestamp(reader.string(c)) else {
                    throw bad(columns.time!, "'\(reader.string(c))' is neither seconds nor a YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM] time")
                }
                data.times!.append(t)
            }
            if let c = cev {
                let v = reader.string(c)
                let id: Int32
                if let e = eventIds[v] { id = e } else { id = Int32(eventIds.count); eventIds[v] = id; data.eventNames.append(v) }
                data.events!.append(id)
            }
            if !cctx.isEmpty {
                let values = cctx.map { reader.string($0) }
                for (f, v) in values.enumerated() {
                    let id: Int32
                    if let e = featureIds[f][v] { id = e } else { id = Int32(featureIds[f].count); featureIds[f][v] = id }
                    data.contextFeatures[f].append(id)
                }
                let key = values.joined(separator: "|")
                let id: Int32
                if let e = contextIds[key] { id = e } else {
                    id = Int32(contextIds.count); contextIds[key] = id; data.contextKeys.append(key)
                }
                data.contexts!.append(id)
            }
        }
        guard data.count > 0 else { throw .malformedFile(file: path, line: nil, message: "the log has no rows") }
        return data
    }
}
