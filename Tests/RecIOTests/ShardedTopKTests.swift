import Foundation
import RecCore
import RecIO
import Testing
import _RecTestSupport

/// Sharded catalog scoring: any split of the items into shards and of the states into blocks,
/// scored piece by piece and merged, gives exactly the single scorer's top-k (same items, same
/// score bits, ties to the lower global id, NaN last) — the property the Spark job relies on.
@Suite struct ShardedTopKTests {
    /// Items with integer entries (many exact ties) or, with `real`, Gaussian ones (every product
    /// rounded: the scores must not depend on the GEMM shapes), a few NaN and duplicated rows.
    static func catalog(_ n: Int, _ d: Int, seed: UInt64, real: Bool = false) -> (Matrix, [Float]) {
        var g = Xoshiro256(seed: seed)
        var v = (0..<(n * d)).map { _ in real ? Float(Sampling.normal(&g)) : Float(Int(g.next() % 5)) - 2 }
        for _ in 0..<max(1, n / 50) {
            let r = Int(g.next() % UInt64(n))
            v[r * d + Int(g.next() % UInt64(d))] = .nan
            let a = Int(g.next() % UInt64(n))
            let b = Int(g.next() % UInt64(n))
            for j in 0..<d { v[b * d + j] = v[a * d + j] }
        }
        let bias = (0..<n).map { _ in Float(Int(g.next() % 3)) }
        return (Matrix(rows: n, cols: d, elements: v), bias)
    }

    /// Cut points 0 = c0 < c1 < … < cm = n, random.
    static func cuts(_ n: Int, pieces: Int, g: inout Xoshiro256) -> [Int] {
        var c = Set([0, n])
        while c.count < min(pieces, n) + 1 { c.insert(1 + Int(g.next() % UInt64(max(n - 1, 1)))) }
        return c.sorted()
    }

    @Test(arguments: 0..<16)
    func randomShardingsMergeToTheSingleResult(trial: Int) throws {
        var g = Xoshiro256(seed: UInt64(100 + trial))
        let real = trial % 2 == 1
        let n = 1 + Int(g.next() % 3000)
        let d = 1 + Int(g.next() % (real ? 130 : 24))
        let b = 1 + Int(g.next() % 40)
        let k = 1 + Int(g.next() % 30)
        let (items, bias) = Self.catalog(n, d, seed: UInt64(trial), real: real)
        var sv = (0..<(b * d)).map { _ in real ? Float(Sampling.normal(&g)) : Float(Int(g.next() % 7)) - 3 }
        if trial % 3 == 0 { sv[0] = .nan }
        let states = Matrix(rows: b, cols: d, elements: sv)
        // Exclusions in global ids, some rows empty.
        let exclusions = ExclusionSet(
            (0..<b).map { r in r % 3 == 0 ? [] : (0..<5).map { _ in Int(g.next() % UInt64(n)) } })
        let useBias = trial % 4 < 2
        let single = try CatalogScorer(items: items, bias: useBias ? bias : nil, blockItems: 64 + trial * 37)
            .topK(states: states, k: k, excluding: exclusions)
        let itemCuts = Self.cuts(n, pieces: 1 + Int(g.next() % 6), g: &g)
        // Blocks of every size, single states included (trial 3 cuts every state apart).
        let stateCuts = trial == 3 ? Array(0...b) : Self.cuts(b, pieces: 1 + Int(g.next() % 3), g: &g)
        var parts = [(file: String, partial: TopKPartial)]()
        for s in 0..<(stateCuts.count - 1) {
            let rows = stateCuts[s]..<stateCuts[s + 1]
            let block = states.rows(rows)
            let blockEx = ExclusionSet(rows.map { Array(exclusions.items(row: $0)) })
            for c in 0..<(itemCuts.count - 1) {
                let range = itemCuts[c]..<itemCuts[c + 1]
                let scorer = CatalogScorer(
                    items: items.rows(range), bias: useBias ? Array(bias[range]) : nil,
                    blockItems: 32 + c * 13, firstItem: range.lowerBound, catalogSize: n)
                let r = try scorer.topK(states: block, k: k, excluding: blockEx)
                let piece = TopKPartial(
                    firstState: rows.lowerBound, firstItem: range.lowerBound, itemCount: range.count,
                    catalogSize: n, result: r, statesHash: TopKPartial.statesHash(block, exclusions: blockEx))
                // Through the file format, as the CLI and Spark do.
                parts.append(("s\(s)-i\(c)", try TopKPartial.decode(piece.encoded(), file: "s\(s)-i\(c)")))
            }
        }
        parts.shuffle(using: &g)
        let merged = try TopKPartial.merge(parts)
        #expect(
            merged.rows == single.rows && merged.k == single.k && merged.counts == single.counts,
            "n=\(n) d=\(d) b=\(b) k=\(k) cuts \(itemCuts) / \(stateCuts)")
        #expect(merged.indices == single.indices, "n=\(n) d=\(d) b=\(b) k=\(k) cuts \(itemCuts) / \(stateCuts)")
        #expect(merged.scores.map(\.bitPattern) == single.scores.map(\.bitPattern))
    }

    /// Canonical scores against a naive reference: every item's score as a plain `fma` loop in
    /// index order plus the bias, a full sort in `ranksAbove` order — equal bit for bit, over
    /// catalog sizes around the vector width, B = 1 (sgemv) and B > 1 (sgemm), ties included.
    @Test(arguments: [1, 2, 7])
    func canonicalScoresEqualANaiveFullSort(b: Int) throws {
        var g = Xoshiro256(seed: UInt64(b))
        for n in sizesAroundVectorWidth where n > 0 {
            for d in [1, 3, 16, 17, 64] {
                let real = (n + d) % 2 == 0
                let (items, bias) = Self.catalog(n, d, seed: UInt64(n * 100 + d), real: real)
                let states = Matrix(rows: b, cols: d, elements: (0..<(b * d)).map { _ in Float(Sampling.normal(&g)) })
                let k = 1 + (n * 7 + d) % 12
                let got = try CatalogScorer(items: items, bias: bias, blockItems: 16).topK(states: states, k: k)
                for r in 0..<b {
                    var ref = (0..<n).map { j -> (Float, Int32) in
                        var acc: Float = 0
                        for t in 0..<d { acc = fmaf(states[r, t], items[j, t], acc) }
                        return (acc + bias[j], Int32(j))
                    }
                    ref.sort { ranksAbove($0.0, $0.1, $1.0, $1.1) }
                    let top = ref.prefix(min(k, n))
                    #expect(Array(got.items(row: r)) == top.map(\.1), "n=\(n) d=\(d) b=\(b) row \(r)")
                    #expect(
                        got.scores(row: r).map(\.bitPattern) == top.map(\.0.bitPattern), "n=\(n) d=\(d) b=\(b) row \(r)"
                    )
                }
            }
        }
    }

    @Test func missingOverlappingAndDamagedPiecesAreErrors() throws {
        let items = Matrix.random(100, 4, seed: 1)  // distinct scores: a swapped pair is out of order
        let states = Matrix.random(3, 4, seed: 2)
        func piece(
            _ range: Range<Int>, firstState: Int = 0, rows: Range<Int> = 0..<3, k: Int = 5, states: Matrix = states
        ) throws -> TopKPartial {
            let r = try CatalogScorer(items: items.rows(range), firstItem: range.lowerBound, catalogSize: 100)
                .topK(states: states.rows(rows), k: k)
            return TopKPartial(
                firstState: firstState, firstItem: range.lowerBound, itemCount: range.count, catalogSize: 100,
                result: r, statesHash: TopKPartial.statesHash(states.rows(rows)))
        }
        func expectError(_ parts: [(String, TopKPartial)], _ text: String) {
            #expect {
                _ = try TopKPartial.merge(parts.map { (file: $0.0, partial: $0.1) })
            } throws: { error in
                "\(error)".contains(text)
            }
        }
        expectError([("a", try piece(0..<40)), ("b", try piece(50..<100))], "items 40..<50 are in no shard")
        expectError([("a", try piece(0..<60)), ("b", try piece(50..<100))], "overlap another shard")
        expectError(
            [("a", try piece(0..<100, rows: 0..<2)), ("b", try piece(0..<100, firstState: 3, rows: 2..<3))],
            "states 2..<3 are in no partial file")
        expectError([("a", try piece(0..<50)), ("b", try piece(50..<100, k: 2))], "merging to k=5 needs")
        // A file cut short, a foreign file, a shuffled row.
        let good = try piece(0..<100).encoded()
        #expect(throws: RecIOError.self) { _ = try TopKPartial.decode(good.dropLast(4), file: "p") }
        #expect(throws: RecIOError.self) { _ = try TopKPartial.decode(Data("RKTOPK01\n{}\n".utf8), file: "p") }
        // Bytes changed after writing: the checksum.
        var swapped = [UInt8](good)
        let dataStart = swapped.count - 3 * 5 * 8 - 3 * 4
        let scoreStart = dataStart + 3 * 4 + 3 * 5 * 4
        for j in 0..<4 { swapped.swapAt(scoreStart + j, scoreStart + 4 + j) }  // scores of ranks 1 and 2 of state 0
        #expect {
            _ = try TopKPartial.decode(Data(swapped), file: "p")
        } throws: { error in
            "\(error)".contains("checksum does not match")
        }
        // Written whole (a valid checksum) but wrong inside: out of order, an item twice.
        var bad = try piece(0..<100)
        var sc = bad.result.scores
        sc.swapAt(0, 1)
        bad.result = TopKResult(
            rows: bad.result.rows, k: bad.result.k, counts: bad.result.counts, indices: bad.result.indices, scores: sc)
        #expect {
            _ = try TopKPartial.decode(bad.encoded(), file: "p")
        } throws: { error in
            "\(error)".contains("not in top-k order")
        }
        var twice = try piece(0..<100)
        var ids = twice.result.indices
        ids[2] = ids[0]  // rank 3 repeats rank 1's item with rank 3's (lower) score: in order, but twice
        twice.result = TopKResult(rows: 3, k: 5, counts: twice.result.counts, indices: ids, scores: twice.result.scores)
        #expect {
            _ = try TopKPartial.decode(twice.encoded(), file: "p")
        } throws: { error in
            "\(error)".contains("appears twice")
        }
        // Shards of one block computed from other states, or the same states in another order.
        let reordered = Matrix(
            rows: 3, cols: 4, elements: Array(states.rows(1..<3).storage) + Array(states.rows(0..<1).storage))
        expectError(
            [("a", try piece(0..<50)), ("b", try piece(50..<100, states: reordered))], "scored other states")
    }

    @Test func shardsCheckExclusionsAgainstTheWholeCatalog() throws {
        let items = Matrix.random(10, 3, seed: 1)
        let shard = CatalogScorer(items: items.rows(5..<10), firstItem: 5, catalogSize: 10)
        let states = Matrix.random(1, 3, seed: 2)
        // Ids of other shards are ignored; ids outside the catalog are errors.
        let r = try shard.topK(states: states, k: 5, excluding: ExclusionSet([[0, 1, 7]]))
        #expect(r.counts[0] == 4 && !r.items(row: 0).contains(7) && r.items(row: 0).allSatisfy { $0 >= 5 })
        #expect(throws: RecCoreError.self) { _ = try shard.topK(states: states, k: 5, excluding: ExclusionSet([[10]])) }
    }
}
