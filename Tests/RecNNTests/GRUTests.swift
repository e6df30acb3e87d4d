import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

@Suite struct GRUTests {
    /// Naive GRU in Double; returns Σ final ⊙ R + Σ outputs ⊙ Q.
    func naive(
        _ p: [String: [Double]], x: [Double], B: Int, L: Int, I: Int, H: Int, pad: [Bool], R: [Double], Q: [Double]
    ) -> Double {
        let wih = p["g.weight_ih_l0"]!
        let whh = p["g.weight_hh_l0"]!
        let bih = p["g.bias_ih_l0"]!
        let bhh = p["g.bias_hh_l0"]!
        var h = [[Double]](repeating: [Double](repeating: 0, count: H), count: B)
        var loss = 0.0
        for t in 0..<L {
            for b in 0..<B {
                let row = b * L + t
                if pad[row] {
                    for j in 0..<H { loss += h[b][j] * Q[row * H + j] }
                    continue
                }
                var gi = [Double](repeating: 0, count: 3 * H)
                var gh = gi
                for g in 0..<(3 * H) {
                    gi[g] = bih[g]
                    gh[g] = bhh[g]
                    for i in 0..<I { gi[g] += wih[g * I + i] * x[row * I + i] }
                    for k in 0..<H { gh[g] += whh[g * H + k] * h[b][k] }
                }
                var next = h[b]
                for j in 0..<H {
                    let r = 1 / (1 + exp(-(gi[j] + gh[j])))
                    let z = 1 / (1 + exp(-(gi[H + j] + gh[H + j])))
                    let n = tanh(gi[2 * H + j] + r * gh[2 * H + j])
                    next[j] = (1 - z) * n + z * h[b][j]
                }
                h[b] = next
                for j in 0..<H { loss += h[b][j] * Q[row * H + j] }
            }
        }
        for b in 0..<B { for j in 0..<H { loss += h[b][j] * R[b * H + j] } }
        return loss
    }

    @Test func gradientsMatchFiniteDifferences() {
        let B = 3
        let L = 4
        let I = 3
        let H = 5
        let gru = GRU(name: "g", input: I, hidden: H, seed: 4)
        let x = Matrix(rows: B * L, cols: I, elements: randomFloats(B * L * I, seed: 1))
        // Right padding, left padding, no padding.
        let pad = [false, false, true, true, true, false, false, false, false, false, false, false]
        let R = randomDoubles(B * H, seed: 2)
        let Q = randomDoubles(B * L * H, seed: 3)
        let (outs, final, cache) = gru.forward(x, batch: B, length: L, padding: pad)
        var p = [String: [Double]]()
        for q in gru.parameters { p[q.name] = q.value.storage.map(Double.init) }
        let xd = x.storage.map(Double.init)
        let mine =
            zip(final.storage, R).reduce(0.0) { $0 + Double($1.0) * $1.1 }
            + zip(outs.storage, Q).reduce(0.0) { $0 + Double($1.0) * $1.1 }
        #expect(abs(mine - naive(p, x: xd, B: B, L: L, I: I, H: H, pad: pad, R: R, Q: Q)) < 1e-4)
        let dx = gru.backward(
            cache, dFinal: Matrix(rows: B, cols: H, elements: R.map(Float.init)),
            dOutputs: Matrix(rows: B * L, cols: H, elements: Q.map(Float.init)))
        func check(_ analytic: [Float], _ base: [Double], _ f: ([Double]) -> Double, _ note: String) {
            var t = base
            var worst = 0.0
            var scale = 1e-3
            for i in base.indices {
                t[i] = base[i] + 1e-6
                let a = f(t)
                t[i] = base[i] - 1e-6
                let b = f(t)
                t[i] = base[i]
                let nd = (a - b) / 2e-6
                scale = max(scale, abs(nd))
                worst = max(worst, abs(nd - Double(analytic[i])))
            }
            #expect(worst <= 2e-3 * scale, "\(note): max error \(worst), scale \(scale)")
        }
        check(dx.storage, xd, { naive(p, x: $0, B: B, L: L, I: I, H: H, pad: pad, R: R, Q: Q) }, "dx")
        for q in gru.parameters {
            check(
                q.grad.storage, p[q.name]!,
                { v in
                    var pp = p
                    pp[q.name] = v
                    return naive(pp, x: xd, B: B, L: L, I: I, H: H, pad: pad, R: R, Q: Q)
                }, q.name)
        }
        // The state of a right-padded sequence is the state after its last real item.
        for j in 0..<H { #expect(final[0, j] == outs[1, j]) }
    }

    @Test func gru4recStatesAndErrors() throws {
        let model = GRU4Rec(items: 9, length: 4, dim: 3, hidden: 4, seed: 1)
        // Left and right padding of the same items give the same state.
        let (s, _) = try model.forward([[0, 0, 5, 2], [5, 2, 0, 0]], training: false)
        for j in 0..<4 { #expect(abs(s[0, j] - s[1, j]) < 1e-6) }
        #expect(throws: RecNNError.itemOutOfRange(id: 12, position: 6, vocabulary: 10)) {
            try model.forward([[1, 2, 3, 4], [1, 2, 12, 0]], training: false)
        }
        // Backward reaches the embedding rows used, not the padding row.
        let (st, cache) = try model.forward([[0, 3, 5, 2]], training: true, seed: 2)
        model.backward(cache, Matrix(rows: 1, cols: 4, repeating: 1))
        #expect(model.itemEmbedding.table.touchedRows == [3, 5, 2])
        #expect(Array(model.itemEmbedding.table.grad.row(0)).allSatisfy { $0 == 0 })
        #expect(st.rows == 1)
    }
}
