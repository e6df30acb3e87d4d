#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Special functions in `Double`, used for exact distribution functions (Kolmogorov–Smirnov
/// tests of the samplers, exact rank probabilities).
public enum SpecialFunctions {
    /// `log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b)`.
    ///
    /// With `b = max(a, b) ≥ 10`, `log Γ(b) − log Γ(a+b)` is formed from Stirling's series as
    /// `(b − ½)·log1p(−a/(a+b)) − a·log(a+b) + a + δ(b) − δ(a+b)`, which avoids subtracting two
    /// huge `lgamma` values (at b = 1e6 they are 1.3e7 and the difference loses 9 digits).
    public static func logBeta(_ a: Double, _ b: Double) -> Double {
        let (lo, hi) = a <= b ? (a, b) : (b, a)
        if hi < 10 { return lgamma(lo) + lgamma(hi) - lgamma(lo + hi) }
        let s = lo + hi
        return lgamma(lo) + (hi - 0.5) * log1p(-lo / s) - lo * log(s) + lo + stirlingCorrection(hi)
            - stirlingCorrection(s)
    }

    /// `δ(x) = log Γ(x) − ((x − ½) log x − x + ½ log 2π)` for x ≥ 10 (Stirling series, 5 terms:
    /// error below 1e-17 there).
    static func stirlingCorrection(_ x: Double) -> Double {
        let r = 1 / x
        let r2 = r * r
        return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 / 1188))))
    }

    /// The regularised incomplete beta function `I_x(a, b)`, the CDF of Beta(a, b) at `x`.
    ///
    /// Continued fraction (modified Lentz) for `x < (a+1)/(a+b+2)`, the symmetry
    /// `I_x(a,b) = 1 − I_{1−x}(b,a)` otherwise (Numerical Recipes §6.4). The prefactor
    /// `x^a (1−x)^b / (a B(a,b))` is formed in log space with `log1p`, so it stays accurate for
    /// a up to 1e4 and b up to 1e6 (checked against SciPy's `betainc` in the tests).
    /// - Complexity: O(sqrt(max(a, b))) iterations.
    /// - Precondition: `a > 0`, `b > 0`.
    public static func regularizedIncompleteBeta(_ a: Double, _ b: Double, _ x: Double) -> Double {
        precondition(a > 0 && b > 0, "regularizedIncompleteBeta: a and b must be positive, got (\(a), \(b))")
        if x.isNaN { return .nan }
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        return incompleteBeta(a, b, x: x, y: 1 - x, lnFront: a * log(x) + b * log1p(-x) - logBeta(a, b))
    }

    /// `I_x(a, b)` from `log x` and `log(1 − x)`, both given to full precision: the form for
    /// points within 1e-300 of 0 or 1e-16 of 1 (a Beta with a shape below 1 puts much of its mass
    /// there, e.g. P(X < 1e-300) = 0.5 for a = 0.001), where `x` itself cannot carry the distance.
    /// - Precondition: `a > 0`, `b > 0`.
    public static func regularizedIncompleteBeta(_ a: Double, _ b: Double, logX: Double, log1mX: Double) -> Double {
        precondition(a > 0 && b > 0, "regularizedIncompleteBeta: a and b must be positive, got (\(a), \(b))")
        if logX.isNaN || log1mX.isNaN { return .nan }
        if logX == -.infinity { return 0 }
        if log1mX == -.infinity { return 1 }
        return incompleteBeta(a, b, x: exp(logX), y: exp(log1mX), lnFront: a * logX + b * log1mX - logBeta(a, b))
    }

    /// The continued fraction for `I_x(a, b)` on the side where it converges; `y = 1 − x` and the
    /// prefactor's logarithm `lnFront` are given by the caller to the precision it has them.
    static func incompleteBeta(_ a: Double, _ b: Double, x: Double, y: Double, lnFront: Double) -> Double {
        if x < (a + 1) / (a + b + 2) {
            return exp(lnFront) * betaContinuedFraction(a, b, x) / a
        } else {
            return 1 - exp(lnFront) * betaContinuedFraction(b, a, y) / b
        }
    }

    static func betaContinuedFraction(_ a: Double, _ b: Double, _ x: Double) -> Double {
        let tiny = 1e-300
        let eps = 1e-16
        let qab = a + b
        let qap = a + 1
        let qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        // Convergence takes O(√max(a, b)) steps; the cap keeps the count an Int for any input
        // (callers refuse parameters this large before they get here).
        let maxIter = 10_000 + Int(min(20 * (max(a, b)).squareRoot(), 1e8))
        for m in 1...maxIter {
            let m2 = Double(2 * m)
            let md = Double(m)
            var aa = md * (b - md) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + md) * (qab + md) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let del = d * c
            h *= del
            if abs(del - 1) < eps { break }
        }
        return h
    }

    /// The regularised lower incomplete gamma function `P(a, x)`, the CDF of Gamma(a, 1) at `x`
    /// (series for `x < a + 1`, continued fraction otherwise; Numerical Recipes §6.2).
    /// - Precondition: `a > 0`.
    public static func regularizedLowerGamma(_ a: Double, _ x: Double) -> Double {
        precondition(a > 0, "regularizedLowerGamma: a must be positive, got \(a)")
        if x.isNaN { return .nan }
        if x <= 0 { return 0 }
        if x.isInfinite { return 1 }
        let lnFront = -x + a * log(x) - lgamma(a)
        let maxIter = 10_000 + Int(20 * a.squareRoot())
        if x < a + 1 {
            var ap = a
            var del = 1 / a
            var sum = del
            for _ in 0..<maxIter {
                ap += 1
                del *= x / ap
                sum += del
                if abs(del) < abs(sum) * 1e-16 { break }
            }
            return sum * exp(lnFront)
        }
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1...maxIter {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let del = d * c
            h *= del
            if abs(del - 1) < 1e-16 { break }
        }
        return 1 - exp(lnFront) * h
    }

    /// The Beta(a, b) density at `x` (0 outside (0, 1)).
    public static func betaPDF(_ a: Double, _ b: Double, _ x: Double) -> Double {
        if !(x > 0 && x < 1) { return 0 }
        return exp((a - 1) * log(x) + (b - 1) * log1p(-x) - logBeta(a, b))
    }

    /// The Beta(a, b) quantile: the x with `I_x(a, b) = u`, by safeguarded Newton iteration on
    /// the incomplete beta (bisection whenever a Newton step leaves the bracket). Relative
    /// tolerance `tolerance` in x.
    /// - Precondition: `a > 0`, `b > 0`, `0 ≤ u ≤ 1`.
    public static func betaQuantile(_ a: Double, _ b: Double, _ u: Double, tolerance: Double = 1e-13) -> Double {
        precondition(a > 0 && b > 0, "betaQuantile: a and b must be positive, got (\(a), \(b))")
        precondition(u >= 0 && u <= 1, "betaQuantile: u must be in [0, 1], got \(u)")
        if u == 0 { return 0 }
        if u == 1 { return 1 }
        let lb = logBeta(a, b)
        var lo = 0.0
        var hi = 1.0
        var x = a / (a + b)
        for _ in 0..<300 {
            let f = regularizedIncompleteBeta(a, b, x) - u
            if f == 0 { return x }
            if f < 0 { lo = x } else { hi = x }
            let pdf = exp((a - 1) * log(x) + (b - 1) * log1p(-x) - lb)
            var next = x - f / pdf
            if !(next > lo && next < hi) || !next.isFinite {
                // Leave the bracket: bisect, geometrically where the bracket spans decades.
                if lo == 0 {
                    next = hi / 8
                } else if hi == 1 {
                    next = 1 - (1 - lo) / 8
                } else if hi > 4 * lo {
                    next = (lo * hi).squareRoot()
                } else {
                    next = 0.5 * (lo + hi)
                }
            }
            if abs(next - x) <= tolerance * x || hi - lo <= tolerance * lo { return next }
            x = next
        }
        return x
    }

    /// The Student t quantile with ν degrees of freedom: for p > ½, t = √(ν·y / (1 − y)) with y
    /// the Beta(½, ν/2) quantile at 2p − 1 (P(|T| ≤ t) = I_y(½, ν/2), y = t² / (ν + t²): y is
    /// small where t is, so its relative accuracy carries over); where that y exceeds ½ (t² > ν,
    /// the far tail), t = √(ν·(1 − x) / x) with x = 1 − y the Beta(ν/2, ½) quantile at 2(1 − p),
    /// small there, so 1 − y keeps its relative accuracy; −t(1 − p) below ½.
    /// - Precondition: `nu > 0`, `0 < p < 1`.
    public static func studentTQuantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
        precondition(nu > 0 && p > 0 && p < 1, "studentTQuantile: needs ν > 0 and 0 < p < 1, got (\(nu), \(p))")
        if p == 0.5 { return 0 }
        if p < 0.5 { return -studentTQuantile(1 - p, degreesOfFreedom: nu) }
        let y = betaQuantile(0.5, nu / 2, 2 * p - 1)
        if y <= 0.5 { return (nu * y / (1 - y)).squareRoot() }
        let x = betaQuantile(nu / 2, 0.5, 2 * (1 - p))
        return (nu * (1 - x) / x).squareRoot()
    }

    /// The standard normal CDF `Φ(x) = erfc(−x/√2)/2`.
    public static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}

extension SpecialFunctions {
    /// The standard normal quantile (Acklam's rational approximation refined by one Newton step
    /// on erfc; |error| < 1e-12).
    public static func normalQuantile(_ p: Double) -> Double {
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
            -3.066479806614716e+01, 2.506628277459239e+00,
        ]
        let b = [
            -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
            -1.328068155288572e+01,
        ]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
            4.374664141464968e+00, 2.938163982698783e+00,
        ]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x =
                (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - 0.02425 {
            let q = p - 0.5
            let rr = q * q
            x =
                (((((a[0] * rr + a[1]) * rr + a[2]) * rr + a[3]) * rr + a[4]) * rr + a[5]) * q
                / (((((b[0] * rr + b[1]) * rr + b[2]) * rr + b[3]) * rr + b[4]) * rr + 1)
        } else {
            let q = (-2 * log(1 - p)).squareRoot()
            x =
                -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        return x - u / (1 + x * u / 2)
    }
}
