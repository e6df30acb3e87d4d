import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Exact rank marginals for independent item scores:
///
///     P(i at rank r) = ∫ f_i(x) · P(exactly r other items score above x) dx
///                      + Σ_atoms P(S_i = x_a) · P(rank r | ties at x_a broken uniformly at random)
///
/// The inner probability is a Poisson-binomial term in pⱼ(x) = 1 − Gⱼ(x) over the other items;
/// prefix and suffix products of the polynomials (1 − pⱼ + pⱼ z), truncated at degree k − 1, give
/// it for every item at once in O(n·k²) per node.
///
/// Quadrature (Gumbel scores, Plackett–Luce): the score axis runs from the lowest item's 1e-15
/// quantile to the highest item's 1 − 1e-15 quantile and is cut into panels at every item's
/// support ends and atoms, with no panel wider than one standard deviation of any item whose
/// support covers it. Each panel gets 12-point Gauss–Legendre nodes. Each item's CDF at the nodes
/// is carried along the axis by integrating its density with the Gauss–Legendre integration
/// matrix (spectrally accurate), starting from one exact CDF value at the left end. Mass beyond
/// the outermost quantiles is below 1e-15 per item. Beta scores (Thompson sampling) are
/// integrated in logistic coordinates instead, where a shape below 1 is no singularity
/// (`computeBeta`).
enum ExactRankMarginals {
    static let rule = GaussLegendre(points: 12)
    /// Panel width in units of each active item's standard deviation.
    static let panelWidth = 1.0
    /// About half a minute of quadrature: inputs that need more (scores spread over millions of
    /// standard deviations, or millions of items over tens of panels) are refused with a pointer
    /// to Monte Carlo before any is done. Measured: 3.2e8 units a second on one Zen 4 core
    /// (2,000,000 equal Plackett–Luce scores, k = 2: 1.2e10 units in 37.6 s, now refused), so
    /// 1e10 is about 31 s there and under a minute on the slower hosts; the limit was 1e11 (five
    /// minutes) before.
    static let workLimit = 1e10

    static func compute(distributions: [ScoreDistribution], k: Int) throws(RecOPEError) -> RankMarginals {
        let n = distributions.count
        guard n >= 1, k >= 1, k <= n else {
            throw .invalidParameter("exact marginals: need 1 ≤ k ≤ items, got k=\(k), items=\(n)")
        }
        let betas = distributions.compactMap(BetaItem.init)
        if betas.count == n { return try computeBeta(betas, distributions, k: k) }
        guard betas.isEmpty else {
            throw .unsupported(
                "exact marginals: Beta and Gumbel scores in one policy are not supported; --method mc works")
        }
        let supports = Supports(distributions)
        let bps = try panelBreakpoints(supports, k: k)
        var sweep = Sweep(distributions: distributions, supports: supports, k: k, start: bps[0])
        // Atoms at the first breakpoint are already in the starting CDFs.
        if let atoms = supports.atomsAt[bps[0]] { sweep.terms.addAtoms(atoms, g: sweep.g) }
        for panel in 0..<(bps.count - 1) {
            let a = bps[panel]
            let b = bps[panel + 1]
            guard 0.5 * (b - a) > 0 else { continue }
            sweep.integrate(from: a, to: b)
            // Atoms at the panel's right end: include them in the CDFs, then add their terms.
            if let atoms = supports.atomsAt[b] {
                for (j, mass) in atoms { sweep.g[j] += mass }
                sweep.terms.addAtoms(atoms, g: sweep.g)
            }
        }
        return RankMarginals(items: n, k: k, probabilities: sweep.terms.result)
    }

    /// Each item's support (quantiles 1e-15 and 1 − 1e-15), panel width and atoms, and the
    /// fixed points every panel boundary must include (support ends, singular ends, atoms).
    struct Supports {
        var lo = [Double]()
        var hi = [Double]()
        var width = [Double]()
        var atomsAt = [Double: [(item: Int, mass: Double)]]()
        /// Sorted, distinct, finite.
        var fixed = [Double]()

        init(_ distributions: [ScoreDistribution]) {
            for (j, d) in distributions.enumerated() {
                let ends = d.breakpoints([1e-15, 1 - 1e-15])
                lo.append(ends.min()!)
                hi.append(ends.max()!)
                width.append(panelWidth * d.spread)
                fixed += ends
                for (x, m) in d.atoms where m > 0 {
                    fixed.append(x)
                    atomsAt[x, default: []].append((j, m))
                }
            }
            fixed = Array(Set(fixed.filter { $0.isFinite })).sorted()
        }

        /// Whether item `j`'s support covers `x`.
        func covers(_ j: Int, _ x: Double) -> Bool { lo[j] <= x && x < hi[j] }
    }

    /// Panel boundaries: between fixed points, no wider than the panel width of any item whose
    /// support covers the panel's left end (items starting inside it start at a fixed point).
    /// Refuses inputs whose quadrature would exceed `workLimit`.
    static func panelBreakpoints(_ supports: Supports, k: Int) throws(RecOPEError) -> [Double] {
        let n = supports.lo.count
        // Work per panel: densities and CDFs of every item, then the Poisson-binomial terms.
        let m = rule.nodes.count
        let panelWork = Double(m) * Double(n) * Double(k * k + m)
        var work = panelWork  // counted per breakpoint, the first included
        return try walk(
            supports.fixed, panelWork: panelWork, work: &work,
            width: { x in
                var w = Double.infinity
                for j in 0..<n where supports.covers(j, x) { w = min(w, supports.width[j]) }
                return w
            },
            tooMuch: { panels in
                .invalidParameter(
                    "exact marginals: the item scores spread over more than \(panels) "
                        + "quadrature panels of one standard deviation (\(n) items, k=\(k)), beyond the exact method's "
                        + "range; --method mc works")
            })
    }

    /// Panel boundaries from the sorted, distinct `fixed` points: from each boundary the next is
    /// `width(at:)` away, or the next fixed point if that comes first; `visit(a, b)` sees each
    /// panel as it is made (so a width may depend on what the panels before it computed).
    /// `work` grows by `panelWork` a panel; past `workLimit` the walk stops with
    /// `tooMuch(breakpoints so far)`.
    static func walk(
        _ fixed: [Double], panelWork: Double, work: inout Double, width: (Double) -> Double,
        tooMuch: (Int) -> RecOPEError, visit: (Double, Double) -> Void = { _, _ in }
    ) throws(RecOPEError) -> [Double] {
        var bps = [fixed[0]]
        var next = 1
        while next < fixed.count {
            let x = bps.last!
            let candidate = x + width(x)
            if candidate < fixed[next] && candidate > x {
                bps.append(candidate)
            } else {
                bps.append(fixed[next])
                next += 1
            }
            work += panelWork
            if work > workLimit { throw tooMuch(bps.count) }
            visit(x, bps.last!)
        }
        return bps
    }

    /// The sweep along the score axis (Gumbel scores: Plackett–Luce): running CDFs, per-panel
    /// node values and the rank terms.
    struct Sweep {
        let n: Int
        let m = rule.nodes.count
        let supports: Supports
        let flat: [FlatScore]
        /// Running CDFs at the current breakpoint.
        var g: [Double]
        /// Densities and CDFs at the panel's nodes (`n × m`).
        var f: [Double]
        var gNode: [Double]
        var terms: RankTerms

        init(distributions: [ScoreDistribution], supports: Supports, k: Int, start: Double) {
            n = distributions.count
            self.supports = supports
            flat = distributions.map(FlatScore.init)
            g = distributions.map { $0.cdf(start) }
            f = [Double](repeating: 0, count: n * m)
            gNode = f
            terms = RankTerms(n: n, k: k)
        }

        /// One panel [a, b]: densities and CDFs at its nodes, then the rank terms.
        mutating func integrate(from a: Double, to b: Double) {
            let half = 0.5 * (b - a)
            let mid = 0.5 * (a + b)
            var any = false
            for j in 0..<n {
                let covered = !(b <= supports.lo[j] || a >= supports.hi[j])
                for t in 0..<m {
                    let v = covered ? flat[j].pdf(mid + half * rule.nodes[t]) : 0
                    f[j * m + t] = v.isFinite ? v : 0
                    if v > 0 { any = true }
                }
                carryCDF(item: j, f: f, g: &g, gNode: &gNode, half: half)
            }
            if any { for t in 0..<m { terms.add(node: t, m: m, weight: half * rule.weights[t], f: f, gNode: gNode) } }
        }
    }

    /// Item `j`'s CDF at a panel's nodes (the integration matrix over its densities `f`, from its
    /// value `g[j]` at the panel's left end) and at the panel's right end.
    static func carryCDF(item j: Int, f: [Double], g: inout [Double], gNode: inout [Double], half: Double) {
        let m = rule.nodes.count
        var any = false
        for t in 0..<m where f[j * m + t] > 0 { any = true }
        if !any {
            for t in 0..<m { gNode[j * m + t] = g[j] }
            return
        }
        var total = 0.0
        for t in 0..<m {
            var acc = 0.0
            for s in 0..<m { acc += rule.integration[t * m + s] * f[j * m + s] }
            gNode[j * m + t] = g[j] + half * acc
            total += rule.weights[t] * f[j * m + t]
        }
        g[j] += half * total
    }

    /// The rank probabilities accumulated over the nodes and atoms, with the Poisson-binomial
    /// workspaces.
    struct RankTerms {
        let n: Int, k: Int
        /// `n × k` rank probabilities accumulated so far.
        var result: [Double]
        var prefix: [Double]
        var suffix: [Double]
        var p: [Double]

        init(n: Int, k: Int) {
            self.n = n
            self.k = k
            result = [Double](repeating: 0, count: n * k)
            prefix = [Double](repeating: 0, count: (n + 1) * k)
            suffix = prefix
            p = [Double](repeating: 0, count: n)
        }

        /// The Poisson-binomial terms at node `t` (densities `f`, CDFs `gNode`, `n × m`), weighted
        /// by the quadrature weight `w`: others(r) = Σ_{s ≤ r} prefix[i][s] · suffix[i+1][r − s]
        /// for every item with density there.
        mutating func add(node t: Int, m: Int, weight w: Double, f: [Double], gNode: [Double]) {
            var anyDensity = false
            for j in 0..<n {
                p[j] = min(1, max(0, 1 - gNode[j * m + t]))
                if f[j * m + t] > 0 { anyDensity = true }
            }
            if !anyDensity { return }
            poissonBinomialPrefixSuffix(p, k: k, prefix: &prefix, suffix: &suffix)
            for i in 0..<n {
                let fi = f[i * m + t]
                if fi == 0 { continue }
                let c = w * fi
                for r in 0..<k {
                    var acc = 0.0
                    for s in 0...r { acc += prefix[i * k + s] * suffix[(i + 1) * k + r - s] }
                    result[i * k + r] += c * acc
                }
            }
        }

        /// The terms of the atoms at one point (CDFs `g` there, atoms included).
        mutating func addAtoms(_ atoms: [(item: Int, mass: Double)], g: [Double]) {
            ExactRankMarginals.addAtoms(atoms, g: g, n: n, k: k, into: &result)
        }
    }

    /// prefix[j] = Π_{l<j} (1 − p_l + p_l z), suffix[j] = Π_{l≥j} (…), both truncated at degree k−1;
    /// rows of `k` coefficients, `n + 1` rows each.
    static func poissonBinomialPrefixSuffix(_ p: [Double], k: Int, prefix: inout [Double], suffix: inout [Double]) {
        let n = p.count
        for r in 0..<k {
            prefix[r] = r == 0 ? 1 : 0
            suffix[n * k + r] = r == 0 ? 1 : 0
        }
        for j in 0..<n {
            let pj = p[j]
            let qj = 1 - pj
            let src = j * k
            let dst = (j + 1) * k
            prefix[dst] = prefix[src] * qj
            if k > 1 { for r in 1..<k { prefix[dst + r] = prefix[src + r] * qj + prefix[src + r - 1] * pj } }
        }
        for j in stride(from: n - 1, through: 0, by: -1) {
            let pj = p[j]
            let qj = 1 - pj
            let src = (j + 1) * k
            let dst = j * k
            suffix[dst] = suffix[src] * qj
            if k > 1 { for r in 1..<k { suffix[dst + r] = suffix[src + r] * qj + suffix[src + r - 1] * pj } }
        }
    }

    /// Rank terms of the atoms at `x`: for owner i, every other item is above x with probability
    /// 1 − G_j(x), tied with probability (its atom at x), below otherwise; tied items are ordered
    /// uniformly at random, so with A above and T tied, i takes ranks A…A+T with 1/(T+1) each.
    static func addAtoms(
        _ atoms: [(item: Int, mass: Double)], g: [Double], n: Int, k: Int, into result: inout [Double]
    ) {
        var tieMass = [Int: Double]()
        for (j, mass) in atoms { tieMass[j, default: 0] += mass }
        for (i, mass) in atoms {
            // Bivariate polynomial in z (above, degree < k) and w (tied, degree ≤ tiedCount).
            let tied = tieMass.keys.filter { $0 != i }.count
            let wd = tied + 1
            var poly = [Double](repeating: 0, count: k * wd)
            poly[0] = 1
            for j in 0..<n where j != i {
                let tie = tieMass[j] ?? 0
                let above = min(1, max(0, 1 - g[j]))
                let below = max(0, 1 - above - tie)
                var next = [Double](repeating: 0, count: k * wd)
                for a in 0..<k {
                    for t in 0..<wd {
                        let c = poly[a * wd + t]
                        if c == 0 { continue }
                        next[a * wd + t] += c * below
                        if a + 1 < k { next[(a + 1) * wd + t] += c * above }
                        if tie > 0 && t + 1 < wd { next[a * wd + t + 1] += c * tie }
                    }
                }
                poly = next
            }
            for a in 0..<k {
                for t in 0..<wd {
                    let c = poly[a * wd + t]
                    if c == 0 { continue }
                    let share = mass * c / Double(t + 1)
                    for r in a...min(k - 1, a + t) { result[i * k + r] += share }
                }
            }
        }
    }
}
