import Foundation
import RecCore

/// A logistic-regression click model on one-hot features: the item, the position and each
/// context column's category, `logit P(click) = b + α_item + β_position + Σ_f γ_f[x_f]`, with an L2
/// penalty λ on every weight but the intercept. Fitted by Newton's method (IRLS) with a Cholesky
/// solve (LAPACKE) of the penalised Hessian.
struct LogisticRewardModel {
    let N: Int, K: Int
    let featureOffsets: [Int]
    let theta: [Double]

    /// Fits on rows (item, position, context categories per column, click).
    static func fit(items: [Int], positions: [Int], features: [[Int32]], rewards: [Double], N: Int, K: Int,
                    lambda: Double = 1, maxIterations: Int = 25) -> LogisticRewardModel? {
        let n = items.count
        var offsets = [Int]()
        var P = 1 + N + K
        for f in features { offsets.append(P); P += Int(f.max() ?? 0) + 1 }
        var theta = [Double](repeating: 0, count: P)
        let mean = rewards.reduce(0, +) / Double(max(n, 1))
        theta[0] = log(max(mean, 1e-6) / max(1 - mean, 1e-6))
        var idx = [Int](repeating: 0, count: 3 + features.count)
        for _ in 0..<maxIterations {
            var h = [Double](repeating: 0, count: P * P)
            var g = [Double](repeating: 0, count: P)
            for i in 1..<P { h[i * P + i] = lambda; g[i] = -lambda * theta[i] }
            h[0] = 1e-8
            for j in 0..<n {
                idx[0] = 0; idx[1] = 1 + items[j]; idx[2] = 1 + N + positions[j]
                for (f, col) in features.enumerated() { idx[3 + f] = offsets[f] + Int(col[j]) }
                var eta = 0.0
                for i in idx { eta += theta[i] }
                let p = 1 / (1 + exp(-eta))
                let wgt = max(p * (1 - p), 1e-12), res = rewards[j] - p
                for a in idx {
                    g[a] += res
                    for b in idx where b >= a { h[a * P + b] += wgt }
                }
            }
            guard let step = LinearAlgebra.solveSymmetricPositiveDefinite(h, g, n: P) else { return nil }
            var biggest = 0.0
            for i in 0..<P { theta[i] += step[i]; biggest = max(biggest, abs(step[i])) }
            if biggest < 1e-9 { break }
        }
        return LogisticRewardModel(N: N, K: K, featureOffsets: offsets, theta: theta)
    }

    /// The part of the logit shared by every item for a row: intercept, position and context.
    func rowLogit(position k: Int, row j: Int, features: [[Int32]]) -> Double {
        var eta = theta[0] + theta[1 + N + k]
        for (f, col) in features.enumerated() {
            let c = featureOffsets[f] + Int(col[j])
            eta += c < theta.count ? theta[c] : 0
        }
        return eta
    }

    func probability(item a: Int, rowLogit: Double) -> Double { 1 / (1 + exp(-(rowLogit + theta[1 + a]))) }
}
