/// The order every RecKit ranking uses.
///
/// Higher scores first; equal scores by the lower item index; `+inf` above every finite number,
/// `-inf` below every finite number, and NaN below everything (NaN never ranks above a number;
/// NaNs among themselves by index).
@inlinable @inline(__always)
public func ranksAbove(_ s1: Float, _ i1: Int32, _ s2: Float, _ i2: Int32) -> Bool {
    if s1 != s1 { return s2 != s2 && i1 < i2 }
    if s2 != s2 { return true }
    return s1 > s2 || (s1 == s2 && i1 < i2)
}

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

/// A bounded heap holding the best `k` (score, item) pairs seen so far; the worst is at the root.
@usableFromInline
struct RowHeap {
    @usableFromInline let s: UnsafeMutablePointer<Float>
    @usableFromInline let ix: UnsafeMutablePointer<Int32>
    @usableFromInline let k: Int
    @usableFromInline var count: Int

    @inlinable init(scores: UnsafeMutablePointer<Float>, items: UnsafeMutablePointer<Int32>, k: Int) {
        s = scores
        ix = items
        self.k = k
        count = 0
    }

    /// The filter threshold: candidates below it cannot enter. `-inf` while the heap is not
    /// full or holds a NaN (then every candidate goes through the exact comparison).
    @inlinable var threshold: Float {
        if count < k { return -.infinity }
        let r = s[0]
        return r != r ? -.infinity : r
    }

    /// True when the cheap `x >= threshold` filter is exact (full heap, no NaN at the root).
    @inlinable var filterIsExact: Bool { count == k && s[0] == s[0] }

    @inlinable mutating func offer(_ score: Float, _ item: Int32) {
        if count < k {
            var i = count
            count += 1
            // Sift up: parents must rank below children.
            while i > 0 {
                let p = (i - 1) >> 1
                if ranksAbove(s[p], ix[p], score, item) {
                    s[i] = s[p]
                    ix[i] = ix[p]
                    i = p
                } else {
                    break
                }
            }
            s[i] = score
            ix[i] = item
            return
        }
        guard ranksAbove(score, item, s[0], ix[0]) else { return }
        siftDownFromRoot(score, item)
    }

    @inlinable mutating func siftDownFromRoot(_ score: Float, _ item: Int32) {
        var i = 0
        let n = count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var c = l
            let r = l + 1
            if r < n && ranksAbove(s[l], ix[l], s[r], ix[r]) { c = r }
            // c is the worse child; if it ranks below the new element, move it up.
            if ranksAbove(score, item, s[c], ix[c]) {
                s[i] = s[c]
                ix[i] = ix[c]
                i = c
            } else {
                break
            }
        }
        s[i] = score
        ix[i] = item
    }

    /// Offers `n` consecutive scores (plus optional bias) for items `firstItem ..< firstItem+n`.
    /// Vectorised: 64 scores are compared with the threshold at once and skipped when none
    /// can enter, which is the common case once the heap is full.
    @inlinable mutating func scan(_ p: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count n: Int, firstItem: Int)
    {
        typealias V = SIMD16<Float>
        var i = 0
        while i + 64 <= n {
            if filterIsExact {
                let t = V(repeating: s[0])
                var v0 = VectorMath.load(p + i)
                var v1 = VectorMath.load(p + i + 16)
                var v2 = VectorMath.load(p + i + 32)
                var v3 = VectorMath.load(p + i + 48)
                if let b = bias {
                    v0 += VectorMath.load(b + i)
                    v1 += VectorMath.load(b + i + 16)
                    v2 += VectorMath.load(b + i + 32)
                    v3 += VectorMath.load(b + i + 48)
                }
                let m = (v0 .>= t) .| (v1 .>= t) .| (v2 .>= t) .| (v3 .>= t)
                if !any(m) {
                    i += 64
                    continue
                }
            }
            offerScalar(p + i, bias: bias.map { $0 + i }, count: 64, firstItem: firstItem + i)
            i += 64
        }
        if i < n { offerScalar(p + i, bias: bias.map { $0 + i }, count: n - i, firstItem: firstItem + i) }
    }

    @inlinable mutating func offerScalar(
        _ p: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count n: Int, firstItem: Int
    ) {
        if let b = bias {
            for j in 0..<n {
                let v = p[j] + b[j]
                if count < k || !(v < s[0]) || s[0] != s[0] { offer(v, Int32(truncatingIfNeeded: firstItem + j)) }
            }
        } else {
            for j in 0..<n {
                let v = p[j]
                if count < k || !(v < s[0]) || s[0] != s[0] { offer(v, Int32(truncatingIfNeeded: firstItem + j)) }
            }
        }
    }

    /// Offers `n` scores whose tie-break keys are given (`keys[j]` stands in for the item index in
    /// the order; the caller decodes items from keys).
    ///
    /// For `k ≤ 16` on an empty heap it runs two vector passes: the lane-wise maxima of the row
    /// give 16 distinct elements, so their k-th largest `t` is at most the row's k-th largest,
    /// and only elements `≥ t` (typically about k of them) reach the heap.
    @inlinable mutating func scan(_ p: UnsafePointer<Float>, count n: Int, keys: UnsafePointer<Int32>) {
        typealias V = SIMD16<Float>
        if k <= 16 && count == 0 && n >= 32 {
            var mx = V(repeating: -.infinity)
            var i = 0
            while i + 16 <= n {
                mx = VectorMath.maximum(mx, VectorMath.load(p + i))
                i += 16
            }
            if i < n { mx = VectorMath.maximum(mx, VectorMath.loadPartial(p + i, n - i, fill: -.infinity)) }
            // The k-th largest lane (counting equal lanes separately), without allocating.
            var t = -Float.infinity
            var left = k
            var rest = mx
            while left > 0 {
                let top = VectorMath.horizontalMax(rest)
                if !(top > -.infinity) {
                    t = -.infinity
                    break
                }
                let eq = rest .== V(repeating: top)
                left -= eq.nonzeroLaneCount
                t = top
                rest = rest.replacing(with: -.infinity, where: eq)
            }
            if t > -.infinity {
                let tv = V(repeating: t)
                i = 0
                while i + 16 <= n {
                    let m = VectorMath.load(p + i) .>= tv
                    if any(m) { for j in i..<(i + 16) where p[j] >= t { offer(p[j], keys[j]) } }
                    i += 16
                }
                while i < n {
                    if p[i] >= t { offer(p[i], keys[i]) }
                    i += 1
                }
                // NaN scores never reach the filter; they matter only if fewer than k numbers exist,
                // which t > -inf rules out (16 lane maxima ≥ t means at least k numbers).
                return
            }
        }
        var i = 0
        while i < n {
            let m = min(16, n - i)
            if m == 16 && filterIsExact && !any(VectorMath.load(p + i) .>= V(repeating: s[0])) {
                i += 16
                continue
            }
            for j in i..<(i + m) {
                let v = p[j]
                if count < k || !(v < s[0]) || s[0] != s[0] { offer(v, keys[j]) }
            }
            i += 16
        }
    }

    /// Offers a run of scores while skipping the excluded items in `excluded` (sorted), which
    /// all lie in `firstItem ..< firstItem+n`.
    @inlinable mutating func scan(
        _ p: UnsafePointer<Float>, bias: UnsafePointer<Float>?, count n: Int, firstItem: Int,
        skipping excluded: ArraySlice<Int>
    ) {
        var start = 0
        for x in excluded {
            let e = Int(x) - firstItem
            if e > start {
                scan(p + start, bias: bias.map { $0 + start }, count: e - start, firstItem: firstItem + start)
            }
            start = e + 1
        }
        if start < n { scan(p + start, bias: bias.map { $0 + start }, count: n - start, firstItem: firstItem + start) }
    }

    /// The heap's contents sorted best first, written to `outScores`/`outItems`, by popping the
    /// worst element into the last free slot (heapsort, no allocation). Leaves the heap empty.
    /// - Complexity: O(k log k).
    @inlinable mutating func drainSorted(
        into outScores: UnsafeMutablePointer<Float>, _ outItems: UnsafeMutablePointer<Int32>
    ) {
        while count > 0 {
            let last = count - 1
            outScores[last] = s[0]
            outItems[last] = ix[0]
            let ms = s[last]
            let mi = ix[last]
            count = last
            if last > 0 { siftDownFromRoot(ms, mi) }
        }
    }
}

/// Top-k selection over the rows of a score matrix.
public enum TopK {
    /// The best `k` items of every row of `scores` (columns are items), best first, in the order
    /// of `ranksAbove` (ties to the lower index, NaN last).
    ///
    /// - Parameters:
    ///   - scores: B×N scores.
    ///   - k: items per row; `k > N` returns N items.
    ///   - excluding: items to leave out of each row (must have B rows).
    ///   - parallelism: threads for the work (`.automatic`: RecKit's count).
    /// - Throws: `RecCoreError.invalidArgument` when `k < 1` or the exclusion set has the wrong
    ///   number of rows; `.itemOutOfRange` when it names an item outside `0..<N`.
    /// - Complexity: O(B·N) compares plus O(B·k·log k·log(N/k)) heap work on random data.
    public static func select(
        _ scores: Matrix, k: Int, excluding: ExclusionSet? = nil,
        parallelism: Parallelism = .automatic
    ) throws(RecCoreError) -> TopKResult {
        try validate(k: k, rows: scores.rows, catalogSize: scores.cols, excluding: excluding)
        let kk = min(k, scores.cols)
        let b = scores.rows
        let n = scores.cols
        var outS = [Float](repeating: .nan, count: b * kk)
        var outI = [Int32](repeating: -1, count: b * kk)
        var counts = [Int](repeating: 0, count: b)
        scores.withUnsafeBufferPointer { sp in
            outS.withUnsafeMutableBufferPointer { os in
                outI.withUnsafeMutableBufferPointer { oi in
                    counts.withUnsafeMutableBufferPointer { cs in
                        let ctx = UncheckedSendable((sp.baseAddress, os.baseAddress, oi.baseAddress, cs.baseAddress))
                        let chunks = (b + 15) / 16
                        Threading.parallelFor(chunks: chunks, parallelism: parallelism) { c in
                            let (sp, os, oi, cs) = ctx.value
                            let hs = UnsafeMutablePointer<Float>.allocate(capacity: max(kk, 1))
                            let hi = UnsafeMutablePointer<Int32>.allocate(capacity: max(kk, 1))
                            defer {
                                hs.deallocate()
                                hi.deallocate()
                            }
                            for r in (c * 16)..<min(b, c * 16 + 16) {
                                var heap = RowHeap(scores: hs, items: hi, k: kk)
                                if let ex = excluding {
                                    heap.scan(
                                        sp! + r * n, bias: nil, count: n, firstItem: 0, skipping: ex.items(row: r))
                                } else {
                                    heap.scan(sp! + r * n, bias: nil, count: n, firstItem: 0)
                                }
                                cs![r] = heap.count
                                heap.drainSorted(into: os! + r * kk, oi! + r * kk)
                            }
                        }
                    }
                }
            }
        }
        return TopKResult(rows: b, k: kk, counts: counts, indices: outI, scores: outS)
    }

    /// The best `k` of one vector, best first, as `(item, score)` pairs.
    /// - Throws: `RecCoreError.invalidArgument` when `k < 1`.
    public static func select(_ scores: [Float], k: Int) throws(RecCoreError) -> [(item: Int, score: Float)] {
        let r = try select(Matrix(rows: 1, cols: scores.count, elements: scores), k: k, parallelism: .sequential)
        return zip(r.items(row: 0), r.scores(row: 0)).map { (Int($0.0), $0.1) }
    }

    static func validate(k: Int, rows: Int, catalogSize: Int, excluding: ExclusionSet?) throws(RecCoreError) {
        guard k >= 1 else { throw .invalidArgument("top-k: k must be at least 1, got \(k)") }
        guard catalogSize <= Int(Int32.max) else {
            throw .invalidArgument("top-k: catalog of \(catalogSize) items exceeds the Int32 item ids")
        }
        if let ex = excluding {
            guard ex.rows == rows else {
                throw .invalidArgument("top-k: exclusion set has \(ex.rows) rows, scores have \(rows)")
            }
            try ex.validate(catalogSize: catalogSize)
        }
    }
}

extension SIMDMask where Storage == SIMD16<Int32> {
    /// Number of true lanes.
    @inlinable var nonzeroLaneCount: Int {
        let v = unsafeBitCast(self, to: SIMD16<Int32>.self) & SIMD16<Int32>(repeating: 1)
        let a = v.lowHalf &+ v.highHalf
        let b = a.lowHalf &+ a.highHalf
        let c = b.lowHalf &+ b.highHalf
        return Int(c[0] &+ c[1])
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
