import Foundation
import RecCore
import RecNN
import Testing
import _RecTestSupport

/// Sampled softmax, gBCE and BPR-max against PyTorch running their authors' formulas
/// (`scripts/reference/sampled_losses.py`: gSASRec's transformed positive logit with its clamps,
/// BCEWithLogits; cross entropy of z − log Q; GRU4Rec's ELU, masked softmax and BPR-max sum): losses and autograd's gradients of the states, the
/// head's rows and biases, on the same inputs.
@Suite struct SampledLossTorchTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/reference/sampled_losses.py").path

    @Test(
        .enabled(
            if: torchPython != nil, "torch is not importable: run scripts/install-torch (or set RECKIT_TORCH_PYTHON)"),
        arguments: ["gbce", "softmax", "bpr-max"])
    func lossAndGradientsEqualPyTorch(kind: String) throws {
        let python = try #require(torchPython)
        let (N, d, B, K) = (60, 7, 5, 9)
        let t = 0.75
        let head = CatalogHead(name: "h", items: N, dim: d, seed: 3)
        head.weight.value = Matrix(rows: N, cols: d, elements: randomFloats(N * d, seed: 11, scale: 0.8))
        head.bias.value = Matrix(rows: 1, cols: N, elements: randomFloats(N, seed: 12, scale: 0.5))
        head.setSparseGradients(true)
        let S = Matrix(rows: B, cols: d, elements: randomFloats(B * d, seed: 13, scale: 1))
        var g = Xoshiro256(seed: 14)
        var targets = [Int]()
        var lists = [[Int]]()
        for _ in 0..<B {
            let target = 1 + Int(g.next() % UInt64(N))
            var negatives = [Int]()
            while negatives.count < K {
                let n = 1 + Int(g.next() % UInt64(N))
                if n != target && !negatives.contains(n) { negatives.append(n) }
            }
            targets.append(target)
            lists.append(negatives)
        }
        let logQ = randomFloats(N, seed: 15, scale: 1)
        let alpha = Double(K) / Double(N - 1)
        let beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
        let (loss, dS) = try head.sampledLoss(
            states: S, targets: targets, sampled: .perState(lists),
            kind: kind == "gbce"
                ? .generalizedBCE(beta: beta) : kind == "bpr-max" ? .bprMax(elu: 0.5, regularization: 1.5) : .softmax,
            logQ: kind == "softmax" ? logQ : nil)
        let ids: [[Int]] = zip(targets, lists).map { (target: Int, negatives: [Int]) -> [Int] in
            [target - 1] + negatives.map { $0 - 1 }
        }
        // The inputs, in float64 (every Float exactly).
        func rows(_ m: Matrix) -> [[Double]] { (0..<m.rows).map { r in (0..<m.cols).map { Double(m[r, $0]) } } }
        let input: [String: Any] = [
            "kind": kind, "items": N, "negatives": K, "t": t, "elu": 0.5, "bpreg": 1.5,
            "W": rows(head.weight.value), "b": head.bias.value.storage.map(Double.init), "S": rows(S),
            "ids": ids, "logQ": logQ.map(Double.init),
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-sampled-\(kind)-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("in.json")
        try JSONSerialization.data(withJSONObject: input).write(to: file)
        let r = try runProcess(python, [Self.script, file.path])
        try #require(r.status == 0, "\(r.output)")
        let out = try #require(
            JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any], "\(r.output)")
        // gSASRec takes the mean over all B·(K + 1) logits; RecKit sums a state's K + 1 terms
        // and takes the mean over the states: (K + 1) times theirs, loss and gradients alike.
        let scale = kind == "gbce" ? Double(K + 1) : 1
        if kind == "gbce" {
            let theirBeta = try #require(out["beta"] as? Double)
            let betaDiff: Double = abs(theirBeta - beta)
            #expect(betaDiff <= 1e-15)
        }
        let torchLoss: Double = try #require(out["loss"] as? Double) * scale
        let lossDiff: Double = abs(loss - torchLoss)
        let lossBound: Double = 1e-5 * max(1, abs(torchLoss))
        #expect(lossDiff <= lossBound, "loss \(loss) vs PyTorch \(torchLoss)")
        func close(_ ours: [Float], _ theirs: [Double], _ what: String) {
            let m: Double = max(1e-3, theirs.map { abs($0 * scale) }.max() ?? 0)
            let diff: Double =
                zip(ours, theirs).map { (a: Float, b: Double) -> Double in abs(Double(a) - b * scale) }
                .max() ?? 0
            #expect(ours.count == theirs.count)
            #expect(diff <= 2e-5 * m, "\(what): max difference \(diff), scale \(m)")
        }
        close(dS.storage, (out["dS"] as! [[Double]]).flatMap { $0 }, "dS")
        close(head.weight.grad.storage, (out["dW"] as! [[Double]]).flatMap { $0 }, "dW")
        close(head.bias.grad.storage, out["db"] as! [Double], "db")
        // The rows touched are the targets' and the negatives'.
        var touched = Set<Int>()
        for (target, negatives) in zip(targets, lists) {
            touched.insert(target - 1)
            for n in negatives { touched.insert(n - 1) }
        }
        #expect(head.weight.touchedRows == touched)
    }
}
