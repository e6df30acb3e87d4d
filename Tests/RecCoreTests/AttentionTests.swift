import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct AttentionTests {
    /// Naive attention in Double: Σ O ⊙ R.
    func naiveLoss(
        q: [Double], k: [Double], v: [Double], s: Attention.Shape, causal: Bool, pad: [Bool]?, mask: [Float]?,
        R: [Double]
    ) -> Double {
        let L = s.length
        let D = s.width
        let dh = s.headDim
        var loss = 0.0
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                for i in 0..<L {
                    var scores = [Double](repeating: -.infinity, count: L)
                    for j in 0..<L where !((causal && j > i) || (pad?[b * L + j] ?? false)) {
                        var d = 0.0
                        for t in 0..<dh { d += q[(b * L + i) * D + h * dh + t] * k[(b * L + j) * D + h * dh + t] }
                        scores[j] = d / Double(dh).squareRoot()
                    }
                    guard let m = scores.max(), m > -.infinity else { continue }
                    let e = scores.map { $0 == -.infinity ? 0 : exp($0 - m) }
                    let z = e.reduce(0, +)
                    for t in 0..<dh {
                        var o = 0.0
                        for j in 0..<L {
                            let p = e[j] / z * Double(mask?[((b * s.heads + h) * L + i) * L + j] ?? 1)
                            o += p * v[(b * L + j) * D + h * dh + t]
                        }
                        loss += o * R[(b * L + i) * D + h * dh + t]
                    }
                }
            }
        }
        return loss
    }

    static let cases: [(Int, Int, Int, Int, Bool, Bool, Bool)] = [
        // batch, length, heads, headDim, causal, padding, dropout
        (1, 1, 1, 3, true, false, false), (2, 4, 1, 3, true, false, false), (2, 5, 2, 3, true, true, false),
        (1, 4, 2, 2, false, true, false), (2, 4, 2, 3, true, true, true), (3, 17, 1, 4, true, true, false),
        // Head widths with full 16-lane chunks and a tail (the short-sequence SIMD path), and a
        // length above 32 (the sgemm path).
        (2, 6, 2, 20, true, true, true), (1, 5, 1, 16, false, false, false), (1, 33, 1, 3, true, true, false),
        (1, 4, 1, 15, true, false, false), (1, 4, 1, 17, true, true, false), (1, 3, 1, 1, false, false, false),
    ]

    @Test(arguments: cases)
    func gradientsMatchFiniteDifferences(c: (Int, Int, Int, Int, Bool, Bool, Bool)) {
        let (B, L, H, dh, causal, padded, dropout) = c
        let s = Attention.Shape(batch: B, length: L, heads: H, headDim: dh)
        let n = s.rows * s.width
        let q = Matrix(rows: s.rows, cols: s.width, elements: randomFloats(n, seed: 1))
        let k = Matrix(rows: s.rows, cols: s.width, elements: randomFloats(n, seed: 2))
        let v = Matrix(rows: s.rows, cols: s.width, elements: randomFloats(n, seed: 3))
        // Left padding: the first two positions of the last sequence are padding, so with a
        // causal mask its first queries see no key at all.
        var pad: [Bool]? = nil
        if padded { pad = (0..<s.rows).map { $0 >= (B - 1) * L && $0 < (B - 1) * L + min(2, L - 1) } }
        let R = randomDoubles(n, seed: 4)
        let (out, cache) = Attention.forward(
            q: q, k: k, v: v, shape: s, causal: causal, keyPadding: pad,
            dropout: dropout ? .init(rate: 0.3, seed: 7) : nil, parallelism: .threads(2))
        let qd = q.storage.map(Double.init)
        let kd = k.storage.map(Double.init)
        let vd = v.storage.map(Double.init)
        let mask = cache.dropoutScale
        // Forward agrees with the naive one.
        let loss = zip(out.storage, R).reduce(0.0) { $0 + Double($1.0) * $1.1 }
        let ref = naiveLoss(q: qd, k: kd, v: vd, s: s, causal: causal, pad: pad, mask: mask, R: R)
        #expect(abs(loss - ref) < 1e-4 * max(1, abs(ref)))
        let (dq, dk, dv) = Attention.backward(
            dOutput: Matrix(rows: s.rows, cols: s.width, elements: R.map(Float.init)),
            q: q, k: k, v: v, cache: cache, shape: s, parallelism: .threads(2))
        #expect(
            gradientsAgree(
                dq.storage,
                centralDifference(qd) {
                    naiveLoss(q: $0, k: kd, v: vd, s: s, causal: causal, pad: pad, mask: mask, R: R)
                }))
        #expect(
            gradientsAgree(
                dk.storage,
                centralDifference(kd) {
                    naiveLoss(q: qd, k: $0, v: vd, s: s, causal: causal, pad: pad, mask: mask, R: R)
                }))
        #expect(
            gradientsAgree(
                dv.storage,
                centralDifference(vd) {
                    naiveLoss(q: qd, k: kd, v: $0, s: s, causal: causal, pad: pad, mask: mask, R: R)
                }))
        if padded && causal && L > 1 {
            // The fully masked query rows output 0.
            for t in 0..<s.width { #expect(out[(B - 1) * L, t] == 0) }
        }
    }

    @Test func causalMaskingHidesTheFuture() {
        let s = Attention.Shape(batch: 1, length: 6, heads: 2, headDim: 2)
        let q = Matrix.random(6, 4, seed: 1)
        let k = Matrix.random(6, 4, seed: 2)
        var v = Matrix.random(6, 4, seed: 3)
        let a = Attention.forward(q: q, k: k, v: v, shape: s, causal: true, keyPadding: nil).output
        v.setRow(5, [9, 9, 9, 9])
        var k2 = k
        k2.setRow(5, [3, -3, 3, -3])
        let b = Attention.forward(q: q, k: k2, v: v, shape: s, causal: true, keyPadding: nil).output
        for i in 0..<5 { #expect(Array(a.row(i)) == Array(b.row(i))) }
        #expect(Array(a.row(5)) != Array(b.row(5)))
    }

    static let lastQueryCases: [(Int, Int, Int, Bool)] = [
        // heads, headDim, length, dropout
        (1, 3, 5, false), (2, 3, 6, true), (1, 20, 7, true), (1, 16, 1, false), (2, 17, 4, false),
    ]

    /// The one-query attention of an encoder's last block: its output equals the full causal
    /// attention's rows at the query positions, and its gradients match finite differences.
    @Test(arguments: lastQueryCases)
    func lastQueryMatchesTheFullRowsAndFiniteDifferences(c: (Int, Int, Int, Bool)) {
        let (H, dh, L, dropout) = c
        let B = 4
        let s = Attention.Shape(batch: B, length: L, heads: H, headDim: dh)
        let n = s.rows * s.width
        let qFull = Matrix(rows: s.rows, cols: s.width, elements: randomFloats(n, seed: 11))
        let k = Matrix(rows: s.rows, cols: s.width, elements: randomFloats(n, seed: 12))
        let v = Matrix(rows: s.rows, cols: s.width, elements: randomFloats(n, seed: 13))
        // Sequence 0 ends at the last position, 1 in the middle, 2 is left-padded, 3 is all padding.
        let positions = [L - 1, (L - 1) / 2, L - 1, L - 1]
        let pad = (0..<s.rows).map { r in
            (r / L == 1 && r % L > (L - 1) / 2) || (r / L == 2 && r % L < min(2, L - 1)) || r / L == 3
        }
        var q = Matrix(rows: B, cols: s.width)
        for b in 0..<B { q.setRow(b, qFull.row(b * L + positions[b])) }
        let full = Attention.forward(q: qFull, k: k, v: v, shape: s, causal: true, keyPadding: pad).output
        let plain = Attention.forwardLastQuery(
            q: q, k: k, v: v, positions: positions, shape: s, keyPadding: pad, parallelism: .threads(2)
        ).output
        for b in 0..<B { for t in 0..<s.width { #expect(abs(plain[b, t] - full[b * L + positions[b], t]) <= 1e-6) } }
        for t in 0..<s.width { #expect(plain[3, t] == 0) }  // every key masked: output 0
        let (out, cache) = Attention.forwardLastQuery(
            q: q, k: k, v: v, positions: positions, shape: s, keyPadding: pad,
            dropout: dropout ? .init(rate: 0.3, seed: 5) : nil, parallelism: .threads(2))
        let R = randomDoubles(B * s.width, seed: 14)
        let qd = q.storage.map(Double.init)
        let kd = k.storage.map(Double.init)
        let vd = v.storage.map(Double.init)
        // Reference: the naive full attention with the queries at their positions, the weights R
        // on those rows only (zero elsewhere) and the mask's rows there.
        var Rfull = [Double](repeating: 0, count: n)
        var fullMask: [Float]? = cache.dropoutScale.map { _ in [Float](repeating: 1, count: B * H * L * L) }
        for b in 0..<B {
            for t in 0..<s.width { Rfull[(b * L + positions[b]) * s.width + t] = R[b * s.width + t] }
            if let m = cache.dropoutScale {
                for h in 0..<H {
                    for j in 0..<L { fullMask![((b * H + h) * L + positions[b]) * L + j] = m[(b * H + h) * L + j] }
                }
            }
        }
        func f(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
            var qFull = [Double](repeating: 0, count: n)
            for b in 0..<B { for t in 0..<s.width { qFull[(b * L + positions[b]) * s.width + t] = q[b * s.width + t] } }
            return naiveLoss(q: qFull, k: k, v: v, s: s, causal: true, pad: pad, mask: fullMask, R: Rfull)
        }
        let loss = zip(out.storage, R).reduce(0.0) { $0 + Double($1.0) * $1.1 }
        #expect(abs(loss - f(qd, kd, vd)) < 1e-4 * max(1, abs(loss)))
        let (dq, dk, dv) = Attention.backwardLastQuery(
            dOutput: Matrix(rows: B, cols: s.width, elements: R.map(Float.init)), q: q, k: k, v: v,
            positions: positions, cache: cache, shape: s, parallelism: .threads(2))
        #expect(gradientsAgree(dq.storage, centralDifference(qd) { f($0, kd, vd) }))
        #expect(gradientsAgree(dk.storage, centralDifference(kd) { f(qd, $0, vd) }))
        #expect(gradientsAgree(dv.storage, centralDifference(vd) { f(qd, kd, $0) }))
    }
}
