import Foundation
import RecCore
import RecIO
@_spi(Reference) import RecRL
import Testing

/// `EventLog.load(csv:)` (blocks of lines parsed in spans, joined in file order) against
/// `EventLog.loadRowByRow` (the row-at-a-time loader it replaced): the same log, column by
/// column, and the same first error, for any thread count and block size.
@Suite struct EventLogBlockTests {
    static func text(_ g: inout Xoshiro256, rows: Int, bad: Bool, priced: Bool, manyEvents: Bool = false) -> String {
        var t = g.next() % 4 == 0 ? "\u{FEFF}" : ""
        t += "session_id,timestamp,item_id,event" + (priced ? ",price" : "") + ",note\n"
        let badRow = bad ? Int(g.next() % UInt64(rows)) : -1
        var session = 0
        for r in 0..<rows {
            if g.next() % 40 == 0 { t += g.next() % 2 == 0 ? "\n" : "\r\n" }
            if g.next() % 6 == 0 { session += 1 }
            let sessionKey: String
            switch g.next() % 12 {
            case 0: sessionKey = "s\(session)"
            case 1: sessionKey = "00\(session)"  // the same key as "\(session)"
            case 2: sessionKey = "-\(session % 5)"
            case 3: sessionKey = "\"\(session)\""
            default: sessionKey = "\(session)"
            }
            let item = [
                "\(g.next() % 50)", "0\(g.next() % 50)", "i\(g.next() % 9)", "9999999999\(g.next() % 3)", "-0",
            ][
                Int(g.next() % 20) % 5 == 0 ? Int(g.next() % 5) : 0]
            let time = [
                "\(1_600_000_000 + r)", "\(1_600_000_000 + r).25", "2020-09-13 12:26:\(String(format: "%02d", r % 60))",
                "2020-09-13T12:26:40.5Z",
            ][Int(g.next() % 4)]
            // Many raw values: more than the parser's by-bytes cache holds (values of one length).
            let event =
                manyEvents && g.next() % 2 == 0
                ? "e\(g.next() % 20)x" : ["click", "click", "cart", "purchase", "view"][Int(g.next() % 5)]
            var f = [sessionKey, time, item, event]
            if priced { f.append(g.next() % 3 == 0 ? "" : String(format: "%.2f", Sampling.uniform(&g) * 100)) }
            f.append(g.next() % 5 == 0 ? "\"a, \"\"b\"\"\"" : "n")
            if r == badRow {
                switch g.next() % 5 {
                case 0: f[1] = "yesterday"
                case 1: f[2] = ""
                case 2: f[3] = "refund"  // not in the mapping
                case 3: f = Array(f.prefix(2))
                default: if priced { f[4] = "-1" } else { f[0] = "" }
                }
            }
            t += f.joined(separator: ",") + (g.next() % 10 == 0 ? "\r\n" : "\n")
        }
        if g.next() % 2 == 0 { t.removeLast() }
        return t
    }

    @Test func logsEqualTheRowLoader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("evblocks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = Xoshiro256(seed: 36)
        let known = ["click": "click", "cart": "cart", "purchase": "purchase", "view": "skip"]
        for trial in 0..<30 {
            let priced = trial % 2 == 0
            // From trial 24: unmapped values kept as they are, 20 more of them.
            let many = trial >= 24
            let mapping = EventMapping(known, passThrough: many)
            let text = Self.text(
                &g, rows: [1, 9, 400, 6000][trial % 4], bad: trial % 3 == 2 && !many, priced: priced, manyEvents: many)
            let path = dir.appendingPathComponent("ev\(trial).csv").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            var cols = EventColumns()
            if priced { cols.price = "price" }
            var want: EventLog?
            var wantError: String?
            do { want = try EventLog.loadRowByRow(csv: path, columns: cols, events: mapping) } catch {
                wantError = "\(error)"
            }
            for threads in [1, 2, 3] {
                for block in [16, 300, 1 << 20] {
                    let at = "trial \(trial), \(threads) threads, block \(block)"
                    var got: EventLog?
                    var failure: String?
                    do {
                        got = try EventLog.load(
                            csv: path, columns: cols, events: mapping, parallelism: .threads(threads), blockBytes: block
                        )
                    } catch { failure = "\(error)" }
                    #expect(failure == wantError, "\(at)")
                    guard let got, let want else { continue }
                    #expect(got.sessions == want.sessions && got.items == want.items, "\(at)")
                    #expect(got.events == want.events && got.eventTypes == want.eventTypes, "\(at)")
                    #expect(got.times.map(\.bitPattern) == want.times.map(\.bitPattern), "\(at)")
                    #expect(got.prices?.map(\.bitPattern) == want.prices?.map(\.bitPattern), "\(at)")
                    #expect(got.sessionKeys == want.sessionKeys && got.itemKeys == want.itemKeys, "\(at)")
                }
            }
            // A bad row is an error; a good log is one unless its only rows were skipped.
            #expect(
                trial % 3 == 2 && !many ? wantError != nil : wantError == nil || wantError!.hasSuffix("no events"),
                "trial \(trial): \(wantError ?? "no error")")
        }
    }
}
