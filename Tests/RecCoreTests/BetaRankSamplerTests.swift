import Foundation
import RecCore
import Testing
import _RecTestSupport

/// The lane-wise Beta rank sampler (sixteen rankings per vector): its tie handling, its
/// determinism over thread counts, and agreement with the row engine (`RankSampling` over
/// `BetaSampler` rows). Agreement with exact marginals is in RecOPE's Thompson-sampling tests.
@Suite struct BetaRankSamplerTests {
    /// |p − q| within `z` standard errors of the difference, for two estimates from n1 and n2 draws
    /// (q exact when n2 is nil).
    func within(_ p: Double, _ q: Double, n1: Int, n2: Int?, z: Double = 5) -> Bool {
        let pooled = n2 == nil ? q : (p + q) / 2
        let v = max(pooled * (1 - pooled), 1e-6) * (1 / Double(n1) + (n2.map { 1 / Double($0) } ?? 0))
        return abs(p - q) <= z * v.squareRoot()
    }

    @Test func everyScoreTiedGivesUniformRanks() {
        // floor 1 puts every score at 1: each ranking is all ties, ordered at random.
        let n = 7
        let k = 3
        let sims = 70_001
        let sampler = BetaRankSampler(
            alpha: [Double](repeating: 2, count: n), beta: [Double](repeating: 5, count: n),
            floor: [Float](repeating: 1, count: n))
        let counts = sampler.counts(k: k, simulations: sims, seed: 3, parallelism: .threads(2))
        for i in 0..<n {
            for r in 0..<k {
                let p = Double(counts[i * k + r]) / Double(sims)
                #expect(within(p, 1 / Double(n), n1: sims, n2: nil), "item \(i) rank \(r): \(p)")
            }
        }
        for r in 0..<k { #expect((0..<n).reduce(0) { $0 + counts[$1 * k + r] } == sims) }
    }

    @Test func sameCountsOnAnyThreadCount() {
        // 17 items (two vectors of items, one partial), k = 16, a last group of 9 rankings, small
        // and large shapes, and a floor that ties some draws.
        var g = Xoshiro256(seed: 5)
        let n = 17
        let alpha = (0..<n).map { i in i % 4 == 0 ? 0.4 + Sampling.uniform(&g) : 1 + 50 * Sampling.uniform(&g) }
        let beta = (0..<n).map { _ in 2 + 400 * Sampling.uniform(&g) }
        let floor = (0..<n).map { i in i % 5 == 0 ? Float(0.05) : 0 }
        let sampler = BetaRankSampler(alpha: alpha, beta: beta, floor: floor)
        let sims = 3 * BetaRankSampler.rowsPerChunk(items: n) + 16 * 7 + 9
        let one = sampler.counts(k: 16, simulations: sims, seed: 77, parallelism: .sequential)
        for t in [2, 3] {
            #expect(sampler.counts(k: 16, simulations: sims, seed: 77, parallelism: .threads(t)) == one, "threads \(t)")
        }
        for r in 0..<16 { #expect((0..<n).reduce(0) { $0 + one[$1 * 16 + r] } == sims) }
        #expect(sampler.counts(k: 16, simulations: sims, seed: 78, parallelism: .sequential) != one)
    }

    @Test func agreesWithTheRowEngine() {
        // Small shapes (boosted gammas), shapes near 1 (the exact test and retries), click-rate
        // shapes, a floor and an affine transform: both engines estimate the same marginals.
        let alpha: [Double] = [0.3, 0.9, 1.0, 1.2, 3, 40, 800, 2.5, 15, 0.6]
        let beta: [Double] = [1.5, 2, 1.1, 3, 20, 300, 9e4, 4, 100, 0.8]
        let n = alpha.count
        let k = 4
        let floor: [Float] = (0..<n).map { $0 == 4 ? 0.12 : 0 }
        let scale: [Float] = (0..<n).map { $0 == 6 ? 40 : 1 }
        let shift: [Float] = (0..<n).map { $0 == 7 ? 0.05 : 0 }
        let sims = 400_000
        let lanes = BetaRankSampler(alpha: alpha, beta: beta, floor: floor, scale: scale, shift: shift)
            .counts(k: k, simulations: sims, seed: 1)
        let rowSampler = BetaSampler(alpha: alpha.map { Float($0) }, beta: beta.map { Float($0) })
        let rows = RankSampling.counts(items: n, k: k, simulations: sims, seed: 2) {
            let ws = rowSampler.makeWorkspace(maxRows: RankSampling.rowsPerChunk(items: n))
            return { out, count, stream in
                rowSampler.fill(out, rows: count, stream: stream, workspace: ws)
                for r in 0..<count {
                    for j in 0..<n {
                        let x = max(out[r * n + j], floor[j])
                        out[r * n + j] = x * scale[j] + shift[j]
                    }
                }
            }
        }
        for i in 0..<n {
            for r in 0..<k {
                let p = Double(lanes[i * k + r]) / Double(sims)
                let q = Double(rows[i * k + r]) / Double(sims)
                #expect(within(p, q, n1: sims, n2: sims), "item \(i) rank \(r): lanes \(p), rows \(q)")
            }
        }
    }
}
