/// The top-k of each row: items and scores in the order of `ranksAbove`, best first.
public struct TopKResult: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Slots per row: `min(k, catalog size)`.
    public let k: Int
    /// Items found per row (less than `k` only when exclusions leave fewer items).
    public let counts: [Int]
    /// `rows × k` item ids, row-major; unused slots hold -1.
    public let indices: [Int32]
    /// `rows × k` scores, row-major; unused slots hold NaN.
    public let scores: [Float]

    /// The items of row `r`, best first.
    public func items(row r: Int) -> ArraySlice<Int32> { indices[(r * k)..<(r * k + counts[r])] }
    /// The scores of row `r`, best first.
    public func scores(row r: Int) -> ArraySlice<Float> { scores[(r * k)..<(r * k + counts[r])] }

    public init(rows: Int, k: Int, counts: [Int], indices: [Int32], scores: [Float]) {
        precondition(
            counts.count == rows && indices.count == rows * k && scores.count == rows * k,
            "TopKResult: \(counts.count) counts, \(indices.count) ids, \(scores.count) scores for \(rows)×\(k)")
        self.rows = rows
        self.k = k
        self.counts = counts
        self.indices = indices
        self.scores = scores
    }

    /// The same result with every item id shifted by `offset` (a shard's local ids made global).
    public func offsettingItems(by offset: Int) -> TopKResult {
        TopKResult(
            rows: rows, k: k, counts: counts, indices: indices.map { $0 < 0 ? $0 : $0 + Int32(offset) }, scores: scores)
    }

    /// The top-`k` of the union of `parts`, row by row: the parts are results for the same
    /// states over disjoint item sets (the shards of a catalog), and the merge gives exactly what
    /// one scorer over the whole catalog gives — same items, same scores, the order of
    /// `ranksAbove` (ties to the lower id, NaN last). A k-way merge of the sorted rows.
    /// - Throws: `.invalidArgument` when the parts differ in row count, or an item appears in
    ///   two parts of one row (overlapping shards).
    public static func merge(_ parts: [TopKResult], k: Int) throws(RecCoreError) -> TopKResult {
        guard k >= 1 else { throw .invalidArgument("top-k merge: k must be at least 1, got \(k)") }
        guard let rows = parts.first?.rows else { throw .invalidArgument("top-k merge: no parts") }
        guard parts.allSatisfy({ $0.rows == rows }) else {
            throw .invalidArgument("top-k merge: parts have \(parts.map(\.rows)) rows; they must score the same states")
        }
        let total = parts.reduce(0) { $0 + $1.k }
        let kk = min(k, total)
        var outS = [Float](repeating: .nan, count: rows * kk)
        var outI = [Int32](repeating: -1, count: rows * kk)
        var counts = [Int](repeating: 0, count: rows)
        var cursor = [Int](repeating: 0, count: parts.count)
        for r in 0..<rows {
            for p in parts.indices { cursor[p] = 0 }
            var n = 0
            while n < kk {
                var best = -1
                for (p, part) in parts.enumerated() where cursor[p] < part.counts[r] {
                    let j = r * part.k + cursor[p]
                    if best < 0 {
                        best = p
                    } else {
                        let b = parts[best]
                        let jb = r * b.k + cursor[best]
                        if ranksAbove(part.scores[j], part.indices[j], b.scores[jb], b.indices[jb]) { best = p }
                    }
                }
                if best < 0 { break }
                let part = parts[best]
                let j = r * part.k + cursor[best]
                if n > 0 && outI[r * kk + n - 1] == part.indices[j] {
                    throw .invalidArgument(
                        "top-k merge: item \(part.indices[j]) appears in two parts of row \(r) (overlapping shards)")
                }
                outS[r * kk + n] = part.scores[j]
                outI[r * kk + n] = part.indices[j]
                cursor[best] += 1
                n += 1
            }
            counts[r] = n
        }
        return TopKResult(rows: rows, k: kk, counts: counts, indices: outI, scores: outS)
    }
}

/// One item of a state's top-k, as `reckit score --format json` writes it.
public struct ScoredItem: Sendable, Equatable, Codable {
    /// The item (0-based row of the catalog, or its global id in a sharded run).
    public var item: Int
    /// Its canonical score.
    public var score: Float

    /// An item with its score.
    public init(item: Int, score: Float) {
        self.item = item
        self.score = score
    }
}

/// A state's top-k, best first, as `reckit score --format json` writes it.
public struct ScoredState: Sendable, Equatable, Codable {
    /// The state's index (global in a run over blocks of states).
    public var state: Int
    /// Its best items, best first.
    public var top: [ScoredItem]

    /// A state's list.
    public init(state: Int, top: [ScoredItem]) {
        self.state = state
        self.top = top
    }
}

extension TopKResult {
    /// A result with no items in any row (`rows` rows of `k` empty slots).
    static func empty(rows b: Int, k kk: Int) -> TopKResult {
        TopKResult(
            rows: b, k: kk, counts: [Int](repeating: 0, count: b), indices: [Int32](repeating: -1, count: b * kk),
            scores: [Float](repeating: .nan, count: b * kk))
    }

    /// Every row as a `ScoredState`, rows numbered from `firstState`.
    public func scoredStates(firstState: Int = 0) -> [ScoredState] {
        (0..<rows).map { r in
            ScoredState(
                state: firstState + r,
                top: zip(items(row: r), scores(row: r)).map { ScoredItem(item: Int($0), score: $1) })
        }
    }
}
