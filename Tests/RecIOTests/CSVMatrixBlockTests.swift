import Foundation
import RecCore
@_spi(Reference) import RecIO
import Testing

/// `CSVMatrix.read` (blocks of lines, spans on threads, joined in file order) against the reader
/// it replaced, one line at a time over the whole text (`parseRowByRow`): the same matrix (bits)
/// or the same first error, for 1–3 threads and blocks of 16 bytes to 1 MiB.
@Suite struct CSVMatrixBlockTests {
    /// Random matrix text: a header or not, comments, blank and space-only lines, CRLF, a byte
    /// order mark, quoted and padded numbers, and (in some texts) one bad row: a text, NaN,
    /// empty or out-of-range field, a row with a field too many or too few, a second header.
    static func text(_ g: inout Xoshiro256, rows: Int, bad: Bool) -> [UInt8] {
        var out = ""
        if g.next() % 4 == 0 { out += "\u{FEFF}" }
        let cols = 1 + Int(g.next() % 6)
        if g.next() % 2 == 0 { out += (0..<cols).map { "h\($0)" }.joined(separator: ",") + "\n" }
        let badRow = bad ? Int(g.next() % UInt64(max(rows, 1))) : -1
        for r in 0..<rows {
            switch g.next() % 12 {
            case 0: out += "# a comment, 1, 2\n"
            case 1: out += "\n"
            case 2: out += "  \t\r\n"
            default: break
            }
            var fields = (0..<cols).map { _ -> String in
                let v = Float(Sampling.uniform(&g) * 200 - 100)
                switch g.next() % 8 {
                case 0: return " \(v) "
                case 1: return "\"\(v)\""
                case 2: return String(format: "%.3e", Double(v))
                case 3: return String(Int(v))
                default: return "\(v)"
                }
            }
            if r == badRow {
                let k = Int(g.next() % UInt64(cols))
                switch g.next() % 6 {
                case 0: fields[k] = "x"
                case 1: fields[k] = "nan"
                case 2: fields[k] = ""
                case 3: fields[k] = "1e39"
                case 4: fields.append("1")
                default: fields = (0..<cols).map { "h\($0)" }
                }
            }
            out += fields.joined(separator: ",") + (g.next() % 5 == 0 ? "\r\n" : "\n")
        }
        if g.next() % 3 == 0 && out.hasSuffix("\n") { out.removeLast() }
        return Array(out.utf8)
    }

    @Test func blocksAndThreadsGiveTheRowReadersMatrixOrError() throws {
        var g = Xoshiro256(seed: 77)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var failures = 0
        for trial in 0..<120 {
            let t = Self.text(&g, rows: [0, 1, 3, 40, 400][trial % 5], bad: trial % 3 == 0)
            let path = dir.appendingPathComponent("m\(trial).csv").path
            try Data(t).write(to: URL(fileURLWithPath: path))
            let want: Result<Matrix, RecIOError>
            do { want = .success(try CSVMatrix.parseRowByRow(Data(t), file: path)) } catch { want = .failure(error) }
            if case .failure = want { failures += 1 }
            for threads in 1...3 {
                for block in [16, 100, 4096, 1 << 20] {
                    let got: Result<Matrix, RecIOError>
                    do {
                        got = .success(try CSVMatrix.read(path, parallelism: .threads(threads), blockBytes: block))
                    } catch { got = .failure(error) }
                    switch (got, want) {
                    case (.success(let a), .success(let b)):
                        #expect(
                            a.rows == b.rows && a.cols == b.cols
                                && a.storage.map(\.bitPattern) == b.storage.map(\.bitPattern),
                            "trial \(trial), \(threads) threads, \(block) B")
                    case (.failure(let a), .failure(let b)):
                        #expect(a == b, "trial \(trial), \(threads) threads, \(block) B")
                    default:
                        Issue.record("trial \(trial), \(threads) threads, \(block) B: \(got) vs \(want)")
                    }
                }
            }
            // `parse` (one span over the bytes) too.
            let parsed: Result<Matrix, RecIOError>
            do { parsed = .success(try CSVMatrix.parse(Data(t), file: path)) } catch { parsed = .failure(error) }
            switch (parsed, want) {
            case (.success(let a), .success(let b)):
                #expect(a.storage.map(\.bitPattern) == b.storage.map(\.bitPattern))
            case (.failure(let a), .failure(let b)): #expect(a == b)
            default: Issue.record("trial \(trial): parse \(parsed) vs \(want)")
            }
        }
        // The texts hold both good matrices and errors.
        #expect(failures > 10 && failures < 110)
    }
}
