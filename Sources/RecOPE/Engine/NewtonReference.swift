/// How a Newton pass's sums are made, for tests that pin one way to the other.
@_spi(Reference) public enum NewtonPath: Sendable, CaseIterable {
    /// Row by row, for any feature values (the reference).
    case generic
    /// Row by row, for 0/1 features (designs with too many combinations for the tally).
    case rowByRow
    /// Counted by feature combination (`NewtonTally`), turned into sums once at the end.
    case tally
    /// Counted, and turned into sums after every chunk.
    case tallyFlushedEachChunk
}

extension NewtonSums {
    /// The Newton sums (gradient and Hessian of the logistic reward model's log-likelihood) of
    /// `chunks` at `theta(P)`, for a design of `items` items, `depth` positions, context columns
    /// `levels` (a chunk's context of that name; values not listed have no coefficient) and item
    /// categorical features `itemCategories` (per column, each item's category), made `path`'s
    /// way; nil when the tally cannot take the design.
    @_spi(Reference) public static func sums(
        of chunks: [LogChunk], items: Int, depth: Int, levels: [(column: String, values: [String])],
        itemCategories: [[Int32]], theta: (_ parameters: Int) -> [Double], path: NewtonPath
    ) -> NewtonSums? {
        let design = LogisticDesign(
            items: items, depth: depth, columns: levels.map(\.column), levels: levels.map(\.values),
            itemCategories: itemCategories.map { Int($0.max() ?? 0) + 1 }, itemNumeric: 0)
        let features =
            itemCategories.isEmpty
            ? nil
            : ItemFeatures(
                numeric: [], categorical: itemCategories, numericNames: [],
                categoricalNames: itemCategories.indices.map { "c\($0)" })
        let P = design.parameters
        var n = NewtonSums(
            design: design, theta: theta(P), gradient: [ExactSum](repeating: ExactSum(), count: P),
            hessian: [ExactSum](repeating: ExactSum(), count: P * (P + 1) / 2))
        let rows = LogisticRows(design: design, theta: n.theta, features: features)
        switch path {
        case .generic, .rowByRow:
            for c in chunks {
                OffPolicyAccumulator.addNewtonRows(
                    c, rows.columnCoefficients(c), rows, features, depth: depth, generic: path == .generic, &n)
            }
        case .tally, .tallyFlushedEachChunk:
            guard var tally = NewtonTally(design: design, features: features, categoryOffsets: rows.categoryOffsets)
            else { return nil }
            for c in chunks {
                tally.add(c, rows.columnCoefficients(c), into: &n)
                if path == .tallyFlushedEachChunk { tally.flush(into: &n) }
            }
            tally.addSums(into: &n)
        }
        return n
    }
}
