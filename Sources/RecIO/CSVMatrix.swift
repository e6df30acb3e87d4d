import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Reads and writes dense float matrices as CSV: one row per line, comma-separated numbers.
///
/// The reader works on bytes (no `String` per cell): blocks of whole lines are cut into spans
/// parsed on several threads (`CSVLines` finds the fields 64 bytes at a time), numbers get
/// `strtof`'s bits from `DecimalParser`. A first line that does not parse as numbers is taken as a
/// header. Blank lines and lines starting with `#` are skipped. Every row must have the same
/// number of fields, and every value must be finite: NaN or infinity in input is an error naming
/// the line and field, never a silent NaN downstream.
public enum CSVMatrix {
    /// Reads `path` into a matrix: blocks of whole lines (`LineBlockReader`, `blockBytes` a
    /// thread), each cut at line ends into spans parsed on `parallelism`'s threads, joined in file
    /// order. The matrix and the first error are the same for any thread count and block size
    /// (`parseRowByRow`'s).
    /// - Throws: `RecIOError` naming the file, line and field of the first problem.
    public static func read(
        _ path: String, parallelism: Parallelism = .automatic, blockBytes: Int = 4 << 20
    ) throws(RecIOError) -> Matrix {
        let threads = parallelism.resolvedCount
        var blocks = try LineBlockReader(path: path, blockBytes: max(threads, 1) * max(blockBytes, 16))
        var join = MatrixJoin(file: path)
        while let got = try blocks.next({ (block, atFileStart) throws(RecIOError) in
            try join.add(block, atFileStart: atFileStart, threads: threads)
        }) {
            if case .failure(let e) = got { throw e }
        }
        return try join.finish()
    }

    /// Parses CSV bytes; `file` names the source in errors (as `read`, on one thread).
    public static func parse(_ data: Data, file: String) throws(RecIOError) -> Matrix {
        var join = MatrixJoin(file: file)
        var failure: RecIOError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return }
            do throws(RecIOError) {
                try join.add(UnsafeBufferPointer(start: base, count: raw.count), atFileStart: true, threads: 1)
            } catch { failure = error }
        }
        if let failure { throw failure }
        return try join.finish()
    }

    /// The reader before blocks and threads, one line at a time over the whole text: the
    /// reference `read` and `parse` are tested against.
    @_spi(Reference)
    public static func parseRowByRow(_ data: Data, file: String) throws(RecIOError) -> Matrix {
        var values = [Float]()
        var cols = -1
        var rows = 0
        var result: RecIOError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return }
            let n = raw.count
            // A UTF-8 byte-order mark is not part of the first field.
            var lineStart = n >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF ? 3 : 0
            var lineNo = 0
            var headerAllowed = true
            while lineStart < n {
                lineNo += 1
                var lineEnd = lineStart
                while lineEnd < n && base[lineEnd] != 10 { lineEnd += 1 }
                var e = lineEnd
                if e > lineStart && base[e - 1] == 13 { e -= 1 }  // CRLF
                defer { lineStart = lineEnd + 1 }
                // Skip blank and comment lines.
                var s = lineStart
                while s < e && (base[s] == 32 || base[s] == 9) { s += 1 }
                if s == e || base[s] == 35 { continue }
                let line: ParsedLine
                var lineValues = [Float]()
                do throws(RecIOError) {
                    line = try parseLine(
                        base, from: s, to: e, line: lineNo, file: file, headerAllowed: headerAllowed,
                        values: &lineValues)
                } catch {
                    result = error
                    return
                }
                headerAllowed = false
                if line.isHeader { continue }
                if cols < 0 {
                    cols = line.fields
                } else if line.fields != cols {
                    result = .malformed(
                        file: file, line: lineNo, field: nil,
                        message: "\(line.fields) fields, expected \(cols) as in the first row")
                    return
                }
                values.append(contentsOf: lineValues)
                rows += 1
            }
        }
        if let result { throw result }
        guard rows > 0 else { throw .empty(file: file) }
        return Matrix(rows: rows, cols: cols, elements: values)
    }

    /// One span's lines parsed: its values, rows and lines, its first content line (which may be
    /// the file's header), and its first problem. Errors carry the span's line numbers; the join
    /// adds the lines before the span.
    struct Span {
        var values = [Float]()
        var rows = 0
        var lineCount = 0
        /// The first content line: its bytes' offsets in the span, line, and how it parsed with a
        /// header allowed (nil: no content line).
        var first: (from: Int, to: Int, line: Int, header: Bool)?
        /// Fields of the span's first data row, and its line.
        var cols = -1
        var colsLine = 0
        /// The first problem: a bad field (its error), or a row whose field count differs from the
        /// span's first data row.
        var failure: RecIOError?
    }

    /// Parses the lines of `span` (its first content line with a header allowed; the join decides).
    static func parseSpan(_ span: UnsafeBufferPointer<UInt8>, atFileStart: Bool, file: String) -> Span {
        var out = Span()
        guard let base = span.baseAddress else { return out }
        var scan = CSVLines(base, count: span.count, separator: 44, atFileStart: atFileStart)
        let end = base + span.count
        while scan.next() {
            let line = scan.line
            let from = base.distance(to: line.baseAddress!)
            var s = from
            let e = from + line.count
            while s < e && (base[s] == 32 || base[s] == 9) { s += 1 }
            if s == e || base[s] == 35 { continue }
            let isFirst = out.first == nil
            if !isFirst && scan.isPlain && out.cols == scan.count {
                // The fast path: a row of plain numbers with the span's field count; any other
                // row (padding, quotes, a bad value, another count) goes to `parseLine`.
                let before = out.values.count
                var good = true
                for k in 0..<scan.count {
                    let (p, n) = scan.field(k)
                    guard n > 0, p[n - 1] != 32, p[n - 1] != 9,
                        let v = DecimalParser.float(p, count: n, readableTo: end),
                        v.isFinite
                    else {
                        good = false
                        break
                    }
                    out.values.append(v)
                }
                if good {
                    out.rows += 1
                    continue
                }
                out.values.removeSubrange(before...)
            }
            let parsed: ParsedLine
            do throws(RecIOError) {
                parsed = try parseLine(
                    base, from: s, to: e, line: scan.lineIndex, file: file, headerAllowed: isFirst, values: &out.values)
            } catch {
                if isFirst { out.first = (s, e, scan.lineIndex, true) }
                out.failure = error
                break
            }
            if isFirst { out.first = (s, e, scan.lineIndex, parsed.isHeader) }
            if parsed.isHeader { continue }
            if out.cols < 0 {
                out.cols = parsed.fields
                out.colsLine = scan.lineIndex
            } else if parsed.fields != out.cols {
                out.values.removeLast(parsed.fields)
                out.failure = .malformed(
                    file: file, line: scan.lineIndex, field: nil,
                    message: "\(parsed.fields) fields, expected \(out.cols) as in the first row")
                break
            }
            out.rows += 1
        }
        while scan.next() {}
        out.lineCount = scan.lineIndex
        return out
    }

    /// Spans joined in file order: the matrix, and the first error as the row-by-row reader gives it.
    struct MatrixJoin {
        let file: String
        var values = [Float]()
        var rows = 0
        var cols = -1
        var lines = 0
        /// Whether a content line was seen (only the file's first may be a header).
        var content = false

        init(file: String) { self.file = file }

        /// Parses `block` (whole lines) in spans on `threads` threads and joins them.
        mutating func add(_ block: UnsafeBufferPointer<UInt8>, atFileStart: Bool, threads: Int) throws(RecIOError) {
            let cuts = LineBlockReader.lineAlignedCuts(block, pieces: threads == 1 ? 1 : 4 * threads)
            var spans = [Span](repeating: Span(), count: cuts.count)
            let file = self.file
            spans.withUnsafeMutableBufferPointer { o in
                let box = SpanSlots(buffer: o)
                Threading.parallelFor(chunks: cuts.count, parallelism: .threads(threads)) { k in
                    let a = k == 0 ? 0 : cuts[k - 1]
                    box.buffer[k] = parseSpan(
                        UnsafeBufferPointer(rebasing: block[a..<cuts[k]]), atFileStart: atFileStart && k == 0,
                        file: file)
                }
            }
            for (k, s) in spans.enumerated() {
                try add(s, block: block, spanStart: k == 0 ? 0 : cuts[k - 1])
            }
        }

        /// `error` with the lines before the span added.
        func global(_ error: RecIOError) -> RecIOError {
            if case .malformed(let f, let line, let field, let message) = error {
                return .malformed(file: f, line: lines + line, field: field, message: message)
            }
            return error
        }

        mutating func add(_ s: Span, block: UnsafeBufferPointer<UInt8>, spanStart: Int) throws(RecIOError) {
            if let first = s.first, content, first.header {
                // The span's first content line is not the file's: no header allowed. Parsed
                // again that way it fails (a header has a text in every field, a line that failed
                // with a header allowed fails without one), with the row loader's error.
                var scratch = [Float]()
                let base = block.baseAddress! + spanStart
                do throws(RecIOError) {
                    _ = try parseLine(
                        base, from: first.from, to: first.to, line: first.line, file: file, headerAllowed: false,
                        values: &scratch)
                } catch { throw global(error) }
                // Not reached (see above); an error rather than a trap if it were.
                throw global(
                    s.failure
                        ?? .malformed(file: file, line: first.line, field: nil, message: "a second header line"))
            }
            if s.first != nil { content = true }
            if s.rows > 0 || (s.failure != nil && s.cols >= 0) {
                if cols < 0 {
                    cols = s.cols
                } else if s.cols != cols {
                    // At the span's first data row.
                    throw global(
                        .malformed(
                            file: file, line: s.colsLine, field: nil,
                            message: "\(s.cols) fields, expected \(cols) as in the first row"))
                }
            }
            if let f = s.failure { throw global(f) }
            values.append(contentsOf: s.values)
            rows += s.rows
            lines += s.lineCount
        }

        func finish() throws(RecIOError) -> Matrix {
            guard rows > 0 else { throw .empty(file: file) }
            return Matrix(rows: rows, cols: cols, elements: values)
        }
    }

    /// A parsed line: its field count and numbers, or a header (every field text).
    struct ParsedLine {
        var fields = 0
        /// Numbers appended to the caller's values.
        var numbers = 0
        var isHeader = false
    }

    /// Parses the comma-separated fields of bytes `s..<e` (line `lineNo`). On the first row
    /// (`headerAllowed`), fields that are not numbers make it a header when every field is text;
    /// a row with both is an error, not a header that shifts every index.
    /// - Throws: `.malformed` naming the line and field of a text, empty or non-finite field.
    static func parseLine(
        _ base: UnsafePointer<UInt8>, from s: Int, to e: Int, line lineNo: Int, file: String, headerAllowed: Bool,
        values: inout [Float]
    ) throws(RecIOError) -> ParsedLine {
        var out = ParsedLine()
        var firstText: (field: Int, text: String)? = nil
        var f0 = s
        while true {
            var f1 = f0
            while f1 < e && base[f1] != 44 { f1 += 1 }
            out.fields += 1
            let (a, b) = trimmedField(base, from: f0, to: f1)
            let len = b - a
            func text() -> String {
                clipped(String(decoding: UnsafeBufferPointer(start: base + a, count: len), as: UTF8.self))
            }
            if let parsed = number(base + a, count: len) {
                guard parsed.isFinite else {
                    let t = text()
                    let overflow = t.lowercased().allSatisfy { "0123456789+-.e".contains($0) }
                    throw .malformed(
                        file: file, line: lineNo, field: out.fields,
                        message: overflow
                            ? "'\(t)' is beyond Float's range (|x| ≤ 3.4e38)" : "'\(t)' is not a finite number")
                }
                values.append(parsed)
                out.numbers += 1
            } else if headerAllowed {
                if firstText == nil { firstText = (out.fields, text()) }
            } else {
                throw .malformed(
                    file: file, line: lineNo, field: out.fields,
                    message: len == 0 ? "empty field" : "'\(text())' is not a number")
            }
            if f1 >= e { break }
            f0 = f1 + 1
        }
        if let t = firstText {
            guard out.numbers == 0 else {
                throw .malformed(
                    file: file, line: lineNo, field: t.field,
                    message: "'\(t.text)' is not a number (the first row mixes numbers and text: "
                        + "neither a header nor a data row)")
            }
            out.isHeader = true
        }
        return out
    }

    /// A field's bounds without surrounding spaces and one pair of quotes ("1.5" is a number).
    static func trimmedField(_ base: UnsafePointer<UInt8>, from f0: Int, to f1: Int) -> (Int, Int) {
        var a = f0
        var b = f1
        while a < b && (base[a] == 32 || base[a] == 9) { a += 1 }
        while b > a && (base[b - 1] == 32 || base[b - 1] == 9) { b -= 1 }
        if b - a >= 2 && base[a] == 34 && base[b - 1] == 34 {
            a += 1
            b -= 1
        }
        return (a, b)
    }

    /// The field's bytes as a Float (strtof over the whole field), or nil when they are not one
    /// number in `NumberSyntax` (empty, text, hexadecimal, or longer than the scratch buffer).
    static func number(_ p: UnsafePointer<UInt8>, count len: Int) -> Float? {
        guard len > 0 && len < 128 else { return nil }
        return DecimalParser.float(p, count: len)
    }

    /// Writes `m` as CSV to `path` atomically (temporary file, fsync, rename).
    public static func write(_ m: Matrix, to path: String) throws(RecIOError) {
        var s = ""
        s.reserveCapacity(m.count * 10)
        for r in 0..<m.rows {
            s += m.row(r).map { "\($0)" }.joined(separator: ",")
            s += "\n"
        }
        try AtomicFile.write(Data(s.utf8), to: path)
    }
}

/// The parsed spans' slots, written by one task each.
private struct SpanSlots: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<CSVMatrix.Span>
}
