import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct KernelsTests {
    func withBuf<R>(_ x: [Float], _ body: (UnsafeBufferPointer<Float>) -> R) -> R { x.withUnsafeBufferPointer(body) }

    @Test(arguments: sizesAroundVectorWidth)
    func reductions(n: Int) {
        let x = randomFloats(n, seed: UInt64(n) + 1, scale: 3)
        let xd = x.map(Double.init)
        let s = withBuf(x) { Kernels.sum($0) }
        #expect(abs(Double(s) - xd.reduce(0, +)) <= 1e-5 * Double(max(n, 1)) * 3)
        let m = withBuf(x) { Kernels.max($0) }
        #expect(m == (x.max() ?? -.infinity))
        let am = withBuf(x) { Kernels.argmax($0) }
        #expect(am == (n == 0 ? nil : x.indices.max { x[$0] < x[$1] || (x[$0] == x[$1] && $0 > $1) }))
        let lse = withBuf(x) { Kernels.logSumExp($0) }
        if n == 0 {
            #expect(lse == -.infinity)
        } else {
            #expect(closeness([lse], [naiveLogSumExp(x)], atol: 1e-5, rtol: 1e-6) == nil)
        }
    }

    @Test func reductionSpecialValues() {
        let withNaN: [Float] = Array(repeating: 1, count: 40) + [.nan] + [2]
        #expect(withBuf(withNaN) { Kernels.max($0) }.isNaN)
        #expect(withBuf(withNaN) { Kernels.sum($0) }.isNaN)
        #expect(withBuf(withNaN) { Kernels.logSumExp($0) }.isNaN)
        #expect(withBuf(withNaN) { Kernels.argmax($0) } == 41)  // NaN ranks below every number
        #expect(withBuf([Float.nan, .nan]) { Kernels.argmax($0) } == 0)
        let ties: [Float] = [1, 5, 3, 5, 5] + Array(repeating: 0, count: 30)
        #expect(withBuf(ties) { Kernels.argmax($0) } == 1)
        #expect(withBuf([-Float.infinity, -.infinity]) { Kernels.logSumExp($0) } == -.infinity)
        #expect(withBuf([Float.infinity, 1]) { Kernels.logSumExp($0) } == .infinity)
        #expect(
            withBuf([Float](repeating: 1000, count: 33)) { Kernels.logSumExp($0) } == Float(1000 + Foundation.log(33.0))
        )
    }

    @Test(arguments: sizesAroundVectorWidth.filter { $0 > 0 })
    func softmaxAndLogSoftmax(n: Int) {
        // Large offsets check the max subtraction.
        let x = randomFloats(n, seed: UInt64(n) + 7, scale: 5).map { $0 + 300 }
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Kernels.softmax(xp, into: $0) } }
        #expect(closeness(y, naiveSoftmax(x), atol: 1e-7, rtol: 2e-6) == nil)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Kernels.logSoftmax(xp, into: $0) } }
        let lse = naiveLogSumExp(x)
        #expect(closeness(y, x.map { Double($0) - lse }, atol: 2e-5, rtol: 1e-6) == nil)
        // Matrix rows, in place.
        var m = Matrix(rows: 3, cols: n, elements: x + x.reversed() + x.map { -$0 })
        m.softmaxRows()
        for r in 0..<3 {
            let row = Array(m.row(r))
            #expect(abs(row.map(Double.init).reduce(0, +) - 1) < 1e-5)
        }
    }

    @Test func softmaxNaNIsNotHidden() {
        var m = Matrix([[1, .nan, 2], [-.infinity, -.infinity, -.infinity], [.infinity, 0, 1]])
        m.softmaxRows()
        #expect(m.storage.allSatisfy { $0.isNaN })
        var l = Matrix([[0, -.infinity, 0]])
        l.softmaxRows()
        #expect(l.storage == [0.5, 0, 0.5])
    }

    @Test(arguments: sizesAroundVectorWidth.filter { $0 > 0 })
    func layerNorm(n: Int) {
        let x = randomFloats(n, seed: UInt64(n) + 11, scale: 2).map { $0 + 4 }
        let g = randomFloats(n, seed: 12)
        let b = randomFloats(n, seed: 13)
        var m = Matrix(rows: 2, cols: n, elements: x + x.map { -$0 })
        m.layerNormRows(gamma: g, beta: b, eps: 1e-5)
        #expect(
            closeness(Array(m.row(0)), naiveLayerNorm(x, gamma: g, beta: b, eps: 1e-5), atol: 2e-5, rtol: 1e-5) == nil)
        var plain = Matrix(rows: 1, cols: n, elements: x)
        plain.layerNormRows()
        #expect(
            closeness(plain.storage, naiveLayerNorm(x, gamma: nil, beta: nil, eps: 1e-5), atol: 2e-5, rtol: 1e-5) == nil
        )
        let stats = x.withUnsafeBufferPointer { xp in
            var y = [Float](repeating: 0, count: n)
            return y.withUnsafeMutableBufferPointer {
                Kernels.layerNorm(xp, gamma: nil, beta: nil, eps: 1e-5, into: $0)
            }
        }
        let mean = x.map(Double.init).reduce(0, +) / Double(n)
        #expect(abs(Double(stats.mean) - mean) < 1e-5 * max(1, abs(mean)))
    }

    @Test(arguments: sizesAroundVectorWidth)
    func activations(n: Int) {
        let x = randomFloats(n, seed: UInt64(n) + 21, scale: 3)
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Kernels.relu(xp, into: $0) } }
        #expect(y == x.map { max($0, 0) })
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Kernels.gelu(xp, into: $0) } }
        #expect(closeness(y, x.map { naiveGELU(Double($0)) }, atol: 1e-6, rtol: 1e-6) == nil)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { Kernels.gelu(xp, into: $0, approximation: .tanh) }
        }
        #expect(closeness(y, x.map { naiveGELUTanh(Double($0)) }, atol: 1e-6, rtol: 1e-6) == nil)
    }

    /// Layer norm's backward row kernel against finite differences of a Double-precision
    /// layer norm: dx, dγ and dβ for rows with and without a SIMD tail.
    @Test(arguments: [5, 16, 37, 64])
    func layerNormBackwardMatchesFiniteDifferences(n: Int) {
        let x = randomFloats(n, seed: 11, scale: 2)
        let gamma = randomFloats(n, seed: 12).map { 1 + 0.5 * $0 }
        let dy = randomFloats(n, seed: 13)
        let eps = 1e-5
        // Forward in Float gives x̂ and 1/σ as the layers keep them.
        var y = [Float](repeating: 0, count: n)
        let (_, rstd) = x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { Kernels.layerNorm(xp, gamma: nil, beta: nil, eps: Float(eps), into: $0) }
        }
        let xhat = y
        var dx = [Float](repeating: 0, count: n)
        var dGamma = [Float](repeating: 0, count: n)
        var dBeta = [Float](repeating: 0, count: n)
        Kernels.layerNormBackwardRow(
            dy, xhat, gamma, rstd: rstd, dx: &dx, dGamma: &dGamma, dBeta: &dBeta, count: n)
        // f(x) = Σ dy · LN(x; γ, 0)
        let fdX = centralDifference(x.map(Double.init), h: 1e-4) { xs in
            let out = naiveLayerNorm(xs.map { Float($0) }, gamma: gamma, beta: nil, eps: eps)
            return zip(out, dy).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        #expect(gradientsAgree(dx, fdX, tolerance: 5e-3, "dx, n = \(n)"))
        let plain = naiveLayerNorm(x, gamma: nil, beta: nil, eps: eps)
        for j in 0..<n {
            #expect(abs(Double(dGamma[j]) - Double(dy[j]) * plain[j]) < 1e-5)
            #expect(dBeta[j] == dy[j])
        }
    }
}
