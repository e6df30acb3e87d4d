import Foundation
import RecCore
import RecIO
import Testing

/// `CSVLines` (64-byte delimiter masks) and `LineBlockReader` (blocks of whole lines) against the
/// row-at-a-time reference: the text split at `\n`, each line by `CSVRow.split`.
@Suite struct CSVLinesTests {
    /// Random CSV text: short and long lines (across 64-byte windows), quotes, CRLF, blank lines,
    /// a byte order mark, a last line with or without its line end.
    static func text(_ g: inout Xoshiro256, lines: Int) -> [UInt8] {
        var out = [UInt8]()
        if g.next() % 3 == 0 { out += [0xEF, 0xBB, 0xBF] }
        for l in 0..<lines {
            let fields = Int(g.next() % 8)
            for f in 0..<fields {
                if f > 0 { out.append(44) }
                let len = g.next() % 5 == 0 ? Int(g.next() % 150) : Int(g.next() % 6)
                for _ in 0..<len {
                    let r = g.next() % 40
                    out.append(r == 0 ? 34 : r == 1 ? 13 : r == 2 ? 32 : UInt8(48 + r % 40))
                }
            }
            if l < lines - 1 || g.next() % 2 == 0 { out += g.next() % 4 == 0 ? [13, 10] : [10] }
        }
        return out
    }

    /// The reference rows: (line, plain, fields as strings when plain).
    static func reference(_ t: [UInt8], atFileStart: Bool) -> [(Int, Bool, [String])] {
        var out = [(Int, Bool, [String])]()
        var lines = t.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        if t.last == 10 { lines.removeLast() }
        for (i, var l) in lines.enumerated() {
            if l.last == 13 { l.removeLast() }
            if i == 0 && atFileStart && l.starts(with: [0xEF, 0xBB, 0xBF]) { l.removeFirst(3) }
            if l.isEmpty { continue }
            let plain = !l.contains(34)
            var row = CSVRow()
            _ = l.withUnsafeBufferPointer { row.split($0.baseAddress!, count: l.count, separator: 44) }
            out.append((i + 1, plain, plain ? (0..<row.count).map(row.string) : []))
        }
        return out
    }

    static func scanned(_ t: [UInt8], atFileStart: Bool) -> [(Int, Bool, [String])] {
        var out = [(Int, Bool, [String])]()
        t.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress else { return }
            var s = CSVLines(base, count: b.count, separator: 44, atFileStart: atFileStart)
            while s.next() {
                var fields = [String]()
                if s.isPlain {
                    for k in 0..<s.count {
                        let (p, n) = s.field(k)
                        fields.append(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
                    }
                }
                out.append((s.lineIndex, s.isPlain, fields))
            }
        }
        return out
    }

    @Test func rowsEqualTheReference() {
        var g = Xoshiro256(seed: 64)
        for trial in 0..<400 {
            let t = Self.text(&g, lines: 1 + Int(g.next() % 40))
            let a = Self.scanned(t, atFileStart: trial % 2 == 0)
            let b = Self.reference(t, atFileStart: trial % 2 == 0)
            #expect(a.count == b.count)
            for (x, y) in zip(a, b) {
                #expect(x.0 == y.0 && x.1 == y.1 && x.2 == y.2, "trial \(trial): \(x) vs \(y)")
            }
            let ends = Array(t.enumerated().filter { $0.element == 10 }).count
            #expect(t.withUnsafeBufferPointer { CSVLines.lineCount($0) } == ends)
        }
    }

    /// `gather` takes the plain rows with more fields than the batch's largest, in order, with
    /// their lines and the batch's fields; it stops at every other row (left current), when the
    /// batch is full, and at the end: the reference rows, whatever the batch size.
    @Test func gatherTakesThePlainRowsOfTheReference() {
        var g = Xoshiro256(seed: 66)
        for trial in 0..<400 {
            let t = Self.text(&g, lines: 1 + Int(g.next() % 60))
            let want = Self.reference(t, atFileStart: trial % 2 == 0)
            let fields = [[0], [2, 0], [1, 3, 1], [4]][trial % 4]
            let needed = fields.max()!
            var got = [(Int, Bool, [String])]()
            t.withUnsafeBufferPointer { b in
                guard let base = b.baseAddress else { return }
                var s = CSVLines(base, count: b.count, separator: 44, atFileStart: trial % 2 == 0)
                var batch = CSVFieldBatch(fields: fields, rows: 1 + trial % 5)
                func drain(_ batch: inout CSVFieldBatch) {
                    for k in 0..<batch.count {
                        let values = fields.indices.map { slot in
                            let (o, l) = batch.column(slot)
                            return String(
                                decoding: UnsafeBufferPointer(start: base + o[k], count: Int(l[k])), as: UTF8.self)
                        }
                        let line = Array(
                            UnsafeBufferPointer(start: base + batch.lineStarts[k], count: Int(batch.lineLengths[k])))
                        #expect(!line.contains(10) && !line.contains(34))
                        got.append((Int(batch.lineIndices[k]), true, values))
                    }
                    batch.count = 0
                }
                while true {
                    let stop = s.gather(into: &batch, origin: base)
                    drain(&batch)
                    if stop == .end { break }
                    if stop == .other { got.append((s.lineIndex, false, [])) }
                }
            }
            // The reference: plain rows with enough fields give the batch's fields; any other row
            // is handed back.
            let expected = want.map { (line, plain, values) in
                plain && values.count > needed ? (line, true, fields.map { values[$0] }) : (line, false, [String]())
            }
            #expect(got.count == expected.count, "trial \(trial)")
            for (x, y) in zip(got, expected) {
                #expect(x.0 == y.0 && x.1 == y.1 && x.2 == y.2, "trial \(trial): \(x) vs \(y)")
            }
        }
    }

    /// Blocks of whole lines, cut again into spans, hold the file's bytes in order, every span
    /// ending at a line end (but the file's last).
    @Test func blocksAreWholeLines() throws {
        var g = Xoshiro256(seed: 65)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for trial in 0..<60 {
            let t = Self.text(&g, lines: 1 + Int(g.next() % 300))
            let path = dir.appendingPathComponent("t\(trial).csv").path
            try Data(t).write(to: URL(fileURLWithPath: path))
            var r = try LineBlockReader(path: path, blockBytes: [16, 100, 4096, 1 << 20][trial % 4])
            var joined = [UInt8]()
            var first = true
            // Odd trials read ahead on another thread while the block is cut (or, every third
            // block, not at all).
            var blocks = 0
            func cut(_ b: UnsafeBufferPointer<UInt8>, _ atStart: Bool, _ ahead: ReadAhead?) -> [[UInt8]] {
                #expect(atStart == first)
                first = false
                blocks += 1
                let group = DispatchGroup()
                if let ahead, blocks % 3 != 0 {
                    DispatchQueue.global().async(group: group) { ahead.run() }
                }
                let cuts = LineBlockReader.lineAlignedCuts(b, pieces: 1 + trial % 3)
                let spans = cuts.indices.map { k in Array(b[(k == 0 ? 0 : cuts[k - 1])..<cuts[k]]) }
                group.wait()
                return spans
            }
            while let got =
                try (trial % 2 == 1 ? r.nextReadingAhead { cut($0, $1, $2) } : r.next { cut($0, $1, nil) })
            {
                for span in try got.get() {
                    #expect(!span.isEmpty)
                    joined += span
                    if joined.count < t.count { #expect(span.last == 10) }
                }
            }
            #expect(joined == t, "trial \(trial)")
        }
    }

    /// A pipe gives the same blocks' bytes as the file.
    @Test func pipesAreReadInBlocksToo() throws {
        var g = Xoshiro256(seed: 66)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for trial in 0..<6 {
            let t = Self.text(&g, lines: 200 + Int(g.next() % 2000))
            let path = dir.appendingPathComponent("p\(trial)").path
            #expect(mkfifo(path, 0o600) == 0)
            let writer = Thread {
                let fd = open(path, O_WRONLY)
                _ = t.withUnsafeBytes { b in
                    var off = 0
                    while off < b.count {
                        let n = write(fd, b.baseAddress! + off, min(b.count - off, 777))
                        if n <= 0 { break }
                        off += n
                    }
                }
                close(fd)
            }
            writer.start()
            var r = try LineBlockReader(path: path, blockBytes: [64, 1000, 1 << 16][trial % 3])
            var joined = [UInt8]()
            while let got =
                try
                (trial % 2 == 1
                ? r.nextReadingAhead { (b, _, ahead) in
                    ahead.run()
                    return Array(b)
                } : r.next { (b, _) in Array(b) })
            {
                let block = got.get()
                if joined.count + block.count < t.count { #expect(block.last == 10) }
                joined += block
            }
            #expect(joined == t, "trial \(trial)")
        }
    }

    /// A file cut short while it is read (a log rotated under the reader) ends the blocks early:
    /// no crash (a mapped file kills the process there), every block a prefix of the old text's
    /// lines.
    @Test func aFileCutShortWhileReadEndsEarly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cut-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = Array((0..<20000).map { "\($0),\($0 * 7)\n" }.joined().utf8)
        let path = dir.appendingPathComponent("cut.csv").path
        try Data(t).write(to: URL(fileURLWithPath: path))
        var r = try LineBlockReader(path: path, blockBytes: 4096)
        var joined = [UInt8]()
        var blocks = 0
        while let got = try r.next({ (b, _) in Array(b) }) {
            joined += got.get()
            blocks += 1
            if blocks == 2 { #expect(truncate(path, 10000) == 0) }
        }
        #expect(joined.count < t.count && joined.count >= 8192)
        #expect(Array(t.prefix(joined.count)) == joined)
    }
}
