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

    /// The states' gradient of a block (dSᵀ += Wᵀ P over the block's items) against the canonical
    /// arithmetic — per element and chunk of `reductionItems` items a fused multiply-add chain over
    /// the chunk's items in order from 0, added to dSᵀ chunk after chunk: bit for bit with the
    /// SIMD kernel, within rounding with sgemm.
    /// Dimensions not a multiple of 4 or 8, several strips and a tail of states, columns past
    /// the states (rounded up to a vector) untouched.
    @Test(arguments: [(1, 5), (29, 37), (50, 64), (97, 8), (128, 16), (3, 1)])
    func statesGradientMatchesCanonicalArithmetic(shape: (Int, Int)) {
        let (B, d) = shape
        let N = 103
        let items = 5..<98
        let W = randomFloats(N * d, seed: 11, scale: 1)
        let ld = CatalogLogits.leadingDimension(states: B)
        let P = randomFloats(items.count * ld, seed: 12, scale: 1)
        let start = randomFloats(d * ld, seed: 13, scale: 1)
        var dST = start
        W.withUnsafeBufferPointer { wp in
            P.withUnsafeBufferPointer { pp in
                dST.withUnsafeMutableBufferPointer { op in
                    CatalogLogits.accumulateStatesGradient(
                        weights: wp.baseAddress!, items: items, dimension: d, gradient: pp.baseAddress!, ld: ld,
                        states: B, into: op.baseAddress!)
                }
            }
        }
        var exact = 0
        var worst = 0.0
        for k in 0..<d {
            for r in 0..<B {
                var canonical = start[k * ld + r]
                for c0 in Swift.stride(from: 0, to: items.count, by: CatalogLogits.reductionItems) {
                    var acc: Float = 0
                    for jj in c0..<min(items.count, c0 + CatalogLogits.reductionItems) {
                        acc = acc.addingProduct(W[(items.lowerBound + jj) * d + k], P[jj * ld + r])
                    }
                    canonical += acc
                }
                let got = dST[k * ld + r]
                if got == canonical { exact += 1 }
                var ref = Double(start[k * ld + r])
                for (jj, j) in items.enumerated() { ref += Double(W[j * d + k]) * Double(P[jj * ld + r]) }
                worst = max(worst, abs(Double(got) - ref))
            }
        }
        if CatalogLogits.simdAvailable { #expect(exact == d * B) }
        #expect(worst < 1e-5 * Double(items.count))
        let v = CatalogLogits.simdAvailable ? CatalogLogits.vectorStates : 1
        let computed = (B + v - 1) / v * v
        for k in 0..<d {
            #expect(dST[(k * ld + computed)..<(k * ld + ld)] == start[(k * ld + computed)..<(k * ld + ld)], "row \(k)")
        }
    }
}
