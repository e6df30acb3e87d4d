import Foundation
import RecCore
import Testing
import _RecTestSupport

@Suite struct VectorMathTests {
    typealias V = SIMD16<Float>

    /// Applies a vector function to many values, 16 at a time.
    func apply(_ xs: [Float], _ f: (V) -> V) -> [Float] {
        var out = [Float]()
        var i = 0
        while i < xs.count {
            var v = V(repeating: 1)
            for l in 0..<16 where i + l < xs.count { v[l] = xs[i + l] }
            let y = f(v)
            for l in 0..<16 where i + l < xs.count { out.append(y[l]) }
            i += 16
        }
        return out
    }

    @Test func expMatchesDouble() {
        let xs = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
        #expect(closeness(apply(xs, VectorMath.exp), xs.map { Foundation.exp(Double($0)) }, atol: 0, rtol: 3e-7) == nil)
        let special = apply([-100, 100, .nan, -.infinity, .infinity, 0], VectorMath.exp)
        #expect(
            special[0] == 0 && special[1] == .infinity && special[2].isNaN && special[3] == 0 && special[4] == .infinity
                && special[5] == 1)
    }

    @Test func logMatchesDouble() {
        var xs = stride(from: -30.0, through: 30.0, by: 0.011).map { Float(Foundation.exp($0)) }
        xs += stride(from: 0.5, through: 2.0, by: 0.0003).map { Float($0) }
        xs += [Float.leastNormalMagnitude, Float.greatestFiniteMagnitude, 1]
        #expect(
            closeness(apply(xs, VectorMath.log), xs.map { Foundation.log(Double($0)) }, atol: 1e-7, rtol: 3e-7) == nil)
        let special = apply([0, -1, .nan, .infinity], VectorMath.log)
        #expect(special[0] == -.infinity && special[1].isNaN && special[2].isNaN && special[3] == .infinity)
    }

    @Test func sinCosMatchesDouble() {
        let us = stride(from: 0.0, through: 1.0, by: 0.00037).map { Float($0) }
        let out = apply(us) { VectorMath.sinCos2Pi($0).cos }
        let outS = apply(us) { VectorMath.sinCos2Pi($0).sin }
        #expect(closeness(out, us.map { Foundation.cos(2 * Double.pi * Double($0)) }, atol: 4e-7, rtol: 0) == nil)
        #expect(closeness(outS, us.map { Foundation.sin(2 * Double.pi * Double($0)) }, atol: 4e-7, rtol: 0) == nil)
    }

    @Test func sqrtErfTanhMatchDouble() {
        let xs = stride(from: 0.0, through: 50.0, by: 0.0071).map { Float($0) } + [1e-30, 1e30, 0]
        #expect(closeness(apply(xs, VectorMath.sqrt), xs.map { Double($0).squareRoot() }, atol: 0, rtol: 2.5e-7) == nil)
        let zs = stride(from: -6.0, through: 6.0, by: 0.0013).map { Float($0) }
        #expect(closeness(apply(zs, VectorMath.erf), zs.map { Foundation.erf(Double($0)) }, atol: 5e-7, rtol: 0) == nil)
        #expect(
            closeness(apply(zs, VectorMath.tanh), zs.map { Foundation.tanh(Double($0)) }, atol: 5e-7, rtol: 0) == nil)
    }
}

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
}
