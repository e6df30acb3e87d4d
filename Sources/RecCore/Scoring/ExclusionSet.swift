/// Per-row sets of items to leave out of a top-k (for example items a user has already seen),
/// stored compressed (CSR): sorted, de-duplicated item ids per row.
public struct ExclusionSet: Sendable, Equatable {
    /// `offsets[r]..<offsets[r+1]` indexes row r's items in `items`.
    public let offsets: [Int]
    /// Sorted unique item ids, row after row.
    public let items: [Int]

    /// Number of rows.
    public var rows: Int { offsets.count - 1 }

    /// Builds the set from one list of item ids per row (any order, duplicates allowed).
    public init(_ perRow: [[Int]]) {
        var off = [0]
        var it = [Int]()
        for row in perRow {
            it.append(contentsOf: Set(row).sorted())
            off.append(it.count)
        }
        offsets = off
        items = it
    }

    /// The excluded items of row `r`.
    public func items(row r: Int) -> ArraySlice<Int> { items[offsets[r]..<offsets[r + 1]] }

    /// The exclusions inside `range`, shifted to ids relative to its start (a shard's view).
    public func local(to range: Range<Int>) -> ExclusionSet {
        var off = [0]
        var it = [Int]()
        for r in 0..<rows {
            for x in items(row: r) where range.contains(x) { it.append(x - range.lowerBound) }
            off.append(it.count)
        }
        return ExclusionSet(offsets: off, items: it)
    }

    init(offsets: [Int], items: [Int]) {
        self.offsets = offsets
        self.items = items
    }

    /// Throws `.itemOutOfRange` for the first item outside `0..<catalogSize`.
    public func validate(catalogSize: Int) throws(RecCoreError) {
        for r in 0..<rows {
            for x in items(row: r) where x < 0 || x >= catalogSize {
                throw .itemOutOfRange(row: r, item: x, catalogSize: catalogSize)
            }
        }
    }
}
