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
    /// Per context column, the value of each id.
    public internal(set) var contextFeatureValues: [[String]] = []
    /// Per row the hash of its `row_key` column (`RowHash`), when the log names one; else rows
    /// are keyed by the source and their row number.
    public internal(set) var rowKeys: [UInt64]?
    /// Event type per row (dense id into `eventNames`), when logged (click, cart, purchase, …).
    public internal(set) var events: [Int32]?
    /// Names of the event types, when the log has an event column.
    public internal(set) var eventNames: [String] = []
    /// The source's line of each row, when read from a file (errors name it); else rows are
    /// named by their 1-based number.
    public internal(set) var lines: [Int]?
    /// Where the data came from.
    public let source: String

    /// Rows.
    public var count: Int { items.count }

    /// Empty logs whose errors name `source`.
    public init(source: String) { self.source = source }

    /// Builds logs in memory (for simulations and tests).
    /// - Throws: `.invalidParameter` for mismatched lengths or a bad propensity.
    public init(
        items: [Int], positions: [Int], rewards: [Double], propensities: [Double]? = nil,
        contexts: [Int]? = nil, source: String = "memory"
    ) throws(RecOPEError) {
        guard items.count == positions.count, items.count == rewards.count,
            propensities.map({ $0.count == items.count }) ?? true, contexts.map({ $0.count == items.count }) ?? true
        else {
            throw .invalidParameter("logged data: columns have different lengths")
        }
        self.source = source
        self.items = items.map { Int32($0) }
        self.positions = positions.map { Int32($0) }
        if let bad = rewards.firstIndex(where: { !($0.isFinite && ExactSum.fits($0)) }) {
            throw .invalidParameter(
                "logged data: row \(bad) has reward \(rewards[bad]); RecKit sums rewards with |r| < 4.6e18")
        }
        self.rewards = rewards.map { Float($0) }
        if let p = propensities {
            if let bad = p.firstIndex(where: { !($0 > 0 && $0 <= 1) }) {
                throw .invalidParameter("logged data: row \(bad) has propensity \(p[bad]); it must be in (0, 1]")
            }
            self.propensities = p
        }
        if let c = contexts {
            guard c.allSatisfy({ $0 >= 0 }) else {
                throw .invalidParameter("logged data: context ids must be non-negative")
            }
            self.contexts = c.map { Int32($0) }
            contextKeys = (0...(c.max() ?? 0)).map(String.init)
            contextFeatures = [self.contexts!]
            contextFeatureNames = ["context"]
            contextFeatureValues = [contextKeys]
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

/// A probability column of a slate log (OBP's slate inputs; the column-mapping key is the raw
/// value). Logging probabilities are in (0, 1], the target's in [0, 1].
public enum SlateProbability: String, CaseIterable, Sendable, Hashable {
    /// The logging policy's probability of the row's whole slate (SIPS).
    case slatePropensity = "slate_propensity"
    /// The logging policy's probability of the slate's items at positions 0…j, for the row at
    /// position j (RIPS).
    case cascadePropensity = "cascade_propensity"
    /// The target's probability of the row's item at its position (IIPS; the logged one is the
    /// `propensity` column).
    case targetPropensity = "target_propensity"
    /// The target's probability of the row's whole slate.
    case targetSlatePropensity = "target_slate_propensity"
    /// The target's probability of the slate's items at positions 0…j.
    case targetCascadePropensity = "target_cascade_propensity"

    /// Whether the column is the target policy's (0 allowed).
    public var isTarget: Bool {
        self == .targetPropensity || self == .targetSlatePropensity || self == .targetCascadePropensity
    }
}

/// Which columns of a CSV hold what.
public struct LogColumns: Sendable, Equatable {
    /// The item column.
    public var item: String
    /// The position column.
    public var position: String
    /// The reward column.
    public var reward: String
    /// The logged propensity column (nil: none; give the logging policy instead).
    public var propensity: String?
    /// The timestamp column (nil: none).
    public var time: String?
    /// The event-type column, if any.
    public var event: String? = nil
    /// Columns whose joined values identify the context (empty: no contexts).
    public var context: [String]
    /// The value of the top position in the file (1 for OBD, 0 for 0-based files).
    public var positionBase: Int
    /// The column whose value identifies a row across shards (bootstrap weights and folds hash
    /// it); nil keys rows by the source's name and their row number.
    public var rowKey: String? = nil
    /// The column whose value identifies the row's slate (rows of one slate are consecutive).
    public var slate: String? = nil
    /// The slate probability columns the log has, by role.
    public var slateProbabilities: [SlateProbability: String] = [:]

    /// A column mapping.
    public init(
        item: String, position: String, reward: String, propensity: String? = nil, time: String? = nil,
        context: [String] = [], positionBase: Int = 0
    ) {
        self.item = item
        self.position = position
        self.reward = reward
        self.propensity = propensity
        self.time = time
        self.context = context
        self.positionBase = positionBase
    }

    /// The Open Bandit Dataset's columns (`obp/dataset/obd/{random,bts}/{all,men,women}/*.csv`).
    public static let openBanditDataset = LogColumns(
        item: "item_id", position: "position", reward: "click", propensity: "propensity_score", time: "timestamp",
        context: ["user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3"], positionBase: 1)

    /// The keys `parse` takes.
    static let keys =
        ["item", "position", "reward", "propensity", "time", "context", "event", "position_base", "row_key", "slate"]
        + SlateProbability.allCases.map(\.rawValue)

    /// Parses `item=COL,position=COL,reward=COL[,propensity=COL][,time=COL][,context=COL+COL][,position_base=1]`
    /// (and the slate roles `slate=COL`, `slate_propensity=COL`, …: `SlateProbability`).
    /// - Throws: `.invalidParameter` naming the unknown key or the missing required one.
    public static func parse(_ spec: String) throws(RecOPEError) -> LogColumns {
        var m = [String: String]()
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            guard kv.count == 2, !kv[1].isEmpty else {
                throw .invalidParameter("column mapping: '\(clipped(part))' is not key=column")
            }
            guard keys.contains(kv[0]) else {
                throw .invalidParameter(
                    "column mapping: unknown key '\(clipped(kv[0].prefix(80)))' (\(keys.joined(separator: ", ")))")
            }
            m[kv[0]] = kv[1]
        }
        guard let i = m["item"], let p = m["position"], let r = m["reward"] else {
            throw .invalidParameter("column mapping: item, position and reward are required")
        }
        var base = 0
        if let b = m["position_base"] {
            guard let v = Int(b), v == 0 || v == 1 else {
                throw .invalidParameter("column mapping: position_base must be 0 or 1")
            }
            base = v
        }
        var cols = LogColumns(
            item: i, position: p, reward: r, propensity: m["propensity"], time: m["time"],
            context: m["context"].map { $0.split(separator: "+").map(String.init) } ?? [], positionBase: base)
        cols.event = m["event"]
        cols.rowKey = m["row_key"]
        cols.slate = m["slate"]
        for role in SlateProbability.allCases { cols.slateProbabilities[role] = m[role.rawValue] }
        return cols
    }
}

extension LoggedData {
    /// Reads a whole CSV log with a header row into columns (`LogReader` chunk by chunk).
    /// - Throws: `RecOPEError.malformedFile` naming the file, line and column of the first bad
    ///   value (a propensity that is zero, negative, above 1 or not finite; a non-integer item or
    ///   position; a non-finite reward; an unreadable time), a missing column, or an empty log.
    public static func load(csv path: String, columns: LogColumns) throws(RecOPEError) -> LoggedData {
        let reader = try LogReader(path: path, columns: columns)
        var data = LoggedData(source: path)
        if columns.propensity != nil { data.propensities = [] }
        if columns.time != nil { data.times = [] }
        if columns.event != nil { data.events = [] }
        if columns.rowKey != nil { data.rowKeys = [] }
        data.lines = []
        if !columns.context.isEmpty { data.contexts = [] }
        data.contextFeatureNames = columns.context
        data.contextFeatures = columns.context.map { _ in [] }
        data.contextFeatureValues = columns.context.map { _ in [] }
        var featureIds = columns.context.map { _ in [String: Int32]() }
        var contextIds = [String: Int32]()
        var eventIds = [String: Int32]()
        while let c = try reader.next(maxRows: 65536) {
            data.items += c.items
            data.positions += c.positions
            data.lines! += c.lines ?? (data.lines!.count..<data.lines!.count + c.count).map { $0 + 2 }
            if let j = c.rewards.firstIndex(where: { !ExactSum.fits($0) }) {
                throw .malformedFile(
                    file: path, line: c.lines?[j],
                    message: "column '\(clipped(columns.reward))': reward \(c.rewards[j]) "
                        + "is outside the range RecKit sums exactly (|r| < 4.6e18)")
            }
            data.rewards += c.rewards.map(Float.init)
            if let p = c.propensities { data.propensities! += p }
            if let t = reader.lastTimes { data.times! += t }
            if columns.rowKey != nil { data.rowKeys! += c.rowKeys }
            if let e = reader.lastEvents {
                let map = e.values.map { v -> Int32 in
                    if let id = eventIds[v] { return id }
                    let id = Int32(eventIds.count)
                    eventIds[v] = id
                    data.eventNames.append(v)
                    return id
                }
                data.events! += e.ids.map { map[Int($0)] }
            }
            guard !c.contexts.isEmpty else { continue }
            let maps = c.contexts.enumerated().map { f, col in
                col.values.map { v -> Int32 in
                    if let id = featureIds[f][v] { return id }
                    let id = Int32(featureIds[f].count)
                    featureIds[f][v] = id
                    data.contextFeatureValues[f].append(v)
                    return id
                }
            }
            for f in c.contexts.indices { data.contextFeatures[f] += c.contexts[f].ids.map { maps[f][Int($0)] } }
            for j in 0..<c.count {
                let key = c.contexts.indices.map { c.contexts[$0].values[Int(c.contexts[$0].ids[j])] }.joined(
                    separator: "|")
                if let e = contextIds[key] {
                    data.contexts!.append(e)
                } else {
                    let id = Int32(contextIds.count)
                    contextIds[key] = id
                    data.contextKeys.append(key)
                    data.contexts!.append(id)
                }
            }
        }
        guard data.count > 0 else { throw .malformedFile(file: path, line: nil, message: "the log has no rows") }
        return data
    }
}
