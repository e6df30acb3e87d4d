import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

/// Adagrad with momentum (GRU4Rec's `IndexedAdagradM`) against its rule written out in Double;
/// sparse rows updated alone; its state through a checkpoint.
@Suite struct AdagradTests {
    /// Three steps of w ← w + mom, mom ← μ·mom − lr·g/√(acc + ε), acc ← acc + g², on f(w) = w²,
    /// with and without momentum.
    @Test(arguments: [Float(0), 0.4])
    func matchesTheRule(momentum: Float) {
        let p = Parameter(name: "w", value: Matrix([[1, -2, 0.5]]))
        let opt = Adagrad(parameters: [p], learningRate: 0.1, momentum: momentum)
        var w = [1.0, -2.0, 0.5]
        var acc = [0.0, 0.0, 0.0]
        var mom = [0.0, 0.0, 0.0]
        for _ in 1...3 {
            let g = w.map { 2 * $0 }
            p.grad = Matrix([g.map(Float.init)])
            opt.step()
            for i in 0..<3 {
                acc[i] += g[i] * g[i]
                let u = 0.1 * g[i] / (acc[i] + 1e-6).squareRoot()
                if momentum > 0 {
                    mom[i] = Double(momentum) * mom[i] - u
                    w[i] += mom[i]
                } else {
                    w[i] -= u
                }
            }
            for i in 0..<3 { #expect(abs(Double(p.value.storage[i]) - w[i]) < 1e-6, "value \(i)") }
        }
    }

    /// A sparse head whose every row is touched every step is updated as the dense head, bit for
    /// bit (each value alone, in the same arithmetic).
    @Test func sparseRowsAllTouchedAreDense() throws {
        try SampledLossTests.expectDenseAndSparseAgree(kind: .bprMax(elu: 0.5, regularization: 1)) {
            Adagrad(parameters: $0, learningRate: 0.05, momentum: 0.5)
        }
    }

    /// Rows a step does not touch keep their values, accumulators and momenta (GRU4Rec's indexed
    /// update): a row touched at steps 1 and 3 ends as if steps 1 and 3 were consecutive.
    @Test func untouchedRowsAreLeftAlone() throws {
        let (N, d) = (6, 8)
        let head = CatalogHead(name: "head", items: N, dim: d, seed: 5)
        head.setSparseGradients(true)
        let alone = CatalogHead(name: "head", items: N, dim: d, seed: 5)
        alone.setSparseGradients(true)
        let a1 = Adagrad(parameters: head.parameters, learningRate: 0.05, momentum: 0.4)
        let a2 = Adagrad(parameters: alone.parameters, learningRate: 0.05, momentum: 0.4)
        let s = Matrix(rows: 1, cols: d, elements: randomFloats(d, seed: 6, scale: 1))
        let before = head.weight.value.storage
        // Step 1 touches rows 0 and 1, step 2 rows 2 and 3, step 3 rows 0 and 1 again.
        for (k, (t, n)) in [(1, 2), (3, 4), (1, 2)].enumerated() {
            head.zeroGrad()
            _ = try head.sampledLoss(states: s, targets: [t], negatives: [[n]], kind: .softmax)
            a1.step()
            if k != 1 {
                alone.zeroGrad()
                _ = try alone.sampledLoss(states: s, targets: [t], negatives: [[n]], kind: .softmax)
                a2.step()
            }
            if k == 1 {
                // Rows 4 and 5 never move; rows 0 and 1 did not move at step 2.
                #expect(Array(head.weight.value.storage[(4 * d)...]) == Array(before[(4 * d)...]))
            }
        }
        let rows01 = 0..<(2 * d)
        #expect(
            Array(head.weight.value.storage[rows01]).map(\.bitPattern)
                == Array(alone.weight.value.storage[rows01]).map(\.bitPattern))
        #expect(head.weight.value.storage[(2 * d)..<(4 * d)] != before[(2 * d)..<(4 * d)])
    }

    /// The state written and read back continues the run bit for bit; a missing tensor is an
    /// error naming it.
    @Test func stateResumesExactly() throws {
        let w0 = randomFloats(12, seed: 8, scale: 1)
        func grads(_ step: Int) -> Matrix {
            Matrix(rows: 3, cols: 4, elements: randomFloats(12, seed: UInt64(20 + step)))
        }
        let p = Parameter(name: "w", value: Matrix(rows: 3, cols: 4, elements: w0))
        let opt = Adagrad(parameters: [p], learningRate: 0.1, momentum: 0.3)
        for k in 0..<2 {
            p.grad = grads(k)
            opt.step()
        }
        let saved = opt.stateTensors(prefix: "adagrad0")
        let q = Parameter(name: "w", value: p.value)
        let resumed = Adagrad(parameters: [q], learningRate: 0.1, momentum: 0.3)
        try resumed.loadState(saved, prefix: "adagrad0", file: "f")
        #expect(resumed.stepCount == 2)
        p.grad = grads(2)
        opt.step()
        q.grad = grads(2)
        resumed.step()
        #expect(p.value.storage.map(\.bitPattern) == q.value.storage.map(\.bitPattern))
        var missing = saved
        missing["adagrad0.0.mom"] = nil
        #expect(throws: RecNNError.checkpoint(file: "f", tensor: "adagrad0.0.mom", message: "missing or wrong size")) {
            try resumed.loadState(missing, prefix: "adagrad0", file: "f")
        }
    }
}
