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
        let plan = self.plan
        let evaluations = policies.indices.map { evaluation(policy: $0, plan: plan) }
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

    /// Percentile intervals of the bootstrap replicates (nil entries where no replicate is finite).
    func bootstrapIntervals(_ units: [UnitLocator]) -> [Interval?] {
        let B = settings.bootstrap
        guard B > 0 else { return Array(repeating: nil, count: units.count) }
        var columns = [[Double]](repeating: [], count: units.count)
        for b in 0..<B {
            for (i, u) in units.enumerated() {
                let v = u.unit.value(u.view(replicate: b))
                if v.isFinite { columns[i].append(v) }
            }
        }
        return columns.map { Self.percentileInterval($0, level: settings.level) }
    }

    /// The percentile interval of replicate values at `level` (linear interpolation between
    /// order statistics); nil for none.
    static func percentileInterval(_ values: [Double], level: Double) -> Interval? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        func quantile(_ q: Double) -> Double {
            let h = q * Double(sorted.count - 1)
            let lo = Int(h.rounded(.down))
            let hi = min(lo + 1, sorted.count - 1)
            return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
        }
        let lowQ = (1 - level) / 2
        return Interval(low: quantile(lowQ), high: quantile(1 - lowQ))
    }

    /// One policy's estimates, diagnostics and warnings.
    func evaluation(policy p: Int, plan: EstimatorPlan) -> PolicyEvaluation {
        let name = settings.policies[p]
        let units = locators(policy: p, plan: plan)
        let boot = bootstrapIntervals(units)
        let z = SpecialFunctions.normalQuantile(0.5 + settings.level / 2)
        let pairs = policies[p].weights.pairs
        let likelihood = pairs.flatMap { pairs in
            EmpiricalLikelihood.interval(pairs, level: settings.level, weightBound: settings.weightBound)
        }
        // DR's, per reward model, over the rewards' logged range.
        let rewards = pairs.flatMap { q in q.rewards.min().map { $0...q.rewards.max()! } }
        var doublyRobust = [RewardModelKind: Interval]()
        for (model, pass) in [(RewardModelKind.ctr, SumPass.clickModel), (.logistic, .logistic)] {
            guard let rewards, let terms = policies[p][pass]?.likelihood, !terms.overflow else { continue }
            doublyRobust[model] = EmpiricalLikelihood.doublyRobustInterval(
                terms, rewards: rewards, model: policies[p][pass]?.likelihoodModel, level: settings.level,
                weightBound: settings.weightBound)
        }
        var estimates = [Estimate]()
        for (i, u) in units.enumerated() {
            let sums = u.view(replicate: nil)
            let value = u.unit.value(sums)
            let se = u.unit.standardError(sums, value: value)
            let normal = Interval(low: value - z * se, high: value + z * se)
            var e = Estimate(
                policy: name, estimator: u.unit.estimator, cap: u.unit.reportedCap(sums), grouping: u.unit.grouping,
                model: u.unit.model, value: value, interval: boot[i] ?? normal,
                method: boot[i] == nil ? .normal : .poissonBootstrap, normal: normal, tuning: u.unit.tuning)
            // The empirical-likelihood interval is for the policy's value V, not for an estimator's
            // own estimand: every estimator of V from the rows' (w, r) pairs (capped, normalised and
            // shrunk ones included) shows the pairs' interval, and every doubly robust one its reward
            // model's (w, DR term) interval. MIPS (other weights) and DM (none) get none.
            let el: Interval?
            switch u.unit.estimator {
            case .IS, .SNIPS, .CIS, .NCIS, .pieceNCIS, .pointNCIS, .SubGaussianIPW: el = likelihood
            case .DR, .SNDR, .SwitchDR, .DRos, .SubGaussianDR: el = u.unit.model.flatMap { doublyRobust[$0] }
            default: el = nil
            }
            if let likelihood = el {
                e.likelihood = likelihood
                if settings.likelihood == .reported {
                    e.interval = likelihood
                    e.method = .empiricalLikelihood
                }
            }
            estimates.append(e)
        }
        var balancedWarnings = [String]()
        if let c = settings.balanced, let cells = policies[p].weights.balanced {
            switch cells.estimate(c: c, items: settings.items) {
            case .success(let b):
                let normal = Interval(low: b.value - z * b.standardError, high: b.value + z * b.standardError)
                estimates.append(
                    Estimate(
                        policy: name, estimator: .BIPW, cap: nil, grouping: nil, model: nil, value: b.value,
                        interval: normal, method: .normal, normal: normal))
                if !b.droppedColumns.isEmpty {
                    balancedWarnings.append(
                        "\(name): balanced IPW's classifier leaves out context columns with more than \(BalancedCells.maxLevels) values: "
                            + b.droppedColumns.map { clipped($0) }.joined(separator: ", "))
                }
            case .failure(let error):
                if case .invalidParameter(let m) = error { balancedWarnings.append("\(name): \(m)") }
            }
        }
        let diagnostics = weightDiagnostics(policy: p, plan: plan)
        return PolicyEvaluation(
            policy: name, estimates: estimates, diagnostics: diagnostics,
            warnings: warnings(policy: p, diagnostics, plan: plan) + balancedWarnings)
    }

    func weightDiagnostics(policy p: Int, plan: EstimatorPlan) -> WeightDiagnostics {
        let P = policies[p]
        let R = TermSums(block: P[.ratios]!.all, layout: plan.passes[0]!.all, replicate: nil)
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
        let wr = R[.weightedReward]
        let w = R[.weight]
        table.append(CapRow(cap: .infinity, cis: wr / n, ncis: wr / w))
        var unsupported: Double?
        if let m = P[.clickModel], let layout = plan.passes[SumPass.clickModel.rawValue] {
            unsupported = TermSums(block: m.all, layout: layout.all, replicate: nil)[.unsupportedMass] / n
        }
        return WeightDiagnostics(
            effectiveSampleSize: w * w / R.product(.weight, .weight), maxWeight: W.maxWeight,
            meanWeight: w / n, shareAboveCap: shares, unsupportedMass: unsupported, capTable: table,
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

    func warnings(policy p: Int, _ d: WeightDiagnostics, plan: EstimatorPlan) -> [String] {
        let name = settings.policies[p]
        var out = [String]()
        if let u = d.unsupportedMass, u > 0 {
            out.append(
                "\(name): " + cFormat("%.4g", 100 * u)
                    + "% of the target's probability mass (averaged over logged slots) is on item/position pairs the logs never show; importance-weighted estimators cannot see it"
            )
        }
        if let pairs = policies[p].weights.pairs {
            if pairs.overflow {
                out.append(
                    "\(name): more than \(WeightRewardCounts.maxPairs) distinct (weight, reward) pairs; no empirical-likelihood interval"
                )
            } else if max(settings.weightBound ?? 0, pairs.weights.max() ?? 0) <= 1,
                !pairs.weights.allSatisfy({ $0 == 1 })
            {
                out.append(
                    "\(name): every weight is below 1 (E[w] = 1 cannot hold: the target leaves the logging policy's support); no empirical-likelihood interval"
                )
            }
        }
        if settings.logging == 0 {
            out.append("\(name): pointNCIS needs the logging policy's marginals (--logging); skipped")
            if settings.embeddings != 0 {
                out.append("\(name): MIPS needs the logging policy's marginals (--logging); skipped")
            }
        }
        for g in settings.pieceGroupings {
            guard case .contextFeature(let c) = g, let layout = plan.passes[g.pass.rawValue],
                let i = layout.groupIndex(g), let n = policies[p][g.pass]?.groups[i].keys.count, n > 64
            else { continue }
            out.append("\(name): pieceNCIS by '\(c.prefix(80))': \(n) groups (more than 64); skipped")
        }
        if d.meanWeight < 0.5 || d.meanWeight > 2 {
            out.append(
                "\(name): the mean weight is " + cFormat("%.3f", d.meanWeight)
                    + " (1 under correct propensities): check the logging policy")
        }
        return out
    }
}
