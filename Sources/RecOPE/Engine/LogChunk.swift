#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A batch of logged rows, by column, as the streaming evaluator consumes them.
///
/// Context columns carry a per-chunk id per row and the chunk's table of values: shards never
/// share ids, only values, so every grouping and model keys contexts by value.
public struct LogChunk: Sendable {
    /// One context column of the chunk.
    public struct Context: Sendable {
        /// The column's name.
        public var name: String
        /// Per row an index into `values`.
        public var ids: [Int32]
        /// The chunk's distinct values of the column.
        public var values: [String]

        /// A context column of `ids` into `values`.
        public init(name: String, ids: [Int32], values: [String]) {
            self.name = name
            self.ids = ids
            self.values = values
        }
    }

    /// 0-based item ids.
    public var items: [Int32] = []
    /// 0-based positions.
    public var positions: [Int32] = []
    /// Rewards (clicks: 0 or 1).
    public var rewards: [Double] = []
    /// Logged propensities P_A(item at position), when the log has them.
    public var propensities: [Double]?
    /// Per row the stable key the bootstrap weights and folds hash (`RowHash`).
    public var rowKeys: [UInt64] = []
    /// Whether `rowKeys` come from a row-key column (else from the source's name and the line).
    public var rowKeyed = false
    /// Per row its line in the source (for errors), when known.
    public var lines: [Int]?
    /// The context columns.
    public var contexts: [Context] = []
    /// Per target policy, the row's index into that policy's marginals (nil: state 0).
    public var targetStates: [[Int32]?] = []
    /// The row's index into the logging policy's marginals (nil: state 0).
    public var loggingStates: [Int32]?
    /// The source's name, for errors.
    public var source: String
    /// Per row the hash of its slate's id (`LogColumns.slate`), when the log has slates.
    public var slates: [UInt64]?
    /// The slate probability columns the log has, by role.
    public var slateProbabilities: [SlateProbability: [Double]] = [:]
    /// Per row Cascade-DR's term (computed from a target policy and a reward model).
    var slateDoublyRobust: [Double]?
    /// Per row PI's weight, its slate's ψ (computed from a target and a logging policy).
    var slatePseudoInverse: [Double]?

    /// Rows.
    public var count: Int { items.count }

    /// An empty chunk whose errors name `source`.
    public init(source: String) { self.source = source }

    /// Rows `range` of this chunk, as a chunk (the context columns keep their value tables).
    public func rows(_ range: Range<Int>) -> LogChunk {
        var c = LogChunk(source: source)
        c.items = Array(items[range])
        c.positions = Array(positions[range])
        c.rewards = Array(rewards[range])
        c.propensities = propensities.map { Array($0[range]) }
        c.rowKeys = Array(rowKeys[range])
        c.rowKeyed = rowKeyed
        c.lines = lines.map { Array($0[range]) }
        c.contexts = contexts.map { .init(name: $0.name, ids: Array($0.ids[range]), values: $0.values) }
        c.targetStates = targetStates.map { $0.map { Array($0[range]) } }
        c.loggingStates = loggingStates.map { Array($0[range]) }
        c.slates = slates.map { Array($0[range]) }
        c.slateProbabilities = slateProbabilities.mapValues { Array($0[range]) }
        c.slateDoublyRobust = slateDoublyRobust.map { Array($0[range]) }
        c.slatePseudoInverse = slatePseudoInverse.map { Array($0[range]) }
        return c
    }

    /// "source:line" of row j, or "source row j+1".
    func place(_ j: Int) -> String {
        if let l = lines?[j] { return "\(source):\(l)" }
        return "\(source): row \(j + 1)"
    }
}

extension LoggedData {
    /// Rows `range` as a chunk: row keys are the log's `rowKeys`, else the hash of the source's
    /// name and the row number (1-based, over the whole data, as `LogReader` makes them), so any
    /// chunking of the same data gives the same keys.
    public func chunk(_ range: Range<Int>) -> LogChunk {
        var c = LogChunk(source: source)
        c.items = Array(items[range])
        c.positions = Array(positions[range])
        c.rewards = rewards[range].map(Double.init)
        c.propensities = propensities.map { Array($0[range]) }
        let sourceKey = RowHash.key(bytes: URL(fileURLWithPath: source).lastPathComponent.utf8)
        c.rowKeys =
            rowKeys.map { Array($0[range]) } ?? range.map { LogReader.defaultKey(sourceKey: sourceKey, row: $0 + 1) }
        c.rowKeyed = rowKeys != nil
        c.lines = lines.map { Array($0[range]) } ?? range.map { $0 + 1 }
        for (f, col) in contextFeatures.enumerated() {
            let name = f < contextFeatureNames.count ? contextFeatureNames[f] : "context\(f)"
            let values =
                f < contextFeatureValues.count ? contextFeatureValues[f] : (0...Int(col.max() ?? 0)).map(String.init)
            c.contexts.append(.init(name: name, ids: Array(col[range]), values: values))
        }
        return c
    }
}
