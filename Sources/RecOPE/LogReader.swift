import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Streams a CSV log with a header row as `LogChunk`s: memory holds a few blocks of the file,
/// whatever its size. `-` reads standard input.
///
/// The file is read in blocks of whole lines; each block is cut at line ends into one span per
/// thread and the spans are parsed at once, each into its own columns; chunks are then cut from
/// them in file order. A chunk is the same for any thread count, and the same as a row-by-row
/// read gives (the reference path, `LogRowParser.reference`, parses a row the fast path refuses
/// and makes the message of every bad row).
///
/// Row keys: the hash of the `row_key` column's bytes when `LogColumns.rowKey` names one, else of
/// the file's name (its last path component; "stdin" for standard input) and the 1-based data
/// row number. The second form is stable only for the same file read whole: shards of one log
/// need a key column for their bootstrap to equal the single pass's.
public final class LogReader {
    /// The file read.
    public let path: String
    /// The column mapping.
    public let columns: LogColumns
    /// Times and events of the last chunk (not part of `LogChunk`; `LoggedData.load` keeps them).
    public private(set) var lastTimes: [Double]?
    /// The event column's values of the last chunk, when the mapping has one.
    public private(set) var lastEvents: LogChunk.Context?
    /// Data rows read so far.
    public private(set) var rowsRead = 0
    let sourceName: String
    let sourceKey: UInt64
    var parser: LogRowParser
    let threads: Int
    var blocks: LineBlockReader
    /// Parsed spans not yet handed out, in file order, and the rows of the first one already
    /// handed out.
    var pending: [LogSpan] = []
    var pendingHead = 0
    var headOffset = 0
    /// Lines and data rows of the file before the next block.
    var linesParsed = 0
    var rowsParsed = 0
    var spansParsed = 0
    var atEnd = false
    /// Chunks assembled ahead of the caller, in file order, with their times and events.
    var ready: [ReadyChunk] = []
    var readyHead = 0
    /// The chunk being filled from the pending spans.
    var builder: ChunkBuilder?
    /// What ends the log early, after the ready chunks: a bad row or a failed read, with the times
    /// and events of the rows before it in its chunk.
    var deferred: (error: RecOPEError, times: [Double]?, events: LogChunk.Context?)?
    var finished = false

    /// Opens the log and reads its header; `parallelism` is the threads that parse it, each
    /// `blockBytes` of the file at a time (chunks do not depend on either).
    /// - Throws: `.cannotOpen`, or `.malformedFile` for an empty file or a missing column.
    public convenience init(
        path: String, columns: LogColumns, parallelism: Parallelism = .automatic, blockBytes: Int = 2 << 20
    ) throws(RecOPEError) {
        try self.init(
            path: path, columns: columns, parallelism: parallelism, blockBytes: blockBytes, positionsOnly: false)
    }

    init(
        path: String, columns: LogColumns, parallelism: Parallelism = .automatic, blockBytes: Int = 2 << 20,
        positionsOnly: Bool
    ) throws(RecOPEError) {
        self.path = path
        self.columns = columns
        let t = parallelism.resolvedCount
        threads = t
        do {
            blocks = try LineBlockReader(
                path: path == "-" ? "/dev/stdin" : path, blockBytes: max(t, 1) * max(blockBytes, 16))
        } catch {
            throw opeError(error)
        }
        sourceName = path == "-" ? "stdin" : URL(fileURLWithPath: path).lastPathComponent
        sourceKey = RowHash.key(bytes: sourceName.utf8)
        // The header: the first non-empty line of the first block (or of a later one, after
        // empty blocks of blank lines).
        let found: (row: CSVRow, dataFrom: Int)?
        do { found = try blocks.header() } catch { throw opeError(error) }
        guard let (header, dataFrom) = found else {
            throw .malformedFile(file: path, line: nil, message: "the file is empty")
        }
        parser = try LogRowParser(header: header, columns: columns, path: path)
        parser.positionsOnly = positionsOnly
        linesParsed = header.line - 1  // the header's line is counted again by the rest of its block
        // The rest of the header's block.
        try parseCurrentBlock(from: dataFrom)
    }

    /// The key of data row `row` (1-based) of a source without a key column.
    public static func defaultKey(sourceKey: UInt64, row: Int) -> UInt64 {
        RowHash.mix(sourceKey ^ RowHash.mix(UInt64(truncatingIfNeeded: row) &+ 0x632B_E59B_D9B4_E019))
    }

    /// Parses the block `blocks` holds now (its bytes from `from`), in spans on the threads.
    private func parseCurrentBlock(from: Int) throws(RecOPEError) {
        let spans = blocks.withCurrent { block in parseBlock(block, from: from) }
        append(spans)
    }

    private func append(_ spans: [LogSpan]) {
        if pendingHead > 0 && pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        for s in spans {
            pending.append(s)
            if s.failure != nil { break }  // nothing after a bad row is read
        }
    }

    /// Reads and parses the next block; false at the end of the file. With `assembling`, chunks of
    /// that many rows are assembled from the spans pending now while the block is parsed (one more
    /// task of the same parallel step: the serial copy into chunks overlaps the parse).
    private func readBlock(assembling maxRows: Int? = nil) throws(RecOPEError) -> Bool {
        let got: Result<[LogSpan], Never>?
        do {
            got = try blocks.nextReadingAhead { (block, _, ahead) in
                parseBlock(block, from: 0, assembling: maxRows, readAhead: ahead)
            }
        } catch { throw opeError(error) }
        guard case .success(let spans) = got else { return false }
        append(spans)
        return true
    }

    /// `block[from...]` cut at line ends into one span per thread, parsed at once; then, with
    /// every span's rows and lines known, each span's file lines and default row keys, at once.
    private func parseBlock(
        _ block: UnsafeBufferPointer<UInt8>, from: Int, assembling: Int? = nil, readAhead: ReadAhead? = nil
    ) -> [LogSpan] {
        let rest = UnsafeBufferPointer(rebasing: block[from...])
        guard rest.count > 0 else {
            if let maxRows = assembling { assemble(maxRows: maxRows, final: false) }
            return []
        }
        // Several spans per thread: a worker that wakes late still takes its share.
        let cuts = LineBlockReader.lineAlignedCuts(rest, pieces: threads == 1 ? 1 : 4 * threads)
        var out = [LogSpan](repeating: LogSpan(), count: cuts.count)
        let parser = self.parser
        // Tasks taken first: the pending spans (earlier blocks) into chunks, and the read of the
        // next block (on more than one thread); then the spans.
        let assembleTask = assembling != nil ? 0 : -1
        let readTask = readAhead != nil && threads > 1 ? assembleTask + 1 : -1
        let extra = max(assembleTask, readTask) + 1
        out.withUnsafeMutableBufferPointer { o in
            let box = UncheckedSendableBuffer(o)
            Threading.parallelFor(chunks: cuts.count + extra, parallelism: .threads(threads)) { task in
                if task == assembleTask {
                    self.assemble(maxRows: assembling!, final: false)
                    return
                }
                if task == readTask {
                    readAhead!.run()
                    return
                }
                let k = task - extra
                let a = k == 0 ? 0 : cuts[k - 1]
                box.buffer[k] = parser.parse(UnsafeBufferPointer(rebasing: rest[a..<cuts[k]]))
            }
        }
        // Lines and rows before each span (spans after a bad row are dropped by `append`).
        var line = linesParsed
        var row = rowsParsed
        for k in out.indices {
            out[k].serial = spansParsed
            spansParsed += 1
            out[k].firstLine = line
            out[k].firstRow = row
            line += out[k].lineCount
            row += out[k].rows
        }
        linesParsed = line
        rowsParsed = row
        let sourceKey = self.sourceKey
        let keyed = parser.rowKey != nil
        if parser.positionsOnly { return out }
        out.withUnsafeMutableBufferPointer { o in
            let box = UncheckedSendableBuffer(o)
            Threading.parallelFor(chunks: o.count, parallelism: .threads(threads)) { k in
                let s = box.buffer[k]
                s.columns.finish(firstLine: s.firstLine, firstRow: s.firstRow, defaultKeys: keyed ? nil : sourceKey)
            }
        }
        return out
    }

    /// The deepest logged position + 1 (0 for a log without rows), from a read of the position
    /// column alone. A bad row found on the way is reported as a full read reports it (the first
    /// bad value of any mapped column, found by reading the rows again up to it).
    /// - Throws: `.cannotOpen`, `.malformedFile`.
    public static func deepestPosition(
        path: String, columns: LogColumns, parallelism: Parallelism = .automatic
    ) throws(RecOPEError) -> Int {
        let r = try LogReader(path: path, columns: columns, parallelism: parallelism, positionsOnly: true)
        var deepest: Int32 = -1
        while true {
            for s in r.pending[r.pendingHead...] {
                let p = s.columns.positions
                for j in 0..<s.rows { deepest = max(deepest, p[j]) }
                if s.failure != nil {
                    // The first error of a full read (at or before this row).
                    let full = try LogReader(path: path, columns: columns, parallelism: parallelism)
                    while try full.next() != nil {}
                    throw .malformedFile(file: path, line: s.firstLine + s.failure!.line, message: "unreadable row")
                }
            }
            r.pendingHead = r.pending.count
            if try !r.readBlock() { break }
        }
        return Int(deepest) + 1
    }

    /// The next chunk of at most `maxRows` rows, or nil at the end of the log.
    ///
    /// Chunks are cut every `maxRows` rows of the file (the last may be shorter): the same for a
    /// reader always called with one `maxRows`. The next block is read and parsed while the
    /// chunks of the blocks before it are assembled; a chunk assembled for a larger `maxRows` than
    /// a later call's is split.
    /// - Throws: `.malformedFile` naming the file, line and column of the first bad value.
    public func next(maxRows: Int = 65536) throws(RecOPEError) -> LogChunk? {
        let maxRows = max(maxRows, 1)
        if readyHead == ready.count && !finished { produce(maxRows: maxRows) }
        if readyHead < ready.count {
            var r = ready[readyHead]
            if r.chunk.count > maxRows {
                // Assembled for a larger maxRows: its first rows now, the rest next.
                ready[readyHead] = r.rows(maxRows..<r.chunk.count)
                r = r.rows(0..<maxRows)
            } else {
                readyHead += 1
                if readyHead == ready.count {
                    ready.removeAll(keepingCapacity: true)
                    readyHead = 0
                }
            }
            lastTimes = r.times
            lastEvents = r.events
            rowsRead += r.chunk.count
            return r.chunk
        }
        if let d = deferred {
            deferred = nil
            finished = true
            lastTimes = d.times
            lastEvents = d.events
            throw d.error
        }
        finished = true
        // No rows: no times or events either.
        let empty = ChunkBuilder(reader: self, maxRows: 0).finished
        lastTimes = empty.times
        lastEvents = empty.events
        return nil
    }

    /// Fills `ready` with at least one chunk, or sets `deferred`, or reaches the end.
    private func produce(maxRows: Int) {
        while readyHead == ready.count && deferred == nil {
            if atEnd {
                assemble(maxRows: maxRows, final: true)
                return
            }
            do {
                if try !readBlock(assembling: maxRows) { atEnd = true }
            } catch {
                // The rows before a failed read come first (and a bad row among them); the
                // chunk the read would have completed is dropped.
                assemble(maxRows: maxRows, final: false)
                if deferred == nil { deferred = (error, builder?.times, builder?.events) }
                builder = nil
                atEnd = true
            }
        }
    }

    /// Moves the pending spans' rows into chunks of `maxRows` rows (`ready`; a chunk begun for
    /// another size keeps it), in file order; the rest stays in `builder` unless `final`. Stops at a span's bad row: its message (from the
    /// reference path, with its line) becomes `deferred`, and the rows before it in its chunk
    /// are dropped.
    private func assemble(maxRows: Int, final: Bool) {
        while deferred == nil && pendingHead < pending.count {
            if builder == nil { builder = ChunkBuilder(reader: self, maxRows: maxRows) }
            let s = pending[pendingHead]
            // A chunk begun for another call's maxRows is completed at its own size.
            let target = builder!.target
            let n = min(target - builder!.chunk.count, s.rows - headOffset)
            builder!.append(s, from: headOffset, count: n)
            headOffset += n
            // A chunk filled by the rows before a bad row is whole: it goes out before the error.
            if builder!.chunk.count >= target {
                ready.append(builder!.finished)
                builder = nil
            }
            if headOffset == s.rows {
                if let bad = s.failure {
                    let rest = builder ?? ChunkBuilder(reader: self, maxRows: 0)
                    deferred = (failureError(s, bad), rest.times, rest.events)
                    builder = nil
                    return
                }
                pendingHead += 1
                headOffset = 0
            }
        }
        if pendingHead > 0 && pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        if final, deferred == nil, let b = builder {
            if b.chunk.count > 0 { ready.append(b.finished) }
            builder = nil
        }
    }

    /// The error of a span's first bad row: its message from the reference path, with its line.
    private func failureError(_ s: LogSpan, _ bad: (row: CSVRow, line: Int, unterminatedField: Int?)) -> RecOPEError {
        let line = s.firstLine + bad.line
        if let f = bad.unterminatedField {
            return opeError(
                .malformed(
                    file: path == "-" ? "/dev/stdin" : path, line: line, field: f, message: "unterminated quote"))
        }
        do {
            _ = try parser.reference(bad.row, line: line, interned: nil)
        } catch {
            return error
        }
        return .malformedFile(file: path, line: line, message: "unreadable row")
    }

    /// A chunk ready for the caller, with the times and events of its rows.
    struct ReadyChunk {
        var chunk: LogChunk
        var times: [Double]?
        var events: LogChunk.Context?

        /// Rows `range`, with value tables of their own (in order of first appearance).
        func rows(_ range: Range<Int>) -> ReadyChunk {
            var c = chunk.rows(range)
            for f in c.contexts.indices { c.contexts[f] = Self.reindexed(c.contexts[f]) }
            return ReadyChunk(
                chunk: c, times: times.map { Array($0[range]) },
                events: events.map {
                    Self.reindexed(.init(name: $0.name, ids: Array($0.ids[range]), values: $0.values))
                })
        }

        static func reindexed(_ c: LogChunk.Context) -> LogChunk.Context {
            var map = [Int32](repeating: -1, count: c.values.count)
            var out = LogChunk.Context(name: c.name, ids: [], values: [])
            out.ids.reserveCapacity(c.ids.count)
            for v in c.ids {
                if map[Int(v)] < 0 {
                    map[Int(v)] = Int32(out.values.count)
                    out.values.append(c.values[Int(v)])
                }
                out.ids.append(map[Int(v)])
            }
            return out
        }
    }

    /// A chunk being filled from spans, with its value tables and the maps from each span's value
    /// ids to the chunk's.
    struct ChunkBuilder {
        var chunk: LogChunk
        var times: [Double]?
        var events: LogChunk.Context?
        var eventMap = [Int32]()
        var contextMaps: [[Int32]]
        var chunkEvents = ByteInterner()
        var chunkContexts: [ByteInterner]
        var mappedSpan = -1
        /// The rows the chunk gets (the maxRows of the call it was begun for).
        let target: Int
        /// The slate probability roles, in the spans' column order.
        let probabilityRoles: [SlateProbability]

        init(reader: LogReader, maxRows: Int) {
            target = maxRows
            let parser = reader.parser
            probabilityRoles = parser.probability.map(\.role)
            let columns = reader.columns
            chunk = LogChunk(source: reader.path == "-" ? "stdin" : reader.path)
            chunk.rowKeyed = parser.rowKey != nil
            chunk.lines = []
            chunk.lines!.reserveCapacity(maxRows)
            chunk.items.reserveCapacity(maxRows)
            chunk.positions.reserveCapacity(maxRows)
            chunk.rewards.reserveCapacity(maxRows)
            chunk.rowKeys.reserveCapacity(maxRows)
            if parser.propensity != nil {
                chunk.propensities = []
                chunk.propensities!.reserveCapacity(maxRows)
            }
            if parser.time != nil {
                times = []
                times!.reserveCapacity(maxRows)
            }
            events = parser.event != nil ? LogChunk.Context(name: columns.event!, ids: [], values: []) : nil
            chunk.contexts = columns.context.map { LogChunk.Context(name: $0, ids: [], values: []) }
            contextMaps = [[Int32]](repeating: [], count: columns.context.count)
            chunkContexts = [ByteInterner](repeating: ByteInterner(), count: columns.context.count)
            if parser.slate != nil {
                chunk.slates = []
                chunk.slates!.reserveCapacity(maxRows)
            }
            for (role, _) in parser.probability { chunk.slateProbabilities[role] = [] }
        }

        /// Appends `n` rows of span `s` from its row `o`.
        mutating func append(_ s: LogSpan, from o: Int, count n: Int) {
            if mappedSpan != s.serial {
                mappedSpan = s.serial
                eventMap = [Int32](repeating: -1, count: s.events.count)
                for f in 0..<contextMaps.count {
                    contextMaps[f] = [Int32](repeating: -1, count: s.contexts[f].count)
                }
            }
            let col = s.columns
            chunk.items.append(contentsOf: UnsafeBufferPointer(start: col.items + o, count: n))
            chunk.positions.append(contentsOf: UnsafeBufferPointer(start: col.positions + o, count: n))
            chunk.rewards.append(contentsOf: UnsafeBufferPointer(start: col.rewards + o, count: n))
            if chunk.propensities != nil {
                chunk.propensities!.append(contentsOf: UnsafeBufferPointer(start: col.propensities! + o, count: n))
            }
            if times != nil { times!.append(contentsOf: UnsafeBufferPointer(start: col.times! + o, count: n)) }
            chunk.lines!.append(contentsOf: UnsafeBufferPointer(start: col.fileLines + o, count: n))
            chunk.rowKeys.append(contentsOf: UnsafeBufferPointer(start: col.keys + o, count: n))
            if chunk.slates != nil {
                chunk.slates!.append(contentsOf: UnsafeBufferPointer(start: col.slates! + o, count: n))
            }
            for (f, role) in probabilityRoles.enumerated() {
                chunk.slateProbabilities[role]!.append(
                    contentsOf: UnsafeBufferPointer(start: col.probabilities + f * col.capacity + o, count: n))
            }
            if events != nil {
                LogReader.remap(
                    UnsafeBufferPointer(start: col.eventIds! + o, count: n), s.events, &eventMap, &chunkEvents,
                    into: &events!)
            }
            for f in 0..<chunk.contexts.count {
                LogReader.remap(
                    UnsafeBufferPointer(start: col.contextIds + f * col.capacity + o, count: n), s.contexts[f],
                    &contextMaps[f], &chunkContexts[f], into: &chunk.contexts[f])
            }
        }

        var finished: ReadyChunk { ReadyChunk(chunk: chunk, times: times, events: events) }
    }

    /// Appends span ids `ids` to `context`, as ids of the chunk's own value table (`chunk`, in
    /// the order values first appear in the chunk); `map` caches the span's ids → the chunk's.
    static func remap(
        _ ids: UnsafeBufferPointer<Int32>, _ span: ByteInterner, _ map: inout [Int32], _ chunk: inout ByteInterner,
        into context: inout LogChunk.Context
    ) {
        for v in ids {
            var m = map[Int(v)]
            if m < 0 {
                m = span.withBytes(Int(v)) { chunk.id($0, count: $1) }
                if Int(m) == context.values.count { context.values.append(span.string(Int(v))) }
                map[Int(v)] = m
            }
            context.ids.append(m)
        }
    }
}

/// Writes to disjoint elements of a buffer from parallel workers.
struct UncheckedSendableBuffer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ b: UnsafeMutableBufferPointer<T>) { buffer = b }
}

/// The columns of one span's rows, in memory the span owns (written through pointers by the
/// parse loop: no uniqueness check or growth per row; freed with the span).
final class SpanColumns: @unchecked Sendable {
    let capacity: Int
    let items: UnsafeMutablePointer<Int32>
    let positions: UnsafeMutablePointer<Int32>
    let rewards: UnsafeMutablePointer<Double>
    let propensities: UnsafeMutablePointer<Double>?
    let times: UnsafeMutablePointer<Double>?
    /// Row keys: the key column's hashes, or (after `finish`) the default keys.
    let keys: UnsafeMutablePointer<UInt64>
    /// Per row its line in the span (1 for the span's first line).
    let lines: UnsafeMutablePointer<Int32>
    /// Per row its line in the file (after `finish`).
    let fileLines: UnsafeMutablePointer<Int>
    let eventIds: UnsafeMutablePointer<Int32>?
    /// Context column f's ids at `contextIds + f * capacity`.
    let contextIds: UnsafeMutablePointer<Int32>
    /// The slate column's hashes.
    let slates: UnsafeMutablePointer<UInt64>?
    /// Slate probability column f (the parser's `probability[f]`) at `probabilities + f * capacity`.
    let probabilities: UnsafeMutablePointer<Double>
    var rows = 0

    init(
        capacity n: Int, propensity: Bool, time: Bool, event: Bool, contexts: Int, slate: Bool = false,
        probabilities: Int = 0
    ) {
        capacity = n
        items = .allocate(capacity: n)
        positions = .allocate(capacity: n)
        rewards = .allocate(capacity: n)
        propensities = propensity ? .allocate(capacity: n) : nil
        times = time ? .allocate(capacity: n) : nil
        keys = .allocate(capacity: n)
        lines = .allocate(capacity: n)
        fileLines = .allocate(capacity: n)
        eventIds = event ? .allocate(capacity: n) : nil
        contextIds = .allocate(capacity: max(n * contexts, 1))
        slates = slate ? .allocate(capacity: n) : nil
        self.probabilities = .allocate(capacity: max(n * probabilities, 1))
    }

    deinit {
        items.deallocate()
        positions.deallocate()
        rewards.deallocate()
        propensities?.deallocate()
        times?.deallocate()
        keys.deallocate()
        lines.deallocate()
        fileLines.deallocate()
        eventIds?.deallocate()
        contextIds.deallocate()
        slates?.deallocate()
        probabilities.deallocate()
    }

    /// The file's line of every row, and the default row keys (file name and data row number)
    /// when `defaultKeys` is the source's key.
    func finish(firstLine: Int, firstRow: Int, defaultKeys: UInt64?) {
        for j in 0..<rows { fileLines[j] = firstLine + Int(lines[j]) }
        if let k = defaultKeys {
            for j in 0..<rows { keys[j] = LogReader.defaultKey(sourceKey: k, row: firstRow + j + 1) }
        }
    }
}

/// The rows of one span of a log's lines, by column.
struct LogSpan {
    var columns = SpanColumns(capacity: 0, propensity: false, time: false, event: false, contexts: 0)
    var rows: Int { columns.rows }
    var events = ByteInterner()
    var contexts: [ByteInterner] = []
    /// Lines the span holds (blank ones included).
    var lineCount = 0
    /// The span's number in the file (0 for the first).
    var serial = 0
    /// Lines and data rows of the file before the span's first.
    var firstLine = 0
    var firstRow = 0
    /// The span's first bad row (rows after it are not parsed), its line in the span, and the
    /// field whose quote is not closed when that is what is wrong.
    var failure: (row: CSVRow, line: Int, unterminatedField: Int?)?
}

/// How a log's rows become columns: the mapped fields' indices and checks. Unmapped fields are
/// never converted.
struct LogRowParser: Sendable {
    let path: String
    let columns: LogColumns
    let item: Int, position: Int, reward: Int
    let propensity: Int?, time: Int?, event: Int?, rowKey: Int?
    let context: [Int]
    /// The slate column, and the slate probability columns (roles in `SlateProbability` order).
    let slate: Int?
    let probability: [(role: SlateProbability, field: Int)]
    let needed: Int
    let base: Int
    /// Parse the position column only (`LogReader.deepestPosition`): other columns are not
    /// converted or checked on the fast path.
    var positionsOnly = false

    init(header: CSVRow, columns: LogColumns, path: String) throws(RecOPEError) {
        self.path = path
        self.columns = columns
        var names = [String: [Int]]()
        for i in 0..<header.count {
            names[header.string(i).trimmingWhitespace(), default: []].append(i)
        }
        func col(_ name: String) throws(RecOPEError) -> Int {
            guard let at = names[name] else {
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
        (item, position, reward) = (try col(columns.item), try col(columns.position), try col(columns.reward))
        (propensity, time, event, rowKey) = (
            try opt(columns.propensity), try opt(columns.time), try opt(columns.event), try opt(columns.rowKey)
        )
        var cctx = [Int]()
        for n in columns.context { cctx.append(try col(n)) }
        context = cctx
        slate = try opt(columns.slate)
        var prob = [(role: SlateProbability, field: Int)]()
        for role in SlateProbability.allCases {
            if let n = columns.slateProbabilities[role] { prob.append((role, try col(n))) }
        }
        probability = prob
        needed =
            ([item, position, reward] + cctx + prob.map(\.field)
            + [propensity, time, event, rowKey, slate].compactMap { $0 })
            .max()!
        base = columns.positionBase
    }

    /// The values of one row.
    struct Values {
        var item: Int32 = 0
        var position: Int32 = 0
        var reward = 0.0
        var propensity = 0.0
        var time = 0.0
        var key: UInt64 = 0
        var slate: UInt64 = 0
        var probabilities: [Double] = []
    }

    /// Plain rows per batch of the column-wise fast path.
    static let batchRows = 256

    /// Parses the lines of `span`.
    ///
    /// Plain rows are gathered in batches of `batchRows` (each mapped field's bytes located by
    /// `CSVLines`), then each column is converted for the whole batch in one loop, as pandas'
    /// tokenizer-then-convert does: the rows of a loop are independent, so their number parses and
    /// interner lookups overlap in the core instead of waiting on each other row by row. A row the
    /// fast path refuses (a quote, too few fields, a value it does not take) goes to the reference
    /// path in file order, after the batch before it; the first bad row ends the span.
    func parse(_ span: UnsafeBufferPointer<UInt8>) -> LogSpan {
        var s = LogSpan()
        let col = SpanColumns(
            capacity: CSVLines.lineCount(span) + 1, propensity: propensity != nil, time: time != nil,
            event: event != nil, contexts: context.count, slate: slate != nil, probabilities: probability.count)
        s.columns = col
        s.contexts = context.map { _ in ByteInterner() }
        var scan = CSVLines(span.baseAddress!, count: span.count, separator: 44, atFileStart: false)
        if positionsOnly {
            parsePositions(&scan, col, &s)
            return s
        }
        var batch = CSVFieldBatch(fields: batchFields, rows: Self.batchRows)
        let origin = span.baseAddress!
        var r = 0
        while true {
            let before = batch.count
            let stop = scan.gather(into: &batch, origin: origin)
            for k in before..<batch.count {
                col.lines[r] = batch.lineIndices[k]
                r += 1
            }
            if batch.count > 0 {
                let first = r - batch.count
                let good = convert(&batch, origin: origin, end: origin + span.count, firstRow: first, col, &s)
                batch.count = 0
                if good < r - first {
                    r = first + good
                    break
                }
            }
            if stop == .end { break }
            if stop == .other {
                if !referenceRow(scan.line, line: scan.lineIndex, at: r, col, &s) { break }
                col.lines[r] = Int32(truncatingIfNeeded: scan.lineIndex)
                r += 1
            }
        }
        col.rows = r
        // Lines to the end of the span (the scan stopped early only at a bad row).
        while scan.next() {}
        s.lineCount = scan.lineIndex
        return s
    }

    /// The position column alone, row by row (`LogReader.deepestPosition`).
    func parsePositions(_ scan: inout CSVLines, _ col: SpanColumns, _ s: inout LogSpan) {
        var r = 0
        while scan.next() {
            var fast = false
            if scan.isPlain && scan.count > position {
                let (p, n) = scan.field(position)
                if let pos = DecimalParser.int(p, count: n), pos >= base, pos - base <= Int(Int32.max) {
                    col.positions[r] = Int32(pos - base)
                    fast = true
                }
            }
            if !fast && !referenceRow(scan.line, line: scan.lineIndex, at: r, col, &s) { break }
            col.lines[r] = Int32(truncatingIfNeeded: scan.lineIndex)
            r += 1
        }
        col.rows = r
        while scan.next() {}
        s.lineCount = scan.lineIndex
    }

    /// Row `r` (the `line` at `lineIndex` of the span) by the reference path; false (with the
    /// span's failure set) for a bad row.
    func referenceRow(
        _ line: UnsafeBufferPointer<UInt8>, line lineIndex: Int, at r: Int, _ col: SpanColumns, _ s: inout LogSpan
    ) -> Bool {
        var row = CSVRow()
        row.line = lineIndex
        if let f = row.split(line.baseAddress!, count: line.count, separator: 44) {
            s.failure = (row, lineIndex, f)
            return false
        }
        do {
            let v = try reference(row, line: lineIndex, interned: &s, at: r)
            col.items[r] = v.item
            col.positions[r] = v.position
            col.rewards[r] = v.reward
            col.propensities?[r] = v.propensity
            col.times?[r] = v.time
            col.keys[r] = v.key
            col.slates?[r] = v.slate
            for f in probability.indices { col.probabilities[f * col.capacity + r] = v.probabilities[f] }
        } catch {
            s.failure = (row, lineIndex, nil)
            return false
        }
        return true
    }

    /// The row fields a batch locates, in this order: item, position, reward, then the
    /// propensity, time, row key and event columns the mapping has, then the context columns, the
    /// slate column and the slate probability columns.
    var batchFields: [Int] {
        [item, position, reward] + [propensity, time, rowKey, event].compactMap { $0 } + context
            + [slate].compactMap { $0 } + probability.map(\.field)
    }

    /// Converts the batch's rows (rows `firstRow...` of the span) column by column with every
    /// check of `reference`; rows a check refuses then go to the reference path in order.
    /// Returns the rows that are good before the first bad one (all of them when none is bad).
    func convert(
        _ b: inout CSVFieldBatch, origin: UnsafePointer<UInt8>, end: UnsafePointer<UInt8>, firstRow r0: Int,
        _ col: SpanColumns, _ s: inout LogSpan
    ) -> Int {
        let n = b.count
        let ok = b.ok
        ok.update(repeating: 1, count: n)
        var slot = 0
        // Item ids.
        do {
            let (o, l) = b.column(slot)
            let out = col.items + r0
            for k in 0..<n {
                if let it = DecimalParser.int(origin + o[k], count: Int(l[k]), readableTo: end), it >= 0,
                    it <= Int(Int32.max)
                {
                    out[k] = Int32(truncatingIfNeeded: it)
                } else {
                    ok[k] = 0
                }
            }
            slot += 1
        }
        // Positions.
        do {
            let (o, l) = b.column(slot)
            let out = col.positions + r0
            let base = self.base
            for k in 0..<n {
                if let pos = DecimalParser.int(origin + o[k], count: Int(l[k]), readableTo: end), pos >= base,
                    pos - base <= Int(Int32.max)
                {
                    out[k] = Int32(truncatingIfNeeded: pos - base)
                } else {
                    ok[k] = 0
                }
            }
            slot += 1
        }
        // Rewards.
        do {
            let (o, l) = b.column(slot)
            let out = col.rewards + r0
            for k in 0..<n {
                if let v = DecimalParser.double(origin + o[k], count: Int(l[k]), readableTo: end), v.isFinite {
                    out[k] = v
                } else {
                    ok[k] = 0
                }
            }
            slot += 1
        }
        if propensity != nil {
            let (o, l) = b.column(slot)
            let out = col.propensities! + r0
            for k in 0..<n {
                if let q = DecimalParser.double(origin + o[k], count: Int(l[k]), readableTo: end), q.isFinite, q > 0,
                    q <= 1
                {
                    out[k] = q
                } else {
                    ok[k] = 0
                }
            }
            slot += 1
        }
        if time != nil {
            let (o, l) = b.column(slot)
            let out = col.times! + r0
            for k in 0..<n {
                if let t = DecimalParser.double(origin + o[k], count: Int(l[k]), readableTo: end) {
                    out[k] = t
                } else {
                    ok[k] = 0
                }
            }
            slot += 1
        }
        if rowKey != nil {
            let (o, l) = b.column(slot)
            let out = col.keys + r0
            for k in 0..<n {
                out[k] = RowHash.key(bytes: UnsafeBufferPointer(start: origin + o[k], count: Int(l[k])))
            }
            slot += 1
        }
        if event != nil {
            let (o, l) = b.column(slot)
            let out = col.eventIds! + r0
            for k in 0..<n { out[k] = s.events.id(origin + o[k], count: Int(l[k])) }
            slot += 1
        }
        for f in 0..<context.count {
            let (o, l) = b.column(slot)
            let out = col.contextIds + f * col.capacity + r0
            var interner = ByteInterner()
            swap(&interner, &s.contexts[f])
            for k in 0..<n { out[k] = interner.id(origin + o[k], count: Int(l[k])) }
            swap(&interner, &s.contexts[f])
            slot += 1
        }
        if slate != nil {
            let (o, l) = b.column(slot)
            let out = col.slates! + r0
            for k in 0..<n {
                out[k] = RowHash.key(bytes: UnsafeBufferPointer(start: origin + o[k], count: Int(l[k])))
            }
            slot += 1
        }
        for f in probability.indices {
            let (o, l) = b.column(slot)
            let out = col.probabilities + f * col.capacity + r0
            let low = probability[f].role.isTarget ? 0.0 : Double.leastNonzeroMagnitude
            for k in 0..<n {
                if let q = DecimalParser.double(origin + o[k], count: Int(l[k]), readableTo: end), q >= low, q <= 1 {
                    out[k] = q
                } else {
                    ok[k] = 0
                }
            }
            slot += 1
        }
        // Rows a check refused: the reference path, in order (its values overwrite the row's).
        for k in 0..<n where ok[k] == 0 {
            let line = UnsafeBufferPointer(start: origin + b.lineStarts[k], count: Int(b.lineLengths[k]))
            if !referenceRow(line, line: Int(b.lineIndices[k]), at: r0 + k, col, &s) { return k }
        }
        return n
    }
    /// One row the reference way (`CSVRow`'s accessors), with the messages of bad values;
    /// interns the event and context values into `interned` when given.
    func reference(_ row: CSVRow, line: Int, interned s: UnsafeMutablePointer<LogSpan>?, at index: Int = 0)
        throws(RecOPEError) -> Values
    {
        guard row.count > needed else {
            throw .malformedFile(
                file: path, line: line, message: "\(row.count) fields, the header names at least \(needed + 1)")
        }
        func bad(_ column: String, _ what: String) -> RecOPEError {
            .malformedFile(file: path, line: line, message: "column '\(column.prefix(80))': \(what)")
        }
        func shown(_ i: Int) -> String { String(row.string(i).prefix(80)) }
        var v = Values()
        guard let it = row.int(item), it >= 0, it <= Int(Int32.max) else {
            throw bad(columns.item, "'\(shown(item))' is not a non-negative integer item id")
        }
        guard let pos = row.int(position), pos >= base, pos - base <= Int(Int32.max) else {
            throw bad(columns.position, "'\(shown(position))' is not a position (the top position is \(base))")
        }
        guard let r = row.double(reward), r.isFinite else {
            throw bad(columns.reward, "'\(shown(reward))' is not a finite number")
        }
        if let i = propensity {
            guard let p = row.double(i), p.isFinite, p > 0, p <= 1 else {
                throw bad(columns.propensity!, "propensity '\(shown(i))' must be a number in (0, 1]")
            }
            v.propensity = p
        }
        if let i = time {
            guard let t = row.double(i) ?? parseTimestamp(row.string(i)) else {
                throw bad(
                    columns.time!, "'\(shown(i))' is neither seconds nor a YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM] time")
            }
            v.time = t
        }
        if let i = rowKey { v.key = RowHash.key(bytes: row.bytes[row.fields[i]]) }
        if let i = slate { v.slate = RowHash.key(bytes: row.bytes[row.fields[i]]) }
        for (role, i) in probability {
            let name = columns.slateProbabilities[role]!
            if role.isTarget {
                guard let p = row.double(i), p >= 0, p <= 1 else {
                    throw bad(name, "\(role.rawValue) '\(shown(i))' must be a number in [0, 1]")
                }
                v.probabilities.append(p)
            } else {
                guard let p = row.double(i), p > 0, p <= 1 else {
                    throw bad(name, "\(role.rawValue) '\(shown(i))' must be a number in (0, 1]")
                }
                v.probabilities.append(p)
            }
        }
        v.item = Int32(it)
        v.position = Int32(pos - base)
        v.reward = r
        if let s {
            row.bytes.withUnsafeBufferPointer { b in
                let col = s.pointee.columns
                if let i = event {
                    col.eventIds![index] = s.pointee.events.id(
                        b.baseAddress! + row.fields[i].lowerBound, count: row.fields[i].count)
                }
                for f in 0..<context.count {
                    let r = row.fields[context[f]]
                    col.contextIds[f * col.capacity + index] = s.pointee.contexts[f].id(
                        b.baseAddress! + r.lowerBound, count: r.count)
                }
            }
        }
        return v
    }
}
