import FuzzSupport
import RecKit

/// Offline A/B state files: decoding, merging with itself, advancing and reporting.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    guard let s = try? OffPolicyState.decode(fuzzData(start, count), file: "fuzz.json") else { return 0 }
    if let m = try? OffPolicyState.merge([s, s]), let next = try? m.advanced(), next.pass == .done {
        _ = try? next.report()
    }
    _ = try? s.report()
    return 0
}
