import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

@Suite struct CatalogHeadTests {
    func naiveLoss(_ s: [Double], _ w: [Double], _ b: [Double], _ t: [Int], B: Int, N: Int, d: Int) -> Double {
        var loss = 0.0
        for r in 0..<B {
            let z = (0..<N).map { i in b[i] + (0..<d).reduce(0.0) { $0 + s[r * d + $1] * w[i * d + $1] } }
            let m = z.max()!
            loss += m + log(z.map { exp($0 - m) }.reduce(0, +)) - z[t[r] - 1]
        }
        return loss / Double(B)
    }

    @Test(arguments: [1, 2, 3])
    func fusedCrossEntropyMatchesNaive(threads: Int) throws {
        let B = 5
        let N = 37
        let d = 4
        let head = CatalogHead(name: "head", items: N, dim: d, seed: 1)
        head.blockItems = 8
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 2, scale: 2))
        let targets = [1, 37, 8, 9, 20]
        let (loss, dS) = try head.crossEntropy(states: states, targets: targets, parallelism: .threads(threads))
        let s = states.storage.map(Double.init)
        let w = head.weight.value.storage.map(Double.init)
        let b = head.bias.value.storage.map(Double.init)
        #expect(abs(loss - naiveLoss(s, w, b, targets, B: B, N: N, d: d)) < 1e-5)
        #expect(gradientsAgree(dS.storage, centralDifference(s) { naiveLoss($0, w, b, targets, B: B, N: N, d: d) }))
        #expect(
            gradientsAgree(
                head.weight.grad.storage, centralDifference(w) { naiveLoss(s, $0, b, targets, B: B, N: N, d: d) }))
        #expect(
            gradientsAgree(
                head.bias.grad.storage, centralDifference(b) { naiveLoss(s, w, $0, targets, B: B, N: N, d: d) }))
        #expect(throws: RecNNError.self) { try head.crossEntropy(states: states, targets: [0, 1, 2, 3, 4]) }
    }

    /// SAC / SA2C weight each row's CE term by a constant: loss = (1/B) Σ w_b CE_b.
    @Test func weightedCrossEntropyMatchesFiniteDifferences() throws {
        let B = 4
        let N = 23
        let d = 3
        let head = CatalogHead(name: "head", items: N, dim: d, seed: 5)
        head.blockItems = 8
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 6, scale: 2))
        let targets = [3, 23, 1, 9]
        let weights: [Float] = [0.5, 0, 2.5, -1]
        let (loss, dS) = try head.crossEntropy(
            states: states, targets: targets, weights: weights, parallelism: .threads(2))
        let s = states.storage.map(Double.init)
        let w = head.weight.value.storage.map(Double.init)
        let b = head.bias.value.storage.map(Double.init)
        func L(_ sv: [Double], _ wv: [Double], _ bv: [Double]) -> Double {
            (0..<B).reduce(0.0) { acc, r in
                acc + Double(weights[r])
                    * naiveLoss(Array(sv[(r * d)..<((r + 1) * d)]), wv, bv, [targets[r]], B: 1, N: N, d: d)
            } / Double(B)
        }
        #expect(abs(loss - L(s, w, b)) < 1e-5)
        #expect(gradientsAgree(dS.storage, centralDifference(s) { L($0, w, b) }))
        #expect(gradientsAgree(head.weight.grad.storage, centralDifference(w) { L(s, $0, b) }))
        #expect(gradientsAgree(head.bias.grad.storage, centralDifference(b) { L(s, w, $0) }))
    }

    /// The chunks' partial sums are merged in chunk order whatever the threads: the same loss
    /// and gradients, bit for bit, on 1, 2 and 3 threads (catalog of 9 blocks in 9 chunks, and
    /// of 41 blocks in 32 chunks).
    @Test(arguments: [37, 1001])
    func crossEntropyIsTheSameOnAnyThreadCount(items N: Int) throws {
        let B = 9
        let d = 6
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 21, scale: 2))
        let targets = (0..<B).map { 1 + ($0 * 97) % N }
        var results = [(Double, [Float], [Float], [Float])]()
        for threads in [1, 2, 3] {
            let head = CatalogHead(name: "head", items: N, dim: d, seed: 22)
            head.blockItems = N < 100 ? 4 : 24
            let (loss, dS) = try head.crossEntropy(states: states, targets: targets, parallelism: .threads(threads))
            results.append((loss, dS.storage, head.weight.grad.storage, head.bias.grad.storage))
        }
        for r in results.dropFirst() {
            #expect(r.0 == results[0].0)
            #expect(r.1 == results[0].1)
            #expect(r.2 == results[0].2)
            #expect(r.3 == results[0].3)
        }
    }

    @Test func columnPathMatchesTheFullLogits() {
        let B = 3
        let N = 20
        let d = 5
        let head = CatalogHead(name: "q", items: N, dim: d, seed: 3)
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 4))
        let cols = [[1, 5], [20], [3, 3, 7]]
        let z = head.logits(states: states, columns: cols)
        let full = matmul(states, head.weight.value, transposeB: .transpose)
        for (b, cs) in cols.enumerated() {
            for (c, id) in cs.enumerated() {
                #expect(abs(z[b][c] - (full[b, id - 1] + head.bias.value[0, id - 1])) < 1e-5)
            }
        }
        // Backward of L = Σ g·z over the selected columns.
        let g: [[Float]] = [[0.5, -1], [2], [1, 1, -0.25]]
        let dS = head.backward(states: states, columns: cols, dLogits: g)
        let s = states.storage.map(Double.init)
        let w = head.weight.value.storage.map(Double.init)
        func L(_ sv: [Double], _ wv: [Double]) -> Double {
            var t = 0.0
            for (b, cs) in cols.enumerated() {
                for (c, id) in cs.enumerated() {
                    var zz = Double(head.bias.value[0, id - 1])
                    for j in 0..<d { zz += sv[b * d + j] * wv[(id - 1) * d + j] }
                    t += Double(g[b][c]) * zz
                }
            }
            return t
        }
        #expect(gradientsAgree(dS.storage, centralDifference(s) { L($0, w) }))
        #expect(gradientsAgree(head.weight.grad.storage, centralDifference(w) { L(s, $0) }))
    }
}

@Suite struct CatalogHeadLargeTests {
    /// The full-catalog cross-entropy at a size where every path of the passes runs (several
    /// strips of states, many blocks split between workers, a last block and a last tile that are
    /// partial, row weights, a normalizer), against the analytic gradients computed in Double:
    /// loss = Σ_b w_b (lse_b − z_b,t) / M, dZ = w_b (softmax − one-hot) / M.
    @Test(arguments: [1, 2])
    func crossEntropyMatchesDoubleReference(threads: Int) throws {
        let B = 50
        let N = 1001
        let d = 20
        let M = 80
        let head = CatalogHead(name: "head", items: N, dim: d, seed: 11)
        head.blockItems = 64
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 12, scale: 3))
        var g = Xoshiro256(seed: 13)
        let targets = (0..<B).map { _ in 1 + Int(g.next() % UInt64(N)) }
        let weights = (0..<B).map { b in Float(b % 7) * 0.25 - 0.5 }
        let (loss, dS) = try head.crossEntropy(
            states: states, targets: targets, weights: weights, normalizer: M, parallelism: .threads(threads))
        let s = states.storage.map(Double.init)
        let w = head.weight.value.storage.map(Double.init)
        let bias = head.bias.value.storage.map(Double.init)
        var refLoss = 0.0
        var dSRef = [Double](repeating: 0, count: B * d)
        var dWRef = [Double](repeating: 0, count: N * d)
        var dbRef = [Double](repeating: 0, count: N)
        for r in 0..<B {
            let z = (0..<N).map { i in bias[i] + (0..<d).reduce(0.0) { $0 + s[r * d + $1] * w[i * d + $1] } }
            let m = z.max()!
            let lse = m + log(z.reduce(0.0) { $0 + exp($1 - m) })
            let c = Double(weights[r]) / Double(M)
            refLoss += c * (lse - z[targets[r] - 1])
            for i in 0..<N {
                let p = c * (exp(z[i] - lse) - (i == targets[r] - 1 ? 1 : 0))
                dbRef[i] += p
                for k in 0..<d {
                    dWRef[i * d + k] += p * s[r * d + k]
                    dSRef[r * d + k] += p * w[i * d + k]
                }
            }
        }
        #expect(abs(loss - refLoss) < 1e-5 * max(1, abs(refLoss)))
        #expect(closeness(dS.storage, dSRef, atol: 1e-6, rtol: 1e-4) == nil)
        #expect(closeness(head.weight.grad.storage, dWRef, atol: 1e-6, rtol: 1e-4) == nil)
        #expect(closeness(head.bias.grad.storage, dbRef, atol: 1e-6, rtol: 1e-4) == nil)
    }

    /// A state with a NaN or infinite value gives a non-finite loss (training stops as diverged),
    /// never a finite wrong one; huge but finite logits give the finite loss they imply.
    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteStatesGiveANonFiniteLoss(value: Float) throws {
        let head = CatalogHead(name: "head", items: 40, dim: 8, seed: 3)
        var states = Matrix(rows: 3, cols: 8, elements: randomFloats(24, seed: 4, scale: 1))
        states[1, 2] = value
        let (loss, _) = try head.crossEntropy(states: states, targets: [1, 2, 3])
        #expect(!loss.isFinite)
    }
}
