import Foundation
import RecCore
import RecRL
import Testing

/// The kNN baselines against brute-force references written from their formulas: item-kNN's
/// similarities from every pair of events of every session, SKNN and V-SKNN's neighbours from
/// every training session (not only those sharing an item), ranks from dense score rows. The
/// same arithmetic in the same order, so the ranks are equal exactly.
@Suite struct NeighbourhoodRankerTests {
    static func data(_ g: inout Xoshiro256, items: Int, sessions: Int) throws -> SessionData {
        var s = [String]()
        var t = [Double]()
        var it = [String]()
        var ev = [String]()
        for k in 0..<sessions {
            let n = 1 + Int(g.next() % 14)
            for e in 0..<n {
                s.append("s\(k)")
                t.append(Double(e))
                // Skewed items, repeats within a session.
                it.append("\(1 + Int(Double(items) * pow(Sampling.uniform(&g), 2)) % items)")
                ev.append(g.next() % 4 == 0 ? "purchase" : "click")
            }
        }
        let log = try EventLog(sessions: s, times: t, items: it, events: ev)
        return try SessionData(log, preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 1))
    }

    /// Per session, its items as events (in order).
    static func sessions(_ d: SessionData) -> [[Int]] {
        (0..<d.sessionCount).map { s in d.items[d.range(s)].map { Int($0) } }
    }

    static func denseRank(_ score: [Double], target t: Int) -> Int {
        let st = score[t]
        var above = 0
        for j in 1..<score.count where score[j] > st || (score[j] == st && j < t) { above += 1 }
        return above
    }

    static func queries(_ g: inout Xoshiro256, items: Int, count: Int) -> ([[Int]], [Int]) {
        var states = [[Int]]()
        var targets = [Int]()
        for _ in 0..<count {
            let n = Int(g.next() % 8)
            let seq = (0..<n).map { _ in 1 + Int(g.next() % UInt64(items)) }
            states.append([Int](repeating: 0, count: 8 - n) + seq)
            targets.append(1 + Int(g.next() % UInt64(items)))
        }
        return (states, targets)
    }

    @Test func itemKNNEqualsItsFormula() throws {
        var g = Xoshiro256(seed: 33)
        for trial in 0..<8 {
            let data = try Self.data(&g, items: 12 + trial * 5, sessions: 20 + trial * 10)
            let N = data.itemCount
            let neighbours = [1, 3, 100][trial % 3]
            let (lambda, alpha) = [(20.0, 0.5), (0.0, 1.0), (5.0, 0.25)][trial % 3]
            let ranker = try ItemKNNRanker(training: data, neighbours: neighbours, lambda: lambda, alpha: alpha)
            // Co-occurrences from every pair of events in a session; supports in events.
            var co = [[Double]](repeating: [Double](repeating: 0, count: N + 1), count: N + 1)
            var support = [Double](repeating: 0, count: N + 1)
            for s in Self.sessions(data) {
                for a in s {
                    support[a] += 1
                    for b in s { co[a][b] += 1 }
                }
            }
            let (states, targets) = Self.queries(&g, items: N, count: 300)
            let got = ranker.ranks(states: states, targets: targets)
            for (q, state) in states.enumerated() {
                var score = [Double](repeating: 0, count: N + 1)
                if let last = state.last(where: { $0 > 0 }) {
                    var list = [(Int, Double)]()
                    for j in 1...N where j != last {
                        var norm = pow(support[last] + lambda, alpha) * pow(support[j] + lambda, 1 - alpha)
                        if norm == 0 { norm = 1 }
                        if co[last][j] / norm > 0 { list.append((j, co[last][j] / norm)) }
                    }
                    list.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                    for (j, v) in list.prefix(neighbours) { score[j] = v }
                }
                #expect(got[q] == Self.denseRank(score, target: targets[q]), "trial \(trial), query \(q)")
            }
        }
    }

    @Test(arguments: SessionKNNRanker.Variant.allCases)
    func sessionKNNEqualsItsFormula(variant: SessionKNNRanker.Variant) throws {
        var g = Xoshiro256(seed: variant == .sknn ? 34 : 35)
        var voted = 0
        for trial in 0..<8 {
            let data = try Self.data(&g, items: 10 + trial * 4, sessions: 15 + trial * 12)
            let N = data.itemCount
            let neighbours = [1, 4, 100][trial % 3]
            let ranker = try SessionKNNRanker(training: data, variant: variant, neighbours: neighbours)
            let train = Self.sessions(data).map { Array(Set($0)).sorted() }
            let (states, targets) = Self.queries(&g, items: N, count: 200)
            let got = ranker.ranks(states: states, targets: targets)
            for (q, state) in states.enumerated() {
                let seq = state.filter { $0 > 0 }
                var score = [Double](repeating: 0, count: N + 1)
                if !seq.isEmpty {
                    var w = [Int: Double]()
                    for (k, i) in seq.enumerated() { w[i] = variant == .sknn ? 1 : Double(k + 1) / Double(seq.count) }
                    let mine = w.keys.sorted()
                    // Every training session's similarity (items in ascending order).
                    var sims = [(Int, Double)]()
                    for (s, items) in train.enumerated() {
                        var dot = 0.0
                        for i in mine where items.contains(i) { dot += w[i]! }
                        let sim =
                            variant == .sknn
                            ? dot / (Double(mine.count).squareRoot() * Double(items.count).squareRoot())
                            : dot / Double(mine.count)
                        if sim > 0 { sims.append((s, sim)) }
                    }
                    sims.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                    for (s, sim) in sims.prefix(neighbours) {
                        var vote = sim
                        if variant == .vsknn {
                            let step = 1 + (seq.reversed().firstIndex { train[s].contains($0) } ?? 0)
                            vote = sim * (1 / Double(step))
                        }
                        for j in train[s] { score[j] += vote }
                        voted += 1
                    }
                }
                #expect(got[q] == Self.denseRank(score, target: targets[q]), "\(variant) trial \(trial), query \(q)")
            }
        }
        #expect(voted > 1000)
    }

    @Test func badParametersAreUsageErrors() throws {
        var g = Xoshiro256(seed: 36)
        let data = try Self.data(&g, items: 10, sessions: 10)
        #expect(throws: RecRLError.self) { try ItemKNNRanker(training: data, neighbours: 0) }
        #expect(throws: RecRLError.self) { try ItemKNNRanker(training: data, alpha: 1.5) }
        #expect(throws: RecRLError.self) { try ItemKNNRanker(training: data, lambda: -1) }
        #expect(throws: RecRLError.self) { try SessionKNNRanker(training: data, variant: .vsknn, neighbours: 0) }
    }
}
