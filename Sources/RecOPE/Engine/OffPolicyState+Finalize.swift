import RecCore
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension OffPolicyState {
    /// The offline A/B report of a state whose passes are all done.
    /// - Throws: `.invalidParameter` if passes remain or no rows were read.
    public func report() throws(RecOPEError) -> OfflineABReport {
        guard pass == .done else {
            throw .invalidParameter(
                "the evaluation is at pass \(completedPasses + 1) (\(pass)); run that pass over the data before the report"
            )
        }
        guard rows > 0 else { throw .invalidParameter("\(sources.first ?? "the log"): the log has no rows") }
        let evaluations = policies.indices.map { evaluation(policy: $0) }
        var warnings = notes
        let keys = rowKeySketch.count
        if keys > 0 && keys < Self.fewRowKeys && settings.bootstrap > 0 {
            warnings.append(
                "the row key has only \(keys) distinct values over \(rows) rows: rows that share a key share their bootstrap weights, so the bootstrap resamples \(keys) clusters, too few for its intervals to hold; use a key with more values (a row or session id)"
            )
        }
        return OfflineABReport(
            logs: sources.joined(separator: ", "), rows: rows, loggedMean: rewardSum.value / Double(rows),
            evaluations: evaluations, warnings: warnings, passes: completedPasses)
    }

    /// The labels of `values`' entries: (estimator, cap, grouping, model).
    func labels(policy p: Int) -> [(Estimator, Double?, PieceGrouping?, RewardModelKind?)] {
        let caps = settings.caps
        var out: [(Estimator, Double?, PieceGrouping?, RewardModelKind?)] = [(.IS, nil, nil, nil)]
        out += caps.map { (.CIS, $0, nil, nil) }
        out += caps.map { (.NCIS, $0, nil, nil) }
        out.append((.SNIPS, nil, nil, nil))
        for (g, groups) in pieceGroups(policy: p) where groups != nil { out += caps.map { (.pieceNCIS, $0, g, nil) } }
        if settings.logging != 0 { out += caps.map { (.pointNCIS, $0, nil, nil) } }
        if policies[p].model != nil {
            out += [(.DM, nil, nil, .ctr), (.DR, nil, nil, .ctr), (.SwitchDR, settings.switchThreshold, nil, .ctr)]
        }
        if policies[p].logistic != nil { out += [(.DM, nil, nil, .logistic), (.DR, nil, nil, .logistic)] }
        return out
    }

    /// Percentile intervals of the bootstrap replicates (nil entries where no replicate is finite).
    func bootstrapIntervals(policy p: Int, count: Int) -> [Interval?] {
        let B = settings.bootstrap
        guard B > 0 else { return Array(repeating: nil, count: count) }
        var columns = [[Double]](repeating: [], count: count)
        for b in 0..<B {
            for (i, v) in values(policy: p, SumView(replicate: b)).enumerated() where v.isFinite {
                columns[i].append(v)
            }
        }
        let lowQ = (1 - settings.level) / 2
        let highQ = 1 - lowQ
        return columns.map { col in
            guard !col.isEmpty else { return nil }
            let sorted = col.sorted()
            func quantile(_ q: Double) -> Double {
                let h = q * Double(sorted.count - 1)
                let lo = Int(h.rounded(.down))
                let hi = min(lo + 1, sorted.count - 1)
                return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
            }
            return Interval(low: quantile(lowQ), high: quantile(highQ))
        }
    }

    /// One policy's estimates, diagnostics and warnings.
    func evaluation(policy p: Int) -> PolicyEvaluation {
        let name = settings.policies[p]
        let point = values(policy: p, SumView(replicate: nil))
        let se = standardErrors(policy: p, point: point)
        let boot = bootstrapIntervals(policy: p, count: point.count)
        let z = SpecialFunctions.normalQuantile(0.5 + settings.level / 2)
        var estimates = [Estimate]()
        for (i, (e, cap, g, m)) in labels(policy: p).enumerated() {
            let normal = Interval(low: point[i] - z * se[i], high: point[i] + z * se[i])
            estimates.append(
                Estimate(
                    policy: name, estimator: e, cap: cap, grouping: g, model: m, value: point[i],
                    interval: boot[i] ?? normal, method: boot[i] == nil ? .normal : .poissonBootstrap, normal: normal))
        }
        let diagnostics = weightDiagnostics(policy: p)
        return PolicyEvaluation(
            policy: name, estimates: estimates, diagnostics: diagnostics,
            warnings: warnings(policy: p, diagnostics))
    }

    func weightDiagnostics(policy p: Int) -> WeightDiagnostics {
        let P = policies[p]
        let R = P.ratio
        let W = P.weights
        let n = Double(rows)
        var shares = [CapShare]()
        for (c, k) in zip(W.aboveCaps, W.above) where !shares.contains(where: { $0.cap == c }) {
            shares.append(CapShare(cap: c, share: Double(k) / n))
        }
        shares.sort { $0.cap < $1.cap }
        var table = zip(WeightSums.tableCaps, zip(W.capReward, W.capWeight)).map { c, s in
            CapRow(cap: c, cis: s.0.value / n, ncis: s.0.value / s.1.value)
        }
        table.append(CapRow(cap: .infinity, cis: R.sum(1) / n, ncis: R.sum(1) / R.sum(2)))
        return WeightDiagnostics(
            effectiveSampleSize: R.sum(2) * R.sum(2) / R.product(2), maxWeight: W.maxWeight,
            meanWeight: R.sum(2) / n, shareAboveCap: shares,
            unsupportedMass: P.model.map { $0.sum(4) / n }, capTable: table,
            weightHistogram: W.histogram.map(Self.weightBins))
    }

    /// The histogram's counts with their edges (bins as `WeightSums.histogramBin` numbers them).
    static func weightBins(_ counts: [Int]) -> [WeightBin] {
        let e = WeightSums.histogramExponents
        var bins = [WeightBin(low: 0, high: 0, rows: counts[0]), WeightBin(low: 0, high: 0x1p-10, rows: counts[1])]
        for (k, x) in e.enumerated() {
            bins.append(
                WeightBin(
                    low: Double(sign: .plus, exponent: x, significand: 1),
                    high: Double(sign: .plus, exponent: x + 1, significand: 1), rows: counts[2 + k]))
        }
        bins.append(WeightBin(low: 0x1p20, high: nil, rows: counts[counts.count - 1]))
        return bins
    }

    func warnings(policy p: Int, _ d: WeightDiagnostics) -> [String] {
        let name = settings.policies[p]
        var out = [String]()
        if let u = d.unsupportedMass, u > 0 {
            out.append(
                "\(name): " + cFormat("%.4g", 100 * u)
                    + "% of the target's probability mass (averaged over logged slots) is on item/position pairs the logs never show; importance-weighted estimators cannot see it"
            )
        }
        if settings.logging == 0 {
            out.append("\(name): pointNCIS needs the logging policy's marginals (--logging); skipped")
        }
        for (g, groups) in pieceGroups(policy: p) where groups == nil {
            if case .contextFeature(let c) = g,
                let n = policies[p].pieces.first(where: { _ in true }).map({ _ in
                    contextGroupCount(policy: p, column: c)
                }), n > 64
            {
                out.append("\(name): pieceNCIS by '\(c.prefix(80))': \(n) groups (more than 64); skipped")
            }
        }
        if d.meanWeight < 0.5 || d.meanWeight > 2 {
            out.append(
                "\(name): the mean weight is " + cFormat("%.3f", d.meanWeight)
                    + " (1 under correct propensities): check the logging policy")
        }
        return out
    }

    func contextGroupCount(policy p: Int, column: String) -> Int {
        var i = 0
        for g in settings.pieceGroupings where !g.isValueModel {
            if g == .contextFeature(column) { return policies[p].pieces[i].keys.count }
            i += 1
        }
        return 0
    }
}
