import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

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
