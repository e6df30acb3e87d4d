import Foundation
import RecCore
import RecOPE
import Testing

/// MIPS's marginal weights with a known embedding distribution
/// (`ActionDistributionOPE.marginalEmbeddingWeights`, behind `reckit.obp`'s MIPS classes) against
/// the formula in plain loops on stochastic embeddings over two positions; a logged embedding the
/// logging policy cannot produce and out-of-range categories are refused by name. (Against OBP's
/// classes on OBP's data: python/tests/test_obp_tuning_mips.py.)
@Suite struct MarginalEmbeddingWeightsTests {
    struct Case {
        let n = 300, actions = 7, positions = 2, dims = 3, cats = 4
        var position: [Int64] = []
        var embedding: [Int64] = []
        var logging: [Double] = []
        var target: [Double] = []
        var pEA: [Double] = []

        init(seed: UInt64) {
            var g = Xoshiro256(seed: seed)
            func simplex(_ k: Int) -> [Double] {
                let v = (0..<k).map { _ in 0.05 + Double(g.next() % 1000) / 1000 }
                let s = v.reduce(0, +)
                return v.map { $0 / s }
            }
            position = (0..<n).map { _ in Int64(g.next() % UInt64(positions)) }
            embedding = (0..<(n * dims)).map { _ in Int64(g.next() % UInt64(cats)) }
            for policy in 0..<2 {
                var cells = [Double](repeating: 0, count: n * actions * positions)
                for t in 0..<n {
                    for p in 0..<positions {
                        for (a, v) in simplex(actions).enumerated() { cells[(t * actions + a) * positions + p] = v }
                    }
                }
                if policy == 0 { logging = cells } else { target = cells }
            }
            pEA = [Double](repeating: 0, count: actions * cats * dims)
            for a in 0..<actions {
                for d in 0..<dims {
                    for (c, v) in simplex(cats).enumerated() { pEA[(a * cats + c) * dims + d] = v }
                }
            }
        }

        func weights() throws(RecOPEError) -> [Double] {
            var out = [Double](repeating: 0, count: n)
            let result: Result<Void, RecOPEError> = position.withUnsafeBufferPointer { p in
                embedding.withUnsafeBufferPointer { e in
                    logging.withUnsafeBufferPointer { l in
                        target.withUnsafeBufferPointer { t in
                            pEA.withUnsafeBufferPointer { q in
                                out.withUnsafeMutableBufferPointer { o in
                                    Result { () throws(RecOPEError) in
                                        let r = try ActionDistributionOPE.EmbeddingRounds(
                                            n: n, actions: actions, positions: positions, dimensions: dims,
                                            categories: cats, position: p, embedding: e, logging: l, target: t,
                                            embeddingDistribution: q)
                                        try ActionDistributionOPE.marginalEmbeddingWeights(r, into: o)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            try result.get()
            return out
        }
    }

    @Test func weightsFollowTheFormula() throws {
        let c = Case(seed: 3)
        let got = try c.weights()
        for t in 0..<c.n {
            let p = Int(c.position[t])
            var num = 1.0
            var den = 1.0
            for d in 0..<c.dims {
                let e = Int(c.embedding[t * c.dims + d])
                var pe = 0.0
                var pb = 0.0
                for a in 0..<c.actions {
                    let q = c.pEA[(a * c.cats + e) * c.dims + d]
                    pe += c.target[(t * c.actions + a) * c.positions + p] * q
                    pb += c.logging[(t * c.actions + a) * c.positions + p] * q
                }
                num *= pe
                den *= pb
            }
            #expect(abs(got[t] - num / den) <= 1e-13 * num / den)
        }
        // Not all ones: the policies differ.
        #expect(got.contains { abs($0 - 1) > 0.05 })
    }

    @Test func impossibleEmbeddingsAndBadCategoriesAreRefused() {
        var c = Case(seed: 4)
        c.logging = c.logging.map { _ in 0 }
        #expect(
            throws: RecOPEError.invalidParameter(
                "round 0: the logging policy (pi_b) gives its logged embedding probability 0 (the weight is infinite)")
        ) { _ = try c.weights() }
        var d = Case(seed: 4)
        d.embedding[5] = 4
        #expect(throws: RecOPEError.invalidParameter("action_embed[1, 2] = 4 is not in 0..<4 (p_e_a's categories)")) {
            _ = try d.weights()
        }
        var e = Case(seed: 4)
        e.pEA[1] = .nan
        #expect(throws: RecOPEError.self) { _ = try e.weights() }
    }
}
