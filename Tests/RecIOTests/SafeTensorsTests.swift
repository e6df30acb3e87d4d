import Foundation
import RecIO
import Testing

@Suite struct SafeTensorsTests {
    func tmp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)-\(name)").path
    }

    @Test func roundTrip() throws {
        let path = tmp("a.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = [
            "encoder.w": Tensor(shape: [2, 3], values: [1, -2, 3.5, .pi, 0, -0]),
            "b": Tensor(shape: [3], values: [7, 8, 9]),
            "scalarish": Tensor(shape: [], values: [42]), "empty": Tensor(shape: [0, 4], values: []),
        ]
        try SafeTensors.write(t, metadata: ["format": "pt", "note": "quote\"d"], to: path)
        let (r, meta) = try SafeTensors.read(path)
        #expect(r == t)
        #expect(meta == ["format": "pt", "note": "quote\"d"])
        // Header length is 8-byte aligned.
        let bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        #expect((8 + Int(bytes[0]) + Int(bytes[1]) << 8) % 8 == 0)
    }

    /// Builds a file by hand: header JSON + raw bytes.
    func file(_ header: String, _ payload: [UInt8]) -> Data {
        let h = Array(header.utf8)
        var out = (0..<8).map { UInt8((h.count >> (8 * $0)) & 0xFF) }
        out += h + payload
        return Data(out)
    }

    @Test func readsHalfAndBFloat16() throws {
        // F16: 1.0, -2.5, 65504, smallest subnormal; BF16: 1.0, -3.0.
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC1, 0xFF, 0x7B, 0x01, 0x00]
        let bf16: [UInt8] = [0x80, 0x3F, 0x40, 0xC0]
        let d = file(
            #"{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}"#,
            f16 + bf16)
        let (t, _) = try SafeTensors.parse(d, file: "x")
        #expect(t["h"]!.values == [1, -2.5, 65504, Float(0x1p-24)])
        #expect(t["b"]!.values == [1, -3])
        #expect(SafeTensors.halfToFloat(0x7C00) == .infinity && SafeTensors.halfToFloat(0x7E00).isNaN)
    }

    @Test func badFilesAreTypedErrors() throws {
        let good = file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0, 128, 63, 0, 0, 0, 64])
        #expect(try SafeTensors.parse(good, file: "x").tensors["w"]!.values == [1, 2])
        // Truncated data.
        #expect(throws: RecIOError.self) { try SafeTensors.parse(good.prefix(good.count - 3), file: "x") }
        // Truncated header and tiny file.
        #expect(throws: RecIOError.self) { try SafeTensors.parse(good.prefix(20), file: "x") }
        #expect(throws: RecIOError.self) { try SafeTensors.parse(Data([1, 2, 3]), file: "x") }
        // Corrupt JSON.
        #expect(throws: RecIOError.self) { try SafeTensors.parse(file("{not json}", []), file: "x") }
        // Shape and offsets disagree.
        #expect(
            throws: RecIOError.malformed(
                file: "x", line: 0, field: nil, message: "tensor 'w': 8 bytes for shape [3] of F32 (12 expected)")
        ) {
            try SafeTensors.parse(
                file(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8)),
                file: "x")
        }
        // Unsupported dtype.
        #expect(throws: RecIOError.self) {
            try SafeTensors.parse(
                file(#"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8)),
                file: "x")
        }
        #expect(throws: RecIOError.self) { try SafeTensors.read("/nonexistent.safetensors") }
    }
}
