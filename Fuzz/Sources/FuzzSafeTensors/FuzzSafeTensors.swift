import FuzzSupport
import RecKit

/// safetensors files, and checkpoints built on them.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    _ = try? SafeTensors.parse(fuzzData(start, count), file: "fuzz.safetensors")
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count), suffix: ".safetensors")
    _ = try? SequentialRecommender.load(from: path)
    return 0
}
