import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The pseudo-inverse (PI) estimator's slate weights (Swaminathan, Krishnamurthy, Agarwal, Dudík,
/// Langford, Jose & Zitouni, "Off-policy evaluation for slate recommendation", NeurIPS 2017).
///
/// A slate s of K distinct items out of m is the indicator 1_s ∈ {0,1}^{K·m} of its (position,
/// item) pairs. With Γ = E_μ[1_s 1_sᵀ] the logging policy's pairwise item-position probabilities
/// and q = E_π[1_s] the target's item-position probabilities, θ = Γ⁺q and a slate's weight is
/// ψ(s) = θᵀ1_s = Σ_j θ(j, s_j); PI = Σ_slates ψ·(the slate's rewards summed) / S. It is unbiased
/// when the slate's expected reward is a sum of per-(position, item) terms (linearity) and the
/// logging policy covers the target's item-position pairs. ψ can be negative.
///
/// Γ⁺q is computed in closed form for a uniform logging policy (any m); for a Plackett–Luce
/// logging policy Γ by enumerating its m!/(m − K)! top-K slates (at most `maxSlates`), then its
/// pseudo-inverse from a Jacobi eigendecomposition (K·m at most `maxDimension`), eigenvalues at or
/// below K·m·ε·λ_max taken as zero (as `numpy.linalg.pinv`). Single-threaded and deterministic:
/// every shard and thread count computes the same bits.
public struct SlatePseudoInverse: Sendable, Equatable {
    /// How θ was computed.
    public enum Method: String, Sendable, Codable {
        /// A uniform logging policy: θ(j, a) = (m − 1)·q(j, a) + (m − 1)/(m − K)·P(a) − (K − 1)·m/((m − K)·K),
        /// P(a) = Σ_j q(j, a) the target's probability that a is in the slate (K < m); for K = m,
        /// θ(j, a) = (m − 1)·q(j, a) − (m − 2)/m.
        case uniformClosedForm
        /// Γ enumerated from a Plackett–Luce logging policy, Γ⁺ by its eigendecomposition.
        case enumerated
    }

    /// Items (m).
    public let items: Int
    /// Positions (K).
    public let depth: Int
    /// θ(j, a) at `j * items + a`.
    public let coefficients: [Double]
    /// How θ was computed.
    public let method: Method

    /// The largest number of top-K slates enumerated for a Plackett–Luce logging policy.
    public static let maxSlates = 4_000_000
    /// The largest K·m for the pseudo-inverse of an enumerated Γ.
    public static let maxDimension = 640

    /// A slate's weight ψ = Σ_j θ(j, slate[j]) (the slate's items in position order).
    public func weight(of slate: [Int]) -> Double {
        var s = 0.0
        for (j, a) in slate.enumerated() { s += coefficients[j * items + a] }
        return s
    }

    /// θ for the target's item-position probabilities `target` (its rank marginals at `depth`)
    /// against the logging policy `logging` (uniform or Plackett–Luce).
    /// - Throws: `.invalidParameter` for another logging policy, item counts that differ, a depth
    ///   past the items, or a Plackett–Luce logging policy past the enumeration limits.
    public init(target: RankMarginals, logging: any RankingPolicy, depth: Int) throws(RecOPEError) {
        let m = logging.itemCount
        guard target.items == m else {
            throw .invalidParameter(
                "PI: the target has \(target.items) items and the logging policy \(m): they must rank the same items")
        }
        guard depth >= 1, depth <= m, depth <= target.k else {
            throw .invalidParameter(
                "PI: depth \(depth) must be in 1…\(min(m, target.k)) (the items and the target's positions)")
        }
        let K = depth
        items = m
        self.depth = K
        var q = [Double](repeating: 0, count: K * m)
        for j in 0..<K { for a in 0..<m { q[j * m + a] = target.probability(item: a, rank: j) } }
        if logging is UniformRandomRanking {
            method = .uniformClosedForm
            coefficients = Self.uniform(q, items: m, depth: K)
            return
        }
        guard logging is PlackettLuce, let softmax = SequentialSoftmax(logging) else {
            throw .invalidParameter(
                "PI needs the logging policy's pairwise item-position probabilities: RecKit computes them for uniform and Plackett–Luce logging policies, not \(logging.name)"
            )
        }
        var count = 1.0
        for i in 0..<K { count *= Double(m - i) }
        guard count <= Double(Self.maxSlates), K * m <= Self.maxDimension else {
            throw .invalidParameter(
                "PI with a Plackett–Luce logging policy enumerates its \(m)!/(\(m) − \(K))! top-\(K) slates (at most \(Self.maxSlates)) and takes the pseudo-inverse of a \(K * m)-square matrix (at most \(Self.maxDimension)): here past the limit; a uniform logging policy has a closed form"
            )
        }
        method = .enumerated
        let gamma = Self.pairwise(softmax, depth: K)
        coefficients = Self.pseudoSolve(gamma, n: K * m, q)
    }

    /// The uniform logging policy's θ in closed form (see `Method.uniformClosedForm`).
    static func uniform(_ q: [Double], items m: Int, depth K: Int) -> [Double] {
        var theta = [Double](repeating: 0, count: K * m)
        let md = Double(m)
        if K == m {
            let c = (md - 2) / md
            for i in theta.indices { theta[i] = (md - 1) * q[i] - c }
            return theta
        }
        var present = [Double](repeating: 0, count: m)
        for j in 0..<K { for a in 0..<m { present[a] += q[j * m + a] } }
        let beta = (md - 1) / Double(m - K)
        let gamma = -Double(K - 1) * md / (Double(m - K) * Double(K))
        for j in 0..<K {
            for a in 0..<m { theta[j * m + a] = (md - 1) * q[j * m + a] + beta * present[a] + gamma }
        }
        return theta
    }

    /// Γ[(j, a), (k, b)] = P(a at j and b at k) of the sequential softmax, row-major over K·m, by
    /// enumerating its top-K slates depth first.
    static func pairwise(_ s: SequentialSoftmax, depth K: Int) -> [Double] {
        let m = s.masses.count
        let n = K * m
        var gamma = [Double](repeating: 0, count: n * n)
        var slate = [Int](repeating: 0, count: K)
        var taken = [Bool](repeating: false, count: m)
        func visit(_ j: Int, _ p: Double, _ takenMass: Double) {
            if j == K {
                for x in 0..<K {
                    let row = (x * m + slate[x]) * n
                    for y in 0..<K { gamma[row + y * m + slate[y]] += p }
                }
                return
            }
            var remaining = s.total - takenMass
            if remaining < SequentialSoftmax.exactBelow * s.total {
                var r = CompensatedSum()
                for b in 0..<m where !taken[b] { r.add(s.masses[b]) }
                remaining = r.value
            }
            for a in 0..<m where !taken[a] {
                let pa = p * s.masses[a] / remaining
                guard pa > 0 else { continue }
                slate[j] = a
                taken[a] = true
                visit(j + 1, pa, takenMass + s.masses[a])
                taken[a] = false
            }
        }
        visit(0, 1, 0)
        return gamma
    }

    /// x = A⁺b for a symmetric positive semi-definite A (n × n, row-major), from its Jacobi
    /// eigendecomposition; eigenvalues at or below n·ε·λ_max count as zero.
    static func pseudoSolve(_ a: [Double], n: Int, _ b: [Double]) -> [Double] {
        let (values, vectors) = symmetricEigen(a, n: n)
        let top = values.map { abs($0) }.max() ?? 0
        let tolerance = Double(n) * Double.ulpOfOne * top
        var x = [Double](repeating: 0, count: n)
        for e in 0..<n where values[e] > tolerance {
            var c = 0.0
            for i in 0..<n { c += vectors[i * n + e] * b[i] }
            c /= values[e]
            for i in 0..<n { x[i] += c * vectors[i * n + e] }
        }
        return x
    }

    /// The eigenvalues and eigenvectors (columns of a row-major n × n matrix) of a symmetric
    /// matrix by cyclic Jacobi rotations (Golub & Van Loan, §8.5), until the off-diagonal mass is
    /// below ε² of the whole.
    static func symmetricEigen(_ m: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        var a = m
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        var total = 0.0
        for x in a { total += x * x }
        for _ in 0..<64 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(n, p + 1) { off += 2 * a[p * n + q] * a[p * n + q] } }
            if off <= Double.ulpOfOne * Double.ulpOfOne * total || off == 0 { break }
            for p in 0..<(n - 1) {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    guard apq != 0 else { continue }
                    let tau = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (tau >= 0 ? 1.0 : -1.0) / (abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot()
                    let s = t * c
                    for k in 0..<n {  // A ← A·J (columns p, q)
                        let (x, y) = (a[k * n + p], a[k * n + q])
                        a[k * n + p] = c * x - s * y
                        a[k * n + q] = s * x + c * y
                    }
                    for k in 0..<n {  // A ← Jᵀ·A (rows p, q)
                        let (x, y) = (a[p * n + k], a[q * n + k])
                        a[p * n + k] = c * x - s * y
                        a[q * n + k] = s * x + c * y
                    }
                    for k in 0..<n {  // V ← V·J
                        let (x, y) = (v[k * n + p], v[k * n + q])
                        v[k * n + p] = c * x - s * y
                        v[k * n + q] = s * x + c * y
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}
