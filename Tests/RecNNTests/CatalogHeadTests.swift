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

/// The RecNN part of README.md's library tour, kept compiling and checked.
@Suite struct ReadmeEncoderTourTests {
    @Test func tour() throws {
        var config = SASRec.Config(items: 50_000)
        config.length = 10
        config.dim = 64
        config.blocks = 2
        config.layout = .original
        let encoder = SASRec(config: config, seed: 1)
        let head = CatalogHead(name: "head", items: 50_000, dim: 64, seed: 2)
        let adam = Adam(parameters: encoder.parameters + head.parameters, learningRate: 1e-3)
        let before = encoder.positionEmbedding.value
        let (states, cache) = try encoder.forward([[0, 0, 12, 7, 3, 9, 1, 4, 4, 8]], training: true, seed: 3)
        let (loss, dStates) = try head.crossEntropy(states: states, targets: [42])
        #expect(loss > 0 && loss.isFinite)
        encoder.backward(cache, dStates)
        adam.step()
        encoder.zeroGrad()
        head.zeroGrad()
        #expect(encoder.positionEmbedding.value != before)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tour-\(UUID().uuidString).safetensors"
        ).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try encoder.save(to: path)
        #expect(FileManager.default.fileExists(atPath: path))
    }
}

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

@Suite struct InitializationTests {
    /// Glorot uniform (TensorFlow's dense default): weights within ±√(6/(in+out)) with the
    /// uniform's variance g²/3, zero biases; embeddings N(0, std²) with a zero padding row.
    @Test func xavierUniformBoundsVarianceAndZeroBias() {
        let lin = Linear(
            name: "l", inFeatures: 64, outFeatures: 500, initialization: .xavierUniform(embeddingStd: 0.01), seed: 3)
        let g = (6.0 / 564.0).squareRoot()
        let w = lin.weight.value.storage.map(Double.init)
        #expect(w.allSatisfy { abs($0) <= g })
        let variance = w.reduce(0) { $0 + $1 * $1 } / Double(w.count)
        #expect(abs(variance - g * g / 3) < 0.03 * g * g / 3)
        #expect(lin.bias!.value.storage.allSatisfy { $0 == 0 })
        let emb = Embedding(
            name: "e", vocabulary: 2001, dimension: 32, paddingIndex: 0,
            initialization: .xavierUniform(embeddingStd: 0.01), seed: 4)
        let e = emb.table.value.storage.dropFirst(32).map(Double.init)
        let sd = (e.reduce(0) { $0 + $1 * $1 } / Double(e.count)).squareRoot()
        #expect(abs(sd - 0.01) < 0.0005)
        #expect(emb.table.value.row(0).allSatisfy { $0 == 0 })
    }
}
