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

@Suite struct CheckpointTests {
    final class Tiny: Module {
        let lin = Linear(name: "head", inFeatures: 3, outFeatures: 2, seed: 4)
        let norm = LayerNorm(name: "norm", features: 3)
        var parameters: [Parameter] { lin.parameters + norm.parameters }
    }

    @Test func saveLoadAndBadCheckpoints() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-\(UUID().uuidString).safetensors")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let a = Tiny()
        try a.save(to: path)
        let b = Tiny()
        b.lin.weight.value = Matrix.zeros(2, 3)
        try b.load(from: path)
        #expect(b.lin.weight.value == a.lin.weight.value && b.norm.gamma.value == a.norm.gamma.value)
        // Vectors are written 1-D (PyTorch's shapes); files that hold them as [1, n], as RecKit
        // wrote them before, still load; a column [n, 1] does not.
        let written = try SafeTensors.read(path).tensors
        #expect(written["head.bias"]?.shape == [2] && written["norm.weight"]?.shape == [3])
        #expect(written["norm.bias"]?.shape == [3] && written["head.weight"]?.shape == [2, 3])
        var old = written
        for name in ["head.bias", "norm.weight", "norm.bias"] { old[name]!.shape = [1, old[name]!.count] }
        let oldPath = path + ".old"
        defer { try? FileManager.default.removeItem(atPath: oldPath) }
        try SafeTensors.write(old, to: oldPath)
        let fromOld = Tiny()
        try fromOld.load(from: oldPath)
        #expect(fromOld.norm.beta.value == a.norm.beta.value && fromOld.lin.bias!.value == a.lin.bias!.value)
        old["norm.bias"]!.shape = [3, 1]
        try SafeTensors.write(old, to: oldPath)
        #expect(
            throws: RecNNError.checkpoint(file: oldPath, tensor: "norm.bias", message: "shape [3, 1], expected [3]")
        ) {
            try Tiny().load(from: oldPath)
        }
        // A checkpoint missing a tensor, or with a wrong shape: a typed error, nothing changed.
        var t = try SafeTensors.read(path).tensors
        t["norm.bias"] = nil
        try SafeTensors.write(t, to: path)
        let c = Tiny()
        let before = c.lin.weight.value
        #expect(throws: RecNNError.checkpoint(file: path, tensor: "norm.bias", message: "missing")) {
            try c.load(from: path)
        }
        #expect(c.lin.weight.value == before)
        t["norm.bias"] = Tensor(shape: [4], values: [0, 0, 0, 0])
        try SafeTensors.write(t, to: path)
        #expect(throws: RecNNError.checkpoint(file: path, tensor: "norm.bias", message: "shape [4], expected [3]")) {
            try c.load(from: path)
        }
        #expect(c.lin.weight.value == before)
        // Truncated file.
        let data = FileManager.default.contents(atPath: path)!
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: path))
        #expect(throws: RecNNError.self) { try c.load(from: path) }
        #expect(c.lin.weight.value == before)
    }
}
