/// The rows of a `TopKResult` filled one heap at a time.
struct TopKRows {
    let k: Int
    var scores: [Float], items: [Int32], counts: [Int]

    init(rows: Int, k: Int) {
        self.k = k
        scores = [Float](repeating: .nan, count: rows * k)
        items = [Int32](repeating: -1, count: rows * k)
        counts = [Int](repeating: 0, count: rows)
    }

    /// Row `r` from `heap`, best first (empties the heap).
    mutating func drain(_ heap: inout RowHeap, row r: Int) {
        counts[r] = heap.count
        scores.withUnsafeMutableBufferPointer { os in
            items.withUnsafeMutableBufferPointer { oi in
                heap.drainSorted(into: os.baseAddress! + r * k, oi.baseAddress! + r * k)
            }
        }
    }

    var result: TopKResult { TopKResult(rows: counts.count, k: k, counts: counts, indices: items, scores: scores) }
}
