import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

@Suite struct OptimizerTests {
    /// Adam against the update rule written out by hand, two steps, with decoupled weight decay.
    @Test func adamMatchesTheRule() {
        let p = Parameter(name: "w", value: Matrix([[1, -2]]))
        let adam = Adam(parameters: [p], learningRate: 0.1, weightDecay: 0.01)
        var w = [1.0, -2.0]
        var m = [0.0, 0.0]
        var v = [0.0, 0.0]
        for t in 1...2 {
            let g = w.map { 2 * $0 }  // d/dw of w²
            p.grad = Matrix([g.map(Float.init)])
            adam.step()
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mh = m[i] / (1 - pow(0.9, Double(t)))
                let vh = v[i] / (1 - pow(0.999, Double(t)))
                w[i] -= 0.1 * (mh / (vh.squareRoot() + 1e-8) + 0.01 * w[i])
            }
            for i in 0..<2 { #expect(abs(Double(p.value.storage[i]) - w[i]) < 1e-6) }
        }
    }

    /// A tensor large enough to be split across threads (2¹⁷ + 5 values: chunks and a scalar
    /// tail) ends with the same bits on 1, 2 and 3 threads, and each value follows the rule.
    @Test func adamAcrossThreads() {
        let n = (1 << 17) + 5
        let g0 = randomFloats(n, seed: 3)
        let w0 = randomFloats(n, seed: 4)
        var results = [[Float]]()
        for threads in [1, 2, 3] {
            let p = Parameter(name: "w", value: Matrix(rows: 1, cols: n, elements: w0))
            let adam = Adam(parameters: [p], learningRate: 0.01)
            for step in 0..<3 {
                p.grad = Matrix(rows: 1, cols: n, elements: g0.map { $0 * Float(step + 1) })
                adam.step(parallelism: .threads(threads))
            }
            results.append(p.value.storage)
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
        #expect(results[0].map(\.bitPattern) == results[2].map(\.bitPattern))
        for i in [0, 77_777, n - 1] {
            var w = Double(w0[i])
            var m = 0.0
            var v = 0.0
            for t in 1...3 {
                let g = Double(g0[i]) * Double(t)
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g * g
                w -= 0.01 * (m / (1 - pow(0.9, Double(t)))) / ((v / (1 - pow(0.999, Double(t)))).squareRoot() + 1e-8)
            }
            #expect(abs(Double(results[0][i]) - w) < 1e-5, "value \(i)")
        }
    }

    /// Adding a replica's dense gradient and clearing one, on a tensor large enough to go in
    /// chunks on the automatic threads and to be cleared with streaming stores (2²⁰ + 3
    /// elements: the last chunk partial): against the element-wise sum, and every element zero
    /// after.
    @Test func largeGradientsAddAndClearInChunks() {
        let rows = (1 << 20) + 3
        let a = Parameter(name: "a", value: Matrix(rows: rows, cols: 1))
        let b = Parameter(name: "b", value: Matrix(rows: rows, cols: 1))
        let ga = randomFloats(rows, seed: 1, scale: 1)
        let gb = randomFloats(rows, seed: 2, scale: 1)
        a.grad = Matrix(rows: rows, cols: 1, elements: ga)
        b.grad = Matrix(rows: rows, cols: 1, elements: gb)
        a.accumulateGradient(from: b)
        #expect(a.grad.storage == zip(ga, gb).map { $0 + $1 })
        a.zeroGrad()
        #expect(a.grad.storage.allSatisfy { $0 == 0 } && a.grad.count == rows)
    }

    @Test func clipping() {
        let a = Parameter(name: "a", value: Matrix([[0, 0]]))
        let b = Parameter(name: "b", value: Matrix([[0]]))
        a.grad = Matrix([[3, 0]])
        b.grad = Matrix([[4]])
        #expect(clipGradientNorm([a, b], maxNorm: 1) == 5)
        #expect(abs(a.grad.storage[0] - 0.6) < 1e-6 && abs(b.grad.storage[0] - 0.8) < 1e-6)
        #expect(clipGradientNorm([a, b], maxNorm: 10) == 1)
    }
}
