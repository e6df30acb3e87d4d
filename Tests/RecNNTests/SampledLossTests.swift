import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

/// The sampled losses (sampled softmax with logQ, gBCE) against formulas written out in Double
/// and central finite differences; the sampled softmax over every other item is the full
/// softmax; the touched rows of a sparse head are the target's and negatives'.
@Suite struct SampledLossTests {
    static let B = 4
    static let N = 29
    static let d = 11  // one 8-lane block and a tail
    static let targets = [3, 29, 1, 17]
    static let negatives = [[5, 9, 22], [1, 2, 3], [28, 4, 4], [11, 12, 13]]  // a repeated negative counts twice
    static let weights: [Float] = [0.5, 1, 2.5, -1]

    /// The loss written out: per state the logits z = b + s·w of its target and negatives.
    static func reference(
        _ s: [Double], _ w: [Double], _ bias: [Double], kind: SampledLoss, logQ: [Float]?, weights: [Float]?
    ) -> Double {
        var total = 0.0
        for r in 0..<B {
            let cols = [targets[r]] + negatives[r]
            let z = cols.map { id in bias[id - 1] + (0..<d).reduce(0.0) { $0 + s[r * d + $1] * w[(id - 1) * d + $1] } }
            var l: Double
            switch kind {
            case .softmax:
                let c = zip(z, cols).map { $0 - Double(logQ?[$1 - 1] ?? 0) }
                l = log(c.map { exp($0) }.reduce(0, +)) - c[0]
            case .generalizedBCE(let beta):
                let sig = { (x: Double) in 1 / (1 + exp(-x)) }
                l = -beta * log(sig(z[0]))
                for k in 1..<z.count { l -= log(1 - sig(z[k])) }
            case .bprMax(let a, let lambda):
                // GRU4Rec's formula: ELU, softmax over the negatives, −log Σ σ(o₀ − o_j)s_j + λ Σ o_j² s_j.
                let o = z.map { a > 0 && $0 <= 0 ? a * (exp($0) - 1) : $0 }
                let e = o.dropFirst().map { exp($0) }
                let total = e.reduce(0, +)
                var p = 0.0
                var r = 0.0
                for (j, ej) in e.enumerated() {
                    p += ej / total / (1 + exp(o[j + 1] - o[0]))
                    r += ej / total * o[j + 1] * o[j + 1]
                }
                l = -log(p + 1e-24) + lambda * r
            }
            total += Double(weights?[r] ?? 1) * l
        }
        return total / Double(B)
    }

    @Test(arguments: [
        (SampledLoss.softmax, false), (.softmax, true), (.generalizedBCE(beta: 1), false),
        (.generalizedBCE(beta: 0.3), false), (.bprMax(elu: 0.5, regularization: 1), false),
        (.bprMax(elu: 0, regularization: 0.3), false), (.bprMax(elu: 1, regularization: 0), false),
    ])
    func gradientsMatchFiniteDifferences(kind: SampledLoss, withLogQ: Bool) throws {
        let B = Self.B
        let N = Self.N
        let d = Self.d
        let head = CatalogHead(name: "head", items: N, dim: d, seed: 3)
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 4, scale: 1))
        let logQ: [Float]? = withLogQ ? (0..<N).map { Float(log(3.0 * Double($0 + 1) / 435)) } : nil
        let (loss, dS) = try head.sampledLoss(
            states: states, targets: Self.targets, negatives: Self.negatives, kind: kind, logQ: logQ,
            weights: Self.weights)
        let s = states.storage.map(Double.init)
        let w = head.weight.value.storage.map(Double.init)
        let b = head.bias.value.storage.map(Double.init)
        func L(_ sv: [Double], _ wv: [Double], _ bv: [Double]) -> Double {
            Self.reference(sv, wv, bv, kind: kind, logQ: logQ, weights: Self.weights)
        }
        #expect(abs(loss - L(s, w, b)) < 1e-5 * max(1, abs(loss)))
        #expect(gradientsAgree(dS.storage, centralDifference(s) { L($0, w, b) }))
        #expect(gradientsAgree(head.weight.grad.storage, centralDifference(w) { L(s, $0, b) }))
        #expect(gradientsAgree(head.bias.grad.storage, centralDifference(b) { L(s, w, $0) }))
    }

    /// With every other item as a negative, once each, and no correction (a uniform sampler's
    /// cancels), the sampled softmax is the full softmax: loss and every gradient.
    @Test func everyOtherItemIsTheFullSoftmax() throws {
        let B = 6
        let N = 40
        let d = 16
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 8, scale: 2))
        let targets = [1, 40, 7, 7, 20, 33]
        let full = CatalogHead(name: "head", items: N, dim: d, seed: 9)
        let sampled = CatalogHead(name: "head", items: N, dim: d, seed: 9)
        let (l1, dS1) = try full.crossEntropy(states: states, targets: targets)
        let others = targets.map { t in (1...N).filter { $0 != t } }
        let (l2, dS2) = try sampled.sampledLoss(states: states, targets: targets, negatives: others, kind: .softmax)
        #expect(abs(l1 - l2) < 1e-5 * abs(l1))
        for (a, b) in zip(dS1.storage, dS2.storage) { #expect(abs(a - b) < 1e-5) }
        for (a, b) in zip(full.weight.grad.storage, sampled.weight.grad.storage) { #expect(abs(a - b) < 1e-5) }
        for (a, b) in zip(full.bias.grad.storage, sampled.bias.grad.storage) { #expect(abs(a - b) < 1e-5) }
    }

    /// A sparse head records the rows a sampled loss filled (the targets and negatives), clears
    /// only them, and a lazy Adam step moves only them.
    @Test func aSparseHeadTouchesTheSampledRowsOnly() throws {
        let head = CatalogHead(name: "head", items: Self.N, dim: Self.d, seed: 3)
        head.setSparseGradients(true)
        let before = head.weight.value.storage
        let adam = Adam(parameters: head.parameters, learningRate: 0.01)
        let states = Matrix(rows: Self.B, cols: Self.d, elements: randomFloats(Self.B * Self.d, seed: 4, scale: 1))
        _ = try head.sampledLoss(
            states: states, targets: Self.targets, negatives: Self.negatives, kind: .generalizedBCE(beta: 0.5))
        let touched = Set(zip(Self.targets, Self.negatives).flatMap { [$0] + $1 }.map { $0 - 1 })
        #expect(head.weight.touchedRows == touched)
        #expect(head.bias.touchedRows == touched)
        adam.step()
        let d = Self.d
        for i in 0..<Self.N {
            let moved = (0..<d).contains { head.weight.value.storage[i * d + $0] != before[i * d + $0] }
            #expect(moved == touched.contains(i), "row \(i)")
        }
        head.zeroGrad()
        #expect(head.weight.grad.storage.allSatisfy { $0 == 0 } && head.bias.grad.storage.allSatisfy { $0 == 0 })
        #expect(head.weight.touchedRows == [])
    }

    /// Lazy Adam on a sparse head (per-row step counts, the bias's elements as rows) whose every
    /// row is touched every step is dense Adam, bit for bit.
    @Test func lazyAdamWithEveryRowTouchedIsDenseAdam() throws {
        try Self.expectDenseAndSparseAgree(kind: .softmax) { Adam(parameters: $0, learningRate: 0.01) }
    }

    /// Four steps of `kind` on a dense head and a sparse one, every row touched every step, each
    /// head updated by its own `optimizer`: the heads end with the same bits.
    static func expectDenseAndSparseAgree(kind: SampledLoss, optimizer: ([Parameter]) -> any Optimizer) throws {
        let N = 9
        let d = 10
        let dense = CatalogHead(name: "head", items: N, dim: d, seed: 3)
        let sparse = CatalogHead(name: "head", items: N, dim: d, seed: 3)
        sparse.setSparseGradients(true)
        let a1 = optimizer(dense.parameters)
        let a2 = optimizer(sparse.parameters)
        for step in 0..<4 {
            let states = Matrix(rows: 3, cols: d, elements: randomFloats(3 * d, seed: UInt64(10 + step), scale: 1))
            let targets = [1 + step, 5, 9 - step]
            let others = targets.map { t in (1...N).filter { $0 != t } }
            for h in [dense, sparse] {
                h.zeroGrad()
                _ = try h.sampledLoss(states: states, targets: targets, negatives: others, kind: kind)
            }
            #expect(sparse.weight.touchedRows == Set(0..<N))
            a1.step(parallelism: .automatic)
            a2.step(parallelism: .automatic)
        }
        #expect(dense.weight.value.storage.map(\.bitPattern) == sparse.weight.value.storage.map(\.bitPattern))
        #expect(dense.bias.value.storage.map(\.bitPattern) == sparse.bias.value.storage.map(\.bitPattern))
    }

    /// An id outside the catalog is an error naming the state.
    @Test func idsOutsideTheCatalogAreRefused() {
        let head = CatalogHead(name: "head", items: 5, dim: 3, seed: 1)
        let states = Matrix(rows: 2, cols: 3)
        #expect(throws: RecNNError.itemOutOfRange(id: 6, position: 1, vocabulary: 6)) {
            try head.sampledLoss(states: states, targets: [1, 2], negatives: [[2], [6]], kind: .softmax)
        }
        #expect(throws: RecNNError.itemOutOfRange(id: 0, position: 0, vocabulary: 6)) {
            try head.sampledLoss(states: states, targets: [0, 2], negatives: [[2], [3]], kind: .softmax)
        }
    }
}

@Suite struct SharedNegativesTests {
    /// One shared list is the same list given to every state; a shared negative that is a
    /// state's target (an accidental hit) is left out of that state's loss.
    @Test(arguments: [SampledLoss.softmax, .generalizedBCE(beta: 0.4)])
    func sharedNegativesAreListsWithoutTheTarget(kind: SampledLoss) throws {
        let B = 5
        let N = 50
        let d = 9
        let states = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 21, scale: 1))
        let targets = [4, 7, 4, 50, 13]
        let shared = [7, 13, 2, 2, 40, 4]  // holds targets 4, 7 and 13, and a repeat
        let a = CatalogHead(name: "head", items: N, dim: d, seed: 5)
        let b = CatalogHead(name: "head", items: N, dim: d, seed: 5)
        a.setSparseGradients(true)
        let (l1, dS1) = try a.sampledLoss(states: states, targets: targets, sampled: .shared(shared), kind: kind)
        let lists = targets.map { t in shared.filter { $0 != t } }
        let (l2, dS2) = try b.sampledLoss(states: states, targets: targets, negatives: lists, kind: kind)
        #expect(l1.bitPattern == l2.bitPattern)
        #expect(dS1.storage == dS2.storage)
        #expect(a.weight.grad.storage == b.weight.grad.storage && a.bias.grad.storage == b.bias.grad.storage)
        #expect(a.weight.touchedRows == Set((targets + shared).map { $0 - 1 }))
    }
}
