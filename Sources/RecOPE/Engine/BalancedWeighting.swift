import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Balanced IPW's sufficient statistics (Sondhi, Arbour & Dimmery, AISTATS 2020; OBP's
/// `BalancedInverseProbabilityWeighting` fed by `ImportanceWeightEstimator`).
///
/// The weights come from a classifier that tells the logged rows (label 0) from the same rows
/// with the item the target would show at their position (label 1); ŵ(x, a) = P(1 | x, a) /
/// P(0 | x, a), the classifier's odds. RecKit's classifier, per position: L2-penalised logistic
/// regression (penalty 1/(2C)·‖β‖² on every coefficient but the intercept, as scikit-learn's
/// `LogisticRegression(C=C)`) on an intercept, the item's one-hot and one one-hot per context
/// column (columns with more than 1,000 values are left out). Label 1 is the target's whole
/// distribution at the row's position, every item at weight π(a | row) (OBP draws one item per
/// row, `fitting_method="sample"`; this is that loss's expectation, without the draw's noise).
///
/// Because the features are the row's (position, item, context values), the fit and the
/// estimate need only per cell (position, item, context values): the rows logged there, their
/// Σr and Σr², and the target's mass Σ π(item at the position | row) over the rows at the
/// position with those context values. Counts are integers and sums exact (`ExactSum`), so
/// shards merge to the one pass's bits. The fit is a Newton solve after the pass.
public struct BalancedCells: Sendable, Equatable, Codable {
    /// A cell: a position, an item and one value per context column (in `columns`' order).
    struct Key: Hashable, Sendable, Comparable {
        var position: Int32
        var item: Int32
        var context: [String]
        static func < (a: Key, b: Key) -> Bool {
            if a.position != b.position { return a.position < b.position }
            if a.context != b.context { return a.context.lexicographicallyPrecedes(b.context) }
            return a.item < b.item
        }
    }
    /// A cell as stored: its context values interned (`contexts`).
    struct Slot: Hashable, Sendable {
        var position: Int32
        var item: Int32
        var context: Int32
    }
    /// A cell's statistics.
    struct Stats: Sendable, Equatable {
        var rows = 0
        var reward = ExactSum()
        var rewardSquared = ExactSum()
        var target = ExactSum()
        mutating func add(_ o: Stats) {
            rows += o.rows
            reward.add(o.reward)
            rewardSquared.add(o.rewardSquared)
            target.add(o.target)
        }
    }

    /// Cells at most (past it the estimate is not computed and the report says why).
    public static let maxCells = 1 << 20
    /// The context columns (sorted by name).
    public private(set) var columns: [String]
    /// Whether the cells passed `maxCells` (they are then dropped).
    public private(set) var overflow = false
    var cells: [Slot: Stats] = [:]
    /// The distinct context-value tuples, and their indices.
    var contexts: [[String]] = []
    var contextIndex: [[String]: Int32] = [:]

    /// No rows, for context columns `columns`.
    public init(columns: [String]) { self.columns = columns.sorted() }

    /// Adds another part's cells (any split of the rows gives the whole's, bit for bit).
    public mutating func merge(_ o: BalancedCells) {
        guard !overflow else { return }
        if o.overflow {
            self = o
            return
        }
        let map = o.contexts.map { intern($0) }
        for (k, s) in o.cells {
            let slot = Slot(position: k.position, item: k.item, context: map[Int(k.context)])
            cells[slot, default: Stats()].add(s)
        }
        checkSize()
    }

    mutating func checkSize() {
        if cells.count > Self.maxCells { dropAll() }
    }

    /// Past a limit: no cells, and no estimate.
    mutating func dropAll() {
        overflow = true
        cells = [:]
        contexts = []
        contextIndex = [:]
    }

    /// The index of a context-value tuple (added if new).
    mutating func intern(_ values: [String]) -> Int32 {
        if let i = contextIndex[values] { return i }
        contexts.append(values)
        contextIndex[values] = Int32(contexts.count - 1)
        return Int32(contexts.count - 1)
    }

    /// The cells with their context values, sorted (position, context values, item).
    func entries() -> [(key: Key, stats: Stats)] {
        cells.map {
            (Key(position: $0.key.position, item: $0.key.item, context: contexts[Int($0.key.context)]), $0.value)
        }
        .sorted { $0.key < $1.key }
    }

    public static func == (a: BalancedCells, b: BalancedCells) -> Bool {
        a.columns == b.columns && a.overflow == b.overflow && a.cells.count == b.cells.count
            && a.entries().elementsEqual(b.entries()) { $0.key == $1.key && $0.stats == $1.stats }
    }

    /// Adds chunk `c`'s rows: `target(ts, position)` gives the target's item probabilities at a
    /// position in target state ts; `states` the rows' target states (nil: state 0).
    /// - Throws: `.malformedFile` naming the line of a reward whose square the exact sums cannot
    ///   hold (|r| ≥ 2³¹, or not finite).
    @_spi(Reference) public mutating func add(
        _ c: LogChunk, states: [Int32]?, items: Int, target: (Int, Int) -> [Double]
    ) throws(RecOPEError) {
        guard !overflow, c.count > 0 else { return }
        if let j = c.rewards.firstIndex(where: { !ExactSum.fits($0 * $0) }) {
            throw .malformedFile(
                file: c.source, line: c.lines?[j],
                message:
                    "reward \(c.rewards[j]) is too large for balanced IPW's exact sums (|r| < 2^31); leave out balanced IPW"
            )
        }
        // Per row a chunk-local context combination (mixed radix over the chunk's value ids).
        let cols = columns.map { name in c.contexts.first { $0.name == name } }
        var radix = [Int]()
        var total = 1
        for col in cols {
            let r = (col?.values.count ?? 0) + 1
            let (m, o) = total.multipliedReportingOverflow(by: r)
            if o {
                dropAll()
                return
            }
            radix.append(r)
            total = m
        }
        var combo = [Int](repeating: 0, count: c.count)
        for (f, col) in cols.enumerated() {
            let stride = radix[(f + 1)...].reduce(1, *)
            for j in 0..<c.count { combo[j] += (col.map { Int($0.ids[j]) + 1 } ?? 0) * stride }
        }
        struct Logged: Hashable {
            var position: Int32, item: Int32, combo: Int
        }
        struct Targeted: Hashable {
            var state: Int32, position: Int32, combo: Int
        }
        var logged = [Logged: Stats]()
        var targeted = [Targeted: Int]()
        // Dense per-chunk tallies when the chunk's (position, item, combination) space is small:
        // rows and clicks per cell as integers (a reward of 0 or 1 adds exactly 0 or 1 to Σr and
        // Σr², so the bits are those of the adds one by one); other rewards go one by one.
        let depth = Int(c.positions.max() ?? 0) + 1
        let (space, o1) = (depth * items).multipliedReportingOverflow(by: total)
        if !o1 && space <= max(4096, 8 * c.count) && space <= 1 << 20 {
            var shows = [Int32](repeating: 0, count: space)
            var clicks = [Int32](repeating: 0, count: space)
            var reached = [Int32](repeating: 0, count: depth * total)
            for j in 0..<c.count {
                let k = Int(c.positions[j])
                let r = c.rewards[j]
                let i = (k * items + Int(c.items[j])) * total + combo[j]
                shows[i] += 1
                if r == 1 {
                    clicks[i] += 1
                } else if r != 0 {
                    let l = Logged(position: Int32(k), item: c.items[j], combo: combo[j])
                    logged[l, default: Stats()].reward.add(r)
                    logged[l]!.rewardSquared.add(r * r)
                }
                if let states {
                    targeted[Targeted(state: states[j], position: Int32(k), combo: combo[j]), default: 0] += 1
                } else {
                    reached[k * total + combo[j]] += 1
                }
            }
            for i in 0..<space where shows[i] > 0 {
                let l = Logged(position: Int32(i / total / items), item: Int32(i / total % items), combo: i % total)
                logged[l, default: Stats()].rows += Int(shows[i])
                logged[l]!.reward.add(1, times: Int(clicks[i]))
                logged[l]!.rewardSquared.add(1, times: Int(clicks[i]))
            }
            for i in 0..<(depth * total) where reached[i] > 0 {
                targeted[Targeted(state: 0, position: Int32(i / total), combo: i % total)] = Int(reached[i])
            }
        } else {
            for j in 0..<c.count {
                let k = c.positions[j]
                let r = c.rewards[j]
                let l = Logged(position: k, item: c.items[j], combo: combo[j])
                logged[l, default: Stats()].rows += 1
                logged[l]!.reward.add(r)
                logged[l]!.rewardSquared.add(r * r)
                targeted[Targeted(state: states?[j] ?? 0, position: k, combo: combo[j]), default: 0] += 1
            }
        }
        func values(_ combo: Int) -> [String] {
            var out = [String](repeating: "", count: cols.count)
            var x = combo
            for f in stride(from: cols.count - 1, through: 0, by: -1) {
                let id = x % radix[f]
                x /= radix[f]
                out[f] = id == 0 ? "" : cols[f]!.values[id - 1]
            }
            return out
        }
        var interned = [Int: Int32]()
        func index(_ combo: Int) -> Int32 {
            if let i = interned[combo] { return i }
            let i = intern(values(combo))
            interned[combo] = i
            return i
        }
        for (l, s) in logged {
            cells[Slot(position: l.position, item: l.item, context: index(l.combo)), default: Stats()].add(s)
        }
        for (t, n) in targeted {
            let probabilities = target(Int(t.state), Int(t.position))
            let context = index(t.combo)
            for a in 0..<items where probabilities[a] > 0 {
                let key = Slot(position: t.position, item: Int32(a), context: context)
                cells[key, default: Stats()].target.add(probabilities[a], times: n)
            }
        }
        checkSize()
    }

    enum CodingKeys: String, CodingKey {
        case columns, overflow, positions, items, contexts, rows, reward, rewardSquared, target
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        columns = try c.decode([String].self, forKey: .columns)
        overflow = try c.decode(Bool.self, forKey: .overflow)
        let positions = try c.decode([Int32].self, forKey: .positions)
        let items = try c.decode([Int32].self, forKey: .items)
        let contexts = try c.decode([[String]].self, forKey: .contexts)
        let rows = try c.decode([Int].self, forKey: .rows)
        let reward = try c.decode([ExactSum].self, forKey: .reward)
        let squared = try c.decode([ExactSum].self, forKey: .rewardSquared)
        let target = try c.decode([ExactSum].self, forKey: .target)
        let n = positions.count
        guard columns == columns.sorted(), n <= Self.maxCells, !overflow || n == 0,
            [items.count, contexts.count, rows.count, reward.count, squared.count, target.count].allSatisfy({ $0 == n }
            ),
            positions.allSatisfy({ $0 >= 0 }), items.allSatisfy({ $0 >= 0 }), rows.allSatisfy({ $0 >= 0 }),
            contexts.allSatisfy({ $0.count == columns.count })
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .positions, in: c, debugDescription: "balanced-IPW cells of different lengths or out of range")
        }
        for j in 0..<n {
            let key = Slot(position: positions[j], item: items[j], context: intern(contexts[j]))
            let s = Stats(rows: rows[j], reward: reward[j], rewardSquared: squared[j], target: target[j])
            guard cells.updateValue(s, forKey: key) == nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: .positions, in: c, debugDescription: "a balanced-IPW cell is listed twice")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        // Sorted, so a state's bytes do not depend on the order rows were met in.
        let all = entries()
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(columns, forKey: .columns)
        try c.encode(overflow, forKey: .overflow)
        try c.encode(all.map(\.key.position), forKey: .positions)
        try c.encode(all.map(\.key.item), forKey: .items)
        try c.encode(all.map(\.key.context), forKey: .contexts)
        try c.encode(all.map(\.stats.rows), forKey: .rows)
        try c.encode(all.map(\.stats.reward), forKey: .reward)
        try c.encode(all.map(\.stats.rewardSquared), forKey: .rewardSquared)
        try c.encode(all.map(\.stats.target), forKey: .target)
    }
}

extension ExactSum {
    /// Adds x, rounded to 2⁻⁶⁴ once, n times (exactly: the bits of n single adds).
    @inline(__always)
    public mutating func add(_ x: Double, times n: Int) {
        var one = ExactSum()
        one.add(x)
        total &+= one.total &* Int128(n)
    }
}

/// Balanced IPW's value from merged cells: the classifier, per position, and Σŵr / Σŵ.
public struct BalancedEstimate: Sendable, Equatable {
    /// Σ ŵ·r / Σ ŵ over the rows (OBP's `BalancedInverseProbabilityWeighting`, λ = ∞).
    public var value: Double
    /// The delta-method standard error with ŵ held fixed (as OBP's bootstrap holds it).
    public var standardError: Double
    /// Newton iterations per position.
    public var iterations: [Int]
    /// Context columns left out of the classifier (more than 1,000 values).
    public var droppedColumns: [String]
    /// Per logged cell (position, item, context values), its weight ŵ (for tests and reports).
    public var weights: [(position: Int, item: Int, context: [String], weight: Double)]

    public static func == (a: Self, b: Self) -> Bool {
        a.value.bitPattern == b.value.bitPattern && a.standardError.bitPattern == b.standardError.bitPattern
            && a.iterations == b.iterations && a.droppedColumns == b.droppedColumns
            && a.weights.elementsEqual(b.weights) {
                $0.position == $1.position && $0.item == $1.item && $0.context == $1.context
                    && $0.weight.bitPattern == $1.weight.bitPattern
            }
    }
}

extension BalancedCells {
    /// Context columns with more values than this are left out of the classifier.
    public static let maxLevels = 1000
    /// Classifiers with more coefficients than this are not fitted (the dense solve is cubic).
    public static let maxParameters = 3000
    /// Newton iterations at most; the fit stops when no coefficient moves by more than 1e-12.
    public static let maxIterations = 100

    /// Fits the classifier per position (L2 logistic regression with C = `c`) and returns the
    /// estimate over `items` items, or the reason there is none.
    public func estimate(c: Double, items: Int) -> Result<BalancedEstimate, RecOPEError> {
        if overflow {
            return .failure(
                .invalidParameter(
                    "balanced IPW: more than \(Self.maxCells) (position, item, context) cells; no estimate"))
        }
        guard c > 0, c.isFinite else {
            return .failure(.invalidParameter("balanced IPW: C must be a finite number above 0"))
        }
        let lambda = 1 / c
        let cells = Dictionary(uniqueKeysWithValues: entries().map { ($0.key, $0.stats) })
        let byPosition = Dictionary(grouping: cells.keys, by: \.position)
        var dropped = Set<String>()
        var iterations = [Int]()
        var weights = [(position: Int, item: Int, context: [String], weight: Double)]()
        for k in byPosition.keys.sorted() {
            let keys = byPosition[k]!.sorted()
            // Each kept column's sorted values at this position.
            var kept = [Int]()
            var levels = [[String: Int]]()
            for f in columns.indices {
                let values = Set(keys.map { $0.context[f] }).sorted()
                if values.count > Self.maxLevels {
                    dropped.insert(columns[f])
                    continue
                }
                kept.append(f)
                levels.append(Dictionary(uniqueKeysWithValues: values.enumerated().map { ($1, $0) }))
            }
            // Examples: cells projected onto the kept columns (weights w0 = rows, w1 = target mass).
            struct Example {
                var features: [Int]
                var zeros = 0.0
                var ones = 0.0
            }
            var offsets = [Int]()
            var P = 1 + items
            for l in levels {
                offsets.append(P)
                P += l.count
            }
            if P > Self.maxParameters {
                return .failure(
                    .invalidParameter(
                        "balanced IPW: the classifier at position \(k) would have \(P) coefficients (more than \(Self.maxParameters)); no estimate"
                    ))
            }
            func features(_ key: Key) -> [Int] {
                [0, 1 + Int(key.item)] + kept.indices.map { i in offsets[i] + levels[i][key.context[kept[i]]]! }
            }
            var index = [[Int]: Int]()
            var examples = [Example]()
            for key in keys {
                let x = features(key)
                let s = cells[key]!
                let e =
                    index[x]
                    ?? {
                        examples.append(Example(features: x))
                        index[x] = examples.count - 1
                        return examples.count - 1
                    }()
                examples[e].zeros += Double(s.rows)
                examples[e].ones += s.target.value
            }
            guard
                let (theta, its) = Self.fit(
                    examples.map { ($0.features, $0.zeros, $0.ones) }, parameters: P, lambda: lambda)
            else {
                return .failure(
                    .invalidParameter("balanced IPW: the classifier at position \(k) did not converge; no estimate"))
            }
            iterations.append(its)
            for key in keys where cells[key]!.rows > 0 {
                let eta = features(key).reduce(0.0) { $0 + theta[$1] }
                weights.append((Int(k), Int(key.item), key.context, exp(eta)))
            }
        }
        // Σŵr / Σŵ and its delta-method variance, in the cells' sorted order.
        var wr = 0.0
        var w = 0.0
        var n = 0
        for x in weights {
            let s = cells[Key(position: Int32(x.position), item: Int32(x.item), context: x.context)]!
            wr += x.weight * s.reward.value
            w += x.weight * Double(s.rows)
            n += s.rows
        }
        guard n > 0, w > 0 else { return .failure(.invalidParameter("balanced IPW: no rows")) }
        let v = wr / w
        var ss = 0.0
        for x in weights {
            let s = cells[Key(position: Int32(x.position), item: Int32(x.item), context: x.context)]!
            ss += x.weight * x.weight * (s.rewardSquared.value - 2 * v * s.reward.value + v * v * Double(s.rows))
        }
        let N = Double(n)
        let mw = w / N
        let se = (max(ss, 0) / max(N - 1, 1) / N / (mw * mw)).squareRoot()
        return .success(
            BalancedEstimate(
                value: v, standardError: se, iterations: iterations, droppedColumns: dropped.sorted(), weights: weights)
        )
    }

    /// Newton's method for Σ_e [w1·log(1 + e^−η) + w0·log(1 + e^η)] + λ/2·‖θ₁…‖², η = Σ θ over
    /// the example's features (0/1), from θ = 0, with step halving on the objective.
    /// - Returns: the coefficients and the iterations, or nil (singular or not converged).
    static func fit(_ examples: [(features: [Int], zeros: Double, ones: Double)], parameters P: Int, lambda: Double)
        -> ([Double], Int)?
    {
        func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
        func objective(_ t: [Double]) -> Double {
            var f = 0.0
            for e in examples {
                let eta = e.features.reduce(0.0) { $0 + t[$1] }
                f += e.ones * softplus(-eta) + e.zeros * softplus(eta)
            }
            for i in 1..<P { f += lambda / 2 * t[i] * t[i] }
            return f
        }
        var theta = [Double](repeating: 0, count: P)
        var f = objective(theta)
        for it in 1...maxIterations {
            var h = [Double](repeating: 0, count: P * P)
            var g = [Double](repeating: 0, count: P)
            for e in examples {
                let eta = e.features.reduce(0.0) { $0 + theta[$1] }
                let p = 1 / (1 + exp(-eta))
                let total = e.zeros + e.ones
                let residual = e.ones - total * p
                let weight = total * p * (1 - p)
                for a in e.features {
                    g[a] += residual
                    for b in e.features { h[a * P + b] += weight }
                }
            }
            for i in 1..<P {
                h[i * P + i] += lambda
                g[i] -= lambda * theta[i]
            }
            h[0] += 1e-12
            guard let step = LinearAlgebra.solveSymmetricPositiveDefinite(h, g, n: P, parallelism: .sequential)
            else { return nil }
            // Step halving while the step is long; near the optimum (Newton decrement gᵀΔ below
            // 1e-8·|f|) the objective's rounding hides the decrease, so the full step is taken.
            let decrement = zip(g, step).reduce(0.0) { $0 + $1.0 * $1.1 }
            var scale = 1.0
            var next = theta
            var fNext = f
            for _ in 0..<30 {
                for i in 0..<P { next[i] = theta[i] + scale * step[i] }
                fNext = objective(next)
                if fNext <= f || decrement < 1e-8 * max(1, abs(f)) { break }
                scale /= 2
            }
            let size = step.reduce(0.0) { max($0, abs($1)) } * scale
            theta = next
            f = fNext
            if size < 1e-12 * max(1, theta.reduce(0.0) { max($0, abs($1)) }) { return (theta, it) }
        }
        return nil
    }
}
