import FuzzSupport
import RecKit

/// safetensors files, and RecKit checkpoints built from them (config header, model, tensors).
@main
enum FuzzSafeTensors: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        if let start = input.baseAddress {
            _ = try? SafeTensors.parse(fuzzData(start, input.count), file: "fuzz.safetensors")
        }
        _ = try? SequentialRecommender.load(from: fuzzFile(input, suffix: ".safetensors"))
    }
}
