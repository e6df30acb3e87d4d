#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// One worker's share of `CatalogScorer`'s BLAS path: item blocks scored for a tile of states at
/// a time (sgemm; sgemv for a single state), each row's scores offered to its heap, skipping the
/// row's excluded items.
struct BLASScan {
    let states: UnsafePointer<Float>
    let items: UnsafePointer<Float>
    let bias: UnsafePointer<Float>?
    let rows: Int
    let itemCount: Int
    let dimension: Int
    let k: Int
    let tile: Int
    let blockItems: Int
    let excluding: ExclusionSet?
    let blas: Parallelism

    /// Scores `blocks` of the catalog into `heaps` (one per state).
    func run(blocks: Range<Int>, heaps: inout [RowHeap]) {
        guard !blocks.isEmpty else { return }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tile * blockItems)
        defer { buffer.deallocate() }
        var cursors = exclusionCursors(from: blocks.lowerBound * blockItems)
        for block in blocks {
            let j0 = block * blockItems
            let count = min(blockItems, itemCount - j0)
            var r0 = 0
            while r0 < rows {
                let m = min(tile, rows - r0)
                score(states: r0..<(r0 + m), items: j0, count: count, into: buffer)
                offer(buffer, states: r0..<(r0 + m), items: j0, count: count, heaps: &heaps, cursors: &cursors)
                r0 += m
            }
        }
    }

    /// Per state, the index of its first excluded item at or after item `j0`.
    func exclusionCursors(from j0: Int) -> [Int] {
        guard let ex = excluding else { return [] }
        return (0..<rows).map { r in
            let row = ex.items(row: r)
            var c = row.startIndex
            while c < row.endIndex && row[c] < j0 { c += 1 }
            return c
        }
    }

    /// buffer[(r − r0)·count + j] = states[r] · items[j0 + j], without the bias.
    func score(states r: Range<Int>, items j0: Int, count: Int, into buffer: UnsafeMutablePointer<Float>) {
        let d = dimension
        if r.count == 1 {
            BLAS.sgemv(
                .none, rows: count, cols: d, alpha: 1, a: items + j0 * d, lda: d, x: states + r.lowerBound * d,
                beta: 0, y: buffer, parallelism: blas)
        } else {
            BLAS.sgemm(
                .none, .transpose, m: r.count, n: count, k: d, alpha: 1, a: states + r.lowerBound * d, lda: d,
                b: items + j0 * d, ldb: d, beta: 0, c: buffer, ldc: count, parallelism: blas)
        }
    }

    /// Offers each state's scores of the block (plus the bias) to its heap, skipping the state's
    /// excluded items in the block and advancing its exclusion cursor past them.
    func offer(
        _ buffer: UnsafeMutablePointer<Float>, states r: Range<Int>, items j0: Int, count: Int,
        heaps: inout [RowHeap], cursors: inout [Int]
    ) {
        let bias = self.bias.map { $0 + j0 }
        for row in r {
            let scores = UnsafePointer(buffer + (row - r.lowerBound) * count)
            if let ex = excluding {
                let excluded = ex.items(row: row)
                let s = cursors[row]
                var e = s
                while e < excluded.endIndex && excluded[e] < j0 + count { e += 1 }
                cursors[row] = e
                if e > s {
                    heaps[row].scan(scores, bias: bias, count: count, firstItem: j0, skipping: excluded[s..<e])
                    continue
                }
            }
            heaps[row].scan(scores, bias: bias, count: count, firstItem: j0)
        }
    }
}
