#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension OffPolicyState {
    /// The click-rate model from the merged counts: per (item, position) cell
    /// q = (clicks + m·p̄ₖ) / (shows + m), p̄ₖ the position's mean reward, m the smoothing.
    /// `fold` 0 or 1 fits on that fold's rows only (cross-fitting); nil on all rows.
    func clickRates(fold: Int?) -> [Double] {
        let N = settings.items
        let K = settings.depth
        let m = settings.rewardSmoothing
        let folds = fold.map { [$0] } ?? [0, 1]
        var clicks = [Double](repeating: 0, count: N * K)
        var shows = clicks
        var posClicks = [CompensatedSum](repeating: CompensatedSum(), count: K)
        var posShows = [Double](repeating: 0, count: K)
        for f in folds {
            for c in 0..<(N * K) {
                clicks[c] += counts.clicks[f][c].value
                shows[c] += Double(counts.shows[f][c])
            }
        }
        for c in 0..<(N * K) {
            posClicks[c % K].add(clicks[c])
            posShows[c % K] += shows[c]
        }
        var q = [Double](repeating: 0, count: N * K)
        for c in 0..<(N * K) {
            let k = c % K
            let prior = posShows[k] > 0 ? posClicks[k].value / posShows[k] : 0
            q[c] = (clicks[c] + m * prior) / (shows[c] + m)
        }
        return q
    }

    /// Cut points of `buckets` quantile buckets of the cross-fitted predictions: a row of fold f
    /// in cell c is predicted by the other fold's model, q₁₋f(c); the cuts are the predictions at
    /// ranks ⌊i·n/b⌋ (i = 1..<b) of all n rows, found from the cell counts without the rows.
    func valueCuts(buckets: Int) -> [Double] {
        let q = [clickRates(fold: 1), clickRates(fold: 0)]
        var mass = [(value: Double, count: Int)]()
        for f in 0..<2 { for (c, n) in counts.shows[f].enumerated() where n > 0 { mass.append((q[f][c], n)) } }
        mass.sort { $0.value < $1.value }
        let n = rows
        let b = max(1, buckets)
        var cuts = [Double]()
        var seen = 0
        var next = 0
        for i in 1..<max(b, 1) {
            let rank = min(n - 1, i * n / b)
            while next < mass.count && seen + mass[next].count <= rank {
                seen += mass[next].count
                next += 1
            }
            cuts.append(mass[min(next, mass.count - 1)].value)
        }
        return cuts
    }

    /// The state of the next pass, after every shard's state of this pass has been merged:
    /// models are fitted from the merged sums (the click-rate model and value cuts after the
    /// first pass, a Newton step after each Newton pass).
    /// - Throws: `.invalidParameter` if a later pass saw other rows than the first.
    public func advanced() throws(RecOPEError) -> OffPolicyState {
        guard pass != .done else { return self }
        var s = self
        try s.checkShards()
        try s.checkRowCounts()
        switch pass {
        case .ratios:
            guard plan.needs(.clickModel), rows > 0 else {
                s.pass = .done
                break
            }
            s.valueCuts = settings.pieceGroupings.compactMap { g in
                if case .valueModel(let b) = g { return valueCuts(buckets: b) }
                return nil
            }
            s.startNewton()
            s.pass = .rewardModels
        case .rewardModels:
            s.newtonStep(iteration: 0)
        case .newton(let i):
            s.newtonStep(iteration: i)
        case .logistic, .done:
            s.pass = .done
        }
        s.completedPasses += 1
        s.earlierShards = shards
        return s.pass == .done ? s : s.clearingCurrentPass().withSources(sources)
    }

    /// A later pass must have read exactly the shards the previous one did.
    func checkShards() throws(RecOPEError) {
        guard completedPasses > 0 else { return }
        let now = shards.filter { $0.rows > 0 }
        let before = earlierShards.filter { $0.rows > 0 }
        guard Set(now) != Set(before) else { return }
        let missing = before.filter { !now.contains($0) }
        let extra = now.filter { !before.contains($0) }
        throw .invalidParameter(
            "pass \(completedPasses + 1) (\(pass)) holds \(now.count) shards of \(now.reduce(0) { $0 + $1.rows }) rows, pass \(completedPasses) held \(before.count) of \(before.reduce(0) { $0 + $1.rows }) rows"
                + (missing.isEmpty ? "" : "; missing: \(missing.prefix(3).map(\.description).joined(separator: "; "))")
                + (extra.isEmpty
                    ? "" : "; not in the earlier pass: \(extra.prefix(3).map(\.description).joined(separator: "; "))")
                + " (run every shard of the first pass, once, with --after the merged state)")
    }

    func withSources(_ x: [String]) -> OffPolicyState {
        var s = self
        s.sources = x
        return s
    }

    func checkRowCounts() throws(RecOPEError) {
        for (name, p) in zip(settings.policies, policies) {
            let seen: Double?
            switch pass {
            case .rewardModels: seen = p[.clickModel]?.all.sum(0)
            case .logistic: seen = p[.logistic]?.all.sum(0)
            default: seen = nil
            }
            if let seen, seen != Double(rows) {
                throw .invalidParameter(
                    "\(name): pass \(completedPasses + 1) (\(pass)) read \(Int(seen)) rows, the first pass \(rows): every pass must read the same rows"
                )
            }
        }
    }

    mutating func startNewton() {
        guard plan.needs(.logistic), !contextLevels.isEmpty else { return }
        guard
            let d = LogisticDesign.make(
                items: settings.items, depth: settings.depth, levels: contextLevels,
                itemCategories: settings.itemCategories, itemNumeric: settings.itemNumeric, notes: &notes)
        else { return }
        var n = NewtonSums(
            design: d, theta: d.start(meanReward: rewardSum.value / Double(max(rows, 1))), gradient: [], hessian: [])
        n.clearSums()
        newton = n
    }

    mutating func newtonStep(iteration i: Int) {
        guard var n = newton, !n.converged else {
            pass = .done
            return
        }
        guard let (theta, size) = n.design.step(n) else {
            notes.append("the logistic reward model did not converge (singular Hessian); skipped")
            newton = nil
            pass = .done
            return
        }
        n.theta = theta
        if size < 1e-9 || i + 1 >= settings.maxNewtonIterations {
            n.converged = true
            pass = .logistic
        } else {
            pass = .newton(iteration: i + 1)
        }
        n.clearSums()
        newton = n
    }
}
