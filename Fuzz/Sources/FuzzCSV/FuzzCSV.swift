import FuzzSupport
import RecKit

/// The byte-level CSV reader (every field as string, int, double) and CSV matrices.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count))
    if let r = try? CSVReader(path: path) {
        while (try? r.next()) == true {
            for i in 0..<r.count {
                _ = r.string(i)
                _ = r.int(i)
                _ = r.double(i)
            }
        }
    }
    _ = try? CSVMatrix.read(path)
    return 0
}
