import Foundation
import RecCore

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
                var fields = 0
                var rowValues = [Float]()
                // On the first row: fields that are not numbers (a header names every column;
                // a row with both is an error, not a header that shifts every index).
                var firstText: (field: Int, text: String)? = nil
                var f0 = s
                while true {
                    var f1 = f0
                    while f1 < e && base[f1] != 44 { f1 += 1 }
                    fields += 1
                    // Trim spaces, then one pair of quotes ("1.5" is a number).
                    var a = f0
                    var b = f1
                    while a < b && (base[a] == 32 || base[a] == 9) { a += 1 }
                    while b > a && (base[b - 1] == 32 || base[b - 1] == 9) { b -= 1 }
                    if b - a >= 2 && base[a] == 34 && base[b - 1] == 34 {
                        a += 1
                        b -= 1
                    }
                    let len = b - a
                    func text() -> String {
                        clipped(String(decoding: UnsafeBufferPointer(start: base + a, count: len), as: UTF8.self))
                    }
                    var parsed: Float = 0
                    var ok = false
                    if len > 0 && len < scratch.count {
                        scratch.withUnsafeMutableBufferPointer { sb in
                            for i in 0..<len { sb[i] = CChar(bitPattern: base[a + i]) }
                            sb[len] = 0
                            var endp: UnsafeMutablePointer<CChar>?
                            parsed = strtof(sb.baseAddress!, &endp)
                            ok = endp == sb.baseAddress! + len
                        }
                    }
                    if !ok {
                        if headerAllowed {
                            if firstText == nil { firstText = (fields, text()) }
                        } else {
                            result = .malformed(
                                file: file, line: lineNo, field: fields,
                                message: len == 0 ? "empty field" : "'\(text())' is not a number")
                            return
                        }
                    } else if !parsed.isFinite {
                        let t = text()
                        let overflow = t.lowercased().allSatisfy { "0123456789+-.e".contains($0) }
                        result = .malformed(
                            file: file, line: lineNo, field: fields,
                            message: overflow
                                ? "'\(t)' is beyond Float's range (|x| ≤ 3.4e38)" : "'\(t)' is not a finite number")
                        return
                    } else {
                        rowValues.append(parsed)
                    }
                    if f1 >= e { break }
                    f0 = f1 + 1
                }
                if headerAllowed, let t = firstText, !rowValues.isEmpty {
                    result = .malformed(
                        file: file, line: lineNo, field: t.field,
                        message: "'\(t.text)' is not a number (the first row mixes numbers and text: "
                            + "neither a header nor a data row)")
                    return
                }
                let headerCandidate = firstText != nil
                headerAllowed = false
                if headerCandidate { continue }  // the header line
                if cols < 0 {
                    cols = fields
                } else if fields != cols {
                    result = .malformed(
                        file: file, line: lineNo, field: nil,
                        message: "\(fields) fields, expected \(cols) as in the first row")
                    return
                }
                values.append(contentsOf: rowValues)
                rows += 1
            }
        }
        if let result { throw result }
        guard rows > 0 else { throw .empty(file: file) }
        return Matrix(rows: rows, cols: cols, elements: values)
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
