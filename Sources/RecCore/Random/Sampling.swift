#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Scalar distributions

/// Scalar samplers on any generator, in `Double`. The batch fills on `RandomStream` are the fast
/// path; these serve single draws and are the references the vector samplers are tested against.
public enum Sampling {
    /// Uniform on (0, 1).
    @inlinable
    public static func uniform<G: RandomNumberGenerator>(_ g: inout G) -> Double {
        (Double(g.next() >> 11) + 0.5) * 0x1p-53
    }

    /// Standard normal (Marsaglia's polar method).
    @inlinable
    public static func normal<G: RandomNumberGenerator>(_ g: inout G) -> Double {
        while true {
            let u = 2 * uniform(&g) - 1
            let v = 2 * uniform(&g) - 1
            let s = u * u + v * v
            if s > 0 && s < 1 { return u * (-2 * LibC.log(s) / s).squareRoot() }
        }
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (ACM TOMS 26(3), 2000), with the boost
    /// `Gamma(a) = Gamma(a + 1) · U^(1/a)` for `a < 1`.
    /// - Precondition: `shape > 0`.
    @inlinable
    public static func gamma<G: RandomNumberGenerator>(shape: Double, _ g: inout G) -> Double {
        precondition(shape > 0 && shape.isFinite, "Sampling.gamma: shape must be positive and finite, got \(shape)")
        if shape < 1 {
            let x = gamma(shape: shape + 1, &g)
            return x * LibC.exp(LibC.log(uniform(&g)) / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = normal(&g)
            let v0 = 1 + c * x
            if v0 <= 0 { continue }
            let v = v0 * v0 * v0
            let u = uniform(&g)
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if LibC.log(u) < 0.5 * x * x + d * (1 - v + LibC.log(v)) { return d * v }
        }
    }

    /// Beta(a, b) as `X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`.
    @inlinable
    public static func beta<G: RandomNumberGenerator>(_ a: Double, _ b: Double, _ g: inout G) -> Double {
        let x = gamma(shape: a, &g)
        let y = gamma(shape: b, &g)
        return x / (x + y)
    }

    /// Standard Gumbel: `−log(−log U)`.
    @inlinable
    public static func gumbel<G: RandomNumberGenerator>(_ g: inout G) -> Double {
        -LibC.log(-LibC.log(uniform(&g)))
    }
}
