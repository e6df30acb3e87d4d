import Foundation
import RecCore
import RecRL
import Testing

/// The paired comparison of two rankers: the sign-flip p-value against its exact value (all 2^S
/// flips enumerated) within Monte Carlo error, the bootstrap interval against the normal
/// approximation on many sessions, identical rankers, bad input; per-session evaluation against
/// `Evaluation.run`, and both invariant to the batch size and the thread count.
@Suite struct PairedComparisonTests {
    @Test func signFlipPValueMatchesTheExactOne() throws {
        var g = Xoshiro256(seed: 71)
        for trial in 0..<6 {
            let S = 12
            let counts = (0..<S).map { _ in 1 + Int(g.next() % 5) }
            // A small true difference, so that p lands inside (0, 1).
            let a = counts.map { (sum: Double($0) * (0.3 + 0.2 * Sampling.uniform(&g)), count: $0) }
            let b = counts.map {
                (sum: Double($0) * (0.3 + 0.2 * Sampling.uniform(&g) - 0.01 * Double(trial)), count: $0)
            }
            let R = 20000
            let c = try PairedComparison(metric: "x_ndcg@10", a: a, b: b, replicates: R, seed: UInt64(trial))
            let d = zip(a, b).map { $0.sum - $1.sum }
            let total = Double(counts.reduce(0, +))
            let observed = abs(d.reduce(0, +) / total)
            var extreme = 0
            for mask in 0..<(1 << S) {
                var t = 0.0
                for s in 0..<S { t += (mask >> s) & 1 == 0 ? d[s] : -d[s] }
                if abs(t / total) >= observed * (1 - 1e-12) { extreme += 1 }
            }
            let exact = Double(extreme) / Double(1 << S)
            let se = (exact * (1 - exact) / Double(R)).squareRoot()
            #expect(abs(c.pValue - exact) <= 5 * se + 2 / Double(R), "trial \(trial): \(c.pValue) vs exact \(exact)")
            #expect(abs(c.difference - (a.map(\.sum).reduce(0, +) - b.map(\.sum).reduce(0, +)) / total) < 1e-15)
        }
    }

    @Test func bootstrapIntervalIsTheNormalOneOnManySessions() throws {
        var g = Xoshiro256(seed: 72)
        let S = 3000
        let a = (0..<S).map { _ in (sum: Sampling.uniform(&g), count: 1) }
        let b = (0..<S).map { _ in (sum: 0.9 * Sampling.uniform(&g), count: 1) }
        let c = try PairedComparison(metric: "x_hr@5", a: a, b: b, replicates: 4000, seed: 3)
        let d = zip(a, b).map { $0.sum - $1.sum }
        let mean = d.reduce(0, +) / Double(S)
        let sd = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(S - 1)).squareRoot()
        let half = 1.96 * sd / Double(S).squareRoot()
        #expect(abs(c.difference - mean) < 1e-12)
        #expect(abs((c.upper - c.lower) / 2 - half) < 0.1 * half, "\(c.lower)…\(c.upper) vs ±\(half)")
        #expect(abs((c.upper + c.lower) / 2 - mean) < 0.25 * half)
        #expect(c.pValue < 0.001)
    }

    @Test func identicalRankersAndBadInput() throws {
        let a = [(sum: 0.5, count: 2), (sum: 0.0, count: 0), (sum: 1.0, count: 3)]
        let c = try PairedComparison(metric: "purchase_ndcg@10", a: a, b: a, replicates: 999)
        #expect(c.difference == 0 && c.lower == 0 && c.upper == 0 && c.pValue == 1 && c.sessions == 2)
        #expect(throws: RecRLError.self) { try PairedComparison(metric: "m", a: a, b: Array(a.prefix(2))) }
        #expect(throws: RecRLError.self) { try PairedComparison(metric: "m", a: a, b: a, replicates: 10) }
        #expect(throws: RecRLError.self) { try PairedComparison.parse(metric: "purchase_mrr@10") }
        #expect(throws: RecRLError.self) { try PairedComparison.parse(metric: "purchase_ndcg@x") }
        #expect(try PairedComparison.parse(metric: "add_to_cart_hr@20") == ("add_to_cart", "hr", 20))
    }

    @Test func perSessionMetricsAddUpAndIgnoreBatchAndThreads() throws {
        var g = Xoshiro256(seed: 73)
        var s = [String]()
        var t = [Double]()
        var it = [String]()
        var ev = [String]()
        for k in 0..<60 {
            for e in 0..<(2 + Int(g.next() % 9)) {
                s.append("s\(k)")
                t.append(Double(e))
                it.append("\(1 + Int(g.next() % 25))")
                ev.append(g.next() % 3 == 0 ? "purchase" : "click")
            }
        }
        let data = try SessionData(
            try EventLog(sessions: s, times: t, items: it, events: ev),
            preprocessing: Preprocessing(minSessionLength: 2))
        let split = SessionSplit.random(sessions: data.sessionCount, seed: 2)
        let model = SequentialRecommender(
            config: smallConfig(.ce, items: data.itemCount), itemKeys: data.itemKeys, eventTypes: data.eventTypes,
            seed: 5)
        let rankers: [CatalogRanker] = [
            ModelRanker(model: model), try SessionKNNRanker(training: data.subset(split.train), variant: .vsknn),
        ]
        let sessions = split.train + split.test
        let before = Threading.count
        defer { Threading.setCount(before) }
        for ranker in rankers {
            Threading.setCount(1)
            let whole = try Evaluation.run(ranker, data: data, sessions: sessions, length: 4, batch: 256)
            let reference = try Evaluation.perSession(ranker, data: data, sessions: sessions, length: 4, batch: 256)
            for (threads, batch) in [(1, 1), (2, 7), (3, 1000)] {
                Threading.setCount(threads)
                let m = try Evaluation.run(ranker, data: data, sessions: sessions, length: 4, batch: batch)
                #expect(m == whole, "\(threads) threads, batch \(batch)")
                let per = try Evaluation.perSession(ranker, data: data, sessions: sessions, length: 4, batch: batch)
                #expect(per == reference, "\(threads) threads, batch \(batch)")
            }
            Threading.setCount(1)
            #expect(reference.map { $0.counts }.reduce([0, 0]) { zip($0, $1).map(+) } == whole.counts)
            for e in 0..<2 {
                for c in 0..<3 {
                    #expect(reference.map { $0.hits[e][c] }.reduce(0, +) == whole.hits[e][c])
                    #expect(abs(reference.map { $0.ndcgSums[e][c] }.reduce(0, +) - whole.ndcgSums[e][c]) < 1e-9)
                }
            }
        }
    }
}
