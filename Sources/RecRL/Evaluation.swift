import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// HR@k and NDCG@k per event type, every event of the held-out sessions ranked against the
/// whole catalog (full ranking, no sampled negatives).
///
/// Each event of a held-out session is one query: the state is the previous `length` items of
/// its session (the first event's state is empty), the target the event's item. The rank is the
/// number of items scored above the target (equal scores: lower item ids first). HR@k counts
/// rank < k; NDCG@k adds 1/log₂(rank + 2) when rank < k. Items that never occur in the training
/// sessions are still in the catalog and are ranked like any other item (their embeddings stay
/// at their initial values), as in the papers' evaluation.
public struct RankingMetrics: Sendable, Equatable, Codable {
    /// The cutoffs k of HR@k and NDCG@k.
    public let cutoffs: [Int]
    /// The event types, in the data's order.
    public let eventTypes: [String]
    /// Events per event type.
    public var counts: [Int]
    /// hits[t][c]: events of type t ranked within cutoffs[c].
    public var hits: [[Double]]
    /// ndcgSums[t][c]: Σ 1/log₂(rank + 2) over events of type t ranked within cutoffs[c].
    public var ndcgSums: [[Double]]

    /// Empty sums for `eventTypes` at `cutoffs`.
    public init(cutoffs: [Int] = [5, 10, 20], eventTypes: [String]) {
        self.cutoffs = cutoffs
        self.eventTypes = eventTypes
        counts = [Int](repeating: 0, count: eventTypes.count)
        hits = [[Double]](repeating: [Double](repeating: 0, count: cutoffs.count), count: eventTypes.count)
        ndcgSums = hits
    }

    /// Adds one query: its target's rank (0 = first) and its event type's index.
    public mutating func add(rank: Int, event: Int) {
        counts[event] += 1
        for (c, k) in cutoffs.enumerated() where rank < k {
            hits[event][c] += 1
            ndcgSums[event][c] += 1 / LibC.log2(Double(rank) + 2)
        }
    }

    /// HR@k for an event type (NaN when it has no events, nil for an unknown type or cutoff).
    public func hitRate(_ event: String, at k: Int) -> Double? {
        guard let t = eventTypes.firstIndex(of: event), let c = cutoffs.firstIndex(of: k) else { return nil }
        return counts[t] == 0 ? .nan : hits[t][c] / Double(counts[t])
    }

    /// NDCG@k for an event type (NaN when it has no events, nil for an unknown type or cutoff).
    public func ndcg(_ event: String, at k: Int) -> Double? {
        guard let t = eventTypes.firstIndex(of: event), let c = cutoffs.firstIndex(of: k) else { return nil }
        return counts[t] == 0 ? .nan : ndcgSums[t][c] / Double(counts[t])
    }

    /// Every metric by name (`purchase_hr@10`, `click_ndcg@20`, ...), for reports and JSON.
    public var flat: [(name: String, value: Double)] {
        var out = [(String, Double)]()
        for (t, e) in eventTypes.enumerated() where counts[t] > 0 {
            for (c, k) in cutoffs.enumerated() {
                out.append(("\(e)_hr@\(k)", hits[t][c] / Double(counts[t])))
                out.append(("\(e)_ndcg@\(k)", ndcgSums[t][c] / Double(counts[t])))
            }
        }
        return out
    }

    /// A table: one row per event type, HR and NDCG at each cutoff.
    public func table() -> String {
        var s =
            "event      events"
            + cutoffs.map {
                String(repeating: " ", count: 3) + "HR@\($0)".padded(to: 7) + " NDCG@\($0)".padded(to: 9)
            }.joined() + "\n"
        for (t, e) in eventTypes.enumerated() where counts[t] > 0 {
            s += e.padded(to: 10) + cFormat("%7ld", counts[t])
            for c in cutoffs.indices {
                s += cFormat(
                    "   %.4f   %.4f", hits[t][c] / Double(counts[t]), ndcgSums[t][c] / Double(counts[t]))
            }
            s += "\n"
        }
        return s
    }
}

/// Something that ranks the catalog for a batch of states: returns the 0-based rank of each
/// target among all items.
public protocol CatalogRanker {
    /// For each query, the number of items ranked above its target (equal scores: lower ids first).
    /// - Parameters:
    ///   - states: the queries' histories (item ids, 0 = padding).
    ///   - targets: the queries' target items (1...N).
    func ranks(states: [[Int]], targets: [Int]) throws(RecRLError) -> [Int]
}

/// The popularity ranking: items by their number of training events, ties by lower item id.
public struct PopularityRanker: CatalogRanker, Sendable {
    /// rank[i − 1] of item i.
    public let rank: [Int]

    /// Ranks items by their count in the training events (`counts[i − 1]` for item i).
    public init(trainingCounts counts: [Int]) {
        let order = counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }
        var r = [Int](repeating: 0, count: counts.count)
        for (k, i) in order.enumerated() { r[i] = k }
        rank = r
    }

    /// The target's rank in the popularity order (the same for every state).
    public func ranks(states: [[Int]], targets: [Int]) -> [Int] { targets.map { rank[$0 - 1] } }
}

/// Ranks by a model's head (supervised or Q).
public struct ModelRanker: CatalogRanker {
    /// The trained model.
    public let model: SequentialRecommender
    /// The head whose scores rank the catalog.
    public let head: SequentialRecommender.Head

    /// Ranks with `model`'s `head`.
    public init(model: SequentialRecommender, head: SequentialRecommender.Head = .supervised) {
        self.model = model
        self.head = head
    }

    /// The target's rank among every item's score for its state (full catalog, canonical scores).
    public func ranks(states: [[Int]], targets: [Int]) throws(RecRLError) -> [Int] {
        let z = try model.scores(states, head: head)
        return rankOfTargets(z, targets: targets)
    }
}

/// Rank of each row's target (item id 1...N) in a B × N score matrix: the number of items with
/// a higher score, plus equal-scored items with a lower id. A NaN score ranks last.
public func rankOfTargets(_ z: Matrix, targets: [Int]) -> [Int] {
    let N = z.cols
    var out = [Int](repeating: 0, count: z.rows)
    z.withUnsafeBufferPointer { zp in
        for r in 0..<z.rows {
            let row = zp.baseAddress! + r * N
            let t = targets[r] - 1
            let st = row[t]
            if st.isNaN {
                out[r] = N - 1
                continue
            }
            var above = 0
            for j in 0..<N { above &+= (row[j] > st) ? 1 : 0 }
            for j in 0..<t where row[j] == st { above += 1 }
            out[r] = above
        }
    }
    return out
}

/// Full-ranking evaluation of a `CatalogRanker` on held-out sessions.
public enum Evaluation {
    /// Evaluates `ranker` on every event of `sessions`, in batches of `batch` queries.
    public static func run(
        _ ranker: CatalogRanker, data: SessionData, sessions: [Int], length: Int,
        cutoffs: [Int] = [5, 10, 20], batch: Int = 256
    ) throws(RecRLError) -> RankingMetrics {
        var m = RankingMetrics(cutoffs: cutoffs, eventTypes: data.eventTypes)
        var states = [[Int]]()
        var targets = [Int]()
        var events = [Int]()
        func flush() throws(RecRLError) {
            guard !states.isEmpty else { return }
            let r = try ranker.ranks(states: states, targets: targets)
            for (k, rank) in r.enumerated() { m.add(rank: rank, event: events[k]) }
            states.removeAll(keepingCapacity: true)
            targets.removeAll(keepingCapacity: true)
            events.removeAll(keepingCapacity: true)
        }
        for s in sessions {
            let range = data.range(s)
            for e in range {
                states.append(
                    sessionState(data.items, event: e, start: range.lowerBound, length: length, includingEvent: false))
                targets.append(Int(data.items[e]))
                events.append(Int(data.events[e]))
                if states.count == batch { try flush() }
            }
        }
        try flush()
        return m
    }
}

/// Every metric of a `RankingMetrics` by name, encoded as one JSON object
/// (`{"purchase_hr@10": 0.12, ...}`, what `reckit evaluate --json` writes).
public struct NamedMetrics: Sendable, Equatable, Codable {
    /// Metric name (`EVENT_hr@K`, `EVENT_ndcg@K`) → value.
    public var values: [String: Double]

    /// The metrics of event types that have events.
    public init(_ metrics: RankingMetrics) {
        values = Dictionary(metrics.flat.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// Reads the object `encode(to:)` writes.
    public init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: Double].self)
    }

    /// Writes the metrics as one object, name → value.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }
}
