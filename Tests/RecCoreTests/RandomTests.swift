import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct RandomTests {
    func fill(_ n: Int, _ body: (UnsafeMutableBufferPointer<Float>) -> Void) -> [Float] {
        var out = [Float](repeating: .nan, count: n)
        out.withUnsafeMutableBufferPointer { body($0) }
        return out
    }

    @Test func reproducibleWhateverTheThreadCount() {
        let s = RandomStream(seed: 123)
        let alpha = (0..<37).map { Float($0 + 1) }
        let beta = (0..<37).map { Float(1000 + 50 * $0) }
        for t in [2, 3, 8] {
            #expect(
                fill(50_001) { s.fillUniform($0, parallelism: .sequential) }
                    == fill(50_001) { s.fillUniform($0, parallelism: .threads(t)) })
            #expect(
                fill(50_001) { s.fillNormal($0, parallelism: .sequential) }
                    == fill(50_001) { s.fillNormal($0, parallelism: .threads(t)) })
            #expect(
                fill(37 * 999) { s.fillBeta($0, alpha: alpha, beta: beta, parallelism: .sequential) }
                    == fill(37 * 999) { s.fillBeta($0, alpha: alpha, beta: beta, parallelism: .threads(t)) })
        }
        #expect(fill(100) { s.fillUniform($0) } != fill(100) { RandomStream(seed: 124).fillUniform($0) })
        #expect(s.split(3) == s.split(3) && s.split(3) != s.split(4))
    }

    @Test func everyElementWrittenAtAwkwardSizes() {
        let s = RandomStream(seed: 5)
        for n in sizesAroundVectorWidth + [4095, 4096, 4097, 8193] {
            #expect(!fill(n) { s.fillUniform($0) }.contains { $0.isNaN }, "uniform n=\(n)")
            #expect(!fill(n) { s.fillNormal($0) }.contains { $0.isNaN }, "normal n=\(n)")
            #expect(!fill(n) { s.fillGumbel($0) }.contains { $0.isNaN }, "gumbel n=\(n)")
            #expect(!fill(n) { s.fillGamma($0, shape: 2.5) }.contains { $0.isNaN }, "gamma n=\(n)")
        }
        for cols in [1, 15, 16, 17, 33] {
            let x = fill(cols * 301) {
                s.fillBeta($0, alpha: [Float](repeating: 2, count: cols), beta: [Float](repeating: 3, count: cols))
            }
            #expect(x.allSatisfy { $0 > 0 && $0 < 1 }, "beta cols=\(cols)")
        }
    }

    /// Mean within 5 standard errors; variance within 5 standard errors of the sample variance
    /// (SE of s² ≈ σ²·sqrt((κ − 1)/n), κ the kurtosis).
    func checkMoments(_ x: [Double], mean: Double, variance: Double, kurtosis: Double, _ note: String) {
        let n = Double(x.count)
        let (m, v) = meanVariance(x)
        #expect(abs(m - mean) <= 5 * (variance / n).squareRoot(), "\(note): mean \(m) vs \(mean)")
        #expect(
            abs(v - variance) <= 5 * variance * ((kurtosis - 1) / n).squareRoot(),
            "\(note): variance \(v) vs \(variance)")
    }

    @Test func uniformNormalGumbelMomentsAndKS() {
        let n = 200_000
        let s = RandomStream(seed: 2024)
        let u = fill(n) { s.fillUniform($0, low: -1, high: 3) }.map(Double.init)
        checkMoments(u, mean: 1, variance: 16.0 / 12, kurtosis: 1.8, "uniform")
        #expect(ksStatistic(u, cdf: { min(1, max(0, ($0 + 1) / 4)) }) < ksCritical(n: n))
        let z = fill(n) { s.split(1).fillNormal($0, mean: 2, std: 3) }.map(Double.init)
        checkMoments(z, mean: 2, variance: 9, kurtosis: 3, "normal")
        #expect(ksStatistic(z, cdf: { SpecialFunctions.normalCDF(($0 - 2) / 3) }) < ksCritical(n: n))
        let g = fill(n) { s.split(2).fillGumbel($0) }.map(Double.init)
        checkMoments(g, mean: 0.5772156649015329, variance: Double.pi * Double.pi / 6, kurtosis: 5.4, "gumbel")
        #expect(ksStatistic(g, cdf: { Foundation.exp(-Foundation.exp(-$0)) }) < ksCritical(n: n))
    }

    @Test(arguments: [0.1, 0.5, 1.0, 2.5, 37.0, 1000.0, 3e5])
    func gammaMomentsAndKS(shape: Double) {
        let n = 200_000
        let x = fill(n) { RandomStream(seed: 77).fillGamma($0, shape: Float(shape)) }.map(Double.init)
        checkMoments(x, mean: shape, variance: shape, kurtosis: 3 + 6 / shape, "gamma(\(shape))")
        let d = ksStatistic(x, cdf: { SpecialFunctions.regularizedLowerGamma(shape, $0) })
        #expect(d < ksCritical(n: n), "gamma(\(shape)): KS \(d) ≥ \(ksCritical(n: n))")
    }

    /// (a, b) pairs: click-rate posteriors (a in 1..1000, b up to 3e5) and textbook shapes.
    static let betaCases: [(Double, Double)] = [
        (1, 1), (2, 5), (0.5, 0.5), (0.3, 2000), (1, 1000), (3, 3e5),
        (30, 5e4), (1000, 3e5), (1000, 1e3), (200, 1.5e5),
    ]

    @Test(arguments: betaCases)
    func betaMomentsAndKS(a: Double, b: Double) {
        // One column per case, many rows: the layout Thompson sampling uses.
        let rows = 200_000
        let cols = 3
        let alpha = [Float(a), 2, Float(a)]
        let beta = [Float(b), 2, Float(b)]
        let out = fill(rows * cols) {
            RandomStream(seed: 99).fillBeta($0, alpha: alpha, beta: beta, parallelism: .threads(2))
        }
        let x = stride(from: 0, to: out.count, by: cols).map { Double(out[$0]) }
        let mean = a / (a + b)
        let variance = a * b / ((a + b) * (a + b) * (a + b + 1))
        let kurt = 3 + 6 * ((a - b) * (a - b) * (a + b + 1) - a * b * (a + b + 2)) / (a * b * (a + b + 2) * (a + b + 3))
        checkMoments(x, mean: mean, variance: variance, kurtosis: kurt, "beta(\(a), \(b))")
        let d = ksStatistic(x, cdf: { SpecialFunctions.regularizedIncompleteBeta(a, b, $0) })
        #expect(d < ksCritical(n: rows), "beta(\(a), \(b)): KS \(d) ≥ \(ksCritical(n: rows))")
        // The lanes of the middle column (Beta(2,2)) are independent of the others.
        let mid = stride(from: 1, to: out.count, by: cols).map { Double(out[$0]) }
        #expect(ksStatistic(mid, cdf: { SpecialFunctions.regularizedIncompleteBeta(2, 2, $0) }) < ksCritical(n: rows))
    }

    @Test func tinyShapesFallBackToTheLimitLaw() {
        // Beta(0.001, 0.002): both gammas underflow in Float most of the time; the draw is then
        // 1 with probability a/(a+b). The mean is still a/(a+b) = 1/3 and every value is in [0, 1].
        let n = 100_000
        let x = fill(n) { RandomStream(seed: 8).fillBeta($0, alpha: [0.001], beta: [0.002]) }.map(Double.init)
        #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 })
        let (m, _) = meanVariance(x)
        #expect(abs(m - 1.0 / 3) <= 5 * (2.0 / 9 / Double(n)).squareRoot(), "mean \(m)")
    }

    @Test func scalarSamplersKS() {
        var g = Xoshiro256(seed: 3)
        let n = 50_000
        let b = (0..<n).map { _ in Sampling.beta(2, 300, &g) }
        #expect(ksStatistic(b, cdf: { SpecialFunctions.regularizedIncompleteBeta(2, 300, $0) }) < ksCritical(n: n))
        let gm = (0..<n).map { _ in Sampling.gamma(shape: 0.4, &g) }
        #expect(ksStatistic(gm, cdf: { SpecialFunctions.regularizedLowerGamma(0.4, $0) }) < ksCritical(n: n))
        let z = (0..<n).map { _ in Sampling.normal(&g) }
        #expect(ksStatistic(z, cdf: SpecialFunctions.normalCDF) < ksCritical(n: n))
        let gu = (0..<n).map { _ in Sampling.gumbel(&g) }
        #expect(ksStatistic(gu, cdf: { Foundation.exp(-Foundation.exp(-$0)) }) < ksCritical(n: n))
    }

    @Test func ksTestDetectsAWrongDistribution() {
        // The harness must be able to fail: Beta(2, 5) draws against Beta(2, 5.2).
        let n = 200_000
        let out = fill(n) { RandomStream(seed: 1).fillBeta($0, alpha: [2], beta: [5]) }.map(Double.init)
        #expect(ksStatistic(out, cdf: { SpecialFunctions.regularizedIncompleteBeta(2, 5.2, $0) }) > ksCritical(n: n))
    }
}
