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
    /// The current row's fields as ranges into `rowBytes`.
    public private(set) var fields = [Range<Int>]()
    /// The current row's bytes: field `i` is `rowBytes[fields[i]]`, unquoted (bytes between
    /// fields, such as separators, are not part of any field).
    public private(set) var rowBytes = [UInt8]()
    /// 1-based line number of the current row.
    public private(set) var line = 0
    private var scratch = [CChar](repeating: 0, count: 64)

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
        // Works on local arrays and a buffer pointer: no exclusivity checks per byte.
        var f = [Range<Int>]()
        var rb = [UInt8]()
        swap(&f, &fields)
        swap(&rb, &rowBytes)
        defer {
            swap(&f, &fields)
            swap(&rb, &rowBytes)
        }
        f.removeAll(keepingCapacity: true)
        rb.removeAll(keepingCapacity: true)
        let sep = separator
        // Fast path: a row without quotes is copied once, and its fields are ranges of it.
        let plain = buffer.withUnsafeBufferPointer { buf -> Bool in
            guard e > s, memchr(buf.baseAddress! + s, 34, e - s) == nil else { return e == s }
            rb.append(contentsOf: UnsafeBufferPointer(rebasing: buf[s..<e]))
            return true
        }
        if plain {
            rb.withUnsafeBufferPointer { row in
                var start = 0
                var i = 0
                while i < row.count {
                    if row[i] == sep {
                        f.append(start..<i)
                        start = i + 1
                    }
                    i += 1
                }
                f.append(start..<row.count)
            }
            return
        }
        let unterminated = buffer.withUnsafeBufferPointer { buf -> Bool in
            var i = s
            while true {
                let fieldStart = rb.count
                if i < e && buf[i] == 34 {  // quoted
                    i += 1
                    var closed = false
                    while i < e {
                        if buf[i] == 34 {
                            if i + 1 < e && buf[i + 1] == 34 {
                                rb.append(34)
                                i += 2
                                continue
                            }
                            closed = true
                            i += 1
                            break
                        }
                        rb.append(buf[i])
                        i += 1
                    }
                    if !closed { return true }
                    while i < e && buf[i] != sep { i += 1 }
                } else {
                    let start = i
                    while i < e && buf[i] != sep { i += 1 }
                    rb.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i]))
                }
                f.append(fieldStart..<rb.count)
                if i >= e { return false }
                i += 1  // skip the separator
                if i == e {
                    f.append(rb.count..<rb.count)
                    return false
                }
            }
        }
        if unterminated { throw .malformed(file: path, line: line, field: f.count + 1, message: "unterminated quote") }
    }

    /// Field `i` of the current row as a String.
    public func string(_ i: Int) -> String {
        String(decoding: rowBytes[fields[i]], as: UTF8.self)
    }

    /// Field `i` parsed as a Double, or nil when it is not a number (`NumberSyntax` after any
    /// leading spaces: no hexadecimal).
    public func double(_ i: Int) -> Double? {
        let r = fields[i]
        if r.isEmpty || r.count > 63 { return nil }
        let n = r.count
        // Leading spaces, as strtod allows them (trailing ones it never did).
        var lead = r.lowerBound
        while lead < r.upperBound && (rowBytes[lead] == 32 || rowBytes[lead] == 9) { lead += 1 }
        let decimal = rowBytes.withUnsafeBufferPointer {
            NumberSyntax.isNumber($0.baseAddress! + lead, count: r.upperBound - lead)
        }
        guard decimal else { return nil }
        for (k, b) in rowBytes[r].enumerated() { scratch[k] = CChar(bitPattern: b) }
        scratch[n] = 0
        return scratch.withUnsafeMutableBufferPointer { t -> Double? in
            var endp: UnsafeMutablePointer<CChar>?
            let v = strtod(t.baseAddress!, &endp)
            return endp == t.baseAddress! + n ? v : nil
        }
    }

    /// Field `i` parsed as an integer, or nil.
    public func int(_ i: Int) -> Int? {
        let r = fields[i]
        if r.isEmpty { return nil }
        var v = 0
        var neg = false
        var k = r.lowerBound
        if rowBytes[k] == 45 {
            neg = true
            k += 1
            if k == r.upperBound { return nil }
        }
        while k < r.upperBound {
            let d = Int(rowBytes[k]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { return nil }
            v = a
            k += 1
        }
        return neg ? -v : v
    }

    /// Number of fields in the current row.
    public var count: Int { fields.count }
}
