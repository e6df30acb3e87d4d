import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A policy that gives the probability of a ranking's top: P(the first j + 1 positions hold
/// `ranking[0...j]`), for each j (the slate estimators' whole-slate and cascade weights).
public protocol RankingProbabilities: RankingPolicy {
    /// P(positions 0…j hold ranking[0…j]) for j in 0..<ranking.count.
    /// - Throws: `.invalidParameter` for an item outside the policy's items or one repeated.
    func prefixProbabilities(of ranking: [Int]) throws(RecOPEError) -> [Double]
    /// P(item b at position `prefix.count` | positions 0… hold `prefix`), for every item b (0 for
    /// the prefix's items).
    func nextProbabilities(after prefix: [Int]) throws(RecOPEError) -> [Double]
}

extension RankingProbabilities {
    /// Checks that `ranking` holds distinct items of the policy.
    func checkRanking(_ ranking: [Int]) throws(RecOPEError) {
        var seen = Set<Int>()
        for a in ranking {
            guard a >= 0 && a < itemCount else {
                throw .invalidParameter("\(name): item \(a) is outside its \(itemCount) items")
            }
            guard seen.insert(a).inserted else {
                throw .invalidParameter("\(name): item \(a) appears twice in one ranking")
            }
        }
    }
}

extension PlackettLuce: RankingProbabilities {
    /// Sequential softmax without replacement: Π_{i ≤ j} exp(ℓ_{aᵢ}) / Σ_{b not in a₀…aᵢ₋₁} exp(ℓ_b),
    /// ℓ = score / temperature, in logs relative to the largest logit: each denominator by
    /// subtraction from the total while that keeps its digits, else (once the remaining mass is
    /// below 10⁻⁶ of the total) as a log-sum-exp over the remaining items relative to their own
    /// largest logit, so rankings that pass through items of vanishing mass stay exact.
    public func prefixProbabilities(of ranking: [Int]) throws(RecOPEError) -> [Double] {
        try checkRanking(ranking)
        let top = scores.max()!
        func gap(_ i: Int) -> Double { Self.logitGap(scores[i], top, temperature: temperature) }
        var total = CompensatedSum()
        for i in scores.indices { total.add(exp(gap(i))) }
        var removed = Set<Int>()
        var out = [Double]()
        var logP = 0.0
        var remaining = total.value
        var exact = false
        for a in ranking {
            let logDenominator: Double
            if !exact && remaining >= 1e-6 * total.value {
                logDenominator = log(remaining)
            } else {
                exact = true
                let rest = scores.indices.filter { !removed.contains($0) }
                let m = rest.map(gap).max()!
                var s = CompensatedSum()
                for i in rest { s.add(exp(gap(i) - m)) }
                logDenominator = m + log(s.value)
            }
            logP += gap(a) - logDenominator
            out.append(exp(logP))
            remaining -= exp(gap(a))
            removed.insert(a)
        }
        return out
    }
}

extension PlackettLuce {
    /// The softmax over the items not in `prefix`, relative to their largest logit.
    public func nextProbabilities(after prefix: [Int]) throws(RecOPEError) -> [Double] {
        try checkRanking(prefix)
        let taken = Set(prefix)
        guard taken.count < scores.count else { throw .invalidParameter("\(name): the ranking holds every item") }
        let rest = scores.indices.filter { !taken.contains($0) }
        let top = rest.map { scores[$0] }.max()!
        var out = [Double](repeating: 0, count: scores.count)
        var total = CompensatedSum()
        for i in rest {
            out[i] = exp(Self.logitGap(scores[i], top, temperature: temperature))
            total.add(out[i])
        }
        let t = total.value
        for i in rest { out[i] /= t }
        return out
    }
}

extension UniformRandomRanking: RankingProbabilities {
    /// 1 / (N − |prefix|) for each item not in `prefix`.
    public func nextProbabilities(after prefix: [Int]) throws(RecOPEError) -> [Double] {
        try checkRanking(prefix)
        guard prefix.count < itemCount else { throw .invalidParameter("\(name): the ranking holds every item") }
        let taken = Set(prefix)
        let p = 1 / Double(itemCount - prefix.count)
        return (0..<itemCount).map { taken.contains($0) ? 0 : p }
    }

    /// Π_{i ≤ j} 1 / (N − i).
    public func prefixProbabilities(of ranking: [Int]) throws(RecOPEError) -> [Double] {
        try checkRanking(ranking)
        var p = 1.0
        return ranking.indices.map { i in
            p /= Double(itemCount - i)
            return p
        }
    }
}

/// Sequential softmax without replacement over fixed item masses (Plackett–Luce: exp of the
/// logits relative to the largest; uniform: equal masses), prepared once for many slates: a
/// slate's prefix probabilities in O(its length) and, from Σ_b m_b·q̂(b, p) prepared per
/// position, the expected q̂ at a position given the items above in O(their number). Where the
/// remaining mass falls below 10⁻⁶ of the total (subtraction would lose digits), the policy's
/// exact methods are used instead.
struct SequentialSoftmax: Sendable {
    let masses: [Double]
    let total: Double
    let policy: any RankingProbabilities
    static let exactBelow = 1e-6

    init?(_ p: any RankingPolicy) {
        if let pl = p as? PlackettLuce {
            let top = pl.scores.max()!
            masses = pl.scores.map { exp(PlackettLuce.logitGap($0, top, temperature: pl.temperature)) }
            policy = pl
        } else if let u = p as? UniformRandomRanking {
            masses = [Double](repeating: 1, count: u.itemCount)
            policy = u
        } else {
            return nil
        }
        var t = CompensatedSum()
        for m in masses { t.add(m) }
        total = t.value
    }

    /// P(positions 0…j hold items[0…j]) for each j.
    func prefix(_ items: [Int]) throws(RecOPEError) -> [Double] {
        for (i, a) in items.enumerated() {
            guard a >= 0 && a < masses.count, !items[0..<i].contains(a) else {
                return try policy.prefixProbabilities(of: items)  // its error names the item
            }
        }
        var remaining = total
        var p = 1.0
        var out = [Double]()
        out.reserveCapacity(items.count)
        for a in items {
            if remaining < Self.exactBelow * total { return try policy.prefixProbabilities(of: items) }
            p *= masses[a] / remaining
            out.append(p)
            remaining -= masses[a]
        }
        return out
    }

    /// Σ_b π(b at i | items[0..<i])·q̂(b, i), from `weighted` = Σ_b m_b·q̂(b, i) over all items.
    func expected(
        _ items: [Int], position i: Int, weighted: Double, rate: (Int) -> Double
    ) throws(RecOPEError) -> Double {
        var remaining = total
        var s = weighted
        for a in items[0..<i] {
            remaining -= masses[a]
            s -= masses[a] * rate(a)
        }
        if remaining >= Self.exactBelow * total { return s / remaining }
        let next = try policy.nextProbabilities(after: Array(items[0..<i]))
        var e = CompensatedSum()
        for b in next.indices where next[b] > 0 { e.add(next[b] * rate(b)) }
        return e.value
    }
}
