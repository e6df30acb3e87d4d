import Foundation
import RecCore

/// The distribution of one item's ranking score, for policies whose item scores are independent.
indirect enum ScoreDistribution: Sendable {
    /// Beta(a, b) (a Thompson-sampling posterior draw).
    case beta(Double, Double)
    /// Standard Gumbel shifted to `location` (Plackett–Luce: score/temperature + Gumbel noise).
    case gumbel(location: Double)
    /// `max(X, floor)`: the optimistic step of dOTS; an atom of mass P(X ≤ floor) at `floor`.
    case floored(ScoreDistribution, at: Double)
    /// `scale · X + shift` with `scale > 0` (a priority boost).
    case affine(ScoreDistribution, scale: Double, shift: Double)

    /// P(S ≤ x), atoms included.
    func cdf(_ x: Double) -> Double {
        switch self {
        case .beta(let a, let b): return SpecialFunctions.regularizedIncompleteBeta(a, b, min(max(x, 0), 1))
        case .gumbel(let mu): return exp(-exp(-(x - mu)))
        case .floored(let d, let m): return x < m ? 0 : d.cdf(x)
        case .affine(let d, let s, let t): return d.cdf((x - t) / s)
        }
    }

    /// Density of the continuous part at x.
    func pdf(_ x: Double) -> Double {
        switch self {
        case .beta(let a, let b): return SpecialFunctions.betaPDF(a, b, x)
        case .gumbel(let mu): let z = x - mu; return exp(-z - exp(-z))
        case .floored(let d, let m): return x > m ? d.pdf(x) : 0
        case .affine(let d, let s, let t): return d.pdf((x - t) / s) / s
        }
    }

    /// Point masses (location, mass).
    var atoms: [(Double, Double)] {
        switch self {
        case .beta, .gumbel: return []
        case .floored(let d, let m): return [(m, d.cdf(m))] + d.atoms.filter { $0.0 > m }
        case .affine(let d, let s, let t): return d.atoms.map { (s * $0.0 + t, $0.1) }
        }
    }

    /// Score values at the given levels of the underlying continuous variable, used as panel
    /// breakpoints (only their placement matters, not their exactness).
    func breakpoints(_ levels: [Double]) -> [Double] {
        switch self {
        case .beta(let a, let b): return levels.map { SpecialFunctions.betaQuantile(a, b, $0, tolerance: 1e-9) }
        case .gumbel(let mu): return levels.map { mu - log(-log($0)) }
        case .floored(let d, let m): return d.breakpoints(levels).filter { $0 > m } + [m]
        case .affine(let d, let s, let t): return d.breakpoints(levels).map { s * $0 + t }
        }
    }
}

/// Exact rank marginals for independent item scores:
///
///     P(i at rank r) = ∫ f_i(x) · P(exactly r other items score above x) dx
///                      + Σ_atoms P(S_i = x_a) · P(rank r | ties at x_a broken uniformly at random)
///
/// The inner probability is a Poisson-binomial term in pⱼ(x) = 1 − Gⱼ(x) over the other items;
/// prefix and suffix products of the polynomials (1 − pⱼ + pⱼ z), truncated at degree k − 1, give
/// it for every item at once in O(n·k²) per node.
///
/// Quadrature: the score axis is cut at every item's quantiles (28 levels from 1e-15 to
/// 1 − 1e-15) and atoms, and each panel gets 12-point Gauss–Legendre nodes. Each item's CDF at
/// the nodes is carried along the axis by integrating its density with the Gauss–Legendre
/// integration matrix (spectrally accurate), starting from one exact CDF value at the left end,
/// so the incomplete beta is evaluated only once per item. Mass beyond the outermost quantiles
/// is below 1e-15 per item.
enum ExactRankMarginals {
    static let levels: [Double] = [1e-15, 1e-12, 1e-9, 1e-7, 1e-5, 1e-4, 1e-3, 0.005, 0.02, 0.06, 0.13, 0.22,
                                   0.33, 0.45, 0.55, 0.67, 0.78, 0.87, 0.94, 0.98, 0.995, 1 - 1e-3, 1 - 1e-4,
                                   1 - 1e-5, 1 - 1e-7, 1 - 1e-9, 1 - 1e-12, 1 - 1e-15]
    static let rule = GaussLegendre(points: 12)

    static func compute(distributions: [ScoreDistribution], k: Int) throws(RecOPEError) -> RankMarginals {
        let n = distributions.count
        guard n >= 1, k >= 1, k <= n else { throw .invalidParameter("exact marginals: need 1 ≤ k ≤ items, got k=\(k), items=\(n)") }
        // Breakpoints and atoms.
        var bps = [Double]()
        var atomsAt = [Double: [(item: Int, mass: Double)]]()
        for (j, d) in distributions.enumerated() {
            bps += d.breakpoints(levels)
            for (x, m) in d.atoms where m > 0 {
                bps.append(x)
                atomsAt[x, default: []].append((j, m))
            }
        }
        bps = Array(Set(bps.filter { $0.isFinite })).sorted()
        var merged = [Double]()
        for b in bps {
            if let last = merged.last, b - last <= 1e-14 * max(abs(b), 1e-300), atomsAt[b] == nil { continue }
            merged.append(b)
        }
        bps = merged
        let m = rule.nodes.count
        var result = [Double](repeating: 0, count: n * k)
        // Running CDFs at the current breakpoint.
        var g = distributions.map { $0.cdf(bps[0]) }
        // Atoms at the first breakpoint are already in g.
        var f = [Double](repeating: 0, count: n * m)       // densities at the panel's nodes
        var gNode = [Double](repeating: 0, count: n * m)   // CDFs at the panel's nodes
        var prefix = [Double](repeating: 0, count: (n + 1) * k)
        var suffix = [Double](repeating: 0, count: (n + 1) * k)
        var p = [Double](repeating: 0, count: n)
        if let atoms = atomsAt[bps[0]] { addAtoms(atoms, at: bps[0], g: g, n: n, k: k, into: &result) }
        for panel in 0..<(bps.count - 1) {
            let a = bps[panel], b = bps[panel + 1]
            let half = 0.5 * (b - a), mid = 0.5 * (a + b)
            if half <= 0 { continue }
            let xs = rule.nodes.map { mid + half * $0 }
            for j in 0..<n {
                var any = false
                for t in 0..<m {
                    let v = distributions[j].pdf(xs[t])
                    f[j * m + t] = v.isFinite ? v : 0
                    if v > 0 { any = true }
                }
                if !any {
                    for t in 0..<m { gNode[j * m + t] = g[j] }
                    continue
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
            // The Poisson-binomial terms at each node.
            for t in 0..<m {
                var anyDensity = false
                for j in 0..<n {
                    p[j] = min(1, max(0, 1 - gNode[j * m + t]))
                    if f[j * m + t] > 0 { anyDensity = true }
                }
                if !anyDensity { continue }
                poissonBinomialPrefixSuffix(p, k: k, prefix: &prefix, suffix: &suffix)
                let w = half * rule.weights[t]
                for i in 0..<n {
                    let fi = f[i * m + t]
                    if fi == 0 { continue }
                    let c = w * fi
                    // others(r) = Σ_{s ≤ r} prefix[i][s] · suffix[i+1][r − s]
                    for r in 0..<k {
                        var acc = 0.0
                        for s in 0...r { acc += prefix[i * k + s] * suffix[(i + 1) * k + r - s] }
                        result[i * k + r] += c * acc
                    }
                }
            }
            // Atoms at the panel's right end: include them in the CDFs, then add their terms.
            if let atoms = atomsAt[b] {
                for (j, mass) in atoms { g[j] += mass }
                addAtoms(atoms, at: b, g: g, n: n, k: k, into: &result)
            }
        }
        return RankMarginals(items: n, k: k, probabilities: result)
    }

    /// prefix[j] = Π_{l<j} (1 − p_l + p_l z), suffix[j] = Π_{l≥j} (…), both truncated at degree k−1;
    /// rows of `k` coefficients, `n + 1` rows each.
    static func poissonBinomialPrefixSuffix(_ p: [Double], k: Int, prefix: inout [Double], suffix: inout [Double]) {
        let n = p.count
        for r in 0..<k { prefix[r] = r == 0 ? 1 : 0; suffix[n * k + r] = r == 0 ? 1 : 0 }
        for j in 0..<n {
            let pj = p[j], qj = 1 - pj
            let src = j * k, dst = (j + 1) * k
            prefix[dst] = prefix[src] * qj
            if k > 1 { for r in 1..<k { prefix[dst + r] = prefix[src + r] * qj + prefix[src + r - 1] * pj } }
        }
        for j in stride(from: n - 1, through: 0, by: -1) {
            let pj = p[j], qj = 1 - pj
            let src = (j + 1) * k, dst = j * k
            suffix[dst] = suffix[src] * qj
            if k > 1 { for r in 1..<k { suffix[dst + r] = suffix[src + r] * qj + suffix[src + r - 1] * pj } }
        }
    }

    /// Rank terms of the atoms at `x`: for owner i, every other item is above x with probability
    /// 1 − G_j(x), tied with probability (its atom at x), below otherwise; tied items are ordered
    /// uniformly at random, so with A above and T tied, i takes ranks A…A+T with 1/(T+1) each.
    static func addAtoms(_ atoms: [(item: Int, mass: Double)], at x: Double, g: [Double], n: Int, k: Int,
                         into result: inout [Double]) {
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

/// Gauss–Legendre nodes and weights on [−1, 1], and the integration matrix
/// `integration[t·m + s] = ∫_{−1}^{ξ_t} L_s(y) dy` of the Lagrange basis on the nodes.
struct GaussLegendre: Sendable {
    let nodes: [Double]
    let weights: [Double]
    let integration: [Double]

    init(points m: Int) {
        var xs = [Double](repeating: 0, count: m), ws = xs
        for i in 0..<m {
            var x = cos(Double.pi * (Double(i) + 0.75) / (Double(m) + 0.5))
            var dp = 0.0
            for _ in 0..<100 {
                let (p, d) = GaussLegendre.legendre(m, x)
                dp = d
                let dx = p / d
                x -= dx
                if abs(dx) < 1e-16 { break }
            }
            dp = GaussLegendre.legendre(m, x).1
            xs[m - 1 - i] = x
            ws[m - 1 - i] = 2 / ((1 - x * x) * dp * dp)
        }
        nodes = xs
        weights = ws
        // Lagrange basis in Legendre form: L_s = Σ_n w_s P_n(ξ_s) (2n+1)/2 · P_n, and
        // ∫_{−1}^{y} P_0 = y + 1, ∫_{−1}^{y} P_n = (P_{n+1}(y) − P_{n−1}(y)) / (2n + 1).
        var a = [Double](repeating: 0, count: m * m)
        for t in 0..<m {
            let pt = GaussLegendre.allLegendre(m, xs[t])
            for s in 0..<m {
                let ps = GaussLegendre.allLegendre(m, xs[s])
                var acc = 0.5 * (xs[t] + 1)
                for n in 1..<m { acc += 0.5 * ps[n] * (pt[n + 1] - pt[n - 1]) }
                a[t * m + s] = ws[s] * acc
            }
        }
        integration = a
    }

    /// P_m(x) and P_m'(x).
    static func legendre(_ m: Int, _ x: Double) -> (Double, Double) {
        var p0 = 1.0, p1 = x
        if m == 0 { return (1, 0) }
        for n in 2...max(2, m) where m >= 2 {
            let p2 = ((2 * Double(n) - 1) * x * p1 - (Double(n) - 1) * p0) / Double(n)
            p0 = p1; p1 = p2
        }
        let d = Double(m) * (x * p1 - p0) / (x * x - 1)
        return (p1, d)
    }

    /// P_0(x) … P_{m+1}(x).
    static func allLegendre(_ m: Int, _ x: Double) -> [Double] {
        var p = [Double](repeating: 0, count: m + 2)
        p[0] = 1; p[1] = x
        if m + 1 >= 2 { for n in 2...(m + 1) { p[n] = ((2 * Double(n) - 1) * x * p[n - 1] - (Double(n) - 1) * p[n - 2]) / Double(n) } }
        return p
    }
}
