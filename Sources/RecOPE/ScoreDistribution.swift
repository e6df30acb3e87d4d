import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

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
        case .gumbel(let mu):
            let z = x - mu
            return exp(-z - exp(-z))
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

extension ScoreDistribution {
    /// Standard deviation of the continuous base variable, scaled (a width for panels).
    var spread: Double {
        switch self {
        case .beta(let a, let b): return (a * b / ((a + b) * (a + b) * (a + b + 1))).squareRoot()
        case .gumbel: return Double.pi / 6.0.squareRoot()
        case .floored(let d, _): return d.spread
        case .affine(let d, let s, _): return s * d.spread
        }
    }
}
