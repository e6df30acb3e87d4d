import RecCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A policy's slate and cascade probabilities by Monte Carlo, for policies without a closed form
/// (Thompson sampling and its variants, epsilon-greedy): `simulations` rankings drawn from the
/// policy's own score filler (ties at random, NaN last), and for every drawn top-j prefix
/// (j = 1…depth) its count; P(positions 0…j hold a₀…a_j) ≈ count / simulations, unbiased, so
/// SIPS and RIPS stay unbiased with them (their variance grows, most for rare slates: a slate of
/// probability p gets a relative error of about 1/√(simulations·p)). Chunk c of
/// `RankSampling.rowsPerChunk(items:)` rankings draws from `RandomStream(seed).split(c)`: the same counts on any thread count and in every
/// shard.
public struct MonteCarloSlateProbabilities: Sendable {
    /// Positions counted.
    public let depth: Int
    /// Rankings drawn.
    public let simulations: Int
    /// The seed.
    public let seed: UInt64
    /// Per prefix (its items, best first), its count.
    let counts: [[Int32]: Int]
    /// Per drawn prefix (the empty one included), the items drawn next and their counts, by item.
    let children: [[Int32]: [(item: Int32, count: Int)]]

    /// The largest number of prefix counts kept (distinct prefixes drawn); past it the draw stops
    /// with an error instead of growing without bound.
    public static let maxPrefixes = 20_000_000

    /// Draws the rankings and counts their prefixes.
    /// - Throws: `.invalidParameter` for a depth outside 1…items, simulations outside
    ///   1…2³⁰, or more distinct prefixes than `maxPrefixes`.
    public init(
        policy: any RankingPolicy, depth: Int, simulations: Int, seed: UInt64, parallelism: Parallelism = .automatic
    ) throws(RecOPEError) {
        let n = policy.itemCount
        guard depth >= 1, depth <= n else {
            throw .invalidParameter("\(policy.name): slate depth \(depth) must be in 1…\(n) (its items)")
        }
        guard simulations >= 1, simulations <= 1 << 30 else {
            throw .invalidParameter("\(policy.name): simulations must be in 1…\(1 << 30), got \(simulations)")
        }
        try policy.checkMonteCarloRange()
        self.depth = depth
        self.simulations = simulations
        self.seed = seed
        // A filler draws at most this many rows at a time (its workspace's size).
        let rows = RankSampling.rowsPerChunk(items: n)
        let chunks = (simulations + rows - 1) / rows
        let root = RandomStream(seed: seed)
        let total = PrefixCounts()
        let K = depth
        Threading.parallelFor(
            chunks: chunks, parallelism: parallelism,
            scratch: {
                (
                    fill: policy.makeScoreFiller(), scores: [Float](repeating: 0, count: rows * n),
                    counts: [[Int32]: Int]()
                )
            },
            release: { w in total.add(w.counts) },
            body: { c, w in
                let count = min(rows, simulations - c * rows)
                let stream = root.split(c)
                w.scores.withUnsafeMutableBufferPointer { w.fill($0.baseAddress!, count, stream) }
                var tie = stream.split(-1).generator()
                var keys = [UInt64](repeating: 0, count: n)
                var taken = [Bool](repeating: false, count: n)
                var prefix = [Int32]()
                prefix.reserveCapacity(K)
                for r in 0..<count {
                    for i in 0..<n {
                        keys[i] = tie.next()
                        taken[i] = false
                    }
                    prefix.removeAll(keepingCapacity: true)
                    let base = r * n
                    for _ in 0..<K {
                        // The best item not yet taken: higher score, NaN last, ties by key.
                        var best = -1
                        for i in 0..<n where !taken[i] {
                            if best < 0 {
                                best = i
                                continue
                            }
                            let (s, t) = (w.scores[base + i], w.scores[base + best])
                            if s.isNaN != t.isNaN {
                                if t.isNaN { best = i }
                            } else if s != t && !(s.isNaN && t.isNaN) {
                                if s > t { best = i }
                            } else if keys[i] < keys[best] {
                                best = i
                            }
                        }
                        taken[best] = true
                        prefix.append(Int32(best))
                        w.counts[prefix, default: 0] += 1
                    }
                }
            })
        let merged = total.take()
        guard merged.count <= Self.maxPrefixes else {
            throw .invalidParameter(
                "\(policy.name): \(merged.count) distinct slate prefixes drawn, past \(Self.maxPrefixes): use fewer simulations or a smaller depth"
            )
        }
        counts = merged
        var next = [[Int32]: [(item: Int32, count: Int)]]()
        for (key, n) in merged { next[Array(key.dropLast()), default: []].append((key.last!, n)) }
        for k in next.keys { next[k]!.sort { $0.item < $1.item } }
        children = next
    }

    /// E_π[f(the item at position j) | positions 0…j−1 hold `prefix`] from the same rankings:
    /// Σ_b count(prefix + b)·f(b) / count(prefix), summed by item (0 when the prefix was never
    /// drawn: its cascade weight is then 0 too). Cascade-DR's expectation of the reward model.
    public func expected(after prefix: [Int], _ f: (Int) -> Double) -> Double {
        let key = prefix.map { Int32(truncatingIfNeeded: $0) }
        let total = key.isEmpty ? simulations : counts[key] ?? 0
        guard total > 0, let next = children[key] else { return 0 }
        var s = CompensatedSum()
        for (b, n) in next { s.add(Double(n) * f(Int(b))) }
        return s.value / Double(total)
    }

    /// P(positions 0…j hold items[0…j]) for each j, estimated (0 for a prefix never drawn).
    public func prefixProbabilities(of items: [Int]) -> [Double] {
        var key = [Int32]()
        key.reserveCapacity(items.count)
        return items.map { a in
            key.append(Int32(truncatingIfNeeded: a))
            return Double(counts[key] ?? 0) / Double(simulations)
        }
    }

    /// Distinct prefixes counted.
    public var prefixes: Int { counts.count }
}

/// Prefix counts summed under a lock (workers' counts; integer sums, so their order does not
/// matter).
final class PrefixCounts: Sendable {
    private let counts = Mutex([[Int32]: Int]())

    func add(_ other: [[Int32]: Int]) {
        counts.withLock { c in
            if c.isEmpty {
                c = other
            } else {
                for (k, v) in other { c[k, default: 0] += v }
            }
        }
    }

    func take() -> [[Int32]: Int] { counts.withLock { $0 } }
}
