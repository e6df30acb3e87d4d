#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Per-lane constants of the Marsaglia–Tsang gamma sampler.
@usableFromInline
struct GammaLanes: Sendable {
    /// d = a' − 1/3 with a' = a (a ≥ 1) or a + 1 (boosted lanes).
    @usableFromInline let d: SIMD16<Float>
    /// c = 1/sqrt(9d).
    @usableFromInline let c: SIMD16<Float>
    /// 1/a on boosted lanes (a < 1), 0 elsewhere.
    @usableFromInline let invBoost: SIMD16<Float>
    @usableFromInline let anyBoost: Bool
    /// The shape a itself.
    @usableFromInline let shape: SIMD16<Float>

    init(shape a: SIMD16<Float>) {
        shape = a
        let boost = a .< 1
        let a1 = a.replacing(with: a + 1, where: boost)
        d = a1 - SIMD16<Float>(repeating: 1.0 / 3.0)
        c = SIMD16<Float>(repeating: 1) / (SIMD16<Float>(repeating: 9) * d).squareRoot()
        invBoost = SIMD16<Float>(repeating: 0).replacing(with: SIMD16<Float>(repeating: 1) / a, where: boost)
        anyBoost = any(boost)
    }

}
