#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The pass over the data an evaluation state belongs to.
///
/// Ratio estimators (IS, CIS, NCIS, SNIPS, pieceNCIS by position or context, pointNCIS) need one
/// pass. DM, DR, SwitchDR with the click-rate model, pieceNCIS by value-model buckets and the
/// unsupported-mass diagnostic need a second, once the model is fitted from the first pass's
/// merged counts. The logistic model takes one pass per Newton iteration (gradient and Hessian
/// are sums over rows; the first iteration shares the second pass) and a last one for its DM
/// and DR.
public enum EvaluationPass: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Pass 1: the ratio estimators' sums and the click counts.
    case ratios
    /// Pass 2: the click-rate model's DM, DR, SwitchDR and value-model pieces.
    case rewardModels
    /// A Newton iteration of the logistic model (gradient and Hessian).
    case newton(iteration: Int)
    /// The logistic model's DM and DR.
    case logistic
    /// Nothing left to read: the report can be computed.
    case done

    public var description: String {
        switch self {
        case .ratios: return "ratios"
        case .rewardModels: return "reward models"
        case .newton(let i): return "Newton iteration \(i + 1)"
        case .logistic: return "logistic DM/DR"
        case .done: return "done"
        }
    }
}

/// The settings a state was made with; states merge only when these are equal.
public struct StateSettings: Sendable, Equatable, Codable {
    /// Finite weight caps.
    public var caps: [Double]
    /// Poisson bootstrap replicates.
    public var bootstrap: Int
    /// The bootstrap's seed.
    public var seed: UInt64
    /// SwitchDR's threshold τ.
    public var switchThreshold: Double
    /// The click-rate model's pseudo-impressions.
    public var rewardSmoothing: Double
    /// The intervals' level.
    public var level: Double
    /// Whether the logistic reward model is fitted.
    public var logisticRewardModel: Bool
    /// pieceNCIS's groupings.
    public var pieceGroupings: [PieceGrouping]
    /// Fit the click-rate model in a second pass (DM, DR, SwitchDR, value-model pieces).
    public var rewardModels: Bool
    /// Newton iterations at most.
    public var maxNewtonIterations: Int
    /// A hash of the item features given to the logistic model (0: none), and their shape:
    /// categories per categorical column, numeric column count.
    public var itemFeatures: UInt64
    /// Categories per categorical item-feature column.
    public var itemCategories: [Int]
    /// Numeric item-feature columns.
    public var itemNumeric: Int
    /// Items the policies rank and positions evaluated.
    public var items: Int
    /// Positions evaluated.
    public var depth: Int
    /// Per target policy its name and a hash of its marginals.
    public var policies: [String]
    /// Per target policy, a hash of its marginals.
    public var policyHashes: [UInt64]
    /// A hash of the logging marginals (0: the logged propensities).
    public var logging: UInt64
    /// DRos's λ values, sorted.
    public var shrinkage: [Double]
    /// The sub-Gaussian λ values, sorted.
    public var subGaussian: [Double]
    /// Whether SLOPE tunes CIS's cap, DRos's λ and the sub-Gaussian λ.
    public var slope: Bool
    /// SLOPE's δ.
    public var slopeDelta: Double
    /// A hash of MIPS's item embeddings (0: none).
    public var embeddings: UInt64
    /// Whether the (weight, reward) pairs are counted for empirical-likelihood intervals, and
    /// whether they are the reported intervals of the (w, r) estimators and the DR family (nil: neither; states before it).
    public var likelihood: LikelihoodUse?
    /// The weight bound of the empirical-likelihood interval (nil: the largest logged weight).
    public var weightBound: Double?
    /// Balanced IPW's classifier C (nil: no balanced IPW; states before it).
    public var balanced: Double? = nil
}

/// How a state uses the empirical-likelihood interval.
public enum LikelihoodUse: String, Sendable, Codable {
    /// Computed and reported beside the other intervals (`Estimate.likelihood`).
    case computed
    /// Also the reported interval of the (w, r) estimators and the DR family.
    case reported
}

/// Counts of the click-rate model: per fold (row-key hash) and (item, position) cell, exact, so
/// the fitted model does not depend on how rows were split.
public struct RewardCounts: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey { case cells, clicks, shows }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let n = try c.decode(Int.self, forKey: .cells)
        guard n >= 0, n <= 1 << 31 else {
            throw DecodingError.dataCorruptedError(forKey: .cells, in: c, debugDescription: "impossible cell count")
        }
        let totals = try c.varints(.clicks, count: 2 * n)
        let counts = try c.varints(.shows, count: 2 * n)
        guard counts.allSatisfy({ $0 >= 0 && $0 <= Int128(Int.max) }) else {
            throw DecodingError.dataCorruptedError(forKey: .shows, in: c, debugDescription: "negative or huge counts")
        }
        clicks = [totals[0..<n].map(ExactSum.init(total:)), totals[n...].map(ExactSum.init(total:))]
        shows = [counts[0..<n].map { Int($0) }, counts[n...].map { Int($0) }]
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(shows[0].count, forKey: .cells)
        try c.encode(BinaryBlob.encodeVarints((clicks[0] + clicks[1]).map(\.total)), forKey: .clicks)
        try c.encode(BinaryBlob.encodeVarints((shows[0] + shows[1]).map { Int128($0) }), forKey: .shows)
    }

    /// Clicks per fold (of two, by row-key hash) and (item, position) cell, exact.
    public internal(set) var clicks: [[ExactSum]]
    /// Impressions per fold and cell, in the same layout.
    public internal(set) var shows: [[Int]]

    init(cells: Int) {
        clicks = Array(repeating: Array(repeating: ExactSum(), count: cells), count: 2)
        shows = Array(repeating: Array(repeating: 0, count: cells), count: 2)
    }

    @inline(__always) mutating func add(fold: Int, cell: Int, reward: Double) {
        clicks[fold][cell].add(reward)
        shows[fold][cell] += 1
    }

    mutating func merge(_ o: RewardCounts) {
        for f in 0..<2 {
            for c in clicks[f].indices {
                clicks[f][c].add(o.clicks[f][c])
                shows[f][c] += o.shows[f][c]
            }
        }
    }
}

/// Weight diagnostics as sums: the largest weight, counts above caps, and the cap table's sums.
public struct WeightSums: Sendable, Equatable, Codable {
    static let tableCaps: [Double] = [1, 2, 5, 10, 20, 50, 100]
    /// The largest weight.
    public var maxWeight: Double = 0
    /// Caps of `above` (the table caps, then the evaluation's caps).
    public var aboveCaps: [Double]
    /// Rows whose weight exceeds each of `aboveCaps`.
    public var above: [Int]
    /// Per table cap: Σ min(w, c)·r and Σ min(w, c).
    public var capReward: [CompensatedSum]
    /// Per table cap, Σ min(w, c).
    public var capWeight: [CompensatedSum]
    /// Rows by weight, in `histogramBins` bins (nil in states written before it existed).
    public var histogram: [Int]?
    /// The distinct (weight, reward) pairs with their counts, for the empirical-likelihood
    /// interval (nil when it was not asked for).
    public var pairs: WeightRewardCounts?
    /// Balanced IPW's cells (nil when it was not asked for, or before the first row).
    public var balanced: BalancedCells?

    /// The weight histogram's binary exponents: bins are w = 0, 0 < w < 2⁻¹⁰, [2ᵉ, 2ᵉ⁺¹) for
    /// e = −10 … 19, and w ≥ 2²⁰.
    static let histogramExponents = -10..<20
    static let histogramBins = histogramExponents.count + 3

    init(caps: [Double], pairs: Bool = false) {
        if pairs { self.pairs = WeightRewardCounts() }
        aboveCaps = Self.tableCaps + caps
        above = Array(repeating: 0, count: aboveCaps.count)
        capReward = Array(repeating: CompensatedSum(), count: Self.tableCaps.count)
        capWeight = capReward
        histogram = Array(repeating: 0, count: Self.histogramBins)
    }

    /// The histogram bin of weight w ≥ 0 (its binary exponent, read off the bits).
    @inline(__always) static func histogramBin(_ w: Double) -> Int {
        if w == 0 { return 0 }
        if w < 0x1p-10 { return 1 }
        if w >= 0x1p20 { return histogramBins - 1 }
        return 2 + Int(w.exponent) - histogramExponents.lowerBound
    }

    @inline(__always) mutating func add(weight w: Double, reward r: Double) {
        maxWeight = max(maxWeight, w)
        if histogram != nil, w >= 0 { histogram![Self.histogramBin(w)] += 1 }
        aboveCaps.withUnsafeBufferPointer { caps in
            above.withUnsafeMutableBufferPointer { a in
                for i in 0..<caps.count where w > caps[i] { a[i] += 1 }
            }
        }
        capReward.withUnsafeMutableBufferPointer { cr in
            capWeight.withUnsafeMutableBufferPointer { cw in
                for i in 0..<cr.count {
                    let wc = min(w, Self.tableCaps[i])
                    cr[i].add(wc * r)
                    cw[i].add(wc)
                }
            }
        }
    }

    /// Adds rows `rows` of a chunk, in order.
    mutating func add(_ rows: Range<Int>, weights w: [Double], rewards r: [Double]) {
        for j in rows { add(weight: w[j], reward: r[j]) }
        if pairs != nil {
            for j in rows { pairs!.add(weight: w[j], reward: r[j]) }
        }
    }

    mutating func merge(_ o: WeightSums) {
        maxWeight = max(maxWeight, o.maxWeight)
        if let h = o.histogram, histogram?.count == h.count {
            for i in h.indices { histogram![i] += h[i] }
        } else {
            histogram = nil  // a state written before histograms existed: none in the report
        }
        if let q = o.pairs { pairs?.merge(q) }
        if let q = o.balanced {
            if balanced == nil { balanced = q } else { balanced!.merge(q) }
        }
        for i in above.indices { above[i] += o.above[i] }
        for i in capReward.indices {
            capReward[i].add(o.capReward[i])
            capWeight[i].add(o.capWeight[i])
        }
    }
}

/// One pass's sums of a target policy: the terms its estimators need over all rows, and per
/// grouping (pieceNCIS) the terms per group. The columns follow the evaluation's
/// `EstimatorPlan`, which the settings determine.
public struct PassSums: Sendable, Equatable, Codable {
    /// The terms' sums over all rows.
    public internal(set) var all: SumBlock
    /// Per grouping of the pass (in the plan's order), its groups' sums.
    public internal(set) var groups: [GroupedSums]
    /// A reward-model pass with empirical-likelihood intervals: the distinct (weight, DR term)
    /// pairs of its rows, w and DMᵢ + wᵢ·(rᵢ − q̂ᵢ) (nil otherwise).
    public internal(set) var likelihood: WeightRewardCounts?
    /// With `likelihood`: the logged ranges of the pass's DM and predictions.
    public internal(set) var likelihoodModel: ModelRange?

    init(_ layout: PassLayout, replicates: Int) {
        all = SumBlock(layout.all.block, replicates: replicates)
        groups = layout.groupings.map { _ in GroupedSums() }
    }

    mutating func flush() {
        all.flush()
        for g in groups.indices { groups[g].flush() }
    }

    mutating func merge(_ o: PassSums, _ layout: PassLayout, replicates: Int) {
        all.merge(o.all)
        for g in groups.indices { groups[g].merge(o.groups[g], layout.grouped[g].block, replicates: replicates) }
        if let q = o.likelihood {
            if likelihood == nil { likelihood = q } else { likelihood!.merge(q) }
        }
        if let m = o.likelihoodModel {
            if likelihoodModel == nil { likelihoodModel = m } else { likelihoodModel!.merge(m) }
        }
    }

    /// Whether the blocks have the layout's shape.
    func matches(_ layout: PassLayout, replicates b: Int) -> Bool {
        all.matches(layout.all.block, replicates: b) && groups.count == layout.grouped.count
            && zip(groups, layout.grouped).allSatisfy { g, l in
                g.blocks.allSatisfy { $0.matches(l.block, replicates: b) }
            }
    }
}

/// One target policy's sums.
public struct PolicySums: Sendable, Equatable, Codable {
    /// Weight diagnostics' sums (pass 1).
    public var weights: WeightSums
    /// Per pass that sums estimator terms (ratios, click-rate model, logistic model, in that
    /// order), its sums; nil for a pass not reached or not needed.
    public var passes: [PassSums?]

    /// The sums of `pass`, if it has run or is running.
    subscript(_ pass: SumPass) -> PassSums? {
        get { passes[pass.rawValue] }
        set { passes[pass.rawValue] = newValue }
    }
}

/// The logistic model's Newton state: the coefficients this pass evaluates at, and the sums of
/// the gradient and (upper-triangle, row-major) Hessian of the log-likelihood over rows.
public struct NewtonSums: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey { case design, theta, gradient, hessian, converged }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        design = try c.decode(LogisticDesign.self, forKey: .design)
        let P = design.parameters
        guard P >= 1, P <= LogisticDesign.maxParameters else {
            throw DecodingError.dataCorruptedError(
                forKey: .design, in: c, debugDescription: "impossible coefficient count")
        }
        theta = try c.doubleBlob(.theta, count: P)
        gradient = try c.varints(.gradient, count: P).map(ExactSum.init(total:))
        hessian = try c.varints(.hessian, count: P * (P + 1) / 2).map(ExactSum.init(total:))
        converged = try c.decode(Bool.self, forKey: .converged)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(design, forKey: .design)
        try c.encode(BinaryBlob.encode(theta), forKey: .theta)
        try c.encode(BinaryBlob.encodeVarints(gradient.map(\.total)), forKey: .gradient)
        try c.encode(BinaryBlob.encodeVarints(hessian.map(\.total)), forKey: .hessian)
        try c.encode(converged, forKey: .converged)
    }

    init(design: LogisticDesign, theta: [Double], gradient: [ExactSum], hessian: [ExactSum]) {
        self.design = design
        self.theta = theta
        self.gradient = gradient
        self.hessian = hessian
    }

    /// The model's terms.
    public var design: LogisticDesign
    /// The coefficients this pass evaluates at.
    public var theta: [Double]
    /// Σ over rows of the log-likelihood's gradient (exact fixed point).
    public var gradient: [ExactSum]
    /// Σ over rows of its Hessian, upper triangle row-major.
    public var hessian: [ExactSum]
    /// Coefficients fitted (set when the iterations have converged).
    public var converged = false
}

/// Everything a shard contributes to an offline evaluation, and what earlier passes fitted.
///
/// A state is small (it grows with policies, caps, groups and bootstrap replicates, never with
/// rows), versioned and self-describing; `merge` adds the current pass's sums and requires
/// everything else to be equal.
public struct OffPolicyState: Sendable, Equatable, Codable {
    /// The `format` every state file carries.
    public static let formatName = "reckit-offline-ab-state"
    /// The state file version this build writes and reads.
    public static let currentVersion = 3

    /// The file's format name.
    public var format = OffPolicyState.formatName
    /// The file's version.
    public var version = OffPolicyState.currentVersion
    /// The settings (states merge only when equal).
    public var settings: StateSettings
    /// The pass these sums belong to.
    public var pass: EvaluationPass = .ratios
    /// Passes completed before this one.
    public var completedPasses = 0
    /// The sources the rows came from (for the report).
    public var sources: [String] = []
    /// Rows read in this pass.
    public var rows = 0
    /// Σ of the logged rewards (the logged mean's numerator).
    public var rewardSum = ExactSum()
    /// Clicks and impressions per (item, position), for the click-rate model.
    public var counts: RewardCounts
    /// Per context column name, the rows per value (the logistic model's levels).
    public var contextLevels: [String: [String: Int]] = [:]
    /// Per target policy, its sums.
    public var policies: [PolicySums]
    /// Per value-model grouping, the bucket cut points of the cross-fitted predictions.
    public var valueCuts: [[Double]] = []
    /// The logistic model's Newton sums (nil when it is not fitted).
    public var newton: NewtonSums?
    /// Messages of the fitting steps (model skipped, not converged).
    public var notes: [String] = []
    /// The shards whose rows this pass's sums hold (one for a shard's own state; every one for a
    /// merge). A merge refuses a shard twice.
    public var shards: [ShardIdentity] = []
    /// The shards the previous pass covered: a later pass must cover exactly these.
    public var earlierShards: [ShardIdentity] = []
    /// With a row-key column: the smallest (up to `rowKeySketchSize`) distinct hashes of the row
    /// keys the ratio pass read (a k-minimum-values sketch, mergeable), so the number of distinct
    /// keys is known exactly when it is small: rows that share a key share their bootstrap weights,
    /// and a key with few values leaves the bootstrap few clusters to resample.
    public var rowKeySketch: [UInt64] = []
    /// The sketch's size.
    public static let rowKeySketchSize = 256
    /// Fewer distinct row keys than this draw a warning in the report.
    public static let fewRowKeys = 50

    /// In a file only: a hash of the rest of the state's encoding, so that an edited or
    /// damaged file is refused (nil in memory).
    public var checksum: String?
}

/// One shard's rows in a pass, identified by their content: merges refuse the same shard twice,
/// a later pass run twice on one shard, and shards read with and without row keys.
public struct ShardIdentity: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// Σ over the rows (mod 2⁶⁴) of a hash of the row's key (its `--row-key` value, else its
    /// line) and content (item, position, reward, propensity): the same for any chunking or row
    /// order, and for every pass over the same rows.
    public var fingerprint: UInt64 = 0
    /// The rows.
    public var rows = 0
    /// Whether the row keys came from a `--row-key` column (bootstrap weights and folds depend on
    /// it, so shards of both kinds do not merge).
    public var keyed = false

    /// A shard with no rows yet.
    public init() {}

    /// Adds a chunk's rows.
    mutating func add(_ c: LogChunk) {
        for j in 0..<c.count {
            let key = c.rowKeyed ? c.rowKeys[j] : UInt64(c.lines?[j] ?? 0)
            var h = RowHash.mix(key ^ 0x5348_4152_4400_0000)
            h = RowHash.mix(
                h ^ (UInt64(UInt32(bitPattern: c.items[j])) << 32 | UInt64(UInt32(bitPattern: c.positions[j]))))
            h = RowHash.mix(h ^ c.rewards[j].bitPattern)
            if let p = c.propensities { h = RowHash.mix(h ^ p[j].bitPattern) }
            fingerprint &+= h
        }
        rows += c.count
    }

    public var description: String {
        "\(rows) rows, fingerprint \(String(fingerprint, radix: 16))\(keyed ? ", keyed" : "")"
    }
}
