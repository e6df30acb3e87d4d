import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

@Suite struct SASRecDataParallelTests {
    @Test func matchesTheSingleWorkerPass() throws {
        var c = SASRec.Config(items: 30)
        c.length = 6
        c.dim = 16
        c.heads = 2
        c.blocks = 2
        c.dropout = 0.1
        var g = Xoshiro256(seed: 4)
        let seqs = (0..<100).map { _ in (0..<6).map { _ in Int(Sampling.uniform(&g) * 31) } }
        let dS = Matrix.random(100, 16, seed: 6)
        let single = SASRec(config: c, seed: 1)
        let multi = SASRec(config: c, seed: 1)
        let par = SASRec.DataParallel(multi, workers: 3)
        let (a, ca) = try single.forward(seqs, training: false)
        let (b, cb) = try par.forward(seqs, training: false)
        #expect(zip(a.storage, b.storage).allSatisfy { abs($0 - $1) <= 1e-5 })
        single.backward(ca, dS)
        par.backward(cb, dS)
        for (p, q) in zip(single.parameters, multi.parameters) {
            let scale = max(p.grad.storage.map(abs).max() ?? 0, 1e-3)
            let worst = zip(p.grad.storage, q.grad.storage).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale + 1e-6, "\(p.name): \(worst)")
        }
        #expect(multi.itemEmbedding.table.touchedRows == single.itemEmbedding.table.touchedRows)
        // After the backward no replica shares the values: an optimiser's in-place update
        // writes where they are (no copy of the item embedding every step).
        for p in multi.parameters {
            let before = p.value.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
            let after = p.value.withUnsafeMutableBufferPointer { UInt(bitPattern: $0.baseAddress) }
            #expect(before == after, "\(p.name) was copied on its first write after the step")
        }
        // Errors name the position in the whole batch.
        var bad = seqs
        bad[90][2] = 99
        #expect(throws: RecNNError.itemOutOfRange(id: 99, position: 90 * 6 + 2, vocabulary: 31)) {
            try par.forward(bad, training: false)
        }
        // Training mode is reproducible for a seed.
        #expect(
            try par.forward(seqs, training: true, seed: 3).states
                == (try par.forward(seqs, training: true, seed: 3).states))
    }
}
