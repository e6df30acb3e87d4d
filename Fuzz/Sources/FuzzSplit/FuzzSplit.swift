import FuzzSupport
import RecKit

/// Session split files against a small fixed event log.
@main
enum FuzzSplit: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let data = Fixture.sessions else { fatalError("FuzzSplit: the fixture's sessions did not load") }
        _ = try? SessionSplit.load(fuzzFile(input, suffix: ".split.csv"), for: data)
    }
}

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
