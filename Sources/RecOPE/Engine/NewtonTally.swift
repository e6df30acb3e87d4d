import CSIMD

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A Newton pass's sums by feature combination, for designs whose features are all 0/1 (no
/// numeric item features). A row's features are fixed by its (item, context levels, position),
/// and so are, for the whole pass, its logit, its probability p and its Hessian weight
/// w = max(p(1 − p), 10⁻¹²); its gradient term is its residual r − p. So a row only counts:
/// rows with reward 0 and rows with reward 1 per combination (8 bytes a combination), and any
/// other reward's residual in fixed point in a second table made when such a row comes.
///
/// `flush` turns the tallies into the sums the rows would have added one by one: every Hessian
/// cell of a combination gets rows × fixed(w), every gradient cell
/// ones × fixed(1 − p) + zeros × fixed(0 − p) + the other rows' residuals. These are exact
/// integer sums (`ExactSum`): the bits are those of the row-by-row sums, in any order and after
/// any number of flushes.
///
/// The row-by-row path adds ten Hessian cells scattered over P²/2 per row (one context column),
/// most of them missing the cache, plus an `exp`; here a row increments one counter (its line
/// asked for ahead), and the Hessian is written once per combination and pass.
struct NewtonTally {
    /// Rows with reward 0 and with reward 1.
    struct Cell {
        var zeros: UInt32 = 0
        var ones: UInt32 = 0
    }
    /// Rows with any other reward: how many, and their residuals r − p in fixed point.
    struct Other {
        var residual: Int128 = 0
        var count: Int64 = 0
    }

    let items: Int
    let depth: Int
    /// Per context column: its coefficient offset and its levels + 1 (index 0: no level).
    let offsets: [Int]
    let radix: [Int]
    /// Per item categorical column, each item's coefficient index.
    let categories: [[Int]]
    /// Combinations in all (the dense index space: item, levels, position).
    let size: Int
    var cells: [Cell]
    /// Made on the first row whose reward is neither 0 nor 1.
    var others: [Other] = []
    /// Rows counted since the last flush (a flush comes before any counter could overflow).
    var rows = 0

    /// Dense combinations at most (8 bytes each, plus 32 with other rewards).
    static let maxCombinations = 1 << 20
    /// Rows between flushes at most (each counter stays below 2³²).
    static let flushRows = Int(UInt32.max) - (1 << 20)

    /// A tally for `design`, or nil when its features are not all 0/1 or its combinations are
    /// too many for a dense table (rows are then summed one by one).
    init?(design: LogisticDesign, features: ItemFeatures?, categoryOffsets: [Int]) {
        if design.itemNumeric > 0 && features != nil { return nil }
        items = design.items
        depth = design.depth
        offsets = design.columnOffsets
        radix = design.levels.map { $0.count + 1 }
        var n = items * depth
        for r in radix {
            let (m, overflow) = n.multipliedReportingOverflow(by: r)
            if overflow || m > Self.maxCombinations { return nil }
            n = m
        }
        guard n > 0 && n <= Self.maxCombinations else { return nil }
        size = n
        if let f = features, !design.itemCategories.isEmpty {
            categories = f.categorical.enumerated().map { c, col in col.map { categoryOffsets[c] + Int($0) } }
        } else {
            categories = []
        }
        cells = [Cell](repeating: Cell(), count: n)
    }

    /// The coefficient indices of a combination's features, in `LogisticRows.features`' order
    /// (the logit's summation order); returns their count.
    @inline(__always)
    func features(
        item a: Int, position k: Int, levels: UnsafePointer<Int>, into ix: UnsafeMutablePointer<Int>
    ) -> Int {
        ix[0] = 0
        ix[1] = 1 + a
        ix[2] = 1 + items + k
        var m = 3
        for f in 0..<radix.count where levels[f] > 0 {
            ix[m] = offsets[f] + levels[f] - 1
            m += 1
        }
        for cat in categories {
            ix[m] = cat[a]
            m += 1
        }
        return m
    }

    /// The combination's probability at `theta` (the row-by-row path's arithmetic).
    @inline(__always)
    func probability(
        _ combo: Int, theta: UnsafeBufferPointer<Double>, levels: UnsafeMutablePointer<Int>,
        ix: UnsafeMutablePointer<Int>
    ) -> (p: Double, features: Int) {
        var rest = combo
        let k = rest % depth
        rest /= depth
        for f in stride(from: radix.count - 1, through: 0, by: -1) {
            levels[f] = rest % radix[f]
            rest /= radix[f]
        }
        let m = features(item: rest, position: k, levels: levels, into: ix)
        var eta = 0.0
        for t in 0..<m { eta += theta[ix[t]] * 1 }
        return (1 / (1 + exp(-eta)), m)
    }

    /// Counts the rows of `c` (their context columns' coefficient indices in `coefficients`, −1
    /// for none); `n` gets the sums first when the counters are full.
    mutating func add(_ c: LogChunk, _ coefficients: [[Int32]], into n: inout NewtonSums) {
        if rows > Self.flushRows - c.count { flush(into: &n) }
        rows += c.count
        let count = c.count
        let columns = radix.count
        // The rows' combinations, in file order (sequential reads of the columns).
        let combos = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        defer { combos.deallocate() }
        let K = depth
        for j in 0..<count {
            var combo = Int(c.items[j])
            for f in 0..<columns {
                let v = Int(coefficients[f][j])
                combo = combo * radix[f] + (v < 0 ? 0 : v - offsets[f] + 1)
            }
            combos[j] = Int32(combo * K + Int(c.positions[j]))
        }
        // Each row's counter, its line asked for `ahead` rows before.
        let ahead = 16
        var otherRows = [Int]()
        cells.withUnsafeMutableBufferPointer { cells in
            let base = cells.baseAddress!
            for j in 0..<min(ahead, count) { rk_prefetch_write(base + Int(combos[j])) }
            c.rewards.withUnsafeBufferPointer { rewards in
                for j in 0..<count {
                    if j + ahead < count { rk_prefetch_write(base + Int(combos[j + ahead])) }
                    let r = rewards[j]
                    let cell = base + Int(combos[j])
                    if r == 0 {
                        cell.pointee.zeros &+= 1
                    } else if r == 1 {
                        cell.pointee.ones &+= 1
                    } else {
                        otherRows.append(j)
                    }
                }
            }
        }
        guard !otherRows.isEmpty else { return }
        // Other rewards: their residuals at the combination's probability.
        if others.isEmpty { others = [Other](repeating: Other(), count: size) }
        let ix = UnsafeMutablePointer<Int>.allocate(capacity: 3 + columns + categories.count)
        let levels = UnsafeMutablePointer<Int>.allocate(capacity: max(columns, 1))
        defer {
            ix.deallocate()
            levels.deallocate()
        }
        n.theta.withUnsafeBufferPointer { theta in
            for j in otherRows {
                let combo = Int(combos[j])
                let p = probability(combo, theta: theta, levels: levels, ix: ix).p
                var r = ExactSum()
                r.add(c.rewards[j] - p)
                others[combo].residual &+= r.total
                others[combo].count += 1
            }
        }
    }

    /// Adds every tallied combination's sums to `n` and clears the tallies.
    mutating func flush(into n: inout NewtonSums) {
        addSums(into: &n)
        cells.withUnsafeMutableBufferPointer { $0.update(repeating: Cell()) }
        if !others.isEmpty { others.withUnsafeMutableBufferPointer { $0.update(repeating: Other()) } }
        rows = 0
    }

    /// Adds every tallied combination's sums to `n`, combinations in index order (item, levels,
    /// position: each item's Hessian row is written forwards).
    func addSums(into n: inout NewtonSums) {
        guard rows > 0 else { return }
        let P = n.design.parameters
        let columns = radix.count
        let ix = UnsafeMutablePointer<Int>.allocate(capacity: 3 + columns + categories.count)
        let levels = UnsafeMutablePointer<Int>.allocate(capacity: max(columns, 1))
        defer {
            ix.deallocate()
            levels.deallocate()
        }
        let theta = n.theta
        cells.withUnsafeBufferPointer { cells in
            theta.withUnsafeBufferPointer { theta in
                n.gradient.withUnsafeMutableBufferPointer { gradient in
                    n.hessian.withUnsafeMutableBufferPointer { hessian in
                        for combo in 0..<size {
                            let cell = cells[combo]
                            let other = others.isEmpty ? Other() : others[combo]
                            let rows = Int64(cell.zeros) + Int64(cell.ones) + other.count
                            if rows == 0 { continue }
                            let (p, m) = probability(combo, theta: theta, levels: levels, ix: ix)
                            var w = ExactSum()
                            w.add(max(p * (1 - p), 1e-12))
                            let term = w.total &* Int128(rows)
                            var up = ExactSum()
                            up.add(1 - p)
                            var down = ExactSum()
                            down.add(0 - p)
                            let residual =
                                up.total &* Int128(cell.ones) &+ down.total &* Int128(cell.zeros) &+ other.residual
                            for t in 0..<m {
                                let ai = ix[t]
                                gradient[ai].total &+= residual
                                let rowStart = ai * P - ai * (ai - 1) / 2 - ai
                                for u in 0..<m where ix[u] >= ai { hessian[rowStart + ix[u]].total &+= term }
                            }
                        }
                    }
                }
            }
        }
    }
}
