import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A stochastic ranking policy over a fixed set of items (for one context).
///
/// Every RecKit policy ranks by random scores: a ranking is the items sorted by one draw of a
/// score vector, higher first. **Ties** (equal scores) are ordered uniformly at random, both when
/// sampling one ranking and in Monte Carlo marginals. This lets one vectorised engine
/// (`RankSampling`) simulate any policy.
public protocol RankingPolicy: Sendable {
    /// Number of items ranked.
    var itemCount: Int { get }
    /// A short name for reports.
    var name: String { get }
    /// A filler that draws `rows` score vectors (row-major `rows × itemCount`) from a stream;
    /// called once per worker thread, so it may own scratch space.
    func makeScoreFiller() -> RankSampling.ScoreFiller
    /// Exact rank marginals, where the policy has them.
    func exactMarginals(k: Int) throws(RecOPEError) -> RankMarginals
    /// Throws when the policy's parameters are outside what the Monte Carlo sampler (Float
    /// draws) represents faithfully.
    func checkMonteCarloRange() throws(RecOPEError)
    /// Monte Carlo counts of item `i` at rank `r` in `counts[i * k + r]`, identical for a seed
    /// on any thread count. The default draws rows with `makeScoreFiller` (`RankSampling`); a
    /// policy with a faster dedicated sampler supplies its own. Arguments are validated.
    func monteCarloCounts(k: Int, simulations: Int, seed: UInt64, parallelism: Parallelism) -> [Int]
}

extension RankingPolicy {
    /// Most policies sample faithfully at any valid parameters.
    public func checkMonteCarloRange() throws(RecOPEError) {}

    /// Rows of scores from `makeScoreFiller`, ranked by `RankSampling`.
    public func monteCarloCounts(k: Int, simulations: Int, seed: UInt64, parallelism: Parallelism) -> [Int] {
        RankSampling.counts(
            items: itemCount, k: k, simulations: simulations, seed: seed,
            parallelism: parallelism, makeFiller: makeScoreFiller)
    }

    /// Checks `1 ≤ k ≤ itemCount`.
    func validate(k: Int) throws(RecOPEError) {
        guard itemCount >= 1 else { throw .invalidParameter("\(name): the policy has no items") }
        guard k >= 1 && k <= itemCount else {
            throw .invalidParameter("\(name): k must be between 1 and the number of items (\(itemCount)), got \(k)")
        }
        // The result (items × k probabilities) and the exact method's two workspaces of the
        // same size, before any is allocated.
        do {
            try MemoryBudget.check(
                "rank marginals of \(itemCount) items × k=\(k)", bytes: MemoryBudget.product([itemCount, k, 8, 3]))
        } catch { throw .invalidParameter("\(name): \(error)") }
    }

    /// One sampled ranking: the top `k` items, best first (ties at random).
    /// - Throws: `.invalidParameter` unless `1 ≤ k ≤ itemCount`.
    public func sampleRanking<G: RandomNumberGenerator>(k: Int, using rng: inout G) throws(RecOPEError) -> [Int] {
        try validate(k: k)
        let n = itemCount
        var scores = [Float](repeating: 0, count: n)
        let fill = makeScoreFiller()
        let stream = RandomStream(seed: rng.next())
        scores.withUnsafeMutableBufferPointer { fill($0.baseAddress!, 1, stream) }
        var tie = stream.split(-1).generator()
        let keys = (0..<n).map { _ in tie.next() }
        let order = (0..<n).sorted { a, b in
            let sa = scores[a]
            let sb = scores[b]
            if sa.isNaN != sb.isNaN { return sb.isNaN }
            if sa != sb && !(sa.isNaN && sb.isNaN) { return sa > sb }
            return keys[a] < keys[b]
        }
        return Array(order.prefix(k))
    }

    /// Monte Carlo rank marginals over `simulations` sampled rankings: vectorised score draws,
    /// multi-threaded, and identical for a seed whatever the thread count.
    /// - Throws: `.invalidParameter` for `k` outside `1...itemCount` or `simulations < 1`.
    /// - Complexity: `simulations × itemCount` score draws and a top-k per ranking.
    public func monteCarloMarginals(
        k: Int, simulations: Int, seed: UInt64,
        parallelism: Parallelism = .automatic
    ) throws(RecOPEError) -> RankMarginals {
        try validate(k: k)
        try checkMonteCarloRange()
        guard simulations >= 1 && simulations <= RankSampling.maxSimulations else {
            throw .invalidParameter(
                "\(name): simulations must be in 1...\(RankSampling.maxSimulations), got \(simulations)")
        }
        guard itemCount < RankSampling.maxItems else {
            throw .invalidParameter(
                "\(name): Monte Carlo ranks at most \(RankSampling.maxItems - 1) items, the policy has \(itemCount)")
        }
        do {
            try MemoryBudget.check(
                "Monte Carlo counts of \(itemCount) items × k=\(k) on \(Threading.count + 1) counters",
                bytes: MemoryBudget.product([itemCount, k, 8, Threading.count + 1]))
        } catch { throw .invalidParameter("\(name): \(error)") }
        let counts = monteCarloCounts(k: k, simulations: simulations, seed: seed, parallelism: parallelism)
        return RankMarginals(items: itemCount, k: k, counts: counts, simulations: simulations)
    }
}
