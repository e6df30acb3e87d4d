#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Gauss–Legendre nodes and weights on [−1, 1], and the integration matrix
/// `integration[t·m + s] = ∫_{−1}^{ξ_t} L_s(y) dy` of the Lagrange basis on the nodes.
public struct GaussLegendre: Sendable {
    /// The nodes ξ₁ < … < ξₘ in (−1, 1).
    public let nodes: [Double]
    /// The weights: Σ wᵢ f(ξᵢ) ≈ ∫_{−1}^{1} f, exact for polynomials of degree < 2m.
    public let weights: [Double]
    /// `integration[t·m + s] = ∫_{−1}^{ξ_t} L_s(y) dy` (m × m, row-major).
    public let integration: [Double]

    /// The rule with `m` points (Newton on P_m from Chebyshev-like starts).
    public init(points m: Int) {
        var xs = [Double](repeating: 0, count: m)
        var ws = xs
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
    public static func legendre(_ m: Int, _ x: Double) -> (Double, Double) {
        var p0 = 1.0
        var p1 = x
        if m == 0 { return (1, 0) }
        for n in 2...max(2, m) where m >= 2 {
            let p2 = ((2 * Double(n) - 1) * x * p1 - (Double(n) - 1) * p0) / Double(n)
            p0 = p1
            p1 = p2
        }
        let d = Double(m) * (x * p1 - p0) / (x * x - 1)
        return (p1, d)
    }

    /// P_0(x) … P_{m+1}(x).
    public static func allLegendre(_ m: Int, _ x: Double) -> [Double] {
        var p = [Double](repeating: 0, count: m + 2)
        p[0] = 1
        p[1] = x
        if m + 1 >= 2 {
            for n in 2...(m + 1) {
                p[n] = ((2 * Double(n) - 1) * x * p[n - 1] - (Double(n) - 1) * p[n - 2]) / Double(n)
            }
        }
        return p
    }
}
