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
