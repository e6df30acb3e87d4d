import CSIMD

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// One row of a CSV file split into fields that the row owns: field `i` is `bytes[fields[i]]`,
/// unquoted. The reference path of every reader (quoted rows, rows a fast path refuses, and
/// the messages of bad rows) and what `CSVReader` holds for its current row.
public struct CSVRow: Sendable {
    /// The row's bytes: field `i` is `bytes[fields[i]]` (separators belong to no field).
    public var bytes: [UInt8] = []
    /// The fields as ranges of `bytes`.
    public var fields: [Range<Int>] = []
    /// 1-based line number of the row in its file.
    public var line = 0

    /// An empty row.
    public init() {}

    /// Number of fields.
    public var count: Int { fields.count }

    /// Field `i` as a String.
    public func string(_ i: Int) -> String { String(decoding: bytes[fields[i]], as: UTF8.self) }

    /// Field `i` parsed as a Double, or nil when it is not a number (`NumberSyntax` after any
    /// leading spaces: no hexadecimal), by `DecimalParser`: the value `strtod` gives.
    public func double(_ i: Int) -> Double? {
        let r = fields[i]
        return bytes.withUnsafeBufferPointer { DecimalParser.double($0.baseAddress! + r.lowerBound, count: r.count) }
    }

    /// Field `i` parsed as an integer (`[-]digits`), or nil.
    public func int(_ i: Int) -> Int? {
        let r = fields[i]
        return bytes.withUnsafeBufferPointer { DecimalParser.int($0.baseAddress! + r.lowerBound, count: r.count) }
    }

    /// Splits the `count` bytes at `p` (one line, without its line end) into fields, unquoting
    /// double-quoted fields (`""` is a quote).
    /// - Returns: nil, or the 1-based number of a field whose quote is not closed.
    public mutating func split(_ p: UnsafePointer<UInt8>, count e: Int, separator sep: UInt8) -> Int? {
        var f = [Range<Int>]()
        var rb = [UInt8]()
        swap(&f, &fields)
        swap(&rb, &bytes)
        defer {
            swap(&f, &fields)
            swap(&rb, &bytes)
        }
        f.removeAll(keepingCapacity: true)
        rb.removeAll(keepingCapacity: true)
        // Fast path: a row without quotes is copied once, and its fields are ranges of it.
        if e == 0 || memchr(p, 34, e) == nil {
            rb.append(contentsOf: UnsafeBufferPointer(start: p, count: e))
            var start = 0
            for i in 0..<e where p[i] == sep {
                f.append(start..<i)
                start = i + 1
            }
            f.append(start..<e)
            return nil
        }
        var i = 0
        while true {
            let fieldStart = rb.count
            if i < e && p[i] == 34 {  // quoted
                i += 1
                var closed = false
                while i < e {
                    if p[i] == 34 {
                        if i + 1 < e && p[i + 1] == 34 {
                            rb.append(34)
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    rb.append(p[i])
                    i += 1
                }
                if !closed { return f.count + 1 }
                while i < e && p[i] != sep { i += 1 }
            } else {
                let start = i
                while i < e && p[i] != sep { i += 1 }
                rb.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
            }
            f.append(fieldStart..<rb.count)
            if i >= e { return nil }
            i += 1  // skip the separator
            if i == e {
                f.append(rb.count..<rb.count)
                return nil
            }
        }
    }
}

/// The lines of a span of memory that holds whole lines, one row at a time, with the fields of
/// an unquoted row as offsets into the span (no copy). A row with a quote is left to the caller
/// (`isPlain` is false): `CSVRow.split` on `line`.
///
/// The span is scanned 64 bytes at a time for separators, line ends and quotes
/// (`rk_csv_masks64`); a row's fields come from the set bits, so the loop touches each byte once
/// in a vector compare and each delimiter once. A value the loop owns: its scratch is freed with
/// it, nothing is reference-counted per row. Empty lines are skipped but counted; a `\r` before
/// `\n` is not part of the row; a UTF-8 byte order mark opens the first line when `atFileStart`.
public struct CSVLines: ~Copyable {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let total: Int
    @usableFromInline let separator: UInt8
    @usableFromInline var atFileStart: Bool
    /// Offset of the next line's first byte.
    @usableFromInline var cursor = 0
    /// The 64-byte window being read: its offset, and its delimiter bits not yet consumed.
    @usableFromInline var window = -64
    @usableFromInline var bits: UInt64 = 0
    @usableFromInline var newlines: UInt64 = 0
    @usableFromInline var quotes: UInt64 = 0
    /// The last window when it runs past the span, zero-padded.
    @usableFromInline var tail: UnsafeMutablePointer<UInt8>
    /// Field boundaries of the current plain row: field `k` is `[starts[k], starts[k+1] - 1)`
    /// from `line.baseAddress`.
    @usableFromInline var starts: UnsafeMutablePointer<Int32>
    @usableFromInline var capacity: Int
    /// Lines consumed, the current row's included: the current row's line, counted from 1 at
    /// the span's first line.
    @inlinable public var lineIndex: Int { _lineIndex }
    @usableFromInline var _lineIndex: Int = 0
    /// Fields of the current row (when plain).
    @inlinable public var count: Int { _count }
    @usableFromInline var _count: Int = 0
    /// The current row's bytes (without its line end).
    @inlinable public var line: UnsafeBufferPointer<UInt8> { _line }
    @usableFromInline var _line: UnsafeBufferPointer<UInt8>
    /// Whether the current row has no quote (its fields are then `field(_:)`).
    @inlinable public var isPlain: Bool { _isPlain }
    @usableFromInline var _isPlain: Bool = true

    /// Scans the `count` bytes at `base`.
    public init(_ base: UnsafePointer<UInt8>, count: Int, separator: UInt8, atFileStart: Bool) {
        self.base = base
        total = count
        self.separator = separator
        self.atFileStart = atFileStart
        capacity = 64
        starts = .allocate(capacity: capacity + 1)
        tail = .allocate(capacity: 64)
        _line = UnsafeBufferPointer(start: base, count: 0)
    }

    deinit {
        starts.deallocate()
        tail.deallocate()
    }

    /// Loads the next window's bits.
    @inlinable @inline(__always)
    mutating func advance() {
        window += 64
        var s: UInt64 = 0
        var n: UInt64 = 0
        var q: UInt64 = 0
        if window + 64 <= total {
            rk_csv_masks64(base + window, separator, &s, &n, &q)
        } else {
            let k = total - window
            tail.update(repeating: 0, count: 64)
            tail.update(from: base + window, count: k)
            rk_csv_masks64(tail, separator, &s, &n, &q)
        }
        bits = s | n
        newlines = n
        quotes = q
    }

    /// Advances to the next non-empty line. Returns false at the end of the span.
    @inlinable @inline(__always)
    public mutating func next() -> Bool {
        while cursor < total {
            let lineStart = cursor
            var n = 0
            var quoted = false
            var end = total  // the line's end (its \n, or the span's end)
            starts[0] = 0
            scan: while true {
                while bits == 0 {
                    // Quotes in the rest of this window belong to this line.
                    if window >= 0 && quotes >> UInt64(max(lineStart - window, 0) & 63) != 0
                        && lineStart < window + 64
                    {
                        quoted = true
                    }
                    if window + 64 >= total { break scan }
                    advance()
                }
                let b = bits.trailingZeroBitCount
                bits &= bits &- 1
                let at = window + b
                if (newlines >> UInt64(b)) & 1 != 0 {
                    end = at
                    // Quotes between the line's start and its end in this window.
                    let from = max(lineStart - window, 0)
                    let below: UInt64 = b == 0 ? 0 : (~0 >> UInt64(64 - b))
                    if (quotes & below) >> UInt64(from) != 0 { quoted = true }
                    break
                }
                n += 1
                if n >= capacity { grow() }
                starts[n] = Int32(truncatingIfNeeded: at - lineStart + 1)
            }
            cursor = end + 1
            _lineIndex += 1
            var s = lineStart
            var e = end
            if e > s && base[e - 1] == 13 { e -= 1 }
            if atFileStart {
                atFileStart = false
                if e - s >= 3 && base[s] == 0xEF && base[s + 1] == 0xBB && base[s + 2] == 0xBF {
                    s += 3
                    // The byte order mark shifts every boundary.
                    for k in 1..<(n + 1) { starts[k] -= 3 }
                }
            }
            if e == s { continue }
            _line = UnsafeBufferPointer(start: base + s, count: e - s)
            _isPlain = !quoted
            _count = n + 1
            // One past the last field's end, as if a separator followed it.
            starts[n + 1] = Int32(truncatingIfNeeded: e - s + 1)
            return true
        }
        return false
    }

    /// Line ends (`\n`) in `span`: one less than its lines when the last one has no line end.
    public static func lineCount(_ span: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        var at = 0
        var s: UInt64 = 0
        var n: UInt64 = 0
        var q: UInt64 = 0
        let p = span.baseAddress!
        while at + 64 <= span.count {
            rk_csv_masks64(p + at, 10, &s, &n, &q)
            count += n.nonzeroBitCount
            at += 64
        }
        while at < span.count {
            if p[at] == 10 { count += 1 }
            at += 1
        }
        return count
    }

    @usableFromInline
    mutating func grow() {
        let bigger = UnsafeMutablePointer<Int32>.allocate(capacity: capacity * 2 + 1)
        bigger.update(from: starts, count: capacity + 1)
        starts.deallocate()
        starts = bigger
        capacity *= 2
    }

    /// Field `k` of the current (plain) row: its first byte and its length.
    @inlinable
    public func field(_ k: Int) -> (UnsafePointer<UInt8>, Int) {
        let a = Int(starts[k])
        return (line.baseAddress! + a, Int(starts[k + 1]) - 1 - a)
    }
}

/// Some fields of up to `rows` plain rows, by field then row (offsets from a span's first byte,
/// lengths), with each row's line: what `CSVLines.gather` fills for a reader that converts a
/// batch column by column. Memory the batch owns.
public struct CSVFieldBatch: ~Copyable {
    /// Rows the batch holds at most.
    public let rows: Int
    /// The fields gathered, in slot order.
    public let fields: [Int]
    /// The row's fields must number more than this (the largest of `fields`).
    @usableFromInline let needed: Int
    @usableFromInline let fieldList: UnsafeMutablePointer<Int>
    /// Slot `s` of row `k` starts at `offsets[s * rows + k]` (from the span's first byte).
    public let offsets: UnsafeMutablePointer<Int>
    /// Slot `s` of row `k` has `lengths[s * rows + k]` bytes.
    public let lengths: UnsafeMutablePointer<Int32>
    /// Row `k`'s line starts at `lineStarts[k]` (from the span's first byte).
    public let lineStarts: UnsafeMutablePointer<Int>
    /// Row `k`'s line has `lineLengths[k]` bytes (without its line end).
    public let lineLengths: UnsafeMutablePointer<Int32>
    /// Row `k`'s line in the span (`CSVLines.lineIndex`).
    public let lineIndices: UnsafeMutablePointer<Int32>
    /// A flag per row for the caller (1: the row's values are good).
    public let ok: UnsafeMutablePointer<UInt8>
    /// Rows held.
    public var count = 0

    /// A batch of the fields `fields` (indices in the row) for up to `rows` rows.
    public init(fields: [Int], rows: Int) {
        self.rows = rows
        self.fields = fields
        needed = fields.max() ?? 0
        fieldList = .allocate(capacity: max(fields.count, 1))
        for (k, f) in fields.enumerated() { fieldList[k] = f }
        offsets = .allocate(capacity: max(fields.count, 1) * rows)
        lengths = .allocate(capacity: max(fields.count, 1) * rows)
        lineStarts = .allocate(capacity: rows)
        lineLengths = .allocate(capacity: rows)
        lineIndices = .allocate(capacity: rows)
        ok = .allocate(capacity: rows)
    }

    deinit {
        fieldList.deallocate()
        offsets.deallocate()
        lengths.deallocate()
        lineStarts.deallocate()
        lineLengths.deallocate()
        lineIndices.deallocate()
        ok.deallocate()
    }

    /// Field slot `slot`'s offsets and lengths, by row.
    @inlinable @inline(__always)
    public func column(_ slot: Int) -> (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int32>) {
        (offsets + slot * rows, lengths + slot * rows)
    }
}

extension CSVLines {
    /// Why `gather` returned.
    public enum GatherStop: Sendable {
        /// The batch is full.
        case full
        /// The current row is not one the batch takes (quoted, or too few fields): the caller
        /// reads it (`line`, `lineIndex`).
        case other
        /// The span has no more lines.
        case end
    }

    /// Adds the next plain rows with enough fields to `batch` (their lines, and the batch's
    /// fields as offsets from `origin`) until it is full, a row it does not take is current, or
    /// the span ends. The scan's loop and the gather run in this one function, with the scan's
    /// state in registers (a call of `next` per row kept it in memory).
    public mutating func gather(into batch: inout CSVFieldBatch, origin: UnsafePointer<UInt8>) -> GatherStop {
        let rows = batch.rows
        let needed = batch.needed
        let slots = batch.fields.count
        let list = batch.fieldList
        let offsets = batch.offsets
        let lengths = batch.lengths
        var k = batch.count
        defer { batch.count = k }
        while k < rows {
            guard next() else { return .end }
            guard _isPlain && _count > needed else { return .other }
            let line = _line.baseAddress!
            let lineAt = origin.distance(to: line)
            batch.lineStarts[k] = lineAt
            batch.lineLengths[k] = Int32(truncatingIfNeeded: _line.count)
            batch.lineIndices[k] = Int32(truncatingIfNeeded: _lineIndex)
            for slot in 0..<slots {
                let f = list[slot]
                let a = Int(starts[f])
                offsets[slot &* rows &+ k] = lineAt &+ a
                lengths[slot &* rows &+ k] = starts[f &+ 1] &- 1 &- Int32(truncatingIfNeeded: a)
            }
            k += 1
        }
        return .full
    }
}

/// Reads a file in large blocks that end at a line end (the rest of a block's last line opens
/// the next one), for readers that parse whole lines in parallel. `-` is standard input.
///
/// Every file is read into one buffer of about a block (memory held: one block; two when the
/// next block is read ahead, `nextReadingAhead`). Regular files
/// were mapped once: `read` into the buffer measured the same (`recbench ingest`, 3M rows, 1 and 2
/// threads), and a mapped file that shrinks while it is read kills the process (SIGBUS) where
/// `read` just ends early.
public struct LineBlockReader: ~Copyable {
    /// The file read.
    public let path: String
    let fd: Int32
    var buffer: UnsafeMutablePointer<UInt8>
    var capacity: Int
    var filled = 0  // bytes in buffer
    var blockEnd = 0  // end of the block last handed out
    var eof = false
    /// The second buffer a read-ahead fills, and the read-ahead that ran during the last block.
    var spare: UnsafeMutablePointer<UInt8>?
    var spareCapacity = 0
    var ahead: ReadAheadState?
    /// Whether the next block starts the file (a byte order mark may open it).
    public private(set) var atFileStart = true

    /// Opens `path`.
    /// - Throws: `RecIOError.cannotOpen`.
    public init(path: String, blockBytes: Int = 8 << 20) throws(RecIOError) {
        self.path = path
        fd = try FileInput.open(path)
        capacity = max(blockBytes, 16)
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        buffer.deallocate()
        spare?.deallocate()
        if fd != STDIN_FILENO { close(fd) }
    }

    /// The next block of whole lines (the last one may lack its line end), or nil at the end:
    /// `body` gets its bytes and whether it starts the file. The bytes are valid during `body`.
    public mutating func next<R, E: Error>(
        _ body: (UnsafeBufferPointer<UInt8>, _ atFileStart: Bool) throws(E) -> R
    ) throws(RecIOError) -> Result<R, E>? {
        try advance(readingAhead: false) { (b, first, _) throws(E) in try body(b, first) }
    }

    /// As `next`, with a `ReadAhead` that `body` may run once, on any thread, while it works on
    /// the block: it reads the file's next bytes into a second buffer (the block's bytes are
    /// not touched), so the read overlaps the parse; the next call then starts from them. A read
    /// that fails there is thrown by the next call, as `next` throws it.
    public mutating func nextReadingAhead<R, E: Error>(
        _ body: (UnsafeBufferPointer<UInt8>, _ atFileStart: Bool, _ readAhead: ReadAhead) throws(E) -> R
    ) throws(RecIOError) -> Result<R, E>? {
        try advance(readingAhead: true, body)
    }

    mutating func advance<R, E: Error>(
        readingAhead: Bool, _ body: (UnsafeBufferPointer<UInt8>, _ atFileStart: Bool, ReadAhead) throws(E) -> R
    ) throws(RecIOError) -> Result<R, E>? {
        if let a = ahead {
            // The read-ahead's buffer holds the unread tail and the bytes after it.
            ahead = nil
            swap(&buffer, &spare!)
            swap(&capacity, &spareCapacity)
            filled = a.filled
            blockEnd = 0
            if a.eof { eof = true }
            if a.error != 0 { throw .cannotOpen(file: path, reason: "read failed: " + FileInput.reason(a.error)) }
        } else if blockEnd > 0 {
            // Move the unread tail to the front.
            let tail = filled - blockEnd
            if tail > 0 { memmove(buffer, buffer + blockEnd, tail) }
            filled = tail
            blockEnd = 0
        }
        var searchFrom = 0
        while true {
            // Fill the buffer.
            while !eof && filled < capacity {
                var n = -1
                while true {
                    n = read(fd, buffer + filled, capacity - filled)
                    if n >= 0 || errno != EINTR { break }
                }
                if n < 0 { throw .cannotOpen(file: path, reason: "read failed: " + FileInput.reason(errno)) }
                if n == 0 { eof = true } else { filled += n }
            }
            if filled == 0 { return nil }
            if eof {
                blockEnd = filled
                break
            }
            // The block ends after the last line end; a line longer than the buffer grows it.
            var last = filled - 1
            while last >= searchFrom && buffer[last] != 10 { last -= 1 }
            if last >= searchFrom {
                blockEnd = last + 1
                break
            }
            searchFrom = filled
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
            bigger.update(from: buffer, count: filled)
            buffer.deallocate()
            buffer = bigger
            capacity *= 2
        }
        let first = atFileStart
        atFileStart = false
        let block = UnsafeBufferPointer(start: UnsafePointer(buffer), count: blockEnd)
        var readAhead = ReadAhead(nil)
        if readingAhead && !eof {
            if spareCapacity < capacity {
                spare?.deallocate()
                spare = .allocate(capacity: capacity)
                spareCapacity = capacity
            }
            readAhead = ReadAhead(
                ReadAheadState(
                    fd: fd, into: spare!, capacity: spareCapacity, tail: UnsafePointer(buffer + blockEnd),
                    tailCount: filled - blockEnd))
        }
        let result: Result<R, E>
        do { result = .success(try body(block, first, readAhead)) } catch { result = .failure(error) }
        if let s = readAhead.state, s.ran { ahead = s }
        return result
    }

    /// The header: the first non-empty line (of the first block, or of a later one after blocks
    /// of blank lines), split, its `line` its line in the file; and where the data start in the
    /// current block (`withCurrent`). Nil for a file without a non-empty line.
    /// - Throws: `RecIOError.malformed` (this reader's `path`) for a header whose quote is not
    ///   closed; `.cannotOpen` for a failed read.
    public mutating func header(separator: UInt8 = 44) throws(RecIOError) -> (row: CSVRow, dataFrom: Int)? {
        var header: CSVRow?
        var dataFrom = 0
        var lines = 0
        let file = path
        while header == nil {
            let got = try next { (block, atFileStart) throws(RecIOError) in
                var scan = CSVLines(
                    block.baseAddress!, count: block.count, separator: separator, atFileStart: atFileStart)
                guard scan.next() else {
                    lines += scan.lineIndex
                    return
                }
                var row = CSVRow()
                row.line = lines + scan.lineIndex
                if let f = row.split(scan.line.baseAddress!, count: scan.line.count, separator: separator) {
                    throw .malformed(file: file, line: row.line, field: f, message: "unterminated quote")
                }
                header = row
                dataFrom = scan.line.baseAddress! + scan.line.count - block.baseAddress!
            }
            guard let got else { break }
            if case .failure(let e) = got { throw e }
        }
        return header.map { ($0, dataFrom) }
    }

    /// The block `next` handed out last, again (valid until the next call of `next`).
    public func withCurrent<R, E: Error>(_ body: (UnsafeBufferPointer<UInt8>) throws(E) -> R) throws(E) -> R {
        return try body(UnsafeBufferPointer(start: UnsafePointer(buffer), count: blockEnd))
    }

    /// Splits `block` into at most `pieces` spans of whole lines of about equal size (fewer for a
    /// small block): the spans' end offsets.
    public static func lineAlignedCuts(_ block: UnsafeBufferPointer<UInt8>, pieces: Int) -> [Int] {
        var cuts = [Int]()
        var from = 0
        let n = block.count
        for k in 1..<max(pieces, 1) {
            var at = max(n * k / pieces, from)
            guard at < n else { break }
            guard let nl = memchr(block.baseAddress! + at, 10, n - at) else { break }
            at = block.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
            if at >= n { break }
            cuts.append(at)
            from = at
        }
        cuts.append(n)
        return cuts
    }
}

/// A read of a file's next bytes into a reader's second buffer, for a task beside the parse of the
/// current block (`LineBlockReader.nextReadingAhead`). Running it more than once, or one that has
/// nothing to read (the file's end was reached), does nothing.
public struct ReadAhead: @unchecked Sendable {
    let state: ReadAheadState?
    init(_ state: ReadAheadState?) { self.state = state }

    /// Reads: the unread tail of the current buffer, then the file, into the second buffer.
    public func run() { state?.run() }
}

final class ReadAheadState {
    let fd: Int32
    let into: UnsafeMutablePointer<UInt8>
    let capacity: Int
    let tail: UnsafePointer<UInt8>
    let tailCount: Int
    var filled = 0
    var eof = false
    var error: Int32 = 0
    var ran = false

    init(fd: Int32, into: UnsafeMutablePointer<UInt8>, capacity: Int, tail: UnsafePointer<UInt8>, tailCount: Int) {
        self.fd = fd
        self.into = into
        self.capacity = capacity
        self.tail = tail
        self.tailCount = tailCount
    }

    func run() {
        if ran { return }
        ran = true
        if tailCount > 0 { into.update(from: tail, count: tailCount) }
        filled = tailCount
        while filled < capacity {
            var n = -1
            while true {
                n = read(fd, into + filled, capacity - filled)
                if n >= 0 || errno != EINTR { break }
            }
            if n < 0 {
                error = errno
                return
            }
            if n == 0 {
                eof = true
                return
            }
            filled += n
        }
    }
}
