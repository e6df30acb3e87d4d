import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Which importance weight a slate estimator puts on a row: the target's probability over the
/// logging policy's, of the whole slate (SIPS), of the row's item at its position (IIPS), or of
/// the slate's items down to the row's position (RIPS, the cascade).
public enum SlateWeighting: String, CaseIterable, Sendable, Codable {
    /// `target_slate_propensity / slate_propensity` (OBP's SlateStandardIPS).
    case standard
    /// `target_propensity / propensity` (OBP's SlateIndependentIPS).
    case independent
    /// `target_cascade_propensity / cascade_propensity` (OBP's SlateRewardInteractionIPS).
    case interaction
    /// The cascade weights with a reward model (OBP's SlateCascadeDoublyRobust): per row
    /// w_p·(r − q̂(a_p, p)) + w_{p−1}·Σ_b π(b at p | the slate above)·q̂(b, p). Needs a target
    /// policy with `RankingProbabilities` (its conditional next-item probabilities) and the
    /// click-rate model (a first pass over the log).
    case cascadeDoublyRobust
    /// The pseudo-inverse weight ψ(s) = Σ_j θ(j, s_j), θ = Γ⁺q (`SlatePseudoInverse`), the same
    /// for every row of a slate (Swaminathan et al. 2017's PI; in no other library). Needs a
    /// target policy and a uniform or Plackett–Luce logging policy.
    case pseudoInverse

    /// The estimator that sums w·r over the rows, per slate.
    public var estimator: Estimator {
        switch self {
        case .standard: return .SIPS
        case .independent: return .IIPS
        case .interaction: return .RIPS
        case .cascadeDoublyRobust: return .CascadeDR
        case .pseudoInverse: return .PI
        }
    }

    /// Its self-normalised version (none for Cascade-DR).
    public var selfNormalized: Estimator? {
        switch self {
        case .standard: return .SNSIPS
        case .independent: return .SNIIPS
        case .interaction: return .SNRIPS
        case .cascadeDoublyRobust: return nil
        case .pseudoInverse: return .SNPI
        }
    }

    /// The target's and the logging policy's probability columns (the logging one nil for the
    /// logged item-position propensity, `LogChunk.propensities`); nil for PI, whose weights are
    /// computed per slate (`LogChunk.slatePseudoInverse`).
    var roles: (target: SlateProbability, logging: SlateProbability?)? {
        switch self {
        case .pseudoInverse: return nil
        case .standard: return (.targetSlatePropensity, .slatePropensity)
        case .independent: return (.targetPropensity, nil)
        case .interaction, .cascadeDoublyRobust: return (.targetCascadePropensity, .cascadePropensity)
        }
    }

    /// The weightings a log's columns allow, in this order (Cascade-DR needs a target policy).
    public static func available(_ columns: LogColumns) -> [SlateWeighting] {
        allCases.filter { w in
            guard w != .cascadeDoublyRobust, let roles = w.roles else { return false }
            return columns.slateProbabilities[roles.target] != nil
                && (roles.logging.map { columns.slateProbabilities[$0] != nil } ?? (columns.propensity != nil))
        }
    }
}

/// What a slate evaluation computes.
public struct SlateSettings: Sendable, Equatable, Codable {
    /// Positions 0..<depth (1…64).
    public var depth: Int
    /// The weightings to estimate with (each gives its IPS and self-normalised estimate).
    public var weightings: [SlateWeighting]
    /// Poisson bootstrap replicates (0: normal intervals only).
    public var bootstrap: Int = 0
    /// Nominal coverage of the intervals.
    public var level: Double = 0.95
    /// The bootstrap's seed.
    public var seed: UInt64 = 0

    /// Settings for `depth` positions and `weightings`.
    public init(depth: Int, weightings: [SlateWeighting]) {
        self.depth = depth
        self.weightings = weightings
    }

    /// The limit of `depth`: a slate's normal intervals sum (3·depth)² products per weighting.
    public static let maxDepth = 64

    func validated() throws(RecOPEError) {
        guard depth >= 1, depth <= Self.maxDepth else {
            throw .invalidParameter("slate depth \(depth): must be in 1…\(Self.maxDepth)")
        }
        guard !weightings.isEmpty, Set(weightings).count == weightings.count else {
            throw .invalidParameter("slate weightings: give each of standard, independent, interaction at most once")
        }
        guard bootstrap >= 0, bootstrap <= 10_000 else {
            throw .invalidParameter("bootstrap replicates \(bootstrap): must be in 0…10000")
        }
        guard level > 0, level < 1 else { throw .invalidParameter("level \(level): must be in (0, 1)") }
    }

    /// One slate's vector: [1, m_0…m_{K−1}, then per weighting a_0…a_{K−1}, b_0…b_{K−1}], with m_p
    /// the slate's rows at position p, a_p their Σ w·r and b_p their Σ w.
    var width: Int { 1 + depth + 2 * depth * weightings.count }
    func a(_ wi: Int, _ p: Int) -> Int { 1 + depth + 2 * depth * wi + p }
    func b(_ wi: Int, _ p: Int) -> Int { 1 + depth + 2 * depth * wi + depth + p }
    func m(_ p: Int) -> Int { 1 + p }

    /// The products the delta method needs: within each weighting, every pair of its a, b and m
    /// entries (and their squares).
    var layout: BlockLayout {
        var pairs = [(Int, Int)]()
        var seen = Set<Int>()
        for wi in weightings.indices {
            let cols = (0..<depth).map { m($0) } + (0..<depth).map { a(wi, $0) } + (0..<depth).map { b(wi, $0) }
            for i in cols.indices {
                for j in i..<cols.count {
                    let key = cols[i] * width + cols[j]
                    if seen.insert(key).inserted { pairs.append((cols[i], cols[j])) }
                }
            }
        }
        return BlockLayout(width: width, pairs: pairs)
    }
}

/// One slate's partial sums while its rows are read (a slate at a shard's edge stays open: it may
/// continue in the neighbouring shard).
struct OpenSlate: Sendable, Equatable, Codable {
    var key: UInt64
    var x: [Double]

    mutating func add(_ o: OpenSlate) { for i in x.indices { x[i] += o.x[i] } }
}

/// The mergeable state of a slate evaluation: the sums over closed slates, and the first and the
/// last slate of the rows read, still open. Shards of one log merged in file order give the
/// single pass's values (a slate split between two shards is joined at the merge).
public struct SlateState: Sendable, Equatable, Codable {
    /// The settings.
    public let settings: SlateSettings
    /// Rows read.
    public internal(set) var rows = 0
    var block: SumBlock
    var first: OpenSlate?
    var last: OpenSlate?
    /// Per weighting, over rows: Σ w² and the largest w (the diagnostics).
    var weightSquares: [CompensatedSum]
    var maxWeights: [Double]
    /// From the settings (not encoded): the block's layout, and scratch for closing a slate.
    let layout: BlockLayout
    var poisson: [UInt8]
    var fixed: [Int64]

    enum CodingKeys: String, CodingKey { case settings, rows, block, first, last, weightSquares, maxWeights }

    /// An empty state.
    public init(settings: SlateSettings) throws(RecOPEError) {
        try settings.validated()
        self.settings = settings
        layout = settings.layout
        block = SumBlock(layout, replicates: settings.bootstrap)
        weightSquares = settings.weightings.map { _ in CompensatedSum() }
        maxWeights = settings.weightings.map { _ in 0 }
        poisson = [UInt8](repeating: 0, count: max(settings.bootstrap, 1))
        fixed = [Int64](repeating: 0, count: settings.width)
    }

    /// Decodes a state, checking its sums against its settings.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(settings: try c.decode(SlateSettings.self, forKey: .settings))
        rows = try c.decode(Int.self, forKey: .rows)
        block = try c.decode(SumBlock.self, forKey: .block)
        first = try c.decodeIfPresent(OpenSlate.self, forKey: .first)
        last = try c.decodeIfPresent(OpenSlate.self, forKey: .last)
        weightSquares = try c.decode([CompensatedSum].self, forKey: .weightSquares)
        maxWeights = try c.decode([Double].self, forKey: .maxWeights)
        let w = settings.width
        guard block.matches(layout, replicates: settings.bootstrap), rows >= 0,
            [first, last].allSatisfy({ $0.map { $0.x.count == w } ?? true }),
            weightSquares.count == settings.weightings.count, maxWeights.count == settings.weightings.count
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .block, in: c, debugDescription: "the slate sums do not match the settings")
        }
    }

    /// Equal settings, rows, sums and open slates.
    public static func == (a: SlateState, b: SlateState) -> Bool {
        a.settings == b.settings && a.rows == b.rows && a.block == b.block && a.first == b.first
            && a.last == b.last && a.weightSquares == b.weightSquares && a.maxWeights == b.maxWeights
    }

    /// Adds the rows of `c` (in file order, after the rows already added).
    /// - Throws: `.malformedFile` naming the row for a position past the depth, a missing
    ///   column, a slate whose rows are not consecutive within the chunk, or a weight past 2⁶²;
    ///   `.invalidParameter` if the chunk has no slate column.
    public mutating func add(_ c: LogChunk) throws(RecOPEError) {
        guard let slates = c.slates else {
            throw .invalidParameter("slate estimators need a slate column (column mapping: slate=COL)")
        }
        let s = settings
        let K = s.depth
        var weights = [[Double]]()
        for w in s.weightings {
            guard let (tr, lr) = w.roles else {
                guard let psi = c.slatePseudoInverse else {
                    throw .invalidParameter("PI needs its slate weights (a target policy and a logging policy)")
                }
                let wi = weights.count
                for x in psi {
                    weightSquares[wi].add(x * x)
                    maxWeights[wi] = max(maxWeights[wi], x)
                }
                weights.append(psi)
                continue
            }
            guard let t = c.slateProbabilities[tr] else {
                throw .invalidParameter("\(w.estimator.rawValue) needs a \(tr.rawValue) column")
            }
            guard let l = lr.map({ c.slateProbabilities[$0] }) ?? c.propensities else {
                throw .invalidParameter(
                    "\(w.estimator.rawValue) needs a \(lr?.rawValue ?? "propensity") column")
            }
            if w == .cascadeDoublyRobust && c.slateDoublyRobust == nil {
                throw .invalidParameter("CascadeDR needs its row terms (a target policy and the click-rate model)")
            }
            let w = zip(t, l).map { $0 / $1 }
            let wi = weights.count
            for x in w {
                weightSquares[wi].add(x * x)
                maxWeights[wi] = max(maxWeights[wi], x)
            }
            weights.append(w)
        }
        // Slates closed in this chunk, to refuse one that comes back.
        var closed = Set<UInt64>()
        for j in 0..<c.count {
            let p = Int(c.positions[j])
            guard p < K else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j],
                    message: "position \(p) is past the slate depth \(K) (positions 0…\(K - 1))")
            }
            let key = slates[j]
            if (last ?? first)?.key != key {
                if let cur = last ?? first { closed.insert(cur.key) }
                guard !closed.contains(key) else {
                    throw .malformedFile(
                        file: c.source, line: c.lines?[j],
                        message:
                            "the row's slate came before, with other slates between: a slate's rows must be consecutive"
                    )
                }
                let fresh = OpenSlate(key: key, x: [Double](repeating: 0, count: s.width))
                if first == nil {
                    first = fresh
                } else if last == nil {
                    last = fresh
                } else {
                    try close(last!, c, j)
                    last = fresh
                }
            }
            let r = c.rewards[j]
            let fits = withCurrent { x in
                x[s.m(p)] += 1
                var ok = true
                for wi in weights.indices {
                    let w = weights[wi][j]
                    x[s.a(wi, p)] += s.weightings[wi] == .cascadeDoublyRobust ? c.slateDoublyRobust![j] : w * r
                    x[s.b(wi, p)] += w
                    ok = ok && ExactSum.fits(x[s.a(wi, p)]) && ExactSum.fits(x[s.b(wi, p)])
                }
                return ok
            }
            guard fits else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j],
                    message: "the slate's weights pass 2⁶² (a logging probability is near 0 where the target's is not)")
            }
        }
        rows += c.count
    }

    private mutating func withCurrent<T>(_ body: (inout [Double]) -> T) -> T {
        last != nil ? body(&last!.x) : body(&first!.x)
    }

    /// Adds a closed slate to the sums (its Poisson weights from its key).
    private mutating func close(_ slate: OpenSlate, _ c: LogChunk?, _ j: Int) throws(RecOPEError) {
        var x = slate.x
        x[0] = 1
        if settings.bootstrap > 0 {
            let base = RowHash.base(key: slate.key, seed: settings.seed, purpose: 0x51A7)
            poisson.withUnsafeMutableBufferPointer { wb in
                RowHash.poissonThresholds.withUnsafeBufferPointer { t in
                    RowHash.poissonWeights(base: base, into: wb, thresholds: t)
                }
            }
        }
        let layout = layout
        let ok = x.withUnsafeBufferPointer { xb in
            poisson.withUnsafeBufferPointer { wb in
                fixed.withUnsafeMutableBufferPointer { f in block.add(xb, layout, weights: wb, fixed: f) }
            }
        }
        guard ok else {
            throw .malformedFile(
                file: c?.source ?? "slates", line: c.flatMap { $0.lines?[j] },
                message: "a slate's weighted sums pass the bootstrap's exact range (2²⁰): use --bootstrap 0")
        }
    }

    /// Joins `other` (the rows after this state's, e.g. the next shard) into this state.
    public mutating func merge(_ other: SlateState) throws(RecOPEError) {
        guard other.settings == settings else {
            throw .invalidParameter("slate states of different settings cannot be merged")
        }
        var edges = [first, last].compactMap { $0 }
        for e in [other.first, other.last].compactMap({ $0 }) {
            if let k = edges.last, k.key == e.key {
                edges[edges.count - 1].add(e)
            } else {
                edges.append(e)
            }
        }
        block.merge(other.block)
        rows += other.rows
        for i in weightSquares.indices {
            weightSquares[i].add(other.weightSquares[i])
            maxWeights[i] = max(maxWeights[i], other.maxWeights[i])
        }
        first = edges.first
        last = edges.count > 1 ? edges.last : nil
        if edges.count > 2 { for e in edges[1..<(edges.count - 1)] { try close(e, nil, 0) } }
    }

    /// The state with its edge slates closed (no more rows or shards follow).
    func closed() throws(RecOPEError) -> SlateState {
        var s = self
        if let f = s.first { try s.close(f, nil, 0) }
        if let l = s.last { try s.close(l, nil, 0) }
        s.first = nil
        s.last = nil
        s.block.flush()
        return s
    }

    /// The slates read (a slate split between shards counts once after their merge).
    public var slates: Double { block.sum(0) + Double([first, last].compactMap { $0 }.count) }

    /// The first weighting's row weights: effective sample size (Σw)² / Σw², largest and mean.
    public func diagnostics() -> WeightDiagnostics {
        var sw = CompensatedSum()
        for p in 0..<settings.depth { sw.add(block.sum(settings.b(0, p))) }
        for e in [first, last].compactMap({ $0 }) { for p in 0..<settings.depth { sw.add(e.x[settings.b(0, p)]) } }
        let w2 = weightSquares[0].value
        return WeightDiagnostics(
            effectiveSampleSize: w2 > 0 ? sw.value * sw.value / w2 : 0, maxWeight: maxWeights[0],
            meanWeight: sw.value / Double(max(rows, 1)), shareAboveCap: [], unsupportedMass: nil, capTable: [],
            weightHistogram: nil)
    }

    /// Each weighting's IPS and self-normalised estimate of the target's expected sum of rewards
    /// over a slate's positions, as OBP defines them, with normal (delta-method over slates) and,
    /// with replicates, Poisson-bootstrap intervals (replicates drawn per slate).
    public func estimates(policy: String) throws(RecOPEError) -> [Estimate] {
        let s = try closed()
        let layout = s.layout
        var pairIndex = [Int: Int]()
        for (i, p) in layout.pairs.enumerated() { pairIndex[p.0 * s.settings.width + p.1] = i }
        let n = s.block.sum(0)
        guard n > 0 else { throw .invalidParameter("the slate log has no rows") }
        let z = (0..<s.settings.width).map { s.block.sum($0) / n }
        func cov(_ i: Int, _ j: Int) -> Double {
            let (a, b) = i <= j ? (i, j) : (j, i)
            let sxy = s.block.product(pairIndex[a * s.settings.width + b]!)
            return (sxy - n * z[a] * z[b]) / max(n - 1, 1)
        }
        let q = SpecialFunctions.normalQuantile(0.5 + settings.level / 2)
        var out = [Estimate]()
        for (wi, w) in s.settings.weightings.enumerated() {
            for sn in w.selfNormalized == nil ? [false] : [false, true] {
                // The value as a function of the slate means, and its gradient.
                let (v, g) = Self.value(z, s.settings, wi, selfNormalized: sn)
                var variance = 0.0
                let idx = Array(g.keys)
                for i in idx { for j in idx { variance += g[i]! * g[j]! * cov(i, j) } }
                let se = (max(variance, 0) / n).squareRoot()
                let normal = Interval(low: v - q * se, high: v + q * se)
                var interval = normal
                var method = IntervalMethod.normal
                if let reps = s.block.replicates, reps.replicates > 0 {
                    var vals = [Double]()
                    for b in 0..<reps.replicates {
                        let nb = reps.value(replicate: b, feature: 0)
                        guard nb > 0 else { continue }
                        let zb = (0..<s.settings.width).map { reps.value(replicate: b, feature: $0) / nb }
                        let vb = Self.value(zb, s.settings, wi, selfNormalized: sn).0
                        if vb.isFinite { vals.append(vb) }
                    }
                    if let b = OffPolicyState.percentileInterval(vals, level: settings.level) {
                        interval = b
                        method = .poissonBootstrap
                    }
                }
                out.append(
                    Estimate(
                        policy: policy, estimator: sn ? w.selfNormalized! : w.estimator, cap: nil, grouping: nil,
                        model: nil, value: v, interval: interval, method: method, normal: normal))
            }
        }
        return out
    }

    /// PI's check of its logging policy: under it E[ψ] = 1, so the slates' mean ψ (with its standard
    /// error over slates) far from 1 says the log was not drawn from the `--logging` policy (or the
    /// target's pairs are not covered). Nil without PI, or within 4 standard errors of 1.
    public func pseudoInverseCheck() throws(RecOPEError) -> String? {
        guard let wi = settings.weightings.firstIndex(of: .pseudoInverse) else { return nil }
        let s = try closed()
        var pairIndex = [Int: Int]()
        for (i, p) in s.layout.pairs.enumerated() { pairIndex[p.0 * s.settings.width + p.1] = i }
        let n = s.block.sum(0)
        guard n > 1 else { return nil }
        let K = Double(settings.depth)
        let cols = (0..<settings.depth).map { settings.b(wi, $0) }
        // ψ per slate = Σ_p b_p / K (every slate fills the K positions).
        var mean = 0.0
        for c in cols { mean += s.block.sum(c) / n }
        var variance = 0.0
        for a in cols {
            for b in cols {
                let (x, y) = a <= b ? (a, b) : (b, a)
                let sxy = s.block.product(pairIndex[x * s.settings.width + y]!)
                variance += (sxy - n * (s.block.sum(x) / n) * (s.block.sum(y) / n)) / (n - 1)
            }
        }
        let psi = mean / K
        let se = (max(variance, 0) / n).squareRoot() / K
        guard abs(psi - 1) > 4 * se else { return nil }
        return
            "PI: the slates' mean weight ψ is \(cFormat("%.4g", psi)) ± \(cFormat("%.2g", se)) (standard error), not 1 as under the --logging policy: the log does not look drawn from it, and PI is then biased"
    }

    /// A weighting's estimate from the slate means z (n slates): IPS Σ_p ā_p; the self-normalised
    /// one Σ_p ā_p·m̄_p / b̄_p (per position, as OBP normalises IIPS and RIPS) or, for the whole-
    /// slate weight, Σā·Σm̄ / Σb̄; with its gradient in z (for the delta method).
    static func value(_ z: [Double], _ s: SlateSettings, _ wi: Int, selfNormalized: Bool) -> (Double, [Int: Double]) {
        let K = s.depth
        var g = [Int: Double]()
        if !selfNormalized {
            var v = 0.0
            for p in 0..<K {
                v += z[s.a(wi, p)]
                g[s.a(wi, p)] = 1
            }
            return (v, g)
        }
        if s.weightings[wi] == .standard || s.weightings[wi] == .pseudoInverse {
            var (A, B, M) = (0.0, 0.0, 0.0)
            for p in 0..<K {
                A += z[s.a(wi, p)]
                B += z[s.b(wi, p)]
                M += z[s.m(p)]
            }
            guard B > 0 else { return (0, [:]) }
            for p in 0..<K {
                g[s.a(wi, p)] = M / B
                g[s.b(wi, p)] = -A * M / (B * B)
                g[s.m(p)] = A / B
            }
            return (A * M / B, g)
        }
        var v = 0.0
        for p in 0..<K {
            let (a, b, m) = (z[s.a(wi, p)], z[s.b(wi, p)], z[s.m(p)])
            guard b > 0 else { continue }  // no weight at p: no rows there, or none the target shows
            v += a * m / b
            g[s.a(wi, p)] = m / b
            g[s.b(wi, p)] = -a * m / (b * b)
            g[s.m(p)] = a / b
        }
        return (v, g)
    }
}

/// A target policy of a slate evaluation: its item-position probabilities from its rank
/// marginals (IIPS), its slate and cascade probabilities where it has them
/// (`RankingProbabilities`: Plackett–Luce and uniform; SIPS and RIPS).
public struct SlateTarget: Sendable {
    /// The report's name for it.
    public var name: String
    /// The policy.
    public var policy: any RankingPolicy
    /// Its rank marginals at the evaluated depth (exact or Monte Carlo, as the caller chose).
    public var marginals: RankMarginals
    /// The reward model of Cascade-DR (nil: no Cascade-DR).
    public var clickRates: SlateClickRates?
    /// PI's coefficients against the logging policy (nil: no PI).
    public var pseudoInverse: SlatePseudoInverse?
    /// Slate and cascade probabilities by Monte Carlo, for a policy without them in closed form
    /// (Thompson sampling, epsilon-greedy): SIPS and RIPS then use these (nil: IIPS and PI only).
    public var monteCarlo: MonteCarloSlateProbabilities?
    /// The policy's slate probabilities, prepared (nil: it has none).
    let softmax: SequentialSoftmax?

    /// A named target with its marginals.
    public init(name: String, policy: any RankingPolicy, marginals: RankMarginals, clickRates: SlateClickRates? = nil) {
        self.name = name
        self.policy = policy
        self.marginals = marginals
        self.clickRates = clickRates
        softmax = SequentialSoftmax(policy)
    }

    /// The weightings this target and the log's logging columns allow.
    func weightings(_ columns: LogColumns) -> [SlateWeighting] {
        SlateWeighting.allCases.filter { w in
            switch w {
            case .independent: return columns.propensity != nil
            case .standard:
                return (softmax != nil || monteCarlo != nil) && columns.slateProbabilities[.slatePropensity] != nil
            case .interaction:
                return (softmax != nil || monteCarlo != nil) && columns.slateProbabilities[.cascadePropensity] != nil
            case .cascadeDoublyRobust:
                return (softmax != nil || monteCarlo != nil) && columns.slateProbabilities[.cascadePropensity] != nil
                    && clickRates != nil
            case .pseudoInverse: return pseudoInverse != nil
            }
        }
    }

    /// The target's probability columns of `c`'s rows, whose slates are all whole: the item at its
    /// position from the marginals; the slate's items down to the row's position and the whole
    /// slate from `prefixProbabilities` (a slate's positions must then be 0, 1, … without gaps);
    /// Cascade-DR's row terms; PI's slate weights (every slate then fills the PI's depth).
    /// - Throws: `.malformedFile` naming the line of an item outside the policy's, a position past
    ///   its marginals, a slate with a missing position, or (PI) a slate shorter than the depth.
    func probabilities(_ c: LogChunk, _ weightings: [SlateWeighting]) throws(RecOPEError)
        -> (columns: [SlateProbability: [Double]], doublyRobust: [Double]?, pseudoInverse: [Double]?)
    {
        var out = [SlateProbability: [Double]]()
        let M = marginals
        func bad(_ j: Int, _ m: String) -> RecOPEError {
            .malformedFile(file: c.source, line: c.lines?[j], message: "\(name): \(m)")
        }
        for j in 0..<c.count where Int(c.items[j]) >= M.items || Int(c.positions[j]) >= M.k {
            throw bad(
                j, "item \(c.items[j]) at position \(c.positions[j]) is outside its \(M.items) items × \(M.k) positions"
            )
        }
        if weightings.contains(.independent) {
            out[.targetPropensity] = (0..<c.count).map {
                M.probability(item: Int(c.items[$0]), rank: Int(c.positions[$0]))
            }
        }
        let dr = weightings.contains(.cascadeDoublyRobust) ? clickRates : nil
        let pi = weightings.contains(.pseudoInverse) ? pseudoInverse : nil
        let psi = try pi.map { (pi) throws(RecOPEError) in try Self.pseudoInverseWeights(c, pi, name: name) }
        guard weightings.contains(.standard) || weightings.contains(.interaction) || dr != nil,
            softmax != nil || monteCarlo != nil, let slates = c.slates
        else { return (out, nil, psi) }
        // Σ_b m_b·q̂(b, p) per position, for Cascade-DR's expectations.
        let weighted = dr.flatMap { q in softmax.map { ranker in (q, ranker) } }.map { (q, ranker) in
            (0..<M.k).map { p in
                var s = CompensatedSum()
                for b in 0..<min(q.items, ranker.masses.count) {
                    s.add(ranker.masses[b] * q.rate(item: b, position: p))
                }
                return s.value
            }
        }
        var whole = [Double](repeating: 0, count: c.count)
        var cascade = [Double](repeating: 0, count: c.count)
        var terms = [Double](repeating: 0, count: dr == nil ? 0 : c.count)
        let loggingCascade = c.slateProbabilities[.cascadePropensity]
        var lo = 0
        while lo < c.count {
            var hi = lo + 1
            while hi < c.count && slates[hi] == slates[lo] { hi += 1 }
            let rows = (lo..<hi).sorted { c.positions[$0] < c.positions[$1] }
            for (i, j) in rows.enumerated() where Int(c.positions[j]) != i {
                throw bad(
                    j,
                    "its slate has no row at position \(i) (a slate's positions must be 0, 1, … for its slate probabilities)"
                )
            }
            let prefix: [Double]
            do {
                let items = rows.map { Int(c.items[$0]) }
                if let ranker = softmax {
                    prefix = try ranker.prefix(items)
                } else {
                    prefix = monteCarlo!.prefixProbabilities(of: items)
                }
            } catch {
                throw bad(rows[0], "the slate's ranking: \(error)")
            }
            for (i, j) in rows.enumerated() {
                cascade[j] = prefix[i]
                whole[j] = prefix[prefix.count - 1]
            }
            if let q = dr, let lc = loggingCascade {
                // w_p·(r − q̂(a_p, p)) + w_{p−1}·Σ_b π(b at p | a_0…a_{p−1})·q̂(b, p), w_{−1} = 1;
                // π(b at p | …) in closed form, or from the Monte Carlo rankings' counts.
                let items = rows.map { Int(c.items[$0]) }
                var previous = 1.0
                for (i, j) in rows.enumerated() {
                    let expected: Double
                    if let ranker = softmax {
                        do {
                            expected = try ranker.expected(items, position: i, weighted: weighted![i]) {
                                q.rate(item: $0, position: i)
                            }
                        } catch { throw bad(j, "the slate's ranking: \(error)") }
                    } else {
                        expected = monteCarlo!.expected(after: Array(items[0..<i])) {
                            $0 < q.items ? q.rate(item: $0, position: i) : 0
                        }
                    }
                    let w = prefix[i] / lc[j]
                    terms[j] = w * (c.rewards[j] - q.rate(item: items[i], position: i)) + previous * expected
                    previous = w
                }
            }
            lo = hi
        }
        if weightings.contains(.standard) { out[.targetSlatePropensity] = whole }
        if weightings.contains(.interaction) || dr != nil { out[.targetCascadePropensity] = cascade }
        return (out, dr == nil ? nil : terms, psi)
    }

    /// Per row its slate's PI weight ψ; every slate must hold positions 0…K−1 (K the PI's depth),
    /// each once.
    static func pseudoInverseWeights(_ c: LogChunk, _ pi: SlatePseudoInverse, name: String) throws(RecOPEError)
        -> [Double]
    {
        guard let slates = c.slates else { return [] }
        var psi = [Double](repeating: 0, count: c.count)
        var lo = 0
        var items = [Int](repeating: 0, count: pi.depth)
        var filled = [Bool](repeating: false, count: pi.depth)
        while lo < c.count {
            var hi = lo + 1
            while hi < c.count && slates[hi] == slates[lo] { hi += 1 }
            for i in filled.indices { filled[i] = false }
            for j in lo..<hi {
                let p = Int(c.positions[j])
                guard p < pi.depth, !filled[p] else {
                    throw .malformedFile(
                        file: c.source, line: c.lines?[j],
                        message:
                            "\(name): PI needs each slate to hold positions 0…\(pi.depth - 1) once (position \(p)\(p < pi.depth ? " again" : ""))"
                    )
                }
                filled[p] = true
                items[p] = Int(c.items[j])
                guard !items[0..<p].contains(items[p]) || lo == j else {
                    throw .malformedFile(
                        file: c.source, line: c.lines?[j],
                        message: "\(name): item \(items[p]) appears twice in its slate")
                }
            }
            guard hi - lo == pi.depth else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[lo],
                    message:
                        "\(name): PI needs each slate to fill positions 0…\(pi.depth - 1) (the logging policy's slates have \(pi.depth) items); this one has \(hi - lo)"
                )
            }
            let w = pi.weight(of: items)
            for j in lo..<hi { psi[j] = w }
            lo = hi
        }
        return psi
    }
}

/// The click-rate model of a slate log (Cascade-DR's q̂): per (item, position)
/// q = (clicks + m·p̄ₖ) / (shows + m), p̄ₖ the position's mean reward, m the smoothing (10, as the
/// row estimators' click-rate model), fitted on every row (no cross-fitting).
public struct SlateClickRates: Sendable, Equatable {
    /// Items.
    public let items: Int
    /// Positions.
    public let depth: Int
    /// q for item i at position k at `i * depth + k`.
    public let rates: [Double]

    /// The rate of item `item` at `position`.
    public func rate(item: Int, position: Int) -> Double { rates[item * depth + position] }

    /// Fits the model by reading the log once (rows with an item ≥ `items` or a position ≥
    /// `depth` are left out: the target's probabilities refuse them later, naming the line).
    public static func fit(
        path: String, columns: LogColumns, items: Int, depth: Int, smoothing: Double = 10,
        parallelism: Parallelism = .automatic
    ) throws(RecOPEError) -> SlateClickRates {
        try fit(
            source: .file(path), columns: columns, items: items, depth: depth, smoothing: smoothing,
            parallelism: parallelism)
    }

    /// `fit` over a file or rows in memory.
    public static func fit(
        source: SlateLogSource, columns: LogColumns, items: Int, depth: Int, smoothing: Double = 10,
        parallelism: Parallelism = .automatic
    ) throws(RecOPEError) -> SlateClickRates {
        var counts = SlateClickCounts(items: items, depth: depth)
        try source.forEachChunk(columns: columns, parallelism: parallelism) { (c) throws(RecOPEError) in
            try counts.add(c)
        }
        return counts.rates(smoothing: smoothing)
    }
}

/// Where a slate evaluation reads its rows: a CSV file, or rows in memory (a table's columns,
/// `LogArrays.setSlates`), which give the same chunks.
public enum SlateLogSource: Sendable {
    /// A CSV file.
    case file(String)
    /// Rows in memory.
    case rows(LogArrays)

    /// The name reports and errors give the log.
    public var name: String {
        switch self {
        case .file(let p): return p
        case .rows(let r): return r.source
        }
    }

    /// The deepest position + 1.
    func deepestPosition(columns: LogColumns, parallelism: Parallelism) throws(RecOPEError) -> Int {
        switch self {
        case .file(let p): return try LogReader.deepestPosition(path: p, columns: columns, parallelism: parallelism)
        case .rows(let r): return r.depth
        }
    }

    /// Each chunk in order.
    func forEachChunk(
        columns: LogColumns, parallelism: Parallelism, _ body: (LogChunk) throws(RecOPEError) -> Void
    ) throws(RecOPEError) {
        switch self {
        case .file(let p):
            let reader = try LogReader(path: p, columns: columns, parallelism: parallelism)
            while let c = try reader.next() { try body(c) }
        case .rows(let r):
            guard r.slates != nil else {
                throw .invalidParameter("the rows have no slate column (LogArrays.setSlates)")
            }
            try r.forEachChunk(body)
        }
    }
}

/// The click-rate model's counts: per (item, position) the rows and their rewards' exact sum.
/// Shards' counts add to the whole log's bit for bit (`ExactSum`), so the model fitted from
/// merged counts is the one process's: Cascade-DR over shards takes a second pass with it.
public struct SlateClickCounts: Sendable, Equatable, Codable {
    /// Items.
    public let items: Int
    /// Positions.
    public let depth: Int
    /// Σ reward per (item, position), at `item * depth + position`.
    public private(set) var clicks: [ExactSum]
    /// Rows per (item, position).
    public private(set) var shows: [Int]

    /// No rows.
    public init(items: Int, depth: Int) {
        self.items = items
        self.depth = depth
        clicks = [ExactSum](repeating: ExactSum(), count: items * depth)
        shows = [Int](repeating: 0, count: items * depth)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        items = try c.decode(Int.self, forKey: .items)
        depth = try c.decode(Int.self, forKey: .depth)
        clicks = try c.decode([ExactSum].self, forKey: .clicks)
        shows = try c.decode([Int].self, forKey: .shows)
        guard items >= 0, depth >= 0, items.multipliedReportingOverflow(by: depth).partialValue == clicks.count,
            !items.multipliedReportingOverflow(by: depth).overflow, shows.count == clicks.count,
            shows.allSatisfy({ $0 >= 0 })
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .shows, in: c, debugDescription: "click counts of the wrong shape or negative")
        }
    }

    /// Adds a chunk's rows (rows with an item or position outside the shape are left out).
    /// - Throws: `.malformedFile` naming the line of a reward too large to sum exactly.
    public mutating func add(_ c: LogChunk) throws(RecOPEError) {
        for j in 0..<c.count where Int(c.items[j]) < items && Int(c.positions[j]) < depth {
            guard ExactSum.fits(c.rewards[j]) else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j],
                    message: "reward \(c.rewards[j]) is too large for the click-rate model (|r| < 2^62)")
            }
            let cell = Int(c.items[j]) * depth + Int(c.positions[j])
            clicks[cell].add(c.rewards[j])
            shows[cell] += 1
        }
    }

    /// Adds another part's counts.
    /// - Throws: `.invalidParameter` when the shapes differ.
    public mutating func merge(_ o: SlateClickCounts) throws(RecOPEError) {
        guard o.items == items, o.depth == depth else {
            throw .invalidParameter(
                "click counts of \(o.items) items × \(o.depth) positions against \(items) × \(depth)")
        }
        for i in clicks.indices {
            clicks[i].add(o.clicks[i])
            shows[i] += o.shows[i]
        }
    }

    /// A fingerprint of the counts (equal counts, equal fingerprints).
    public var fingerprint: UInt64 {
        var h = RowHash.mix(UInt64(items) &* 0x9E37_79B9 ^ UInt64(depth))
        for i in clicks.indices {
            h = RowHash.mix(h ^ UInt64(truncatingIfNeeded: clicks[i].total))
            h = RowHash.mix(h ^ UInt64(truncatingIfNeeded: clicks[i].total >> 64))
            h = RowHash.mix(h ^ UInt64(shows[i]))
        }
        return h
    }

    /// The model: q = (clicks + m·p̄ₖ) / (shows + m), p̄ₖ the position's mean reward.
    public func rates(smoothing m: Double = 10) -> SlateClickRates {
        var positionClicks = [ExactSum](repeating: ExactSum(), count: depth)
        var positionShows = [Int](repeating: 0, count: depth)
        for cell in clicks.indices {
            positionClicks[cell % depth].add(clicks[cell])
            positionShows[cell % depth] += shows[cell]
        }
        let rates = clicks.indices.map { cell -> Double in
            let k = cell % depth
            let prior = positionShows[k] > 0 ? positionClicks[k].value / Double(positionShows[k]) : 0
            return (clicks[cell].value + m * prior) / (Double(shows[cell]) + m)
        }
        return SlateClickRates(items: items, depth: depth, rates: rates)
    }
}

extension LogChunk {
    /// This chunk's slate columns (items, positions, rewards, propensities, keys, lines, slates,
    /// slate probabilities) followed by `other`'s: what a slate evaluation carries from one chunk
    /// to the next (a slate cut by the chunk's end). Context and policy-state columns are dropped.
    func slateRowsJoined(_ other: LogChunk) -> LogChunk {
        var c = LogChunk(source: source)
        c.items = items + other.items
        c.positions = positions + other.positions
        c.rewards = rewards + other.rewards
        if let p = propensities, let q = other.propensities { c.propensities = p + q }
        c.rowKeys = rowKeys + other.rowKeys
        c.rowKeyed = rowKeyed
        if let l = lines, let m = other.lines { c.lines = l + m }
        if let s = slates, let t = other.slates { c.slates = s + t }
        for (role, v) in slateProbabilities {
            if let w = other.slateProbabilities[role] { c.slateProbabilities[role] = v + w }
        }
        if let d = slateDoublyRobust, let e = other.slateDoublyRobust { c.slateDoublyRobust = d + e }
        if let d = slatePseudoInverse, let e = other.slatePseudoInverse { c.slatePseudoInverse = d + e }
        return c
    }
}

/// A slate evaluation of a CSV log: the target is the log's target probability columns (as OBP
/// takes it) or target policies, the logging policy the log's logged probabilities.
public enum SlateEvaluation {
    /// Reads `path` chunk by chunk and reports each weighting's SIPS/IIPS/RIPS and its
    /// self-normalised version; `depth` nil takes the deepest logged position (one more read of
    /// the position column).
    /// - Throws: `.invalidParameter` when the columns allow no weighting, or the reader's and the
    ///   state's errors (naming file and line).
    public static func run(
        path: String, columns: LogColumns, depth: Int? = nil, bootstrap: Int = 0, level: Double = 0.95,
        seed: UInt64 = 0, parallelism: Parallelism = .automatic, policy: String = "target (columns)"
    ) throws(RecOPEError) -> OfflineABReport {
        try run(
            path: path, columns: columns, targets: [], depth: depth, bootstrap: bootstrap, level: level, seed: seed,
            parallelism: parallelism, policy: policy)
    }

    /// The slate sums of the log at `path` (a whole log, or a shard's rows: `SlateShard` merges
    /// them in file order). With target policies each one's probabilities are computed per slate
    /// (`SlateTarget`), the log's logging columns are the logging policy; `targets` empty takes
    /// the log's target_* columns as the one target, named `policy`. One pass over the log for
    /// every target, after a first one that fits the click-rate model when `rewardModel` and a
    /// target can take Cascade-DR (a Plackett–Luce or uniform target, a cascade_propensity column).
    /// A `logging` policy (uniform or Plackett–Luce) adds PI for every target (`SlatePseudoInverse`;
    /// its slates must then fill every position to the depth); the other weightings still take the
    /// log's logging columns. With `slateSimulations`, a target without slate probabilities in
    /// closed form (Thompson sampling, epsilon-greedy) gets them by Monte Carlo
    /// (`MonteCarloSlateProbabilities`, from `seed`): SIPS and RIPS then run for it too.
    ///
    /// Over shards (`partial`), Cascade-DR takes two passes: the first counts the click-rate
    /// model's cells (`SlateShard.clickCounts`; merged, `passRemains`), the second (`after` the
    /// merged first pass) fits the model from every shard's counts and adds Cascade-DR, so the
    /// merged second pass reports what one process reports.
    public static func shard(
        path: String, columns: LogColumns, targets: [SlateTarget], depth: Int? = nil, bootstrap: Int = 0,
        level: Double = 0.95, seed: UInt64 = 0, parallelism: Parallelism = .automatic,
        policy: String = "target (columns)", rewardModel: Bool = false, logging: (any RankingPolicy)? = nil,
        slateSimulations: Int? = nil, partial: Bool = false, after: SlateShard? = nil
    ) throws(RecOPEError) -> SlateShard {
        try shard(
            source: .file(path), columns: columns, targets: targets, depth: depth, bootstrap: bootstrap, level: level,
            seed: seed, parallelism: parallelism, policy: policy, rewardModel: rewardModel, logging: logging,
            slateSimulations: slateSimulations, partial: partial, after: after)
    }

    /// `shard` over a file or rows in memory (the same sums for the same rows).
    public static func shard(
        source: SlateLogSource, columns: LogColumns, targets: [SlateTarget], depth: Int? = nil, bootstrap: Int = 0,
        level: Double = 0.95, seed: UInt64 = 0, parallelism: Parallelism = .automatic,
        policy: String = "target (columns)", rewardModel: Bool = false, logging: (any RankingPolicy)? = nil,
        slateSimulations: Int? = nil, partial: Bool = false, after: SlateShard? = nil
    ) throws(RecOPEError) -> SlateShard {
        let path = source.name
        guard columns.slate != nil else {
            throw .invalidParameter("slate estimators need a slate column (column mapping: slate=COL)")
        }
        guard logging == nil || !targets.isEmpty else {
            throw .invalidParameter(
                "PI (a logging policy with a slate log) needs target policies: it uses the target's probabilities of every item at every position"
            )
        }
        var targets = targets
        var passes = 1
        // Cascade-DR: targets with slate probabilities in closed form, or by Monte Carlo.
        let modelled = targets.indices.filter {
            (targets[$0].policy is any RankingProbabilities || slateSimulations != nil)
                && columns.slateProbabilities[.cascadePropensity] != nil
        }
        var clickCounts: SlateClickCounts? = nil
        var cascadeModel: UInt64? = nil
        if rewardModel && !modelled.isEmpty {
            var K = 0
            if let depth {
                K = depth
            } else {
                K = try source.deepestPosition(columns: columns, parallelism: parallelism)
            }
            let items = modelled.map { targets[$0].policy.itemCount }.max()!
            if let after {
                guard let counts = after.clickCounts, after.cascadeModel == nil else {
                    throw .invalidParameter(
                        "after: not a merged first pass with Cascade-DR's click counts (merge the first pass's shards, then give that state)"
                    )
                }
                guard counts.items == items, counts.depth == max(K, 1), after.policies == targets.map(\.name) else {
                    throw .invalidParameter(
                        "after: a first pass of other targets or shapes (\(after.policies.joined(separator: ", ")); \(counts.items) items × \(counts.depth) positions)"
                    )
                }
                let model = counts.rates()
                for t in modelled { targets[t].clickRates = model }
                cascadeModel = counts.fingerprint
                clickCounts = SlateClickCounts(items: items, depth: max(K, 1))
                passes = 2
            } else if partial {
                clickCounts = SlateClickCounts(items: items, depth: max(K, 1))
            } else {
                let model = try SlateClickRates.fit(
                    source: source, columns: columns, items: items, depth: max(K, 1), parallelism: parallelism)
                for t in modelled { targets[t].clickRates = model }
                passes = 2
            }
        } else if after != nil {
            throw .invalidParameter(
                "after: this slate evaluation takes one pass (Cascade-DR needs a target with slate probabilities, closed form or Monte Carlo, a cascade_propensity column and the reward model); leave out after"
            )
        }
        var K = 0
        if let depth {
            K = depth
        } else {
            K = try source.deepestPosition(columns: columns, parallelism: parallelism)
        }
        guard K > 0 else { throw .malformedFile(file: path, line: nil, message: "the log has no rows") }
        if let logging {
            for t in targets.indices {
                targets[t].pseudoInverse = try SlatePseudoInverse(
                    target: targets[t].marginals, logging: logging, depth: K)
            }
        }
        if let n = slateSimulations,
            columns.slateProbabilities[.slatePropensity] != nil || columns.slateProbabilities[.cascadePropensity] != nil
        {
            for t in targets.indices where targets[t].softmax == nil && targets[t].monteCarlo == nil {
                targets[t].monteCarlo = try MonteCarloSlateProbabilities(
                    policy: targets[t].policy, depth: min(K, targets[t].policy.itemCount), simulations: n, seed: seed,
                    parallelism: parallelism)
            }
        }
        let weightings = targets.isEmpty ? [SlateWeighting.available(columns)] : targets.map { $0.weightings(columns) }
        for (i, w) in weightings.enumerated() where w.isEmpty {
            throw .invalidParameter(
                targets.isEmpty
                    ? "slate estimators need a target and a logging probability of one kind: target_slate_propensity with slate_propensity (SIPS), target_propensity with propensity (IIPS), target_cascade_propensity with cascade_propensity (RIPS)"
                    : "\(targets[i].name): the log has no logging probability to weigh it against (propensity for IIPS; slate_propensity or cascade_propensity for SIPS and RIPS, with a Plackett–Luce or uniform target)"
            )
        }
        var states = [SlateState]()
        for w in weightings {
            var settings = SlateSettings(depth: K, weightings: w)
            settings.bootstrap = bootstrap
            settings.level = level
            settings.seed = seed
            states.append(try SlateState(settings: settings))
        }
        var rewardSum = CompensatedSum()
        // With targets, a chunk's last slate waits for the next chunk (its probabilities need
        // all its rows).
        var carried: LogChunk? = nil
        func feed(_ c: LogChunk) throws(RecOPEError) {
            guard !targets.isEmpty else { return try states[0].add(c) }
            for t in targets.indices {
                var x = c
                let (columns, terms, psi) = try targets[t].probabilities(c, weightings[t])
                for (role, v) in columns { x.slateProbabilities[role] = v }
                x.slateDoublyRobust = terms
                x.slatePseudoInverse = psi
                try states[t].add(x)
            }
        }
        try source.forEachChunk(columns: columns, parallelism: parallelism) { (chunk) throws(RecOPEError) in
            var c = chunk
            for r in c.rewards { rewardSum.add(r) }
            if clickCounts != nil { try clickCounts!.add(c) }
            if targets.isEmpty {
                try feed(c)
                return
            }
            if let k = carried { c = k.slateRowsJoined(c) }
            let slates = c.slates!
            var start = c.count - 1
            while start > 0 && slates[start - 1] == slates[c.count - 1] { start -= 1 }
            carried = c.rows(start..<c.count)
            if start > 0 { try feed(c.rows(0..<start)) }
        }
        if let k = carried, k.count > 0 { try feed(k) }
        var shard = SlateShard(
            logs: path, policies: [], warnings: [], rewardSum: rewardSum, states: states, passes: passes)
        shard.clickCounts = clickCounts
        shard.cascadeModel = cascadeModel
        for i in states.indices {
            let name = targets.isEmpty ? policy : targets[i].name
            shard.policies.append(name)
            var notes = [String]()
            if !targets.isEmpty && !(targets[i].policy is any RankingProbabilities) {
                if let mc = targets[i].monteCarlo {
                    notes.append(
                        "\(name): its slate and cascade probabilities (SIPS, RIPS; Cascade-DR's weights and expectations) are Monte Carlo estimates from \(mc.simulations) rankings (seed \(mc.seed)): the probabilities unbiased, noisier for rare slates"
                    )
                } else {
                    notes.append(
                        "\(name): SIPS and RIPS need the target's slate probabilities, which RecKit computes for Plackett–Luce and uniform targets (others by Monte Carlo with slate simulations); IIPS\(logging == nil ? "" : " and PI") only"
                    )
                }
            }
            shard.warnings.append(notes)
        }
        return shard
    }

    /// The report of the log at `path` with target policies (`shard`, then `SlateShard.report`).
    public static func run(
        path: String, columns: LogColumns, targets: [SlateTarget], depth: Int? = nil, bootstrap: Int = 0,
        level: Double = 0.95, seed: UInt64 = 0, parallelism: Parallelism = .automatic,
        policy: String = "target (columns)", rewardModel: Bool = false, logging: (any RankingPolicy)? = nil,
        slateSimulations: Int? = nil
    ) throws(RecOPEError) -> OfflineABReport {
        try shard(
            path: path, columns: columns, targets: targets, depth: depth, bootstrap: bootstrap, level: level,
            seed: seed, parallelism: parallelism, policy: policy, rewardModel: rewardModel, logging: logging,
            slateSimulations: slateSimulations
        ).report()
    }
}

/// A slate evaluation's sums over some rows of a log (a shard, or the merge of shards in file
/// order): what `reckit offline-ab --partial` writes for a slate log, and what its `merge` adds.
/// The file is JSON with a format name, a version and a checksum of the rest.
public struct SlateShard: Sendable, Equatable, Codable {
    /// The file format's name.
    public static let formatName = "reckit-slate-state"
    /// The version this RecKit writes and reads.
    public static let currentVersion = 1
    var format = formatName
    var version = currentVersion
    /// The log read (the first shard's, after a merge).
    public var logs: String
    /// Per target, its report name.
    public var policies: [String]
    /// Per target, its report's warnings.
    public var warnings: [[String]]
    /// Σ rewards over the rows read.
    public var rewardSum: CompensatedSum
    /// Per target, its slate sums.
    public var states: [SlateState]
    /// Passes over the data.
    public var passes: Int
    /// The click-rate model's counts over this shard's rows, when a target takes Cascade-DR
    /// (nil otherwise, and in files before it).
    public var clickCounts: SlateClickCounts?
    /// The fingerprint of the merged counts Cascade-DR's model was fitted from (a second pass's
    /// shard, run after the merged first pass); nil in a first pass.
    public var cascadeModel: UInt64?
    var checksum: String?

    init(
        logs: String, policies: [String], warnings: [[String]], rewardSum: CompensatedSum, states: [SlateState],
        passes: Int
    ) {
        self.logs = logs
        self.policies = policies
        self.warnings = warnings
        self.rewardSum = rewardSum
        self.states = states
        self.passes = passes
    }

    /// Adds `other`, the rows after this shard's (a slate cut between them is joined).
    /// - Throws: `.invalidParameter` naming what differs (targets, settings).
    public mutating func merge(_ other: SlateShard) throws(RecOPEError) {
        guard other.policies == policies, other.states.count == states.count else {
            throw .invalidParameter(
                "slate states of different targets (\(policies.joined(separator: ", ")) vs \(other.policies.joined(separator: ", ")))"
            )
        }
        guard other.cascadeModel == cascadeModel, (other.clickCounts == nil) == (clickCounts == nil) else {
            throw .invalidParameter(
                "slate states of different passes (a first pass's shard and a second pass's, or second passes after different merged states): merge the shards of one pass"
            )
        }
        for i in states.indices { try states[i].merge(other.states[i]) }
        if let o = other.clickCounts { try clickCounts!.merge(o) }
        rewardSum.add(other.rewardSum)
        passes = max(passes, other.passes)
    }

    /// Whether a second pass remains: these first-pass shards counted clicks for Cascade-DR,
    /// whose model needs every shard's counts (run each shard again with this merged state as
    /// `after`, then merge those).
    public var passRemains: Bool { clickCounts != nil && cascadeModel == nil }

    /// The report: each target's estimates, its diagnostics and warnings.
    public func report() throws(RecOPEError) -> OfflineABReport {
        guard let first = states.first, first.rows > 0, policies.count == states.count,
            warnings.count == states.count
        else { throw .malformedFile(file: logs, line: nil, message: "the log has no rows") }
        if let m = cascadeModel, clickCounts?.fingerprint != m {
            throw .invalidParameter(
                "the second pass's shards read other rows than the first pass's (their click counts differ): run every shard of the first pass, once, with --after the merged state"
            )
        }
        var evaluations = [PolicyEvaluation]()
        for (i, state) in states.enumerated() {
            evaluations.append(
                PolicyEvaluation(
                    policy: policies[i], estimates: try state.estimates(policy: policies[i]),
                    diagnostics: state.diagnostics(),
                    warnings: warnings[i] + [try state.pseudoInverseCheck()].compactMap { $0 }))
        }
        // The logging policy's value on the same scale: rewards per slate (OBP's on-policy value).
        return OfflineABReport(
            logs: logs, rows: first.rows, loggedMean: rewardSum.value / first.slates, evaluations: evaluations,
            warnings: passRemains
                ? [
                    "Cascade-DR is not in this report: its click-rate model needs every shard's counts; run every shard again with --after this merged state (a second pass), then merge those"
                ] : [], passes: passes)
    }

    func encodedAsIs() throws(RecOPEError) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try e.encode(self) } catch { throw .invalidParameter("slate state: cannot encode (\(error))") }
    }

    func contentChecksum() throws(RecOPEError) -> String {
        var s = self
        s.checksum = nil
        return String(RowHash.key(bytes: try s.encodedAsIs()), radix: 16)
    }

    /// The shard as JSON, with its checksum.
    public func encoded() throws(RecOPEError) -> Data {
        var s = self
        s.checksum = try s.contentChecksum()
        return try s.encodedAsIs()
    }

    /// Writes the shard atomically.
    public func write(to path: String) throws(RecOPEError) {
        let data = try encoded()
        do { try AtomicFile.write(data, to: path) } catch { throw opeError(error) }
    }

    /// Whether `data` claims to be a slate state (its `format`), before it is decoded in full.
    public static func isSlateState(_ data: Data) -> Bool {
        struct Header: Decodable { var format: String? }
        return (try? JSONDecoder().decode(Header.self, from: data))?.format == formatName
    }

    /// Decodes a shard; `file` names it in errors.
    /// - Throws: `.malformedFile` for a foreign, truncated, other-version, tampered or
    ///   inconsistent file.
    public static func decode(_ data: Data, file: String, verifyingChecksum: Bool = true) throws(RecOPEError)
        -> SlateShard
    {
        guard isSlateState(data) else {
            throw .malformedFile(
                file: file, line: nil,
                message:
                    "not a RecKit slate state (a JSON object with \"format\": \"\(formatName)\"); truncated or foreign")
        }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let s: SlateShard
        do { s = try d.decode(SlateShard.self, from: data) } catch {
            throw .malformedFile(file: file, line: nil, message: "a slate state that does not decode (\(error))")
        }
        guard s.version == currentVersion else {
            throw .malformedFile(
                file: file, line: nil, message: "slate state version \(s.version); this RecKit reads \(currentVersion)")
        }
        if verifyingChecksum {
            guard let c = s.checksum, c == (try s.contentChecksum()) else {
                throw .malformedFile(
                    file: file, line: nil, message: "the slate state's checksum does not match its content")
            }
        }
        guard !s.states.isEmpty, s.policies.count == s.states.count, s.warnings.count == s.states.count,
            s.passes >= 1, s.states.allSatisfy({ $0.rows == s.states[0].rows })
        else {
            throw .malformedFile(file: file, line: nil, message: "the slate state's targets and sums do not agree")
        }
        return s
    }

    /// Reads a shard file.
    public static func load(_ path: String) throws(RecOPEError) -> SlateShard {
        try decode(try readFile(path), file: path)
    }
}
