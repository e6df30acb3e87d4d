import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

/// Checkpoints and expected outputs written by scripts/make-sasrec-fixtures.py (numpy only).
@Suite struct SASRecFixtureTests {
    static let fixtures: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures").path
    }()

    @Test(arguments: SASRec.Layout.allCases)
    func matchesTheNumpyReference(layout: SASRec.Layout) throws {
        let path = Self.fixtures + "/sasrec_\(layout.rawValue).safetensors"
        var c = SASRec.Config(items: 7)
        c.length = 5
        c.dim = 8
        c.heads = 2
        c.blocks = 2
        c.dropout = 0.2
        c.layout = layout
        let model = SASRec(config: c, seed: 99)
        try model.load(from: path)
        let file = try SafeTensors.read(path).tensors
        let seqsT = file["input.sequences"]!
        let expected = file["expected.states"]!
        let seqs = (0..<seqsT.shape[0]).map { b in
            (0..<seqsT.shape[1]).map { Int(seqsT.values[b * seqsT.shape[1] + $0]) }
        }
        let (states, _) = try model.forward(seqs, training: false)
        #expect(states.shapeDescription == "\(expected.shape[0])×\(expected.shape[1])")
        let worst = zip(states.storage, expected.values).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5, "\(layout): max abs difference \(worst)")
        // Round trip through RecKit's own writer.
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sasrec-\(UUID().uuidString).safetensors"
        ).path
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try model.save(to: copy)
        let other = SASRec(config: c, seed: 5)
        try other.load(from: copy)
        #expect(try other.forward(seqs, training: false).states == states)
    }
}
