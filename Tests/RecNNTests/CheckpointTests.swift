import Foundation
import RecCore
import RecIO
import RecNN
import Testing
import _RecTestSupport

@Suite struct CheckpointTests {
    final class Tiny: Module {
        let lin = Linear(name: "head", inFeatures: 3, outFeatures: 2, seed: 4)
        let norm = LayerNorm(name: "norm", features: 3)
        var parameters: [Parameter] { lin.parameters + norm.parameters }
    }

    @Test func saveLoadAndBadCheckpoints() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-\(UUID().uuidString).safetensors")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let a = Tiny()
        try a.save(to: path)
        let b = Tiny()
        b.lin.weight.value = Matrix.zeros(2, 3)
        try b.load(from: path)
        #expect(b.lin.weight.value == a.lin.weight.value && b.norm.gamma.value == a.norm.gamma.value)
        // Vectors are written 1-D (PyTorch's shapes); files that hold them as [1, n], as RecKit
        // wrote them before, still load; a column [n, 1] does not.
        let written = try SafeTensors.read(path).tensors
        #expect(written["head.bias"]?.shape == [2] && written["norm.weight"]?.shape == [3])
        #expect(written["norm.bias"]?.shape == [3] && written["head.weight"]?.shape == [2, 3])
        var old = written
        for name in ["head.bias", "norm.weight", "norm.bias"] { old[name]!.shape = [1, old[name]!.count] }
        let oldPath = path + ".old"
        defer { try? FileManager.default.removeItem(atPath: oldPath) }
        try SafeTensors.write(old, to: oldPath)
        let fromOld = Tiny()
        try fromOld.load(from: oldPath)
        #expect(fromOld.norm.beta.value == a.norm.beta.value && fromOld.lin.bias!.value == a.lin.bias!.value)
        old["norm.bias"]!.shape = [3, 1]
        try SafeTensors.write(old, to: oldPath)
        #expect(
            throws: RecNNError.checkpoint(file: oldPath, tensor: "norm.bias", message: "shape [3, 1], expected [3]")
        ) {
            try Tiny().load(from: oldPath)
        }
        // A checkpoint missing a tensor, or with a wrong shape: a typed error, nothing changed.
        var t = try SafeTensors.read(path).tensors
        t["norm.bias"] = nil
        try SafeTensors.write(t, to: path)
        let c = Tiny()
        let before = c.lin.weight.value
        #expect(throws: RecNNError.checkpoint(file: path, tensor: "norm.bias", message: "missing")) {
            try c.load(from: path)
        }
        #expect(c.lin.weight.value == before)
        t["norm.bias"] = Tensor(shape: [4], values: [0, 0, 0, 0])
        try SafeTensors.write(t, to: path)
        #expect(throws: RecNNError.checkpoint(file: path, tensor: "norm.bias", message: "shape [4], expected [3]")) {
            try c.load(from: path)
        }
        #expect(c.lin.weight.value == before)
        // Truncated file.
        let data = FileManager.default.contents(atPath: path)!
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: path))
        #expect(throws: RecNNError.self) { try c.load(from: path) }
        #expect(c.lin.weight.value == before)
    }
}
