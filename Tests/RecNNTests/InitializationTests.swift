import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

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
