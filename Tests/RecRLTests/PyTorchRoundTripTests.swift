import Foundation
import RecCore
import RecIO
import RecRL
import Testing
import _RecTestSupport

/// A python with torch and numpy: `RECKIT_TORCH_PYTHON`, else the project's `.venv-torch`
/// (scripts/install-torch), else `python3` when it imports torch; nil when none does.
let torchPython: String? = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    var candidates = [root + "/.venv-torch/bin/python", "/usr/bin/env"]
    if let p = ProcessInfo.processInfo.environment["RECKIT_TORCH_PYTHON"], !p.isEmpty { candidates.insert(p, at: 0) }
    for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
        let args = c == "/usr/bin/env" ? ["python3", "-c", "import torch, numpy"] : ["-c", "import torch, numpy"]
        if let r = try? runProcess(c, args), r.status == 0 { return c == "/usr/bin/env" ? "python3" : c }
    }
    return nil
}()

/// Runs a program to its end: exit status and standard output (standard error joins it).
func runProcess(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
    p.arguments = program.hasPrefix("/") ? arguments : [program] + arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// RecKit checkpoints in PyTorch: the independent reference model (scripts/reference/) loads a
/// checkpoint with `strict=True` and scores the same histories.
@Suite struct PyTorchRoundTripTests {
    /// A model whose every parameter is random (biases and LayerNorm gains included, so a
    /// mis-mapped or transposed vector shows), and histories of every length and padding.
    static func model(projection: Bool) -> (SequentialRecommender, [[Int]]) {
        var c = ModelConfig(items: 57)
        c.algorithm = .sqn
        c.length = 7
        c.dim = 12
        c.heads = 3
        c.blocks = 2
        c.attentionOutputProjection = projection
        let m = SequentialRecommender(
            config: c, itemKeys: (1...57).map(String.init), eventTypes: ["click", "purchase"], seed: 5)
        for (k, p) in m.networks[0].parameters.enumerated() {
            let values = randomFloats(p.value.count, seed: UInt64(100 + k), scale: 0.5)
            p.value = Matrix(rows: p.value.rows, cols: p.value.cols, elements: values)
        }
        var g = Xoshiro256(seed: 9)
        var histories = [[Int]]()
        for n in 0...7 {
            let items = (0..<n).map { _ in 1 + Int(g.next() % 57) }
            histories.append(items + [Int](repeating: 0, count: 7 - n))  // right padding
            if n > 0 && n < 7 { histories.append([Int](repeating: 0, count: 7 - n) + items) }  // left padding
        }
        return (m, histories)
    }

    @Test(
        .enabled(
            if: torchPython != nil, "torch is not importable: run scripts/install-torch (or set RECKIT_TORCH_PYTHON)"),
        arguments: [false, true])
    func referenceModelGivesTheSameScores(projection: Bool) throws {
        let python = try #require(torchPython)
        let (m, histories) = Self.model(projection: projection)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("torch-rt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try m.save(to: dir + "/m.safetensors")
        let csv = histories.map { $0.map(String.init).joined(separator: ",") }.joined(separator: "\n") + "\n"
        try Data(csv.utf8).write(to: URL(fileURLWithPath: dir + "/h.csv"))
        let script =
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/scripts/reference/reckit_checkpoint_torch.py"
        for head in [SequentialRecommender.Head.supervised, .q] {
            let s = try m.scores(histories, head: head)
            var out = ""
            for r in 0..<s.rows { out += (0..<s.cols).map { "\(s[r, $0])" }.joined(separator: ",") + "\n" }
            try Data(out.utf8).write(to: URL(fileURLWithPath: dir + "/s.csv"))
            let r = try runProcess(
                python,
                [
                    script, "--checkpoint", dir + "/m.safetensors", "--histories", dir + "/h.csv", "--head",
                    head.rawValue, "--scores", dir + "/s.csv",
                ])
            #expect(r.status == 0, "\(head): \(r.output)")
            let line = try #require(r.output.split(separator: "\n").last.map(String.init), "no output")
            let report = try JSONDecoder().decode([String: Double].self, from: Data(line.utf8))
            let diff = try #require(report["max_abs_diff"])
            #expect(diff <= 1e-5, "\(head): max |RecKit − PyTorch| = \(diff)")
            #expect(report["histories"] == Double(histories.count) && report["items"] == 57)
            // The scores are not trivially small: a difference of 1e-5 is a real check.
            #expect(try #require(report["max_abs_score"]) > 0.5)
        }
    }

    /// A checkpoint written before vectors were 1-D (biases and gains [1, n]) still loads, to
    /// the same scores; a tensor of the right count but another shape is refused.
    @Test func checkpointsWithTwoDimensionalBiasesStillLoad() throws {
        let (m, histories) = Self.model(projection: false)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("old-ck-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.safetensors"
        try m.save(to: path)
        let file = try SafeTensors.read(path)
        var tensors = file.tensors
        let meta = file.metadata
        #expect(tensors["net0.ce_head.bias"]?.shape == [57] && tensors["net0.final_norm.weight"]?.shape == [12])
        var vectors = 0
        for (name, t) in tensors where t.shape.count == 1 {
            tensors[name]!.shape = [1, t.count]
            vectors += 1
        }
        #expect(vectors > 10)
        try SafeTensors.write(tensors, metadata: meta, to: path)
        let old = try SequentialRecommender.load(from: path).model
        #expect(try old.scores(histories) == m.scores(histories))
        tensors["net0.ce_head.bias"]!.shape = [3, 19]
        try SafeTensors.write(tensors, metadata: meta, to: path)
        #expect {
            _ = try SequentialRecommender.load(from: path)
        } throws: { error in
            "\(error)".contains("tensor 'net0.ce_head.bias' has shape [3, 19], expected [57]")
        }
    }
}
