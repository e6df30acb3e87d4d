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
    /// Extra panel breakpoints where the density is not smooth: a Beta with a small non-integer
    /// shape a (b) has a density like x^(a−1) at 0 (like (1−x)^(b−1) at 1), singular or with a
    /// singular derivative; beyond a = 3 the endpoint carries negligible mass. On [x, 2x] the 12-point interpolant
    /// of such a power (which carries the CDFs) is good to about 1e-9 and the quadrature to
    /// 1e-18, so these points grow geometrically by 2 from the 1e-15 quantile up to the median
    /// (and likewise toward 1, where Double's resolution near 1 limits accuracy for b < 1 to
    /// about 1e-5: the mass within 1e-12 of 1 is not resolved).
    func singularityBreakpoints() -> [Double] {
        switch self {
        case .beta(let a, let b):
            var out = [Double]()
            let median = SpecialFunctions.betaQuantile(a, b, 0.5, tolerance: 1e-9)
            if a < 3 && a != 1 && a != 2 {
                var x = SpecialFunctions.betaQuantile(a, b, 1e-15, tolerance: 1e-9)
                while x < median && x > 0 {
                    out.append(x)
                    x *= 2
                }
            }
            if b < 3 && b != 1 && b != 2 {
                // Double cannot place points closer to 1 than about 1e-16: start there at the
                // latest (the mass left beyond is below 1e-8 for b ≥ 1/2).
                var y = max(1 - SpecialFunctions.betaQuantile(a, b, 1 - 1e-15, tolerance: 1e-9), 4e-16)
                let top = 1 - median
                while y < top && y > 0 {
                    out.append(1 - y)
                    y *= 2
                }
            }
            return out
        case .gumbel: return []
        case .floored(let d, let m): return d.singularityBreakpoints().filter { $0 > m }
        case .affine(let d, let s, let t): return d.singularityBreakpoints().map { s * $0 + t }
        }
    }

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
