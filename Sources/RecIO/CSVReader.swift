#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A streaming CSV reader over bytes: one row at a time, fields as byte ranges of an internal
/// buffer (no `String` per cell unless asked), 1-based line numbers for errors.
///
/// Handles `,` separators (or another one-byte separator such as a tab), `\n` or `\r\n` line ends, and double-quoted fields with `""` escapes
/// (quoted fields may not span lines). Reads the file in 4 MiB blocks, so memory stays flat
/// whatever the file size.
public final class CSVReader {
    /// The file read.
    public let path: String
    /// The field separator byte (`,` by default).
    public let separator: UInt8
    private let fd: Int32
    private var buffer = [UInt8]()
    private var start = 0  // next unread byte in buffer
    private var eof = false
    /// The current row (its bytes, fields and line).
    public private(set) var row = CSVRow()
    /// The current row's fields as ranges into `rowBytes`.
    public var fields: [Range<Int>] { row.fields }
    /// The current row's bytes: field `i` is `rowBytes[fields[i]]`, unquoted (bytes between
    /// fields, such as separators, are not part of any field).
    public var rowBytes: [UInt8] { row.bytes }
    /// 1-based line number of the current row.
    public private(set) var line = 0

    /// Opens `path`.
    /// - Throws: `RecIOError.cannotOpen`.
    public init(path: String, separator: UInt8 = UInt8(ascii: ",")) throws(RecIOError) {
        self.path = path
        self.separator = separator
        fd = try FileInput.open(path)
    }

    deinit { if fd != STDIN_FILENO { close(fd) } }

    private func refill() throws(RecIOError) {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        if try FileInput.read(fd, into: &buffer, count: 4 << 20, path: path) == 0 { eof = true }
    }

    /// Advances to the next non-empty row. Returns false at the end of the file.
    /// - Throws: `RecIOError.malformed` for an unterminated quote.
    public func next() throws(RecIOError) -> Bool {
        while true {
            // Find the end of the line, refilling as needed.
            var end = start
            while true {
                if let nl = buffer[end...].firstIndex(of: 10) {
                    end = nl
                    break
                }
                if eof {
                    end = buffer.count
                    break
                }
                let searched = buffer.count - start
                try refill()
                end = start + searched
            }
            if start >= buffer.count && eof { return false }
            line += 1
            var lineEnd = end
            if lineEnd > start && buffer[lineEnd - 1] == 13 { lineEnd -= 1 }
            var lineStart = start
            // A UTF-8 byte-order mark is not part of the first column's name.
            if line == 1 && lineEnd - lineStart >= 3 && buffer[lineStart] == 0xEF && buffer[lineStart + 1] == 0xBB
                && buffer[lineStart + 2] == 0xBF
            {
                lineStart += 3
            }
            start = min(end + 1, buffer.count)
            if lineEnd == lineStart {
                if eof && start >= buffer.count { return false }
                continue
            }
            try split(lineStart, lineEnd)
            return true
        }
    }

    private func split(_ s: Int, _ e: Int) throws(RecIOError) {
        row.line = line
        let unterminated = buffer.withUnsafeBufferPointer { buf in
            row.split(buf.baseAddress! + s, count: e - s, separator: separator)
        }
        if let field = unterminated {
            throw .malformed(file: path, line: line, field: field, message: "unterminated quote")
        }
    }

    /// Field `i` of the current row as a String.
    public func string(_ i: Int) -> String { row.string(i) }

    /// Field `i` parsed as a Double, or nil when it is not a number (`NumberSyntax` after any
    /// leading spaces: no hexadecimal), to the value `strtod` gives (`DecimalParser`).
    public func double(_ i: Int) -> Double? { row.double(i) }

    /// Field `i` parsed as an integer, or nil.
    public func int(_ i: Int) -> Int? { row.int(i) }

    /// Number of fields in the current row.
    public var count: Int { row.fields.count }
}
