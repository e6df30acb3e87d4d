import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

@Suite struct TDAndFeedForwardTests {
    @Test func squaredTDErrorMatchesFiniteDifferences() throws {
        let B = 4
        let N = 9
        let d = 3
        let head = CatalogHead(name: "q", items: N, dim: d, seed: 8)
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 9))
        let actions = [1, 9, 4, 4]
        let y: [Float] = [0.5, -0.2, 1, 0]
        let (loss, dS) = try head.squaredTDError(states: states, actions: actions, targets: y)
        let w = head.weight.value.storage.map(Double.init)
        let b = head.bias.value.storage.map(Double.init)
        func L(_ s: [Double], _ wv: [Double]) -> Double {
            var t = 0.0
            for r in 0..<B {
                var q = b[actions[r] - 1]
                for j in 0..<d { q += s[r * d + j] * wv[(actions[r] - 1) * d + j] }
                t += (q - Double(y[r])) * (q - Double(y[r]))
            }
            return t / Double(B)
        }
        let s = states.storage.map(Double.init)
        #expect(abs(loss - L(s, w)) < 1e-5)
        let nd = centralDifference(s) { L($0, w) }
        let nw = centralDifference(w) { L(s, $0) }
        #expect(zip(dS.storage, nd).allSatisfy { abs(Double($0) - $1) < 1e-3 })
        #expect(zip(head.weight.grad.storage, nw).allSatisfy { abs(Double($0) - $1) < 1e-3 })
        // Only the action rows were touched.
        for i in [1, 2, 4, 5, 6, 7] { #expect(Array(head.weight.grad.row(i)).allSatisfy { $0 == 0 }) }
    }

    /// With dropout, the masks (after the activation and, as the SASRec authors' code, after
    /// the output) are held fixed and the gradient is checked through them.
    @Test(arguments: [(FeedForward.Activation.relu, false), (.gelu, false), (.relu, true), (.gelu, true)])
    func feedForwardGradients(activation: FeedForward.Activation, dropout: Bool) {
        let n = 3
        let d = 4
        let ffn = FeedForward(
            name: "f", dim: d, hidden: 5, activation: activation, initialization: .pytorchDefault, seed: 2)
        let x = Matrix(rows: n, cols: d, elements: randomFloats(n * d, seed: 3, scale: 2))
        let R = randomDoubles(n * d, seed: 4)
        let (_, cache) = ffn.forward(x, dropout: dropout ? 0.4 : 0, seed: 5, outputDropout: dropout)
        let m1 = cache.dropoutMask.map { $0.map(Double.init) } ?? [Double](repeating: 1, count: n * 5)
        let m2 = cache.outputMask.map { $0.map(Double.init) } ?? [Double](repeating: 1, count: n * d)
        if dropout { #expect(m1.contains(0) && m2.contains(0)) }
        let dx = ffn.backward(cache, Matrix(rows: n, cols: d, elements: R.map(Float.init)))
        let w1 = ffn.w1.weight.value.storage.map(Double.init)
        let b1 = ffn.w1.bias!.value.storage.map(Double.init)
        let w2 = ffn.w2.weight.value.storage.map(Double.init)
        let b2 = ffn.w2.bias!.value.storage.map(Double.init)
        func L(_ xv: [Double]) -> Double {
            var t = 0.0
            for r in 0..<n {
                var hdn = [Double](repeating: 0, count: 5)
                for o in 0..<5 {
                    var z = b1[o]
                    for i in 0..<d { z += w1[o * d + i] * xv[r * d + i] }
                    hdn[o] =
                        (activation == .relu ? max(z, 0) : 0.5 * z * (1 + erf(z / 2.0.squareRoot()))) * m1[r * 5 + o]
                }
                for o in 0..<d {
                    var y = b2[o]
                    for i in 0..<5 { y += w2[o * 5 + i] * hdn[i] }
                    t += y * m2[r * d + o] * R[r * d + o]
                }
            }
            return t
        }
        let xd = x.storage.map(Double.init)
        var t = xd
        for i in xd.indices {
            t[i] = xd[i] + 1e-6
            let a = L(t)
            t[i] = xd[i] - 1e-6
            let b = L(t)
            t[i] = xd[i]
            #expect(abs(Double(dx.storage[i]) - (a - b) / 2e-6) < 2e-3 * max(1, abs((a - b) / 2e-6)))
        }
    }
}
