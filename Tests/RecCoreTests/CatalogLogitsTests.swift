import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct CatalogLogitsTests {
    /// The item-major logits of a block against the canonical arithmetic (a fused multiply-add
    /// chain in dimension order from 0, then + bias): bit for bit with the SIMD kernel, within
    /// rounding with sgemm. Rows outside the block are untouched; several strips of states, a
    /// block whose item count is not a multiple of 4 or 8. With `states: B`, the columns from B
    /// rounded up to a vector are left alone.
    @Test(arguments: [(1, 5), (29, 37), (50, 64), (97, 8), (128, 16)], [false, true])
    func transposedLogitsMatchCanonicalArithmetic(shape: (Int, Int), onlyStates: Bool) {
        let (B, d) = shape
        let N = 103
        let items = 5..<98
        let W = randomFloats(N * d, seed: 1, scale: 1)
        let bias = randomFloats(N, seed: 2, scale: 1)
        let S = randomFloats(B * d, seed: 3, scale: 2)
        let ld = CatalogLogits.leadingDimension(states: B)
        #expect(ld >= B && (!CatalogLogits.simdAvailable || ld % CatalogLogits.vectorStates == 0))
        var ST = [Float](repeating: 0, count: d * ld)
        for r in 0..<B { for k in 0..<d { ST[k * ld + r] = S[r * d + k] } }
        let sentinel: Float = 12345
        var zt = [Float](repeating: sentinel, count: (items.count + 2) * ld)
        W.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
                ST.withUnsafeBufferPointer { sp in
                    zt.withUnsafeMutableBufferPointer { zp in
                        CatalogLogits.transposed(
                            weights: wp.baseAddress!, bias: bp.baseAddress!, items: items, dimension: d,
                            statesT: sp.baseAddress!, ld: ld, states: onlyStates ? B : nil, into: zp.baseAddress!)
                    }
                }
            }
        }
        var exact = 0
        var worst = 0.0
        for (jj, j) in items.enumerated() {
            for r in 0..<B {
                var acc: Float = 0
                for k in 0..<d { acc = acc.addingProduct(W[j * d + k], S[r * d + k]) }
                let canonical = acc + bias[j]
                let got = zt[jj * ld + r]
                if got == canonical { exact += 1 }
                var ref = Double(bias[j])
                for k in 0..<d { ref += Double(W[j * d + k]) * Double(S[r * d + k]) }
                worst = max(worst, abs(Double(got) - ref))
            }
        }
        if CatalogLogits.simdAvailable { #expect(exact == items.count * B) }
        #expect(worst < 1e-4 * Double(d))
        #expect(zt[(items.count * ld)...].allSatisfy { $0 == sentinel })
        if onlyStates {
            let v = CatalogLogits.simdAvailable ? CatalogLogits.vectorStates : 1
            let computed = (B + v - 1) / v * v
            for jj in items.indices.map({ $0 - items.lowerBound }) {
                #expect(zt[(jj * ld + computed)..<(jj * ld + ld)].allSatisfy { $0 == sentinel }, "row \(jj)")
            }
        }
    }
}
