import RecCore
import RecIO
import RecOPE

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Streams a CSV log with a header row as `LogChunk`s: memory holds one chunk, whatever the
/// file's size. `-` reads standard input.
///
/// Row keys: the hash of the `row_key` column's bytes when `LogColumns.rowKey` names one, else of
/// the file's name (its last path component; "stdin" for standard input) and the 1-based data
/// row number. The second form is stable only for the same file read whole: shards of one log
/// need a key column for their bootstrap to equal the single pass's.
/// The row-at-a-time reader `LogReader` replaced (CSVReader, one row per call), kept as the
/// reference its chunks and errors are compared with.
final class ReferenceLogReader {
    /// The file read.
    let path: String
    /// The column mapping.
    let columns: LogColumns
    /// Times and events of the last chunk (not part of `LogChunk`; `LoggedData.load` keeps them).
    private(set) var lastTimes: [Double]?
    /// The event column's values of the last chunk, when the mapping has one.
    private(set) var lastEvents: LogChunk.Context?
    /// Data rows read so far.
    private(set) var rowsRead = 0
    let reader: CSVReader
    let sourceName: String
    let sourceKey: UInt64
    let index:
        (
            item: Int, position: Int, reward: Int, propensity: Int?, time: Int?, event: Int?, rowKey: Int?,
            context: [Int], needed: Int
        )

    /// Opens the log and reads its header.
    /// - Throws: `.cannotOpen`, or `.malformedFile` for an empty file or a missing column.
    init(path: String, columns: LogColumns) throws(RecOPEError) {
        self.path = path
        self.columns = columns
        let file = path == "-" ? "/dev/stdin" : path
        let reader: CSVReader
        do { reader = try CSVReader(path: file) } catch { throw refError(error) }
        self.reader = reader
        sourceName = path == "-" ? "stdin" : URL(fileURLWithPath: path).lastPathComponent
        sourceKey = RowHash.key(bytes: sourceName.utf8)
        func next() throws(RecOPEError) -> Bool {
            do { return try reader.next() } catch { throw refError(error) }
        }
        guard try next() else { throw .malformedFile(file: path, line: nil, message: "the file is empty") }
        var header = [String: [Int]]()
        for i in 0..<reader.count {
            header[reader.string(i).trimmingWhitespace(), default: []].append(i)
        }
        func col(_ name: String) throws(RecOPEError) -> Int {
            guard let at = header[name] else {
                throw .malformedFile(file: path, line: 1, message: "missing column '\(name.prefix(80))'")
            }
            // Two columns of that name: which one is meant is not for the reader to guess.
            guard at.count == 1 else {
                throw .malformedFile(
                    file: path, line: 1,
                    message:
                        "the header names column '\(name.prefix(80))' \(at.count) times (fields \(at.map { String($0 + 1) }.joined(separator: ", ")))"
                )
            }
            return at[0]
        }
        let opt = { (n: String?) throws(RecOPEError) -> Int? in
            try n.map { (n: String) throws(RecOPEError) in try col(n) }
        }
        let (ci, cp, cr) = (try col(columns.item), try col(columns.position), try col(columns.reward))
        let (cprop, ct, cev, ck) = (
            try opt(columns.propensity), try opt(columns.time), try opt(columns.event), try opt(columns.rowKey)
        )
        var cctx = [Int]()
        for n in columns.context { cctx.append(try col(n)) }
        let needed = ([ci, cp, cr] + cctx + [cprop, ct, cev, ck].compactMap { $0 }).max()!
        index = (ci, cp, cr, cprop, ct, cev, ck, cctx, needed)
    }

    /// The next chunk of at most `maxRows` rows, or nil at the end of the log.
    /// - Throws: `.malformedFile` naming the file, line and column of the first bad value.
    func next(maxRows: Int = 65536) throws(RecOPEError) -> LogChunk? {
        var c = LogChunk(source: path == "-" ? "stdin" : path)
        c.rowKeyed = index.rowKey != nil
        c.lines = []
        if index.propensity != nil { c.propensities = [] }
        lastTimes = index.time != nil ? [] : nil
        var events = index.event != nil ? LogChunk.Context(name: columns.event!, ids: [], values: []) : nil
        var eventIds = [String: Int32]()
        var ctxIds = index.context.map { _ in [String: Int32]() }
        var ctxHashes = index.context.map { _ in [UInt64: Int32]() }
        c.contexts = columns.context.map { LogChunk.Context(name: $0, ids: [], values: []) }
        while c.count < maxRows {
            let more: Bool
            do { more = try reader.next() } catch { throw refError(error) }
            guard more else { break }
            try parseRow(into: &c)
            if let e = index.event { events!.ids.append(Self.intern(reader.string(e), &eventIds, &events!.values)) }
            for (f, i) in index.context.enumerated() {
                c.contexts[f].ids.append(internField(i, &ctxHashes[f], &ctxIds[f], &c.contexts[f].values))
            }
        }
        lastEvents = events
        return c.count > 0 ? c : nil
    }

    /// The id of field `i`'s value, found by a hash of its bytes (no String per row); a value
    /// whose hash is taken by another value falls back to the String table.
    func internField(_ i: Int, _ hashes: inout [UInt64: Int32], _ ids: inout [String: Int32], _ values: inout [String])
        -> Int32
    {
        let bytes = reader.rowBytes[reader.fields[i]]
        let h = RowHash.key(bytes: bytes)
        if let id = hashes[h] {
            var known = values[Int(id)]
            let same = known.withUTF8 { k in
                bytes.withUnsafeBufferPointer { b in
                    k.count == b.count && (k.count == 0 || memcmp(k.baseAddress!, b.baseAddress!, k.count) == 0)
                }
            }
            if same { return id }
            return Self.intern(String(decoding: bytes, as: UTF8.self), &ids, &values)
        }
        let v = String(decoding: bytes, as: UTF8.self)
        if let id = ids[v] { return id }
        let id = Self.intern(v, &ids, &values)
        hashes[h] = id
        return id
    }

    static func intern(_ v: String, _ ids: inout [String: Int32], _ values: inout [String]) -> Int32 {
        if let id = ids[v] { return id }
        let id = Int32(values.count)
        ids[v] = id
        values.append(v)
        return id
    }

    /// Parses the reader's current row into the chunk's numeric columns.
    func parseRow(into c: inout LogChunk) throws(RecOPEError) {
        let line = reader.line
        guard reader.count > index.needed else {
            throw .malformedFile(
                file: path, line: line, message: "\(reader.count) fields, the header names at least \(index.needed + 1)"
            )
        }
        func bad(_ column: String, _ what: String) -> RecOPEError {
            .malformedFile(file: path, line: line, message: "column '\(column.prefix(80))': \(what)")
        }
        func shown(_ i: Int) -> String { String(reader.string(i).prefix(80)) }
        guard let item = reader.int(index.item), item >= 0, item <= Int(Int32.max) else {
            throw bad(columns.item, "'\(shown(index.item))' is not a non-negative integer item id")
        }
        let base = columns.positionBase
        guard let pos = reader.int(index.position), pos >= base, pos - base <= Int(Int32.max) else {
            throw bad(columns.position, "'\(shown(index.position))' is not a position (the top position is \(base))")
        }
        guard let r = reader.double(index.reward), r.isFinite else {
            throw bad(columns.reward, "'\(shown(index.reward))' is not a finite number")
        }
        if let i = index.propensity {
            guard let p = reader.double(i), p.isFinite, p > 0, p <= 1 else {
                throw bad(columns.propensity!, "propensity '\(shown(i))' must be a number in (0, 1]")
            }
            c.propensities!.append(p)
        }
        if let i = index.time {
            guard let t = reader.double(i) ?? parseTimestamp(reader.string(i)) else {
                throw bad(
                    columns.time!, "'\(shown(i))' is neither seconds nor a YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM] time")
            }
            lastTimes!.append(t)
        }
        rowsRead += 1
        if let i = index.rowKey {
            c.rowKeys.append(RowHash.key(bytes: reader.rowBytes[reader.fields[i]]))
        } else {
            c.rowKeys.append(LogReader.defaultKey(sourceKey: sourceKey, row: rowsRead))
        }
        c.items.append(Int32(item))
        c.positions.append(Int32(pos - base))
        c.rewards.append(r)
        c.lines!.append(line)
    }
}

func refError(_ e: RecIOError) -> RecOPEError {
    switch e {
    case .cannotOpen(let f, let r): return .cannotOpen(file: f, reason: r)
    case .cannotWrite(let f, let r): return .cannotWrite(file: f, reason: r)
    case .malformed(let f, let l, let field, let m):
        return .malformedFile(file: f, line: l, message: field.map { "field \($0): \(m)" } ?? m)
    case .empty(let f): return .malformedFile(file: f, line: nil, message: "no data rows")
    }
}
