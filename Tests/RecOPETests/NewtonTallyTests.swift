import Foundation
import RecCore
@_spi(Reference) import RecOPE
import Testing

/// The Newton pass's sums counted by feature combination (`NewtonTally`), and row by row through
/// raw buffers for 0/1 features, against the loop for any feature values (the path both replaced
/// for 0/1 designs): the gradient and every Hessian cell equal to the last bit, with or without a flush after every chunk, over random designs (items,
/// positions, 0–2 context columns with values outside the design, 0–2 item category columns),
/// rewards 0/1 and others, and coefficients up to saturation (p at 0 or 1).
@Suite struct NewtonTallyTests {
    static func chunk(
        _ g: inout Xoshiro256, rows: Int, items: Int, depth: Int, levels: [(column: String, values: [String])],
        otherRewards: Bool
    ) -> LogChunk {
        var c = LogChunk(source: "memory")
        for _ in 0..<rows {
            c.items.append(Int32(g.next() % UInt64(items)))
            c.positions.append(Int32(g.next() % UInt64(depth)))
            let r: Double
            switch g.next() % 10 {
            case 0 where otherRewards: r = [0.5, 2.0, -1, -0.0, 1e-9][Int(g.next() % 5)]
            case 1, 2, 3: r = 1
            default: r = 0
            }
            c.rewards.append(r)
        }
        c.rowKeys = (0..<rows).map { UInt64($0) }
        for (name, values) in levels {
            // Values in the chunk's own order, one of them unknown to the design.
            let local = values.shuffled(using: &g) + ["unseen"]
            let ids = (0..<rows).map { _ in Int32(g.next() % UInt64(local.count)) }
            c.contexts.append(.init(name: name, ids: ids, values: local))
        }
        return c
    }

    @Test func tallyEqualsRowByRow() throws {
        var g = Xoshiro256(seed: 35)
        var tallied = 0
        for trial in 0..<60 {
            let items = [1, 7, 40][trial % 3]
            let depth = [1, 3, 5][(trial / 3) % 3]
            let columns = trial % 3
            let levels = (0..<columns).map { f in
                (column: "ctx\(f)", values: (0..<(1 + Int(g.next() % 30))).map { "v\($0)" })
            }
            let categories = (0..<(trial / 9) % 3).map { _ in
                (0..<items).map { _ in Int32(g.next() % 4) }
            }
            let saturate = trial % 5 == 4
            let chunks = (0..<(1 + Int(g.next() % 4))).map { _ in
                Self.chunk(
                    &g, rows: 1 + Int(g.next() % 3000), items: items, depth: depth, levels: levels,
                    otherRewards: trial % 2 == 1)
            }
            let seed = g.next()
            let theta = { (P: Int) -> [Double] in
                var t = Xoshiro256(seed: seed)
                return (0..<P).map { _ in (Sampling.uniform(&t) * 2 - 1) * (saturate ? 60 : 3) }
            }
            let want = try #require(
                NewtonSums.sums(
                    of: chunks, items: items, depth: depth, levels: levels, itemCategories: categories, theta: theta,
                    path: .generic))
            #expect(want.gradient.contains { $0.total != 0 } && want.hessian.contains { $0.total != 0 })
            for path in [NewtonPath.rowByRow, .tally, .tallyFlushedEachChunk] {
                guard
                    let got = NewtonSums.sums(
                        of: chunks, items: items, depth: depth, levels: levels, itemCategories: categories,
                        theta: theta, path: path)
                else {
                    Issue.record("trial \(trial): \(path) refused a small design")
                    continue
                }
                tallied += 1
                #expect(got.gradient.map(\.total) == want.gradient.map(\.total), "trial \(trial), \(path)")
                #expect(got.hessian.map(\.total) == want.hessian.map(\.total), "trial \(trial), \(path)")
            }
        }
        #expect(tallied == 180)
    }
}
