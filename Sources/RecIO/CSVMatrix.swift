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
/// The reader works on bytes (no `String` per cell): fields are split on `,` and parsed with
/// `strtof` from a small stack buffer. A first line that does not parse as numbers is taken as a
/// header. Blank lines and lines starting with `#` are skipped. Every row must have the same
/// number of fields, and every value must be finite: NaN or infinity in input is an error naming
/// the line and field, never a silent NaN downstream.
public enum CSVMatrix {
    /// Reads `path` into a matrix.
    /// - Throws: `RecIOError` naming the file, line and field of the first problem.
    public static func read(_ path: String) throws(RecIOError) -> Matrix {
        let data = try FileInput.contents(path)
        return try parse(data, file: path)
    }

    /// Parses CSV bytes; `file` names the source in errors.
    public static func parse(_ data: Data, file: String) throws(RecIOError) -> Matrix {
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
            var scratch = [CChar](repeating: 0, count: 128)
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
                do throws(RecIOError) {
                    line = try parseLine(
                        base, from: s, to: e, line: lineNo, file: file, headerAllowed: headerAllowed, scratch: &scratch)
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
                values.append(contentsOf: line.values)
                rows += 1
            }
        }
        if let result { throw result }
        guard rows > 0 else { throw .empty(file: file) }
        return Matrix(rows: rows, cols: cols, elements: values)
    }

    /// A parsed line: its field count and numbers, or a header (every field text).
    struct ParsedLine {
        var fields = 0
        var values = [Float]()
        var isHeader = false
    }

    /// Parses the comma-separated fields of bytes `s..<e` (line `lineNo`). On the first row
    /// (`headerAllowed`), fields that are not numbers make it a header when every field is text;
    /// a row with both is an error, not a header that shifts every index.
    /// - Throws: `.malformed` naming the line and field of a text, empty or non-finite field.
    static func parseLine(
        _ base: UnsafePointer<UInt8>, from s: Int, to e: Int, line lineNo: Int, file: String, headerAllowed: Bool,
        scratch: inout [CChar]
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
            if let parsed = number(base + a, count: len, scratch: &scratch) {
                guard parsed.isFinite else {
                    let t = text()
                    let overflow = t.lowercased().allSatisfy { "0123456789+-.e".contains($0) }
                    throw .malformed(
                        file: file, line: lineNo, field: out.fields,
                        message: overflow
                            ? "'\(t)' is beyond Float's range (|x| ≤ 3.4e38)" : "'\(t)' is not a finite number")
                }
                out.values.append(parsed)
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
            guard out.values.isEmpty else {
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
    static func number(_ p: UnsafePointer<UInt8>, count len: Int, scratch: inout [CChar]) -> Float? {
        guard len > 0 && len < scratch.count else { return nil }
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
