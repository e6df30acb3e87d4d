#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The training sessions as sets: each session's distinct items (ascending) with their counts,
/// and each item's sessions (ascending), for the neighbourhood baselines.
struct SessionSets: Sendable {
    /// Session s's distinct items are `items[offsets[s]..<offsets[s + 1]]` (1...N, ascending).
    let offsets: [Int]
    let items: [Int32]
    let counts: [Int32]
    /// Item i's sessions are `sessions[itemOffsets[i − 1]..<itemOffsets[i]]` (ascending).
    let itemOffsets: [Int]
    let sessions: [Int32]
    /// Events per item (index i − 1).
    let support: [Int]

    init(_ data: SessionData) {
        var offsets = [0]
        var items = [Int32]()
        var counts = [Int32]()
        var support = [Int](repeating: 0, count: data.itemCount)
        var perItem = [Int](repeating: 0, count: data.itemCount + 1)
        for s in 0..<data.sessionCount {
            let sorted = data.items[data.range(s)].sorted()
            var k = 0
            while k < sorted.count {
                var e = k
                while e < sorted.count && sorted[e] == sorted[k] { e += 1 }
                items.append(sorted[k])
                counts.append(Int32(e - k))
                support[Int(sorted[k]) - 1] += e - k
                perItem[Int(sorted[k])] += 1
                k = e
            }
            offsets.append(items.count)
        }
        for i in 0..<data.itemCount { perItem[i + 1] += perItem[i] }
        var fill = perItem
        var sessions = [Int32](repeating: 0, count: items.count)
        for s in 0..<data.sessionCount {
            for k in offsets[s]..<offsets[s + 1] {
                let i = Int(items[k]) - 1
                sessions[fill[i]] = Int32(s)
                fill[i] += 1
            }
        }
        self.offsets = offsets
        self.items = items
        self.counts = counts
        itemOffsets = perItem
        self.sessions = sessions
        self.support = support
    }

    func items(of s: Int) -> Range<Int> { offsets[s]..<offsets[s + 1] }
    func sessions(of item: Int) -> Range<Int> { itemOffsets[item - 1]..<itemOffsets[item] }
}

/// The rank of `target` among `n` items whose scores are 0 except the `scored` ones (distinct
/// items, positive scores): the items scored higher, plus equal-scored items with a lower id
/// (`rankOfTargets`' order, without a dense score row).
func sparseRank(target: Int, items n: Int, scored: [(item: Int, score: Double)]) -> Int {
    var st = 0.0
    for (i, s) in scored where i == target { st = s }
    var above = 0
    var zerosBelow = target - 1
    for (i, s) in scored {
        if s > st || (s == st && i < target) { above += 1 }
        if i < target { zerosBelow -= 1 }
    }
    // Unscored items (score 0) rank above a target scored 0 when their id is lower.
    if st == 0 { above += zerosBelow }
    return min(above, n - 1)
}

/// Item-kNN, the item-to-item baseline of session-based recommendation (Hidasi et al., ICLR
/// 2016; session-rec's `ItemKNN`): the next item is scored by its similarity to the state's last
/// item, s(i, j) = Σ_sessions n(i)·n(j) / ((supp_i + λ)^α (supp_j + λ)^(1 − α)) over training
/// sessions (event counts n, supports in events), keeping each item's `neighbours` most similar
/// items (ties: lower id); every other item scores 0. An empty state scores every item 0.
public struct ItemKNNRanker: CatalogRanker, Sendable {
    /// Items in the catalog.
    public let items: Int
    /// Per item (index i − 1): its most similar items and their similarities, best first.
    let similar: [[(item: Int, score: Double)]]

    /// Fits on `training` (session-rec's defaults: 100 neighbours, λ = 20, α = 0.5: cosine).
    public init(training: SessionData, neighbours: Int = 100, lambda: Double = 20, alpha: Double = 0.5)
        throws(RecRLError)
    {
        guard neighbours >= 1 else {
            throw .invalidParameter("item-kNN: neighbours must be at least 1 (got \(neighbours))")
        }
        guard lambda >= 0, lambda.isFinite else {
            throw .invalidParameter("item-kNN: lambda must be ≥ 0 (got \(lambda))")
        }
        guard alpha >= 0, alpha <= 1 else {
            throw .invalidParameter("item-kNN: alpha must be in [0, 1] (got \(alpha))")
        }
        let sets = SessionSets(training)
        let N = training.itemCount
        items = N
        var out = [[(item: Int, score: Double)]]()
        out.reserveCapacity(N)
        var co = [Double](repeating: 0, count: N + 1)
        var touched = [Int]()
        for i in stride(from: 1, through: N, by: 1) {
            for u in sets.sessions(of: i) {
                let s = Int(sets.sessions[u])
                var ci = 0
                for k in sets.items(of: s) where Int(sets.items[k]) == i { ci = Int(sets.counts[k]) }
                for k in sets.items(of: s) {
                    let j = Int(sets.items[k])
                    if co[j] == 0 { touched.append(j) }
                    co[j] += Double(ci * Int(sets.counts[k]))
                }
            }
            var list = [(item: Int, score: Double)]()
            let ni = pow(Double(sets.support[i - 1]) + lambda, alpha)
            for j in touched where j != i {
                var norm = ni * pow(Double(sets.support[j - 1]) + lambda, 1 - alpha)
                if norm == 0 { norm = 1 }
                let s = co[j] / norm
                if s > 0 { list.append((j, s)) }
            }
            for j in touched { co[j] = 0 }
            touched.removeAll(keepingCapacity: true)
            list.sort { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
            out.append(Array(list.prefix(neighbours)))
        }
        similar = out
    }

    /// The scored items for a state (its last item's neighbours).
    func scores(_ state: [Int]) -> [(item: Int, score: Double)] {
        guard let last = state.last(where: { $0 > 0 }), last <= items else { return [] }
        return similar[last - 1]
    }

    public func ranks(states: [[Int]], targets: [Int]) -> [Int] {
        zip(states, targets).map { sparseRank(target: $1, items: items, scored: scores($0)) }
    }
}

/// Session-based kNN (Jannach & Ludewig, RecSys 2017; Ludewig & Jannach, UMUAI 2018): the
/// state's session is compared with every training session that shares an item with it; the
/// `neighbours` most similar (ties: lower session index) vote for their items.
///
/// - `.sknn`: binary session vectors, cosine similarity |s ∩ n| / √(|s| |n|); an item scores
///   the sum of the similarities of the neighbours that hold it.
/// - `.vsknn` (session-rec's `VMContextKNN` with its defaults: `weighting='div'`,
///   `weighting_score='div'`, `remind=True`): the state's k-th of L events weighs k / L (a
///   repeated item keeps its last weight); similarity Σ_{i ∈ s ∩ n} w_i / |distinct items of s|;
///   a neighbour's vote is its similarity divided by the position, from the end, of the most
///   recent state item it holds (1 for the last).
///
/// Unlike session-rec, candidates are not sampled down to the most recent sessions (RecKit's
/// sessions carry no times): every session sharing an item is a candidate. The session is the
/// state (its last `length` events).
public struct SessionKNNRanker: CatalogRanker, Sendable {
    /// How sessions are compared and vote.
    public enum Variant: String, Sendable, CaseIterable {
        /// Binary session vectors, cosine similarity, votes of the similarity.
        case sknn
        /// Position-weighted state, dot-product similarity, votes decayed by recency.
        case vsknn
    }

    /// Items in the catalog.
    public let items: Int
    /// How sessions are compared and vote.
    public let variant: Variant
    /// Training sessions that vote per state.
    public let neighbours: Int
    let sets: SessionSets

    /// Indexes `training` (`neighbours`: 100 in session-rec's configurations).
    public init(training: SessionData, variant: Variant, neighbours: Int = 100) throws(RecRLError) {
        guard neighbours >= 1 else {
            throw .invalidParameter("\(variant.rawValue): neighbours must be at least 1 (got \(neighbours))")
        }
        items = training.itemCount
        self.variant = variant
        self.neighbours = neighbours
        sets = SessionSets(training)
    }

    /// The scored items of a state, in order of first vote (`overlap` and `votes`: zeroed scratch
    /// rows of sessions and items, zeroed again on return).
    func scores(_ state: [Int], overlap: inout [Double], votes: inout [Double]) -> [(item: Int, score: Double)] {
        let seq = state.filter { $0 > 0 && $0 <= items }
        guard !seq.isEmpty else { return [] }
        // Each distinct item's weight: 1 (SKNN) or its last position / L (V-SKNN).
        var weight = [Int: Double]()
        for (k, i) in seq.enumerated() { weight[i] = variant == .sknn ? 1 : Double(k + 1) / Double(seq.count) }
        let distinct = weight.keys.sorted()
        // Overlaps with every candidate session.
        var candidates = [Int]()
        for i in distinct {
            for u in sets.sessions(of: i) {
                let s = Int(sets.sessions[u])
                if overlap[s] == 0 { candidates.append(s) }
                overlap[s] += weight[i]!
            }
        }
        var sims = [(session: Int, sim: Double)]()
        sims.reserveCapacity(candidates.count)
        for s in candidates {
            let sim: Double
            switch variant {
            case .sknn:
                sim = overlap[s] / (Double(distinct.count).squareRoot() * Double(sets.items(of: s).count).squareRoot())
            case .vsknn:
                sim = overlap[s] / Double(distinct.count)
            }
            overlap[s] = 0
            if sim > 0 { sims.append((s, sim)) }
        }
        sims.sort { $0.sim > $1.sim || ($0.sim == $1.sim && $0.session < $1.session) }
        var touched = [Int]()
        for (s, sim) in sims.prefix(neighbours) {
            let held = sets.items(of: s)
            var vote = sim
            if variant == .vsknn {
                // The most recent state item the neighbour holds: 1 for the last event (its items
                // are ascending: a binary search each).
                var step = 1
                for i in seq.reversed() {
                    var lo = held.lowerBound
                    var hi = held.upperBound
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if Int(sets.items[mid]) < i { lo = mid + 1 } else { hi = mid }
                    }
                    if lo < held.upperBound && Int(sets.items[lo]) == i { break }
                    step += 1
                }
                vote = sim * (1 / Double(step))
            }
            for k in held {
                let j = Int(sets.items[k])
                if votes[j] == 0 { touched.append(j) }
                votes[j] += vote
            }
        }
        let out = touched.map { (item: $0, score: votes[$0]) }
        for j in touched { votes[j] = 0 }
        return out
    }

    public func ranks(states: [[Int]], targets: [Int]) -> [Int] {
        var overlap = [Double](repeating: 0, count: sets.offsets.count)
        var votes = [Double](repeating: 0, count: items + 1)
        return zip(states, targets).map { state, target in
            sparseRank(target: target, items: items, scored: scores(state, overlap: &overlap, votes: &votes))
        }
    }
}

/// The baselines by name, fitted on training sessions: what `reckit evaluate --model`, `reckit
/// compare` and Python's `reckit.evaluate` take.
public enum BaselineRanker {
    /// The names: popularity, itemknn, sknn, vsknn.
    public static let names = ["popularity", "itemknn"] + SessionKNNRanker.Variant.allCases.map(\.rawValue)

    /// The baseline `name` fitted on `training` (`neighbours`: items for itemknn, sessions for
    /// sknn and vsknn); nil for a name that is not a baseline.
    public static func named(_ name: String, training: SessionData, neighbours: Int = 100) throws(RecRLError)
        -> CatalogRanker?
    {
        switch name {
        case "popularity": return PopularityRanker(trainingCounts: training.itemCounts())
        case "itemknn": return try ItemKNNRanker(training: training, neighbours: neighbours)
        default:
            guard let v = SessionKNNRanker.Variant(rawValue: name) else { return nil }
            return try SessionKNNRanker(training: training, variant: v, neighbours: neighbours)
        }
    }
}
