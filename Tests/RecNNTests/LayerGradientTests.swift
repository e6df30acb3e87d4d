import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

@Suite struct LayerGradientTests {
    @Test(arguments: [(1, 3, 2), (4, 5, 7), (3, 17, 16)])
    func linear(n: Int, inF: Int, outF: Int) throws {
        let lin = Linear(name: "l", inFeatures: inF, outFeatures: outF, seed: 1)
        let x = Matrix(rows: n, cols: inF, elements: randomFloats(n * inF, seed: 2))
        let R = randomDoubles(n * outF, seed: 3)
        let dx = lin.backward(x, Matrix(rows: n, cols: outF, elements: R.map(Float.init)))
        let W = lin.weight.value.storage.map(Double.init)
        let b = lin.bias!.value.storage.map(Double.init)
        func forward(_ xv: [Double], _ w: [Double], _ bv: [Double]) -> Double {
            var L = 0.0
            for r in 0..<n {
                for o in 0..<outF {
                    var y = bv[o]
                    for i in 0..<inF { y += xv[r * inF + i] * w[o * inF + i] }
                    L += y * R[r * outF + o]
                }
            }
            return L
        }
        let xd = x.storage.map(Double.init)
        #expect(gradientsAgree(dx.storage, centralDifference(xd) { forward($0, W, b) }, "dx"))
        #expect(gradientsAgree(lin.weight.grad.storage, centralDifference(W) { forward(xd, $0, b) }, "dW"))
        #expect(gradientsAgree(lin.bias!.grad.storage, centralDifference(b) { forward(xd, W, $0) }, "db"))
        // Forward matches the naive one.
        let y = lin.forward(x)
        var L = 0.0
        for i in 0..<(n * outF) { L += Double(y.storage[i]) * R[i] }
        #expect(abs(L - forward(xd, W, b)) < 1e-4 * max(1, abs(L)))
    }

    @Test(arguments: [(1, 4), (3, 16), (5, 33)])
    func layerNorm(n: Int, d: Int) throws {
        let ln = LayerNorm(name: "ln", features: d)
        ln.gamma.value = Matrix(rows: 1, cols: d, elements: randomFloats(d, seed: 5).map { 1 + 0.3 * $0 })
        ln.beta.value = Matrix(rows: 1, cols: d, elements: randomFloats(d, seed: 6))
        let x = Matrix(rows: n, cols: d, elements: randomFloats(n * d, seed: 7, scale: 2))
        let R = randomDoubles(n * d, seed: 8)
        let (_, cache) = ln.forward(x)
        let dx = ln.backward(cache, Matrix(rows: n, cols: d, elements: R.map(Float.init)))
        let g = ln.gamma.value.storage.map(Double.init)
        let b = ln.beta.value.storage.map(Double.init)
        func forward(_ xv: [Double], _ gv: [Double], _ bv: [Double]) -> Double {
            var L = 0.0
            for r in 0..<n {
                let slice = xv[(r * d)..<((r + 1) * d)]
                let mean = slice.reduce(0, +) / Double(d)
                let v = slice.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
                let rs = 1 / (v + 1e-5).squareRoot()
                for j in 0..<d { L += ((xv[r * d + j] - mean) * rs * gv[j] + bv[j]) * R[r * d + j] }
            }
            return L
        }
        let xd = x.storage.map(Double.init)
        #expect(gradientsAgree(dx.storage, centralDifference(xd) { forward($0, g, b) }, "dx"))
        #expect(gradientsAgree(ln.gamma.grad.storage, centralDifference(g) { forward(xd, $0, b) }, "dgamma"))
        #expect(gradientsAgree(ln.beta.grad.storage, centralDifference(b) { forward(xd, g, $0) }, "dbeta"))
    }

    @Test func embeddingSparseGradientAndPadding() throws {
        let e = Embedding(name: "item", vocabulary: 6, dimension: 3, paddingIndex: 0, seed: 1)
        #expect(Array(e.table.value.row(0)) == [0, 0, 0])
        let ids = [2, 0, 5, 2]
        let out = try e.forward(ids)
        #expect(Array(out.row(0)) == Array(e.table.value.row(2)) && Array(out.row(1)) == [0, 0, 0])
        let dy = Matrix(rows: 4, cols: 3, elements: (0..<12).map { Float($0) })
        e.backward(ids, dy)
        let expectedRow: [Float] = [9, 11, 13]
        #expect(Array(e.table.grad.row(2)) == expectedRow)
        #expect(Array(e.table.grad.row(0)) == [0, 0, 0])
        #expect(e.table.touchedRows == [2, 5])
        #expect(throws: RecNNError.itemOutOfRange(id: 6, position: 1, vocabulary: 6)) { try e.forward([1, 6]) }
        e.zeroGrad()
        #expect(e.table.grad.storage.allSatisfy { $0 == 0 } && e.table.touchedRows == [])
    }
}
