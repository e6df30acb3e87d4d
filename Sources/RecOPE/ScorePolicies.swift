import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Plackett–Luce over fixed scores with a temperature: a deterministic ranker made stochastic.
///
/// Ranking = items sorted by `score/temperature + Gumbel noise`, which is exactly sequential
/// softmax sampling without replacement: P(i first) = exp(sᵢ/τ) / Σⱼ exp(sⱼ/τ), and so on down
/// the ranking. Lower temperatures approach the deterministic order.
public struct PlackettLuce: RankingPolicy {
    /// The items' scores.
    public let scores: [Double]
    /// The softmax temperature.
    public let temperature: Double
    public let name: String
    public var itemCount: Int { scores.count }

    /// - Throws: `.invalidParameter` for an empty item set, a non-finite score (naming the item),
    ///   or a temperature that is not positive and finite.
    public init(scores: [Double], temperature: Double = 1, name: String = "Plackett-Luce") throws(RecOPEError) {
        try validateScores(scores, name: name)
        guard temperature > 0 && temperature.isFinite else {
            throw .invalidParameter("\(name): temperature must be positive and finite, got \(temperature)")
        }
        self.scores = scores
        self.temperature = temperature
        self.name = name
    }

    /// Logit differences between items adjacent in score order, computed from score differences
    /// so that huge scores or temperatures neither overflow nor lose the differences.
    static func logitGap(_ higher: Double, _ lower: Double, temperature: Double) -> Double {
        if max(abs(higher), abs(lower)) > 1e300 { return 2 * ((higher / 2 - lower / 2) / temperature) }
        return (higher - lower) / temperature
    }

    /// Items in descending score order (ties by index), cut into clusters wherever adjacent
    /// logits differ by more than `separation`, each item's logit relative to its cluster's top.
    struct Layout {
        var order: [Int]
        var clusterStarts: [Int]  // indices into `order`, plus `order.count` at the end
        var relativeLogit: [Double]  // per item, ≤ 0
    }

    func layout(separation: Double) -> Layout {
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var starts = [0]
        var rel = [Double](repeating: 0, count: scores.count)
        for pos in 1..<max(order.count, 1) {
            let gap = Self.logitGap(scores[order[pos - 1]], scores[order[pos]], temperature: temperature)
            if gap > separation {
                starts.append(pos)
                rel[order[pos]] = 0
            } else {
                rel[order[pos]] = rel[order[pos - 1]] - gap
            }
        }
        starts.append(order.count)
        return Layout(order: order, clusterStarts: starts, relativeLogit: rel)
    }

    /// Adjacent logits further apart than this order their items deterministically in exact
    /// marginals: the chance that any of n items below such a gap comes before any above it is
    /// below n²/4 · e⁻⁶⁰ (< 1e-12 for ten million items), far under the quadrature's 1e-9.
    static let exactSeparation = 60.0
    /// The Float Gumbel noise of the Monte Carlo sampler lies in about [−2.9, 16.7]: logits
    /// further apart than 20 are ordered deterministically by it, so the sampler caps gaps at 20
    /// (which changes no draw) and keeps the scores small enough for Float to hold the differences.
    static let samplerGapCap: Double = 20

    public func makeScoreFiller() -> RankSampling.ScoreFiller {
        let n = itemCount
        // Logits from the top down, gaps capped (see `samplerGapCap`), so Float keeps the
        // differences that matter even when the scores span many orders of magnitude.
        let order = layout(separation: .infinity).order
        var logitsD = [Double](repeating: 0, count: n)
        for pos in 1..<max(n, 1) {
            let gap = Self.logitGap(scores[order[pos - 1]], scores[order[pos]], temperature: temperature)
            logitsD[order[pos]] = logitsD[order[pos - 1]] - min(gap, Self.samplerGapCap)
        }
        let logits = logitsD.map { Float($0) }
        return { out, rows, stream in
            stream.fillGumbel(UnsafeMutableBufferPointer(start: out, count: rows * n), parallelism: .sequential)
            logits.withUnsafeBufferPointer { lp in
                for r in 0..<rows {
                    let row = out + r * n
                    for j in 0..<n { row[j] += lp[j] }
                }
            }
        }
    }

    /// Exact marginals by quadrature, cluster by cluster: items separated from the next by more
    /// than `exactSeparation` in logit are in deterministic order, so each cluster is integrated
    /// on its own with logits relative to its top (no precision lost to huge scores or tiny
    /// temperatures) and its ranks offset by the items above it.
    public func exactMarginals(k: Int) throws(RecOPEError) -> RankMarginals {
        try validate(k: k)
        let n = itemCount
        let lay = layout(separation: Self.exactSeparation)
        var probs = [Double](repeating: 0, count: n * k)
        for c in 0..<(lay.clusterStarts.count - 1) {
            let start = lay.clusterStarts[c]
            let end = lay.clusterStarts[c + 1]
            if start >= k { break }
            let members = Array(lay.order[start..<end])
            if members.count == 1 {
                probs[members[0] * k + start] = 1
                continue
            }
            let localK = min(members.count, k - start)
            let local: RankMarginals
            do {
                local = try ExactRankMarginals.compute(
                    distributions: members.map { .gumbel(location: lay.relativeLogit[$0]) }, k: localK)
            } catch {
                throw .invalidParameter(
                    "exact marginals of \(name): \(members.count) items whose scores/temperature "
                        + "chain over \(Int(-members.map { lay.relativeLogit[$0] }.min()!)) logit units are beyond the "
                        + "exact method's range (\(error)); --method mc works")
            }
            for (li, item) in members.enumerated() {
                for r in 0..<localK { probs[item * k + start + r] = local.probabilities[li * localK + r] }
            }
        }
        return RankMarginals(items: n, k: k, probabilities: probs)
    }

    /// The probability of one complete or partial ranking (the Plackett–Luce product), for tests
    /// and reports.
    public func probability(ofRanking ranking: [Int]) -> Double {
        var remaining = Set(0..<itemCount)
        var p = 1.0
        for i in ranking {
            // Logits relative to the best remaining item, from score differences.
            let top = remaining.map { scores[$0] }.max()!
            let z = remaining.reduce(0.0) { $0 + exp(-Self.logitGap(top, scores[$1], temperature: temperature)) }
            p *= exp(-Self.logitGap(top, scores[i], temperature: temperature)) / z
            remaining.remove(i)
        }
        return p
    }
}

/// Epsilon-greedy over a deterministic ranking: with probability 1 − ε the items in score order
/// (equal scores in uniformly random order), with probability ε a uniformly random ranking.
public struct EpsilonGreedy: RankingPolicy {
    /// The items' scores.
    public let scores: [Double]
    /// The exploration probability.
    public let epsilon: Double
    public let name: String
    public var itemCount: Int { scores.count }

    /// - Throws: `.invalidParameter` for an empty item set, a non-finite score, or ε outside [0, 1].
    public init(scores: [Double], epsilon: Double, name: String = "epsilon-greedy") throws(RecOPEError) {
        try validateScores(scores, name: name)
        guard epsilon >= 0 && epsilon <= 1 else {
            throw .invalidParameter("\(name): epsilon must be in [0, 1], got \(epsilon)")
        }
        self.scores = scores
        self.epsilon = epsilon
        self.name = name
    }

    public func makeScoreFiller() -> RankSampling.ScoreFiller {
        let n = itemCount
        // Deterministic rows use the ranks of the scores as scores (equal scores stay equal, so
        // the random tie-break orders them); exploring rows use uniform scores.
        let sortedDistinct = Array(Set(scores)).sorted()
        let rankScore = scores.map { Float(sortedDistinct.firstIndex(of: $0)!) + 2 }
        let eps = Float(epsilon)
        return { out, rows, stream in
            var g = stream.generator()
            stream.split(1).fillUniform(
                UnsafeMutableBufferPointer(start: out, count: rows * n), parallelism: .sequential)
            rankScore.withUnsafeBufferPointer { rp in
                for r in 0..<rows where !(Float(Sampling.uniform(&g)) < eps) {
                    let row = out + r * n
                    for j in 0..<n { row[j] = rp[j] }
                }
            }
        }
    }

    /// Closed form: (1 − ε)·[deterministic rank; a tie group of size T spreads 1/T over its
    /// ranks] + ε/n.
    public func exactMarginals(k: Int) throws(RecOPEError) -> RankMarginals {
        try validate(k: k)
        let n = itemCount
        var probs = [Double](repeating: epsilon / Double(n), count: n * k)
        let order = (0..<n).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var start = 0
        while start < n {
            var end = start
            while end + 1 < n && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let size = Double(end - start + 1)
            for pos in start...end {
                for r in start...end where r < k { probs[order[pos] * k + r] += (1 - epsilon) / size }
            }
            start = end + 1
        }
        return RankMarginals(items: n, k: k, probabilities: probs)
    }
}

/// Epsilon-greedy whose exploration favours the long tail: with probability 1 − ε the items in
/// score order (ties at random); with probability ε a random ranking drawn by Plackett–Luce over
/// two weights, the tail items weighted so that the first slot holds a tail item with
/// probability `tailShare` (tailShare = tail fraction gives uniform exploration).
public struct TailExplorationGreedy: RankingPolicy {
    /// The items' scores.
    public let scores: [Double]
    /// The exploration probability.
    public let epsilon: Double
    /// Which items are in the long tail.
    public let isTail: [Bool]
    /// The tail's share of the exploration.
    public let tailShare: Double
    public let name: String
    public var itemCount: Int { scores.count }
    /// Log-weight of each item in an exploring ranking.
    let logWeights: [Double]

    /// - Throws: `.invalidParameter` for bad scores, ε outside [0, 1], a tail share outside
    ///   (0, 1), a tail mask of the wrong length, or a tail or head that is empty.
    public init(
        scores: [Double], epsilon: Double, isTail: [Bool], tailShare: Double,
        name: String = "epsilon-greedy (long tail)"
    ) throws(RecOPEError) {
        try validateScores(scores, name: name)
        guard epsilon >= 0 && epsilon <= 1 else {
            throw .invalidParameter("\(name): epsilon must be in [0, 1], got \(epsilon)")
        }
        guard tailShare > 0 && tailShare < 1 else {
            throw .invalidParameter("\(name): the tail share must be in (0, 1), got \(tailShare)")
        }
        guard isTail.count == scores.count else {
            throw .invalidParameter("\(name): the tail mask has \(isTail.count) entries for \(scores.count) items")
        }
        let nT = isTail.filter { $0 }.count
        let nH = scores.count - nT
        guard nT > 0 && nH > 0 else {
            throw .invalidParameter("\(name): the long tail has \(nT) items and the head \(nH); both must be non-empty")
        }
        self.scores = scores
        self.epsilon = epsilon
        self.isTail = isTail
        self.tailShare = tailShare
        self.name = name
        // nT·wT / (nT·wT + nH·wH) = share with wH = 1.
        let lw = LibC.log(tailShare * Double(nH) / ((1 - tailShare) * Double(nT)))
        logWeights = isTail.map { $0 ? lw : 0 }
    }

    public func makeScoreFiller() -> RankSampling.ScoreFiller {
        let n = itemCount
        let sortedDistinct = Array(Set(scores)).sorted()
        let rankScore = scores.map { Float(sortedDistinct.firstIndex(of: $0)!) }
        let lw = logWeights.map(Float.init)
        let eps = Float(epsilon)
        return { out, rows, stream in
            var g = stream.generator()
            stream.split(1).fillGumbel(
                UnsafeMutableBufferPointer(start: out, count: rows * n), parallelism: .sequential)
            for r in 0..<rows {
                let row = out + r * n
                if Float(Sampling.uniform(&g)) < eps {
                    for j in 0..<n { row[j] += lw[j] }
                } else {
                    for j in 0..<n { row[j] = rankScore[j] }
                }
            }
        }
    }

    /// (1 − ε)·[greedy marginals] + ε·[Plackett–Luce marginals of the two weights]. Items of one
    /// group are exchangeable in an exploring ranking, so its marginals follow from the
    /// distribution of the number of tail items in the first r slots (an O(k²) recursion):
    /// P(slot r holds a given tail item) = P(slot r is a tail slot) / n_tail.
    public func exactMarginals(k: Int) throws(RecOPEError) -> RankMarginals {
        try validate(k: k)
        let greedy = try EpsilonGreedy(scores: scores, epsilon: 0).exactMarginals(k: k)
        let nT = isTail.filter { $0 }.count
        let nH = itemCount - nT
        let wT = exp(logWeights[isTail.firstIndex(of: true)!])
        var dist = [Double](repeating: 0, count: k + 1)  // dist[t]: t tail items in the slots so far
        dist[0] = 1
        var tailSlot = [Double](repeating: 0, count: k)
        for r in 0..<k {
            var next = [Double](repeating: 0, count: k + 1)
            for t in 0...r where dist[t] > 0 {
                let h = r - t
                let a = Double(nT - t) * wT
                let b = Double(nH - h)
                let pt = a + b > 0 ? a / (a + b) : 0
                tailSlot[r] += dist[t] * pt
                next[t + 1] += dist[t] * pt
                next[t] += dist[t] * (1 - pt)
            }
            dist = next
        }
        var p = [Double](repeating: 0, count: itemCount * k)
        for i in 0..<itemCount {
            for r in 0..<k {
                let explore = isTail[i] ? tailSlot[r] / Double(nT) : (1 - tailSlot[r]) / Double(nH)
                p[i * k + r] = (1 - epsilon) * greedy.probability(item: i, rank: r) + epsilon * explore
            }
        }
        return RankMarginals(items: itemCount, k: k, probabilities: p)
    }
}

/// Uniformly random rankings.
public struct UniformRandomRanking: RankingPolicy {
    public let itemCount: Int
    public let name = "uniform random"

    /// - Throws: `.invalidParameter` for an empty item set.
    public init(items: Int) throws(RecOPEError) {
        guard items >= 1 else { throw .invalidParameter("uniform random: the item set is empty") }
        itemCount = items
    }

    public func makeScoreFiller() -> RankSampling.ScoreFiller {
        let n = itemCount
        return { out, rows, stream in
            stream.fillUniform(UnsafeMutableBufferPointer(start: out, count: rows * n), parallelism: .sequential)
        }
    }

    public func exactMarginals(k: Int) throws(RecOPEError) -> RankMarginals {
        try validate(k: k)
        return RankMarginals(
            items: itemCount, k: k, probabilities: [Double](repeating: 1 / Double(itemCount), count: itemCount * k))
    }
}

/// A non-empty list of finite scores, or a typed error naming the first bad item.
func validateScores(_ scores: [Double], name: String) throws(RecOPEError) {
    guard !scores.isEmpty else { throw .invalidParameter("\(name): the item set is empty") }
    if let i = scores.firstIndex(where: { !$0.isFinite }) {
        throw .invalidParameter("\(name): item \(i) has score \(scores[i]); scores must be finite")
    }
}
