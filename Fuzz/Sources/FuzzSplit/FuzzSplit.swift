import FuzzSupport
import RecKit

/// Session split files against a small fixed event log.
enum Fixture {
    static let sessions: SessionData? = {
    var text = "session_id,timestamp,item_id,event\n"
    for s in 0..<6 { for t in 0..<4 { text += "s\(s),\(t),\(s + t),click\n" } }
    let bytes = Array(text.utf8)
    let path = bytes.withUnsafeBytes { fuzzFile($0, suffix: ".events.csv") }
    guard let log = try? EventLog.load(csv: path) else { return nil }
    return try? SessionData(log, preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 2))
    }()
}

@main
enum Main {
    static func main() {
        precondition(Fixture.sessions != nil, "FuzzSplit: the fixture's sessions did not load")
        runFuzzer(fuzzOne)
    }
}

/// One input (libFuzzer's callback).
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = UnsafeRawPointer(data) else { return 0 }
    guard let data = Fixture.sessions else { return 0 }
    let path = fuzzFile(UnsafeRawBufferPointer(start: start, count: count), suffix: ".split.csv")
    _ = try? SessionSplit.load(path, for: data)
    return 0
}
