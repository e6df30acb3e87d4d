import FuzzSupport
import RecKit

/// OBD-format prior YAML files.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count), suffix: ".yaml")
    for campaign in ["all", "men", "women"] { _ = try? BetaPrior.load(yaml: path, campaign: campaign) }
    return 0
}
