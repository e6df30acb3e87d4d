import FuzzSupport
import RecKit

/// Event logs in every format RecRL reads.
@main
enum Main {
    static func main() { runFuzzer(fuzzOne) }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count))
    _ = try? EventLog.load(csv: path)
    _ = try? EventLog.loadRetailRocket(path)
    _ = try? EventLog.loadYooChoose(clicks: path, buys: path)
    if let m = try? RatingMapping.parse("5=purchase,1-4=click") { _ = try? EventLog.loadMovieLens(path, ratings: m) }
    return 0
}
