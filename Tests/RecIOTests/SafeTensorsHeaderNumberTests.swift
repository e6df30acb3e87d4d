import Foundation
import RecCore
import RecIO
import Testing

/// Class: numbers in checkpoint headers that do not fit the integers they become.
@Suite struct SafeTensorsHeaderNumberTests {
    func file(_ header: String, _ payload: [UInt8]) -> Data {
        let h = Array(header.utf8)
        return Data((0..<8).map { UInt8((h.count >> (8 * $0)) & 0xFF) } + h + payload)
    }

    @Test(arguments: [
        #"[4611686018427387904, 4]"#, #"[4294967296, 4294967296]"#, #"[9223372036854775807]"#, #"[1e30]"#,
        #"[-1, 2]"#, #"[2.5]"#, #"[1, 1e308]"#, #"[3037000500, 3037000500]"#,
    ])
    func shapesThatCannotBeAreTypedErrors(shape: String) {
        let d = file(
            #"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,16]}}"#, [UInt8](repeating: 0, count: 16))
        #expect {
            _ = try SafeTensors.parse(d, file: "ckpt.safetensors")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("ckpt.safetensors:") && text.contains("tensor 'w'") && !text.contains("\n")
        }
    }

    @Test func offsetsBeyondTheIntegersAreTypedErrors() {
        for offs in [#"[0, 1e300]"#, #"[-16, 0]"#, #"[9223372036854775807, 0]"#, #"[0.5, 16.5]"#] {
            let d = file(
                #"{"w":{"dtype":"F32","shape":[4],"data_offsets":"# + offs + "}}", [UInt8](repeating: 0, count: 16))
            #expect(throws: RecIOError.self) { _ = try SafeTensors.parse(d, file: "ckpt.safetensors") }
        }
    }
}
