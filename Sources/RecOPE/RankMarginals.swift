import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The whole of a small input file (a spec, a prior, a state), as a `RecOPEError` naming the
/// path and why it cannot be read (missing, a directory, permissions, over 1 GiB).
/// A RecIO error as this module's, keeping the path once.
func opeError(_ e: RecIOError) -> RecOPEError {
    switch e {
    case .cannotOpen(let f, let r): return .cannotOpen(file: f, reason: r)
    case .cannotWrite(let f, let r): return .cannotWrite(file: f, reason: r)
    case .malformed(let f, let l, let field, let m):
        return .malformedFile(file: f, line: l, message: field.map { "field \($0): \(m)" } ?? m)
    case .empty(let f): return .malformedFile(file: f, line: nil, message: "no data rows")
    }
}

func readFile(_ path: String) throws(RecOPEError) -> Data {
    do { return try FileInput.contents(path, limit: 1 << 30) } catch {
        if case .cannotOpen(_, let reason) = error { throw .cannotOpen(file: path, reason: reason) }
        throw .cannotOpen(file: path, reason: error.description)
    }
}

/// Rank marginals `P(item i at rank r)` of a ranking policy, for ranks `0..<k` (rank 0 is the top).
public struct RankMarginals: Sendable, Equatable {
    /// Number of items.
    public let items: Int
    /// Number of ranks.
    public let k: Int
    /// `probabilities[i * k + r] = P(item i at rank r)`.
    public let probabilities: [Double]
    /// Monte Carlo only: binomial standard errors `sqrt(p(1 − p)/N)`, same layout.
    public let standardErrors: [Double]?
    /// Monte Carlo only: the counts, same layout.
    public let counts: [Int]?
    /// Monte Carlo only: the number of simulated rankings N.
    public let simulations: Int?
    /// Exact marginals of Beta scores (Thompson sampling): the quadrature's error estimate, the
    /// largest difference between a CDF carried along the score axis and its exact value, or
    /// between a rank's column sum and 1 (results above 1e-6 are refused).
    public let errorEstimate: Double?

    /// Exact marginals.
    public init(items: Int, k: Int, probabilities: [Double], errorEstimate: Double? = nil) {
        precondition(probabilities.count == items * k, "RankMarginals: \(probabilities.count) values for \(items)×\(k)")
        self.items = items
        self.k = k
        self.probabilities = probabilities
        self.errorEstimate = errorEstimate
        standardErrors = nil
        counts = nil
        simulations = nil
    }

    /// Monte Carlo marginals from counts over `simulations` rankings.
    public init(items: Int, k: Int, counts: [Int], simulations: Int) {
        precondition(counts.count == items * k, "RankMarginals: \(counts.count) counts for \(items)×\(k)")
        self.items = items
        self.k = k
        self.counts = counts
        self.simulations = simulations
        errorEstimate = nil
        let n = Double(max(simulations, 1))
        let p = counts.map { Double($0) / n }
        probabilities = p
        standardErrors = p.map { ($0 * (1 - $0) / n).squareRoot() }
    }

    /// `P(item at rank)`, rank 0-based.
    public func probability(item: Int, rank: Int) -> Double { probabilities[item * k + rank] }

    /// The standard error of a Monte Carlo cell (0 for exact marginals).
    public func standardError(item: Int, rank: Int) -> Double { standardErrors?[item * k + rank] ?? 0 }

    /// A probability that is safe to divide by (an importance-weight denominator).
    ///
    /// For Monte Carlo marginals a cell that was never observed is reported as half a count,
    /// `0.5 / N`, instead of 0 (the probability is known only to be below about 1/N); such cells
    /// are listed by `zeroCells`, so a report can flag every weight that used the floor. Exact
    /// marginals are returned as they are (an exact 0 means the event is impossible).
    public func denominator(item: Int, rank: Int) -> Double {
        let p = probability(item: item, rank: rank)
        if let n = simulations, p == 0 { return 0.5 / Double(max(n, 1)) }
        return p
    }

    /// Monte Carlo cells with a zero count, as (item, rank) pairs.
    public var zeroCells: [(item: Int, rank: Int)] {
        guard let counts else { return [] }
        return counts.enumerated().filter { $0.element == 0 }.map { ($0.offset / k, $0.offset % k) }
    }

    /// Sum over items of rank `r`'s probabilities (1 for a complete ranking).
    public func columnSum(rank r: Int) -> Double { (0..<items).reduce(0) { $0 + probabilities[$1 * k + r] } }
}
