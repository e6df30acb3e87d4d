import Foundation
import RecCore

/// One estimate of a target policy's value (mean reward per logged row).
public struct Estimate: Sendable, Equatable {
    public var policy: String
    /// IS, CIS, NCIS, pieceNCIS, pointNCIS, SNIPS, DM, DR or SwitchDR.
    public var estimator: String
    /// The weight cap c, nil for none.
    public var cap: Double?
    /// The grouping of pieceNCIS ("position", "value-model", "context:COLUMN"), nil otherwise.
    public var groups: String?
    /// The reward model of DM, DR and SwitchDR ("ctr" or "logistic"), nil otherwise.
    public var model: String? = nil
    public var value: Double
    /// The interval of `ciMethod` ("bootstrap-percentile" when resamples were drawn, else "normal").
    public var ciLow: Double
    public var ciHigh: Double
    public var ciMethod: String
    /// The normal (CLT / delta-method) 95% interval, always computed.
    public var normalLow: Double
    public var normalHigh: Double
}

/// Numbers that decide whether to trust the weights.
public struct WeightDiagnostics: Sendable, Equatable {
    /// Kish effective sample size (Σw)²/Σw².
    public var effectiveSampleSize: Double
    public var maxWeight: Double
    public var meanWeight: Double
    /// (cap, share of rows whose weight exceeds it).
    public var shareAboveCap: [Double: Double]
    /// Target probability mass, averaged over rows, on (item, position) pairs the logs never show.
    public var unsupportedMass: Double
    /// CIS and NCIS at caps 1, 2, 5, 10, 20, 50, 100 and ∞ (∞ as `.infinity`).
    public var capTable: [(cap: Double, cis: Double, ncis: Double)]

    public static func == (a: WeightDiagnostics, b: WeightDiagnostics) -> Bool {
        a.effectiveSampleSize == b.effectiveSampleSize && a.maxWeight == b.maxWeight && a.capTable.count == b.capTable.count
    }
}

/// The evaluation of one target policy on logged data.
public struct PolicyEvaluation: Sendable {
    public var policy: String
    public var estimates: [Estimate]
    public var diagnostics: WeightDiagnostics
    public var warnings: [String]
}

/// How pieceNCIS cuts the rows into pieces (Gilotte et al. 2018).
public enum PieceGrouping: Sendable, Equatable {
    /// One piece per position.
    case position
    /// One piece per value of a context column of the log (at most 64 values).
    case contextFeature(String)
    /// Quantile buckets of a reward model's predicted click rate, the model fitted on separate
    /// data: rows are split in two folds and each fold is bucketed by the model fitted on the
    /// other (cross-fitting), so no row's piece depends on its own reward.
    case valueModel(buckets: Int)
}

/// Settings of an offline evaluation.
public struct EvaluationSettings: Sendable {
    /// Finite weight caps for CIS, NCIS, pieceNCIS and pointNCIS (∞ is SNIPS / IS).
    public var caps: [Double] = [2, 5, 10]
    /// Bootstrap resamples (0: normal intervals only).
    public var bootstrap: Int = 1000
    public var seed: UInt64 = 1
    /// Switch-DR uses the DR correction only where the weight is at most this (default: the
    /// largest cap).
    public var switchThreshold: Double?
    /// Pseudo-impressions of the reward model's smoothing toward the position's mean.
    public var rewardSmoothing: Double = 10
    /// Interval level.
    public var level: Double = 0.95
    /// Also fit the logistic-regression reward model (item, position, context columns) and report
    /// DM and DR with it, when the log has context columns and at most 2 million rows.
    public var logisticRewardModel: Bool = true
    /// Item features for the logistic reward model (for example OBD's item_context.csv).
    public var itemFeatures: ItemFeatures? = nil
    /// The groupings pieceNCIS is computed for (one estimate per grouping and cap).
    public var pieceGroupings: [PieceGrouping] = [.position, .valueModel(buckets: 5)]
    public var parallelism: Parallelism = .automatic

    public init() {}
}

/// Off-policy estimators of a ranking policy's click rate from logs of another policy.
///
/// Each logged row j is (item aⱼ at position kⱼ, reward rⱼ), with importance weight
/// wⱼ = P_B(aⱼ at kⱼ) / P_A(aⱼ at kⱼ) (target marginal over logging marginal or logged
/// propensity). With n rows:
/// - IS: (1/n) Σ wⱼrⱼ (unbiased, unbounded variance).
/// - CIS(c): (1/n) Σ min(wⱼ, c) rⱼ.
/// - NCIS(c): Σ min(wⱼ, c) rⱼ / Σ min(wⱼ, c); SNIPS is NCIS(∞) (Swaminathan & Joachims 2015).
/// - pieceNCIS(c): Σ_g (n_g/n) NCIS_g(c) over the rows of each position g
///   (Gilotte et al., "Offline A/B testing for Recommender Systems", WSDM 2018).
/// - pointNCIS(c): (1/n) Σ min(wⱼ, c) rⱼ / Z(kⱼ) with Z(k) = Σ_a min(P_B(a at k), c·P_A(a at k)),
///   the exact expected capped weight at position k (Gilotte et al. 2018); needs the logging
///   policy's marginals.
/// - DM: (1/n) Σ Σ_a P_B(a at kⱼ) q(a, kⱼ), with q the click rate per (item, position) smoothed
///   toward the position's mean by `rewardSmoothing` pseudo-impressions (fitted on the same logs).
/// - DR: DM + (1/n) Σ wⱼ (rⱼ − q(aⱼ, kⱼ)) (Dudík, Langford & Li 2011).
/// - SwitchDR(τ): DR with the correction kept only where wⱼ ≤ τ (Wang, Agarwal & Dudík 2017).
///
/// Intervals: normal (CLT; delta method for the ratios) and, with resamples, the percentile
/// bootstrap over rows with every normaliser recomputed in every resample. The resample sums
/// are one GEMM: a resamples × rows count matrix times a rows × features matrix.
public enum OfflineEvaluation {
    /// Evaluates a target policy whose marginals do not depend on the context.
    /// - Parameters:
    ///   - logging: the logging policy's marginals; required when the logs carry no propensities,
    ///     and for pointNCIS.
    /// - Throws: `.invalidParameter` naming the log and row for an item or position the policy
    ///   does not know, a zero logging probability for a logged pair, or empty logs.
    public static func evaluate(logs: LoggedData, target: RankMarginals, policy name: String,
                                logging: RankMarginals? = nil, settings: EvaluationSettings = .init()) throws(RecOPEError) -> PolicyEvaluation {
        try evaluate(logs: logs, targets: [target], targetState: nil, policy: name,
                     logging: logging.map { [$0] }, loggingState: nil, settings: settings)
    }

    /// Evaluates a target policy whose marginals change with the context or over time: row j is
    /// ranked by `targets[targetState[j]]` and was logged under `logging[loggingState[j]]` (or
    /// its logged propensity). Nil state arrays mean state 0 for every row.
    /// - Throws: as `evaluate(logs:target:policy:logging:settings:)`, and `.invalidParameter` for
    ///   a state index outside the lists.
    public static func evaluate(logs: LoggedData, targets: [RankMarginals], targetState: [Int32]?, policy name: String,
                                logging: [RankMarginals]?, loggingState: [Int32]?,
                                settings: EvaluationSettings = .init()) throws(RecOPEError) -> PolicyEvaluation {
        let n = logs.count
        guard n > 0 else { throw .invalidParameter("\(logs.source): the log has no rows") }
        guard logs.propensities != nil || logging != nil else {
            throw .invalidParameter("\(logs.source): the log has no propensities; give the logging policy")
        }
        guard let first = targets.first else { throw .invalidParameter("\(name): no target marginals") }
        let K = first.k, N = first.items
        for t in targets where t.items != N || t.k != K { throw .invalidParameter("\(name): target marginals differ in shape") }
        for l in logging ?? [] where l.items != N || l.k < K {
            throw .invalidParameter("logging policy ranks \(l.items) items to depth \(l.k), target \(N) items to depth \(K)")
        }
        guard targetState.map({ $0.count == n }) ?? true, loggingState.map({ $0.count == n }) ?? true else {
            throw .invalidParameter("\(name): state arrays must have one entry per logged row")
        }
        var w = [Double](repeating: 0, count: n)
        let r = logs.rewards.map(Double.init)
        let pos = logs.positions.map(Int.init)
        let item = logs.items.map(Int.init)
        // Row key: (target state, logging state, position) -> dense id for the per-key tables.
        var keyIndex = [Int: Int32]()
        var keyParts = [(ts: Int, ls: Int, k: Int)]()
        var key = [Int32](repeating: 0, count: n)
        for j in 0..<n {
            let a = Int(logs.items[j]), k = Int(logs.positions[j])
            guard a < N else { throw .invalidParameter("\(logs.source): row \(j + 1) logs item \(a); the policy \(name) has items 0..<\(N)") }
            guard k < K else { throw .invalidParameter("\(logs.source): row \(j + 1) logs position \(k + 1); the evaluation covers positions 1...\(K) (raise --k)") }
            let ts = Int(targetState?[j] ?? 0), ls = Int(loggingState?[j] ?? 0)
            guard ts >= 0 && ts < targets.count else { throw .invalidParameter("\(name): row \(j + 1) names target state \(ts) of \(targets.count)") }
            if let l = logging { guard ls >= 0 && ls < l.count else { throw .invalidParameter("\(name): row \(j + 1) names logging state \(ls) of \(l.count)") } }
            let pa = logs.propensities?[j] ?? logging![ls].denominator(item: a, rank: k)
            guard pa > 0 else { throw .invalidParameter("\(logs.source): row \(j + 1): the logging policy gives item \(a) at position \(k + 1) probability 0, yet it was logged") }
            w[j] = targets[ts].probability(item: a, rank: k) / pa
            let code = (ts * max(logging?.count ?? 1, 1) + ls) * K + k
            if let id = keyIndex[code] { key[j] = id } else {
                let id = Int32(keyParts.count); keyIndex[code] = id; keyParts.append((ts, ls, k)); key[j] = id
            }
        }
        // Reward model: smoothed rate per (item, position).
        var clicks = [Double](repeating: 0, count: N * K), shows = clicks
        var posClicks = [Double](repeating: 0, count: K), posShows = posClicks
        for j in 0..<n { clicks[item[j] * K + pos[j]] += r[j]; shows[item[j] * K + pos[j]] += 1; posClicks[pos[j]] += r[j]; posShows[pos[j]] += 1 }
        let m = settings.rewardSmoothing
        var q = [Double](repeating: 0, count: N * K)
        for a in 0..<N { for k in 0..<K {
            let prior = posShows[k] > 0 ? posClicks[k] / posShows[k] : 0
            q[a * K + k] = (clicks[a * K + k] + m * prior) / (shows[a * K + k] + m)
        } }
        let dmKey = keyParts.map { p in (0..<N).reduce(0.0) { $0 + targets[p.ts].probability(item: $1, rank: p.k) * q[$1 * K + p.k] } }
        let dmRow = { (j: Int) -> Double in dmKey[Int(key[j])] }
        // The logistic reward model, where the log has context columns.
        var dmL = [Double](), qL = [Double]()
        var warningsEarly = [String]()
        // Context columns with more than `maxLevels` values (ids, histories) are left out of the
        // one-hot design; a model with more than `maxParameters` coefficients is not fitted (its
        // dense IRLS solve grows with the cube of the count).
        let maxLevels = 1000, maxParameters = 3000
        var logisticFeatures = [[Int32]]()
        for (f, col) in logs.contextFeatures.enumerated() {
            let levels = Int(col.max() ?? 0) + 1
            if levels <= maxLevels { logisticFeatures.append(col) } else if settings.logisticRewardModel {
                let fname = f < logs.contextFeatureNames.count ? logs.contextFeatureNames[f] : "context"
                warningsEarly.append("\(name): context column '\(fname)' has \(levels) values; the logistic reward model leaves it out")
            }
        }
        let logisticParameters = 1 + N + K + logisticFeatures.reduce(0) { $0 + Int($1.max() ?? 0) + 1 }
            + (settings.itemFeatures.map { f in f.categorical.reduce(0) { $0 + Int($1.max() ?? 0) + 1 } + f.numeric.count } ?? 0)
        if settings.logisticRewardModel && !logs.contextFeatures.isEmpty {
            if n > 2_000_000 {
                warningsEarly.append("\(name): the logistic reward model is skipped above 2 million rows")
            } else if logisticParameters > maxParameters {
                warningsEarly.append("\(name): the logistic reward model would have \(logisticParameters) coefficients (more than \(maxParameters)); skipped")
            } else if let model = LogisticRewardModel.fit(items: item, positions: pos, features: logisticFeatures,
                                                           rewards: r, N: N, K: K, itemFeatures: settings.itemFeatures) {
                dmL = [Double](repeating: 0, count: n); qL = dmL
                for j in 0..<n {
                    let base = model.rowLogit(position: pos[j], row: j, features: logisticFeatures)
                    let tm = targets[keyParts[Int(key[j])].ts]
                    var v = 0.0
                    for a in 0..<N { v += tm.probability(item: a, rank: pos[j]) * model.probability(item: a, rowLogit: base) }
                    dmL[j] = v
                    qL[j] = model.probability(item: item[j], rowLogit: base)
                }
            } else {
                warningsEarly.append("\(name): the logistic reward model did not converge; skipped")
            }
        }
        let hasLogistic = !dmL.isEmpty
        var warnings = warningsEarly
        // Support: target mass on pairs never logged.
        var unsupported = 0.0
        let unsupportedKey = keyParts.map { p in (0..<N).reduce(0.0) { shows[$1 * K + p.k] == 0 ? $0 + targets[p.ts].probability(item: $1, rank: p.k) : $0 } }
        for j in 0..<n { unsupported += unsupportedKey[Int(key[j])] }
        unsupported /= Double(n)
        if unsupported > 0 {
            warnings.append("\(name): " + String(format: "%.4g", 100 * unsupported) + "% of the target's probability mass (averaged over logged slots) is on item/position pairs the logs never show; importance-weighted estimators cannot see it")
        }
        // pointNCIS normalisers need the logging marginals.
        let caps = settings.caps.filter { $0.isFinite && $0 > 0 }.sorted()
        var zKey: [[Double]]? = nil   // [cap][key]
        if let l = logging {
            zKey = caps.map { c in keyParts.map { p in (0..<N).reduce(0.0) { $0 + min(targets[p.ts].probability(item: $1, rank: p.k), c * l[p.ls].probability(item: $1, rank: p.k)) } } }
        } else {
            warnings.append("\(name): pointNCIS needs the logging policy's marginals (--logging); skipped")
        }
        let tau = settings.switchThreshold ?? (caps.last ?? 10)

        // Groupings for pieceNCIS.
        var groupings = [(label: String, group: [Int32], count: Int)]()
        for spec in settings.pieceGroupings {
            switch spec {
            case .position:
                groupings.append(("position", logs.positions, K))
            case .contextFeature(let column):
                guard let ci = logs.contextFeatureNames.firstIndex(of: column) else {
                    warnings.append("\(name): pieceNCIS by '\(column)': the log has no such context column; skipped"); continue
                }
                let ids = logs.contextFeatures[ci]
                let count = Int(ids.max() ?? 0) + 1
                guard count <= 64 else {
                    warnings.append("\(name): pieceNCIS by '\(column)': \(count) groups (more than 64); skipped"); continue
                }
                groupings.append(("context:" + column, ids, count))
            case .valueModel(let buckets):
                groupings.append(("value-model", valueModelBuckets(item: item, pos: pos, r: r, N: N, K: K, buckets: buckets,
                                                                    smoothing: m, seed: settings.seed), max(1, buckets)))
            }
        }
        // Features per row; every estimator is a function of column sums over (resampled) rows.
        // Layout: [1, w r, w, dm, dr, sw, dm_logistic, dr_logistic] + per cap [min(w,c) r, min(w,c),
        // point] + per grouping (per cap per group [min(w,c) r, min(w,c)] + per group [1]).
        let C = caps.count
        var gOffset = [Int]()
        var F = 8 + 3 * C
        for gr in groupings { gOffset.append(F); F += 2 * C * gr.count + gr.count }
        /// Adds row j's features into `out` at `base` (the row's slice, or the totals).
        func accumulate(_ j: Int, _ add: (Int, Double) -> Void) {
            let res = r[j] - q[item[j] * K + pos[j]]
            let dm = dmRow(j)
            add(0, 1); add(1, w[j] * r[j]); add(2, w[j])
            add(3, dm); add(4, dm + w[j] * res); add(5, dm + (w[j] <= tau ? w[j] * res : 0))
            if hasLogistic { add(6, dmL[j]); add(7, dmL[j] + w[j] * (r[j] - qL[j])) }
            for (ci, c) in caps.enumerated() {
                let wc = min(w[j], c)
                add(8 + 3 * ci, wc * r[j]); add(9 + 3 * ci, wc)
                if let z = zKey { add(10 + 3 * ci, wc * r[j] / z[ci][Int(key[j])]) }
                for (t, gr) in groupings.enumerated() {
                    let g = Int(gr.group[j])
                    add(gOffset[t] + 2 * (ci * gr.count + g), wc * r[j]); add(gOffset[t] + 2 * (ci * gr.count + g) + 1, wc)
                }
            }
            for (t, gr) in groupings.enumerated() { add(gOffset[t] + 2 * C * gr.count + Int(gr.group[j]), 1) }
        }
        func features() -> [Float] {
            var feat = [Float](repeating: 0, count: n * F)
            feat.withUnsafeMutableBufferPointer { fp in
                for j in 0..<n { let o = j * F; accumulate(j) { fp[o + $0] += Float($1) } }
            }
            return feat
        }
        // Exact sums in Double for the point estimates.
        var full = [Double](repeating: 0, count: F)
        for j in 0..<n { accumulate(j) { full[$0] += $1 } }
        /// Estimator values from column sums: [IS, SNIPS, DM, DR, SwitchDR, DM-logistic,
        /// DR-logistic] + per cap [CIS, NCIS, pointNCIS] + per grouping per cap [pieceNCIS].
        func values(_ s: [Double]) -> [Double] {
            let cnt = s[0]
            var v = [s[1] / cnt, s[1] / s[2], s[3] / cnt, s[4] / cnt, s[5] / cnt, s[6] / cnt, s[7] / cnt]
            for ci in 0..<C {
                v.append(s[8 + 3 * ci] / cnt)
                v.append(s[8 + 3 * ci] / s[9 + 3 * ci])
                v.append(s[10 + 3 * ci] / cnt)
            }
            for (t, gr) in groupings.enumerated() {
                for ci in 0..<C {
                    var piece = 0.0
                    for g in 0..<gr.count {
                        let o = gOffset[t] + 2 * (ci * gr.count + g)
                        let ng = s[gOffset[t] + 2 * C * gr.count + g]
                        if ng > 0 && s[o + 1] > 0 { piece += ng / cnt * s[o] / s[o + 1] }
                    }
                    v.append(piece)
                }
            }
            return v
        }
        let point = values(full)
        // Normal intervals, in the order of `values`.
        let zq = normalQuantile(0.5 + settings.level / 2)
        func meanCI(_ f: (Int) -> Double, _ v: Double) -> (Double, Double) {
            var ss = 0.0
            for j in 0..<n { let d = f(j) - v; ss += d * d }
            let se = (ss / Double(max(n - 1, 1)) / Double(n)).squareRoot()
            return (v - zq * se, v + zq * se)
        }
        func ratioCI(_ a: (Int) -> Double, _ b: (Int) -> Double, _ v: Double, rows: [Int]? = nil) -> (Double, Double, Double) {
            let idx = rows ?? Array(0..<n)
            let cnt = Double(idx.count)
            var mb = 0.0, ss = 0.0
            for j in idx { mb += b(j) }
            mb /= cnt
            for j in idx { let d = a(j) - v * b(j); ss += d * d }
            let varV = ss / Double(max(idx.count - 1, 1)) / cnt / (mb * mb)
            return (v - zq * varV.squareRoot(), v + zq * varV.squareRoot(), varV)
        }
        var normals = [(Double, Double)]()
        normals.append(meanCI({ w[$0] * r[$0] }, point[0]))
        let sn = ratioCI({ w[$0] * r[$0] }, { w[$0] }, point[1]); normals.append((sn.0, sn.1))
        normals.append(meanCI({ dmRow($0) }, point[2]))
        normals.append(meanCI({ dmRow($0) + w[$0] * (r[$0] - q[item[$0] * K + pos[$0]]) }, point[3]))
        normals.append(meanCI({ dmRow($0) + (w[$0] <= tau ? w[$0] * (r[$0] - q[item[$0] * K + pos[$0]]) : 0) }, point[4]))
        if hasLogistic {
            normals.append(meanCI({ dmL[$0] }, point[5]))
            normals.append(meanCI({ dmL[$0] + w[$0] * (r[$0] - qL[$0]) }, point[6]))
        } else { normals.append((.nan, .nan)); normals.append((.nan, .nan)) }
        for (ci, c) in caps.enumerated() {
            let base = 7 + 3 * ci
            normals.append(meanCI({ min(w[$0], c) * r[$0] }, point[base]))
            let nc = ratioCI({ min(w[$0], c) * r[$0] }, { min(w[$0], c) }, point[base + 1]); normals.append((nc.0, nc.1))
            if let z = zKey { normals.append(meanCI({ min(w[$0], c) * r[$0] / z[ci][Int(key[$0])] }, point[base + 2])) }
            else { normals.append((.nan, .nan)) }
        }
        for (t, gr) in groupings.enumerated() {
            var rowsIn = [[Int]](repeating: [], count: gr.count)
            for j in 0..<n { rowsIn[Int(gr.group[j])].append(j) }
            for (ci, c) in caps.enumerated() {
                var pv = 0.0
                for rows in rowsIn where !rows.isEmpty {
                    let sa = rows.reduce(0.0) { $0 + min(w[$1], c) * r[$1] }, sb = rows.reduce(0.0) { $0 + min(w[$1], c) }
                    if sb > 0 {
                        let share = Double(rows.count) / Double(n)
                        pv += share * share * ratioCI({ min(w[$0], c) * r[$0] }, { min(w[$0], c) }, sa / sb, rows: rows).2
                    }
                }
                let v = point[7 + 3 * C + t * C + ci]
                normals.append((v - zq * pv.squareRoot(), v + zq * pv.squareRoot()))
            }
        }
        // Bootstrap: resample counts (B × n) times features (n × F) = sums (B × F).
        var boot: [[Double]]? = nil
        if settings.bootstrap > 0 {
            boot = bootstrapValues(features: features(), rows: n, width: F, resamples: settings.bootstrap, seed: settings.seed,
                                   parallelism: settings.parallelism, values: values)
        }
        let lowQ = (1 - settings.level) / 2, highQ = 1 - lowQ
        func interval(_ i: Int) -> (Double, Double, String, Double, Double) {
            let (nl, nh) = normals[i]
            guard let b = boot else { return (nl, nh, "normal", nl, nh) }
            let col = b.map { $0[i] }.filter { $0.isFinite }.sorted()
            guard !col.isEmpty else { return (nl, nh, "normal", nl, nh) }
            func qtile(_ p: Double) -> Double {
                let h = p * Double(col.count - 1)
                let lo = Int(h.rounded(.down)), hi = min(lo + 1, col.count - 1)
                return col[lo] + (h - Double(lo)) * (col[hi] - col[lo])
            }
            return (qtile(lowQ), qtile(highQ), "bootstrap-percentile", nl, nh)
        }
        var estimates = [Estimate]()
        func add(_ est: String, _ i: Int, cap: Double?, groups: String? = nil, model: String? = nil) {
            let (lo, hi, method, nl, nh) = interval(i)
            estimates.append(Estimate(policy: name, estimator: est, cap: cap, groups: groups, model: model, value: point[i],
                                      ciLow: lo, ciHigh: hi, ciMethod: method, normalLow: nl, normalHigh: nh))
        }
        add("IS", 0, cap: nil)
        for (ci, c) in caps.enumerated() { add("CIS", 7 + 3 * ci, cap: c) }
        for (ci, c) in caps.enumerated() { add("NCIS", 7 + 3 * ci + 1, cap: c) }
        add("SNIPS", 1, cap: nil)
        for (t, gr) in groupings.enumerated() {
            for (ci, c) in caps.enumerated() { add("pieceNCIS", 7 + 3 * C + t * C + ci, cap: c, groups: gr.label) }
        }
        if zKey != nil { for (ci, c) in caps.enumerated() { add("pointNCIS", 7 + 3 * ci + 2, cap: c) } }
        add("DM", 2, cap: nil, model: "ctr")
        add("DR", 3, cap: nil, model: "ctr")
        add("SwitchDR", 4, cap: tau, model: "ctr")
        if hasLogistic {
            add("DM", 5, cap: nil, model: "logistic")
            add("DR", 6, cap: nil, model: "logistic")
        }
        // Diagnostics.
        let sw = w.reduce(0, +), sw2 = w.reduce(0) { $0 + $1 * $1 }
        var above = [Double: Double]()
        for c in [1.0, 2, 5, 10, 20, 50, 100] + caps { above[c] = Double(w.filter { $0 > c }.count) / Double(n) }
        let capTable = [1.0, 2, 5, 10, 20, 50, 100, .infinity].map { c -> (cap: Double, cis: Double, ncis: Double) in
            var a = 0.0, b = 0.0
            for j in 0..<n { let wc = min(w[j], c); a += wc * r[j]; b += wc }
            return (c, a / Double(n), a / b)
        }
        let diag = WeightDiagnostics(effectiveSampleSize: sw * sw / sw2, maxWeight: w.max() ?? 0, meanWeight: sw / Double(n),
                                     shareAboveCap: above, unsupportedMass: unsupported, capTable: capTable)
        if diag.meanWeight < 0.5 || diag.meanWeight > 2 {
            warnings.append("\(name): the mean weight is " + String(format: "%.3f", diag.meanWeight) + " (1 under correct propensities): check the logging policy")
        }
        return PolicyEvaluation(policy: name, estimates: estimates, diagnostics: diag, warnings: warnings)
    }

    /// Percentile-bootstrap estimator values: resample counts × features through GEMM, in blocks
    /// of resamples; block b uses `RandomStream(seed).split(b)`, so results do not depend on the
    /// thread count.
    static func bootstrapValues(features: [Float], rows n: Int, width F: Int, resamples B: Int, seed: UInt64,
                                parallelism: Parallelism, values: ([Double]) -> [Double]) -> [[Double]] {
        let featM = Matrix(rows: n, cols: F, elements: features)
        let block = max(1, min(B, 50_000_000 / max(n, 1)))
        var out = [[Double]]()
        out.reserveCapacity(B)
        let root = RandomStream(seed: seed)
        var b0 = 0
        while b0 < B {
            let nb = min(block, B - b0)
            var counts = Matrix(rows: nb, cols: n)
            counts.withUnsafeMutableBufferPointer { buf in
                let p = buf.baseAddress!
                Threading.parallelFor(chunks: nb, parallelism: parallelism) { i in
                    var g = root.split(b0 + i).generator()
                    let row = p + i * n
                    for _ in 0..<n {
                        let j = Int(((g.next() >> 32) &* UInt64(n)) >> 32)
                        row[j] += 1
                    }
                }
            }
            let sums = matmul(counts, featM, parallelism: parallelism)
            for i in 0..<nb { out.append(values(sums.row(i).map(Double.init))) }
            b0 += nb
        }
        return out
    }

    /// The standard normal quantile (Acklam's rational approximation refined by one Newton step
    /// on erfc; |error| < 1e-12).
    static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - 0.02425 {
            let q = p - 0.5, rr = q * q
            x = (((((a[0] * rr + a[1]) * rr + a[2]) * rr + a[3]) * rr + a[4]) * rr + a[5]) * q / (((((b[0] * rr + b[1]) * rr + b[2]) * rr + b[3]) * rr + b[4]) * rr + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        return x - u / (1 + x * u / 2)
    }
}

/// Cross-fitted value-model buckets: rows fall in two folds at random (seeded); the smoothed
/// click rate per (item, position) is fitted on one fold and predicts the other; rows are then
/// cut into `buckets` groups at the quantiles of their predictions.
func valueModelBuckets(item: [Int], pos: [Int], r: [Double], N: Int, K: Int, buckets: Int, smoothing m: Double, seed: UInt64) -> [Int32] {
    let n = item.count
    var g = Xoshiro256(seed: seed ^ 0x5EED_F01D)
    let fold = (0..<n).map { _ in Int(g.next() >> 63) }
    var clicks = [[Double]](repeating: [Double](repeating: 0, count: N * K), count: 2), shows = clicks
    var pc = [[Double]](repeating: [Double](repeating: 0, count: K), count: 2), ps = pc
    for j in 0..<n {
        let f = fold[j]
        clicks[f][item[j] * K + pos[j]] += r[j]; shows[f][item[j] * K + pos[j]] += 1
        pc[f][pos[j]] += r[j]; ps[f][pos[j]] += 1
    }
    let pred = (0..<n).map { j -> Double in
        let o = 1 - fold[j], c = item[j] * K + pos[j]
        let prior = ps[o][pos[j]] > 0 ? pc[o][pos[j]] / ps[o][pos[j]] : 0
        return (clicks[o][c] + m * prior) / (shows[o][c] + m)
    }
    let b = max(1, buckets)
    let sorted = pred.sorted()
    let cuts = (1..<b).map { sorted[min(n - 1, $0 * n / b)] }
    return pred.map { p in Int32(cuts.filter { p >= $0 }.count) }
}
