import Foundation
import RecCore
import RecOPE
import Testing

/// OBP's slate IPS row terms (`ActionDistributionOPE.slateRowTerms`, behind `reckit.obp`'s slate
/// classes) against the formulas in plain loops: r·w, and the self-normalised w over the mean of
/// all rows (standard) or of each position's rows; bad arguments name themselves. (Against OBP's
/// classes on OBP's data: python/tests/test_obp_slate.py.)
@Suite struct SlateRowTermsTests {
    @Test(arguments: [SlateWeighting.standard, .independent, .interaction])
    func termsFollowTheFormulas(weighting: SlateWeighting) throws {
        var g = Xoshiro256(seed: 5)
        let n = 3 * 400 + 1  // more than a 128-value leaf of numpy's pairwise sum
        let position = (0..<n).map { Int64($0 % 3) }
        let reward = (0..<n).map { _ in g.next() % 4 == 0 ? 1.0 : 0.0 }
        let logging = (0..<n).map { _ in 0.01 + 0.99 * Double(g.next() % 1000) / 1000 }
        let target = (0..<n).map { _ in Double(g.next() % 1000) / 1000 }
        for sn in [false, true] {
            var out = [Double](repeating: 0, count: n)
            try position.withUnsafeBufferPointer { p in
                try reward.withUnsafeBufferPointer { r in
                    try logging.withUnsafeBufferPointer { l in
                        try target.withUnsafeBufferPointer { t in
                            try out.withUnsafeMutableBufferPointer { o in
                                try ActionDistributionOPE.slateRowTerms(
                                    weighting, selfNormalized: sn, depth: 3, position: p, reward: r, logging: l,
                                    target: t, into: o)
                            }
                        }
                    }
                }
            }
            let w = (0..<n).map { target[$0] / logging[$0] }
            for i in 0..<n {
                var want = reward[i] * w[i]
                if sn {
                    let group = (0..<n).filter { weighting == .standard || position[$0] == position[i] }
                    want /= group.map { w[$0] }.reduce(0, +) / Double(group.count)
                }
                #expect(abs(out[i] - want) <= 1e-12 * max(1, abs(want)), "row \(i)")
            }
        }
        var out = [0.0]
        #expect(throws: RecOPEError.invalidParameter("pscore[0] = 0.0 must be in (0, 1]")) {
            try [Int64(0)].withUnsafeBufferPointer { p in
                try [1.0].withUnsafeBufferPointer { r in
                    try [0.0].withUnsafeBufferPointer { l in
                        try [0.5].withUnsafeBufferPointer { t in
                            try out.withUnsafeMutableBufferPointer { o in
                                try ActionDistributionOPE.slateRowTerms(
                                    weighting, selfNormalized: false, depth: 3, position: p, reward: r, logging: l,
                                    target: t, into: o)
                            }
                        }
                    }
                }
            }
        }
    }
}
