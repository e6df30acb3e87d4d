import Foundation
import RecCore
import RecNN
import RecOPE
import RecRL
import Testing

@Suite struct EvaluationTests {
    @Test func rankOfTargetsMatchesASort() {
        var g = Xoshiro256(seed: 4)
        let B = 7
        let N = 50
        var vals = (0..<(B * N)).map { _ in Float(Int(g.next() % 10)) }  // many ties
        vals[3] = .nan
        let z = Matrix(rows: B, cols: N, elements: vals)
        let targets = (0..<B).map { 1 + ($0 * 7) % N }
        let r = rankOfTargets(z, targets: targets)
        for b in 0..<B {
            let order = (0..<N).sorted { ranksAbove(z[b, $0], Int32($0), z[b, $1], Int32($1)) }
            #expect(r[b] == order.firstIndex(of: targets[b] - 1)!)
        }
    }

    @Test func popularityAndMetricsByHand() throws {
        let pop = PopularityRanker(trainingCounts: [5, 9, 5, 1])
        #expect(pop.rank == [1, 0, 2, 3])
        var m = RankingMetrics(cutoffs: [1, 3], eventTypes: ["click", "purchase"])
        m.add(rank: 0, event: 0)
        m.add(rank: 2, event: 0)
        m.add(rank: 5, event: 1)
        #expect(m.hitRate("click", at: 1) == 0.5 && m.hitRate("click", at: 3) == 1)
        #expect(abs(m.ndcg("click", at: 3)! - (1 + 1 / log2(4.0)) / 2) < 1e-12)
        #expect(m.hitRate("purchase", at: 3) == 0)
    }

    /// The data-pipeline check of the README on real data: the popularity ranking on
    /// MovieLens-100K under the documented protocol.
    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: movieLensPath),
            "run scripts/fetch-movielens to fetch MovieLens-100K"))
    func movieLensPopularityBaseline() throws {
        let path = movieLensPath
        let log = try EventLog.loadMovieLens(path, ratings: .purchaseFiveClickRest)
        #expect(log.count == 100_000)
        let data = try SessionData(log, preprocessing: Preprocessing(minItemCount: 5, minSessionLength: 3))
        var purchase = [Double]()
        var click = [Double]()
        for seed: UInt64 in 1...3 {
            let split = SessionSplit.random(sessions: data.sessionCount, seed: seed)
            let m = try Evaluation.run(
                PopularityRanker(trainingCounts: data.subset(split.train).itemCounts()), data: data,
                sessions: split.test, length: 10)
            purchase.append(m.hitRate("purchase", at: 10)!)
            click.append(m.hitRate("click", at: 10)!)
        }
        let mp = purchase.reduce(0, +) / 3
        let mc = click.reduce(0, +) / 3
        #expect(mp > 0.05 && mp < 0.08, "purchase HR@10 \(purchase)")
        #expect(mc > 0.04 && mc < 0.06, "click HR@10 \(click)")
    }

    /// `reckit evaluate --json`: one object, metric name → value, as before it was a library type.
    @Test func namedMetricsJSON() throws {
        var m = RankingMetrics(cutoffs: [1], eventTypes: ["click", "purchase"])
        m.add(rank: 0, event: 0)
        m.add(rank: 3, event: 0)
        let named = NamedMetrics(m)
        #expect(named.values == ["click_hr@1": 0.5, "click_ndcg@1": 0.5])
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        let text = String(decoding: try e.encode(named), as: UTF8.self)
        #expect(text == #"{"click_hr@1":0.5,"click_ndcg@1":0.5}"#)
        #expect(try JSONDecoder().decode(NamedMetrics.self, from: Data(text.utf8)) == named)
    }
}
