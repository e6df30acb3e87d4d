/// The top-k candidates one row of the bfloat16 path keeps: every item whose approximate score
/// may still reach the exact top-k (at least the row's k-th best approximate score so far minus
/// the row's margin), pruned when the list grows.
struct CandidateList {
    var scores: [Float] = []
    var items: [Int32] = []
    var capacity = 64

    mutating func append(_ score: Float, _ item: Int32) {
        scores.append(score)
        items.append(item)
    }

    /// Keeps the entries at or above `floor`; doubles the capacity when more than half remain.
    mutating func prune(below floor: Float) {
        var kept = 0
        for i in scores.indices where scores[i] >= floor {
            scores[kept] = scores[i]
            items[kept] = items[i]
            kept += 1
        }
        scores.removeLast(scores.count - kept)
        items.removeLast(items.count - kept)
        if kept > capacity / 2 { capacity *= 2 }
    }
}

/// What a `PanelScan` does with the scores it offers, with the buffers each mode needs.
enum ScanMode {
    /// Float32 panels: the heaps receive canonical scores.
    case exact
    /// bfloat16 panels: the heaps receive approximate scores; per row, `margins` holds twice its
    /// error bound (not finite: the row is scored exactly elsewhere and skipped here), and
    /// `candidates` the items kept for exact rescoring.
    case approximate(margins: UnsafePointer<Float>, candidates: UnsafeMutablePointer<CandidateList>)
}
