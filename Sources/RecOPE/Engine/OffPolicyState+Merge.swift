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
    /// A policy's sums with nothing added yet: the ratio pass's blocks (its groups created as
    /// rows meet them), later passes nil.
    static func emptyPolicy(_ s: StateSettings, plan: EstimatorPlan, replicates: Int? = nil) -> PolicySums {
        PolicySums(
            weights: WeightSums(caps: s.caps, pairs: s.likelihood != nil),
            passes: SumPass.allCases.map { p in
                p == .ratios ? PassSums(plan.passes[0]!, replicates: replicates ?? s.bootstrap) : nil
            })
    }

    /// The estimators of this state's settings and the sums they need.
    var plan: EstimatorPlan { EstimatorPlan(settings) }

    /// Throws naming the first setting that differs from `expected`.
    func requireSettings(_ expected: StateSettings, what: String = "the state") throws(RecOPEError) {
        guard format == Self.formatName else {
            throw .invalidParameter("\(what) is not a RecKit offline A/B state (format '\(format.prefix(80))')")
        }
        guard version == Self.currentVersion else {
            throw .invalidParameter(
                "\(what) has state version \(version); this RecKit reads version \(Self.currentVersion)")
        }
        let a = settings
        let b = expected
        let checks: [(String, Bool)] = [
            ("policies", a.policies == b.policies), ("policy marginals", a.policyHashes == b.policyHashes),
            ("logging policy", a.logging == b.logging), ("caps", a.caps == b.caps),
            ("bootstrap replicates", a.bootstrap == b.bootstrap),
            ("seed", a.seed == b.seed), ("switch threshold", a.switchThreshold == b.switchThreshold),
            ("reward smoothing", a.rewardSmoothing == b.rewardSmoothing), ("interval level", a.level == b.level),
            ("reward models", a.rewardModels == b.rewardModels && a.logisticRewardModel == b.logisticRewardModel),
            ("Newton iterations", a.maxNewtonIterations == b.maxNewtonIterations),
            ("piece groupings", a.pieceGroupings == b.pieceGroupings),
            (
                "item features",
                a.itemFeatures == b.itemFeatures && a.itemCategories == b.itemCategories
                    && a.itemNumeric == b.itemNumeric
            ),
            ("items and positions", a.items == b.items && a.depth == b.depth),
            ("DRos shrinkage", a.shrinkage == b.shrinkage), ("sub-Gaussian λ", a.subGaussian == b.subGaussian),
            ("SLOPE tuning", a.slope == b.slope && a.slopeDelta == b.slopeDelta),
            ("MIPS embeddings", a.embeddings == b.embeddings),
            ("empirical likelihood", a.likelihood == b.likelihood && a.weightBound == b.weightBound),
            ("balanced IPW", a.balanced == b.balanced),
        ]
        for (name, same) in checks where !same {
            throw .invalidParameter(
                "\(what) was made with different \(name) (\(Self.describe(name, a)) against \(Self.describe(name, b)))")
        }
    }

    static func describe(_ field: String, _ s: StateSettings) -> String {
        switch field {
        case "policies": return s.policies.map { String($0.prefix(40)) }.joined(separator: ", ")
        case "caps": return s.caps.map { cFormat("%g", $0) }.joined(separator: ",")
        case "bootstrap replicates": return "\(s.bootstrap)"
        case "seed": return "\(s.seed)"
        case "piece groupings": return s.pieceGroupings.map(\.description).joined(separator: ",")
        case "items and positions": return "\(s.items) items, \(s.depth) positions"
        case "reward models": return "ctr \(s.rewardModels), logistic \(s.logisticRewardModel)"
        case "policy marginals":
            return "marginals " + s.policyHashes.map { String($0, radix: 16) }.joined(separator: ",")
        case "logging policy":
            return s.logging == 0 ? "logged propensities" : "marginals \(String(s.logging, radix: 16))"
        case "switch threshold": return cFormat("%g", s.switchThreshold)
        case "reward smoothing": return cFormat("%g", s.rewardSmoothing)
        case "interval level": return cFormat("%g", s.level)
        case "Newton iterations": return "\(s.maxNewtonIterations)"
        case "DRos shrinkage": return s.shrinkage.map { cFormat("%g", $0) }.joined(separator: ",")
        case "sub-Gaussian λ": return s.subGaussian.map { cFormat("%g", $0) }.joined(separator: ",")
        case "MIPS embeddings": return s.embeddings == 0 ? "none" : String(s.embeddings, radix: 16)
        case "empirical likelihood":
            let bound = s.weightBound.map { ", weight bound " + cFormat("%g", $0) } ?? ""
            return (s.likelihood?.rawValue ?? "none") + bound
        case "balanced IPW": return s.balanced.map { "C " + cFormat("%g", $0) } ?? "none"
        case "SLOPE tuning": return s.slope ? "SLOPE, delta " + cFormat("%g", s.slopeDelta) : "none"
        case "item features":
            return s.itemFeatures == 0
                ? "none"
                : "features \(String(s.itemFeatures, radix: 16)) (\(s.itemCategories.count) categorical, \(s.itemNumeric) numeric)"
        default: return "(\(field))"
        }
    }

    /// This state with the current pass's sums zeroed (what a shard starts from).
    func clearingCurrentPass() -> OffPolicyState {
        var s = self
        s.sources = []
        s.shards = []
        let plan = self.plan
        switch pass {
        case .ratios:
            s.rows = 0
            s.rowKeySketch = []
            s.rewardSum = ExactSum()
            s.counts = RewardCounts(cells: settings.items * settings.depth)
            s.contextLevels = [:]
            s.policies = policies.map { _ in Self.emptyPolicy(settings, plan: plan) }
        case .rewardModels:
            if let layout = plan.passes[SumPass.clickModel.rawValue] {
                for p in s.policies.indices {
                    s.policies[p][.clickModel] = PassSums(layout, replicates: settings.bootstrap)
                }
            }
            s.newton?.clearSums()
        case .newton:
            s.newton?.clearSums()
        case .logistic:
            if let layout = plan.passes[SumPass.logistic.rawValue] {
                for p in s.policies.indices {
                    s.policies[p][.logistic] = PassSums(layout, replicates: settings.bootstrap)
                }
            }
        case .done:
            break
        }
        return s
    }

    /// Merges shards' states of one pass: the pass's sums are added, everything earlier passes
    /// fitted must be equal. Associative and commutative (up to the last bit of compensated
    /// sums; bootstrap sums exactly).
    /// - Throws: `.invalidParameter` naming the state and what differs: format or version,
    ///   settings, pass, or the earlier passes' results.
    public static func merge(_ states: [OffPolicyState], names: [String]? = nil) throws(RecOPEError) -> OffPolicyState {
        guard var out = states.first else { throw .invalidParameter("merge: no states") }
        let label = { (i: Int) in names?[i] ?? "state \(i + 1)" }
        try out.requireSettings(out.settings, what: label(0))
        let base = out.clearingCurrentPass()
        for (i, s) in states.enumerated().dropFirst() {
            try s.requireSettings(out.settings, what: label(i))
            guard s.pass == out.pass, s.completedPasses == out.completedPasses else {
                throw .invalidParameter(
                    "\(label(i)) is at pass \(s.completedPasses + 1) (\(s.pass)), \(label(0)) at pass \(out.completedPasses + 1) (\(out.pass))"
                )
            }
            guard s.clearingCurrentPass() == base else {
                throw .invalidParameter(
                    "\(label(i)) and \(label(0)) come from different earlier passes (their fitted models differ)")
            }
            if let mine = s.shards.first(where: { $0.rows > 0 }), let theirs = out.shards.first(where: { $0.rows > 0 }),
                mine.keyed != theirs.keyed
            {
                throw .invalidParameter(
                    "\(label(i)) was read \(mine.keyed ? "with" : "without") a row-key column and \(label(0)) \(theirs.keyed ? "with" : "without") one: "
                        + "their bootstrap weights and folds differ (read every shard with the same --row-key)")
            }
            if let twice = s.shards.first(where: { $0.rows > 0 && out.shards.contains($0) }) {
                throw .invalidParameter(
                    "\(label(i)) holds a shard that \(i == 1 ? label(0) : "an earlier state") already holds (\(twice)): the same rows merged twice"
                )
            }
            out.addCurrentPass(s)
        }
        return out
    }

    /// Adds a hash to a k-minimum-values sketch (sorted, distinct, at most `rowKeySketchSize`).
    static func addToSketch(_ h: UInt64, _ sketch: inout [UInt64]) {
        if sketch.count == rowKeySketchSize, h >= sketch[sketch.count - 1] { return }
        var lo = 0
        var hi = sketch.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sketch[mid] < h { lo = mid + 1 } else { hi = mid }
        }
        if lo < sketch.count && sketch[lo] == h { return }
        sketch.insert(h, at: lo)
        if sketch.count > rowKeySketchSize { sketch.removeLast() }
    }

    /// Adds the current pass's sums of `o`.
    mutating func addCurrentPass(_ o: OffPolicyState) {
        if !o.sources.isEmpty { sources = Array(Set(sources + o.sources)).sorted() }
        for note in o.notes where !notes.contains(note) { notes.append(note) }
        shards = (shards + o.shards.filter { $0.rows > 0 || !shards.contains($0) }).sorted {
            ($0.rows, $0.fingerprint) < ($1.rows, $1.fingerprint)
        }
        switch pass {
        case .ratios:
            rows += o.rows
            for h in o.rowKeySketch { Self.addToSketch(h, &rowKeySketch) }
            rewardSum.add(o.rewardSum)
            counts.merge(o.counts)
            for (col, values) in o.contextLevels {
                for (v, c) in values { contextLevels[col, default: [:]][v, default: 0] += c }
            }
            for p in policies.indices { policies[p].weights.merge(o.policies[p].weights) }
        case .rewardModels, .newton:
            if let n = o.newton { newton?.addSums(n) }
        case .logistic, .done:
            break
        }
        if let current = SumPass.allCases.first(where: { $0.evaluationPass == pass }),
            let layout = plan.passes[current.rawValue]
        {
            for p in policies.indices {
                guard let theirs = o.policies[p][current] else { continue }
                policies[p][current]?.merge(theirs, layout, replicates: settings.bootstrap)
            }
        }
    }
}

extension NewtonSums {
    mutating func clearSums() {
        gradient = Array(repeating: ExactSum(), count: design.parameters)
        hessian = Array(repeating: ExactSum(), count: design.parameters * (design.parameters + 1) / 2)
    }

    mutating func addSums(_ o: NewtonSums) {
        for i in gradient.indices { gradient[i].add(o.gradient[i]) }
        for i in hessian.indices { hessian[i].add(o.hessian[i]) }
    }
}
