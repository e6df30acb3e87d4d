import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension SessionSimulator {
    /// How close a model's next-item distribution (the softmax of its supervised head's scores)
    /// is to the simulated world's (`nextItemProbabilities`, clicks and purchases of an item
    /// added), averaged over histories.
    public struct Recovery: Sendable, Codable, Equatable {
        /// Histories measured.
        public var histories: Int
        /// The cut-off k.
        public var k: Int
        /// Mean share of the true k most likely items among the model's k highest scored.
        public var topOverlap: Double
        /// Mean true probability of the model's top k over that of the true top k (1: the model
        /// ranks k items that carry as much mass as the best k).
        public var massCaptured: Double
        /// Mean KL(p̃ ‖ q) in nats: p̃ the true distribution over the items the model knows
        /// (renormalised), q the model's softmax.
        public var kl: Double
        /// Mean true probability of items the model does not know (never in its training data).
        public var unseenMass: Double
    }

    /// Measures `model` against the world's next-item distribution after each history.
    /// - Parameters:
    ///   - model: a model trained on logs of this simulator (its item keys are the simulator's
    ///     item numbers as text).
    ///   - histories: event histories (simulator item numbers, purchase or not), non-empty.
    ///   - k: the cut-off of the top-k comparisons.
    ///   - batch: histories scored together (memory: batch × the model's items floats).
    /// - Throws: `.invalidParameter` for an empty history list, a history item outside
    ///   1...items, k outside 1...items, or a model whose item keys are not items of this
    ///   simulator.
    public func recovery(
        of model: SequentialRecommender, histories: [[(item: Int, purchase: Bool)]], k: Int = 10,
        batch: Int = 64
    ) throws(RecRLError) -> Recovery {
        let M = config.items
        guard !histories.isEmpty else { throw .invalidParameter("recovery: no histories") }
        for h in histories { try checkItems(h) }
        guard k >= 1 && k <= min(M, model.itemKeys.count) else {
            throw .invalidParameter("recovery: k must be in 1...\(min(M, model.itemKeys.count)), got \(k)")
        }
        let simItem = try simulatorItems(of: model, for: "recovery")
        let ids = model.itemIDs()
        let N = simItem.count
        var sums = (overlap: 0.0, mass: 0.0, kl: 0.0, unseen: 0.0)
        for start in stride(from: 0, to: histories.count, by: batch) {
            let part = histories[start..<min(histories.count, start + batch)]
            let states = part.map { h in model.state(rawHistory: h.map { String($0.item) }, ids: ids).state }
            let scores = try model.scores(states)
            for (r, h) in part.enumerated() {
                let (click, buy) = nextItemProbabilities(history: h)
                var truth = [Double](repeating: 0, count: M)
                for i in 0..<M { truth[i] = click[i] + buy[i] }
                let row = (0..<N).map { scores[r, $0] }
                // Softmax of the model's scores (in Double).
                let mx = Double(row.max()!)
                var z = 0.0
                for x in row { z += exp(Double(x) - mx) }
                let logZ = mx + log(z)
                var known = 0.0
                for j in 0..<N { known += truth[simItem[j] - 1] }
                var kl = 0.0
                if known > 0 {
                    for j in 0..<N {
                        let p = truth[simItem[j] - 1] / known
                        if p > 0 { kl += p * (log(p) - (Double(row[j]) - logZ)) }
                    }
                }
                let modelTop = Self.topIndices(row.map(Double.init), k).map { simItem[$0] - 1 }
                let trueTop = Self.topIndices(truth, k)
                let best = trueTop.reduce(0.0) { $0 + truth[$1] }
                let got = modelTop.reduce(0.0) { $0 + truth[$1] }
                sums.overlap += Double(Set(modelTop).intersection(trueTop).count) / Double(k)
                sums.mass += best > 0 ? got / best : 0
                sums.kl += kl
                sums.unseen += 1 - known
            }
        }
        let n = Double(histories.count)
        return Recovery(
            histories: histories.count, k: k, topOverlap: sums.overlap / n, massCaptured: sums.mass / n,
            kl: sums.kl / n, unseenMass: max(0, sums.unseen / n))
    }

    /// The simulator item (1...M) of each of `model`'s items (index id − 1).
    /// - Throws: `.invalidParameter` naming `what` and an item key that is not an item here.
    func simulatorItems(of model: SequentialRecommender, for what: String) throws(RecRLError) -> [Int] {
        let M = config.items
        var simItem = [Int](repeating: 0, count: model.itemKeys.count)
        for (i, key) in model.itemKeys.enumerated() {
            guard let v = Int(key), v >= 1 && v <= M else {
                throw .invalidParameter(
                    "\(what): the model's item '\(clipped(key))' is not an item of this simulator (1...\(M))")
            }
            simItem[i] = v
        }
        return simItem
    }

    /// Indices of the k largest values (ties to the lower index), largest first.
    static func topIndices(_ v: [Double], _ k: Int) -> [Int] {
        var heap = [(Double, Int)]()  // the k best so far, sorted descending
        for (i, x) in v.enumerated() {
            if heap.count == k, let last = heap.last, !(x > last.0) { continue }
            var lo = 0
            var hi = heap.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if heap[mid].0 >= x { lo = mid + 1 } else { hi = mid }
            }
            heap.insert((x, i), at: lo)
            if heap.count > k { heap.removeLast() }
        }
        return heap.map(\.1)
    }

    /// Histories for `recovery`: for each of `sessions` (indices into `data`), every prefix of
    /// one event or more that leaves a next event to predict, at most `limit` in all (sessions
    /// in order).
    public static func histories(
        _ data: SessionData, sessions: [Int], limit: Int
    ) -> [[(item: Int, purchase: Bool)]] {
        var out = [[(item: Int, purchase: Bool)]]()
        let purchase = data.eventTypes.firstIndex(of: "purchase").map(UInt8.init)
        outer: for s in sessions {
            let lo = data.offsets[s]
            let hi = data.offsets[s + 1]
            var h = [(item: Int, purchase: Bool)]()
            for e in lo..<(hi - 1) {
                guard let v = Int(data.itemKeys[Int(data.items[e]) - 1]) else { continue outer }
                h.append((v, data.events[e] == purchase))
                out.append(h)
                if out.count >= limit { break outer }
            }
        }
        return out
    }
}
