import Foundation
import RecCore
import RecIO
import RecOPE
import Testing

/// `LogReader` (blocks of lines parsed in parallel spans) against `ReferenceLogReader` (the
/// row-at-a-time reader it replaced): the same chunks, field by field, for any thread count and
/// block size, and the same first error.
@Suite struct LogReaderBlockTests {
    /// A random log: quoted fields, CRLF, blank lines, a byte order mark, repeated and new context
    /// values, numbers in every form, and (when `bad`) one bad value somewhere.
    static func log(_ g: inout Xoshiro256, rows: Int, keyed: Bool, bad: Bool) -> String {
        var t = g.next() % 4 == 0 ? "\u{FEFF}" : ""
        t += "item,pos,click,prop,user,ev,ts" + (keyed ? ",key" : "") + ",extra\n"
        let badRow = bad ? Int(g.next() % UInt64(rows)) : -1
        for r in 0..<rows {
            if g.next() % 50 == 0 { t += g.next() % 2 == 0 ? "\n" : "\r\n" }
            var f = [
                String(g.next() % 40), String(1 + g.next() % 3),
                ["0", "1", "0.0", "1e0", " 1", "0.5"][Int(g.next() % 6)],
                String(format: "%.\(Int(g.next() % 17))g", 0.001 + 0.99 * Sampling.uniform(&g)),
                g.next() % 5 == 0 ? "user with space \(g.next() % 3000)" : "u\(g.next() % 300)",
                ["click", "view", "buy", ""][Int(g.next() % 4)],
                // Seconds (the fast path) or a date-time (the reference path).
                g.next() % 7 == 0 ? "2024-01-0\(1 + g.next() % 9) 10:0\(g.next() % 10):00" : String(1_700_000_000 + r),
            ]
            if keyed { f.append(String(Int64(bitPattern: g.next()))) }
            f.append(g.next() % 3 == 0 ? "\"x, \"\"y\"\"\"" : "z\(g.next() % 9)")
            if g.next() % 40 == 0 { f[4] = "\"" + f[4] + "\"" }  // a quoted context value
            if g.next() % 60 == 0 { f[0] = "\"\(f[0])\"" }  // a quoted number
            if r == badRow {
                let k = Int(g.next() % 5)
                switch k {
                case 0: f[0] = "-3"
                case 1: f[1] = "0"
                case 2: f[2] = "nan"
                case 3: f[3] = "1.5"
                default: f = Array(f.prefix(3))
                }
            }
            t += f.joined(separator: ",") + (g.next() % 10 == 0 ? "\r\n" : "\n")
        }
        if g.next() % 2 == 0 { t.removeLast() }
        return t
    }

    static func chunks(_ next: () throws -> LogChunk?) -> ([LogChunk], String?) {
        var out = [LogChunk]()
        do {
            while let c = try next() { out.append(c) }
        } catch { return (out, "\(error)") }
        return (out, nil)
    }

    @Test func chunksEqualTheRowReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logblocks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = Xoshiro256(seed: 35)
        for trial in 0..<24 {
            let keyed = trial % 2 == 1
            let text = Self.log(
                &g, rows: [1, 7, 300, 5000][trial % 4] + Int(g.next() % 50), keyed: keyed, bad: trial % 3 == 2)
            let path = dir.appendingPathComponent("log\(trial).csv").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            var cols = LogColumns(item: "item", position: "pos", reward: "click", context: ["user"])
            cols.positionBase = 1
            cols.propensity = "prop"
            cols.event = "ev"
            if keyed { cols.rowKey = "key" }
            if trial % 4 >= 2 { cols.time = "ts" }
            let maxRows = [3, 64, 1000, 65536][Int(g.next() % 4)]
            let ref = try ReferenceLogReader(path: path, columns: cols)
            var wantEvents = [LogChunk.Context?]()
            var wantTimes = [[UInt64]?]()
            let (want, wantError) = Self.chunks {
                let c = try ref.next(maxRows: maxRows)
                wantEvents.append(ref.lastEvents)
                wantTimes.append(ref.lastTimes?.map(\.bitPattern))
                return c
            }
            #expect((trial % 3 == 2) == (wantError != nil), "trial \(trial): \(wantError ?? "no error")")
            for threads in [1, 2, 3] {
                for block in [16, 200, 4096, 2 << 20] {
                    let r = try LogReader(path: path, columns: cols, parallelism: .threads(threads), blockBytes: block)
                    var events = [LogChunk.Context?]()
                    var times = [[UInt64]?]()
                    let (got, error) = Self.chunks {
                        let c = try r.next(maxRows: maxRows)
                        events.append(r.lastEvents)
                        times.append(r.lastTimes?.map(\.bitPattern))
                        return c
                    }
                    let at = "trial \(trial), \(threads) threads, block \(block)"
                    #expect(error == wantError, "\(at)")
                    #expect(got.count == want.count, "\(at)")
                    for (a, b) in zip(got, want) {
                        #expect(a.items == b.items && a.positions == b.positions, "\(at)")
                        #expect(a.rewards.map(\.bitPattern) == b.rewards.map(\.bitPattern), "\(at)")
                        #expect(a.propensities?.map(\.bitPattern) == b.propensities?.map(\.bitPattern), "\(at)")
                        #expect(a.rowKeys == b.rowKeys && a.rowKeyed == b.rowKeyed, "\(at)")
                        #expect(a.lines == b.lines, "\(at)")
                        #expect(a.contexts.map(\.ids) == b.contexts.map(\.ids), "\(at)")
                        #expect(a.contexts.map(\.values) == b.contexts.map(\.values), "\(at)")
                    }
                    if error == nil {
                        #expect(r.rowsRead == ref.rowsRead, "\(at)")
                        #expect(events.map { $0?.ids } == wantEvents.map { $0?.ids }, "\(at)")
                        #expect(events.map { $0?.values } == wantEvents.map { $0?.values }, "\(at)")
                        #expect(times == wantTimes, "\(at)")
                    }
                }
            }
        }
    }

    /// A caller that changes `maxRows` between calls (chunks are assembled ahead for the size of
    /// the call that read their block): every chunk holds at most its call's rows, with a value
    /// table of its own in order of first appearance, and the rows in order are the reference's.
    @Test func chunksOfChangingSizesHoldTheSameRows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logsizes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = Xoshiro256(seed: 38)
        var cols = LogColumns(item: "item", position: "pos", reward: "click", context: ["user"])
        cols.positionBase = 1
        cols.event = "ev"
        cols.time = "ts"
        let path = dir.appendingPathComponent("log.csv").path
        try Self.log(&g, rows: 6000, keyed: false, bad: false).write(toFile: path, atomically: true, encoding: .utf8)
        func decoded(_ c: LogChunk.Context) -> [String] { c.ids.map { c.values[Int($0)] } }
        let ref = try ReferenceLogReader(path: path, columns: cols)
        var want: (items: [Int32], users: [String], events: [String], times: [Double]) = ([], [], [], [])
        while let c = try ref.next(maxRows: 100_000) {
            want.items += c.items
            want.users += decoded(c.contexts[0])
            want.events += decoded(ref.lastEvents!)
            want.times += ref.lastTimes!
        }
        for threads in [1, 2] {
            let r = try LogReader(path: path, columns: cols, parallelism: .threads(threads), blockBytes: 4096)
            var got: (items: [Int32], users: [String], events: [String], times: [Double]) = ([], [], [], [])
            let sizes = [1000, 7, 64, 3, 2500, 1]
            var call = 0
            while true {
                let size = sizes[call % sizes.count]
                call += 1
                guard let c = try r.next(maxRows: size) else { break }
                #expect(c.count <= size && c.count > 0, "call \(call): \(c.count) rows for maxRows \(size)")
                for ctx in [c.contexts[0], r.lastEvents!] {
                    // Values in order of first appearance, none unused.
                    var seen = Set<Int32>()
                    let firsts = ctx.ids.filter { seen.insert($0).inserted }
                    #expect(firsts == (0..<Int32(ctx.values.count)).map { $0 }, "call \(call)")
                }
                #expect(r.lastTimes!.count == c.count)
                got.items += c.items
                got.users += decoded(c.contexts[0])
                got.events += decoded(r.lastEvents!)
                got.times += r.lastTimes!
            }
            #expect(got.items == want.items && got.users == want.users, "\(threads) threads")
            #expect(got.events == want.events && got.times == want.times, "\(threads) threads")
            #expect(r.rowsRead == want.items.count)
        }
    }

    /// The position-only read gives the deepest position of a full read; an error it reports is a
    /// full read's first error (a bad reward before a bad position is the one reported).
    @Test func deepestPositionEqualsAFullRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deepest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = Xoshiro256(seed: 37)
        var cols = LogColumns(item: "item", position: "pos", reward: "click", context: ["user"])
        cols.positionBase = 1
        cols.propensity = "prop"
        cols.event = "ev"
        for trial in 0..<12 {
            let text = Self.log(&g, rows: 3000, keyed: false, bad: trial % 2 == 1)
            let path = dir.appendingPathComponent("d\(trial).csv").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            var want: Result<Int, RecOPEError>
            do {
                let r = try ReferenceLogReader(path: path, columns: cols)
                var deepest = 0
                while let c = try r.next() { deepest = max(deepest, Int(c.positions.max() ?? 0) + 1) }
                want = .success(deepest)
            } catch { want = .failure(error) }
            for threads in [1, 2] {
                let got: Result<Int, RecOPEError>
                do {
                    got = .success(
                        try LogReader.deepestPosition(path: path, columns: cols, parallelism: .threads(threads)))
                } catch { got = .failure(error) }
                // A bad value in a column it does not read is left to the passes (which report the
                // same first error as before); any error it reports is the full read's.
                if case .success = want {
                    #expect("\(got)" == "\(want)", "trial \(trial)")
                } else if case .failure = got {
                    #expect("\(got)" == "\(want)", "trial \(trial)")
                }
            }
        }
        // A bad reward (line 3) before a bad position (line 4): the reward's error.
        let path = dir.appendingPathComponent("two.csv").path
        try "item,pos,click,prop,user,ev\n1,1,0,0.5,u,click\n1,1,x,0.5,u,click\n1,0,0,0.5,u,click\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        #expect(
            throws: RecOPEError.malformedFile(
                file: path, line: 3, message: "column 'click': 'x' is not a finite number")
        ) {
            _ = try LogReader.deepestPosition(path: path, columns: cols)
        }
    }
}
