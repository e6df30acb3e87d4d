import FuzzSupport
import RecKit

/// Policy specs (JSON), and the marginals of what they build when small.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count), suffix: ".json")
    if let p = try? PolicySpec.load(path), p.itemCount <= 64 {
        _ = try? p.exactMarginals(k: min(2, p.itemCount))
        _ = try? p.monteCarloMarginals(k: min(2, p.itemCount), simulations: 200, seed: 1)
    }
    return 0
}
