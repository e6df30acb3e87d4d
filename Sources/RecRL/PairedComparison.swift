import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension Evaluation {
    /// `run`'s metrics session by session: element k holds the queries of `sessions[k]` (the
    /// same queries and ranks as `run`, in batches of `batch` that may span sessions).
    public static func perSession(
        _ ranker: CatalogRanker, data: SessionData, sessions: [Int], length: Int,
        cutoffs: [Int] = [5, 10, 20], batch: Int = 256
    ) throws(RecRLError) -> [RankingMetrics] {
        var out = [RankingMetrics](
            repeating: RankingMetrics(cutoffs: cutoffs, eventTypes: data.eventTypes), count: sessions.count)
        var states = [[Int]]()
        var targets = [Int]()
        var owners = [(session: Int, event: Int)]()
        func flush() throws(RecRLError) {
            guard !states.isEmpty else { return }
            let r = try ranker.ranks(states: states, targets: targets)
            for (k, rank) in r.enumerated() { out[owners[k].session].add(rank: rank, event: owners[k].event) }
            states.removeAll(keepingCapacity: true)
            targets.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
        }
        for (k, s) in sessions.enumerated() {
            let range = data.range(s)
            for e in range {
                states.append(
                    sessionState(data.items, event: e, start: range.lowerBound, length: length, includingEvent: false))
                targets.append(Int(data.items[e]))
                owners.append((k, Int(data.events[e])))
                if states.count == max(batch, 1) { try flush() }
            }
        }
        try flush()
        return out
    }
}

/// One metric (`purchase_ndcg@10`, `click_hr@20`, ...) of two rankers on the same held-out
/// sessions, compared session by session.
///
/// A ranker's value is Σ_s m_s / Σ_s n_s over sessions s (m_s: the session's sum of the metric
/// over its events of the type, n_s: their count), the value `Evaluation.run` reports. The
/// difference `a − b` gets:
/// - a 95% **paired bootstrap** interval: sessions drawn with replacement, both rankers' values
///   from the same draw, the 2.5% and 97.5% quantiles of the differences;
/// - a two-sided **paired permutation (sign-flip) test** of "no difference": under it the two
///   rankers' results are exchangeable within a session, so each session's difference
///   m_a,s − m_b,s flips its sign with probability 1/2; p = (1 + #{|T*| ≥ |T|}) / (1 + R) with T
///   the observed difference and T* the flipped ones (never 0, as Monte Carlo p-values should be).
/// Sessions, not events, are the units: events of one session are not independent.
public struct PairedComparison: Sendable, Equatable, Codable {
    /// The metric compared.
    public let metric: String
    /// Sessions with at least one event of the metric's type.
    public let sessions: Int
    /// The two rankers' values.
    public let a: Double, b: Double
    /// a − b.
    public var difference: Double { a - b }
    /// The 95% paired bootstrap interval of a − b.
    public let lower: Double, upper: Double
    /// The two-sided sign-flip permutation p-value of a − b = 0.
    public let pValue: Double
    /// Bootstrap draws and sign flips, each.
    public let replicates: Int

    /// A metric name's parts: event type, `hr` or `ndcg`, cutoff.
    public static func parse(metric: String) throws(RecRLError) -> (event: String, kind: String, cutoff: Int) {
        let parts = metric.split(separator: "_")
        guard parts.count >= 2, let at = parts.last!.firstIndex(of: "@"),
            let k = Int(parts.last![parts.last!.index(after: at)...]),
            k > 0
        else {
            throw .invalidParameter("metric '\(metric)': expected EVENT_hr@K or EVENT_ndcg@K, e.g. purchase_ndcg@10")
        }
        let kind = String(parts.last![..<at])
        guard kind == "hr" || kind == "ndcg" else {
            throw .invalidParameter("metric '\(metric)': the measure is hr or ndcg, not '\(kind)'")
        }
        return (parts.dropLast().joined(separator: "_"), kind, k)
    }

    /// Each session's (sum of the metric over its events of the type, their count).
    public static func sessionSums(_ m: [RankingMetrics], metric: String) throws(RecRLError) -> [(
        sum: Double, count: Int
    )] {
        let (event, kind, k) = try parse(metric: metric)
        guard let first = m.first else { return [] }
        guard let t = first.eventTypes.firstIndex(of: event) else {
            throw .invalidParameter(
                "metric '\(metric)': no event type '\(event)' (the data has \(first.eventTypes.joined(separator: ", ")))"
            )
        }
        guard let c = first.cutoffs.firstIndex(of: k) else {
            throw .invalidParameter(
                "metric '\(metric)': cutoff \(k) is not evaluated (\(first.cutoffs.map(String.init).joined(separator: ", ")))"
            )
        }
        return m.map { ($0.counts[t] == 0 ? 0 : (kind == "hr" ? $0.hits[t][c] : $0.ndcgSums[t][c]), $0.counts[t]) }
    }

    /// Compares per-session sums of the same sessions (`sessionSums` of two rankers), with
    /// `replicates` bootstrap draws and sign flips from `seed`.
    /// - Throws: `.invalidParameter` for different session counts or counts that differ
    ///   (not the same queries), no session with an event of the type, or replicates < 99.
    public init(
        metric: String, a: [(sum: Double, count: Int)], b: [(sum: Double, count: Int)], replicates: Int = 10000,
        seed: UInt64 = 1
    ) throws(RecRLError) {
        guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else {
            throw .invalidParameter("paired comparison: the two rankers were not evaluated on the same queries")
        }
        guard replicates >= 99 else {
            throw .invalidParameter("paired comparison: replicates must be at least 99 (got \(replicates))")
        }
        // Sessions with events of the type only.
        let used = a.indices.filter { a[$0].count > 0 }
        guard !used.isEmpty else { throw .invalidParameter("paired comparison: no session has an event for \(metric)") }
        let sa = used.map { a[$0].sum }
        let sb = used.map { b[$0].sum }
        let n = used.map { Double(a[$0].count) }
        let total = n.reduce(0, +)
        let va = sa.reduce(0, +) / total
        let vb = sb.reduce(0, +) / total
        let d = zip(sa, sb).map { $0 - $1 }
        let observed = d.reduce(0, +) / total
        var g = Xoshiro256(seed: seed)
        let S = used.count
        var diffs = [Double](repeating: 0, count: replicates)
        for r in 0..<replicates {
            var num = 0.0
            var den = 0.0
            for _ in 0..<S {
                let s = Int(g.next() % UInt64(S))
                num += d[s]
                den += n[s]
            }
            diffs[r] = num / den
        }
        diffs.sort()
        func quantile(_ q: Double) -> Double {
            // Type 7 (linear between order statistics), as numpy's default.
            let h = q * Double(replicates - 1)
            let lo = Int(h.rounded(.down))
            let hi = min(lo + 1, replicates - 1)
            return diffs[lo] + (h - Double(lo)) * (diffs[hi] - diffs[lo])
        }
        var extreme = 0
        let bound = abs(observed) * (1 - 1e-12)
        for _ in 0..<replicates {
            var t = 0.0
            for s in 0..<S { t += g.next() & 1 == 0 ? d[s] : -d[s] }
            if abs(t / total) >= bound { extreme += 1 }
        }
        self.metric = metric
        sessions = S
        self.a = va
        self.b = vb
        lower = quantile(0.025)
        upper = quantile(0.975)
        pValue = Double(1 + extreme) / Double(1 + replicates)
        self.replicates = replicates
    }
}
