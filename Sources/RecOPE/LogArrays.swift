import RecCore

/// A column's values: a Swift array, or memory lent by the caller (the C ABI's arrays, read in
/// place: no copy).
public struct LogValues<T>: @unchecked Sendable {
    let array: [T]
    let base: UnsafePointer<T>?
    /// Values.
    public let count: Int

    /// The values of an array.
    public init(_ array: [T]) {
        self.array = array
        self.base = nil
        self.count = array.count
    }

    /// The values in `buffer`, read in place: the memory must stay valid and unchanged while
    /// these values (or a `LogArrays` holding them) are used.
    public init(borrowing buffer: UnsafeBufferPointer<T>) {
        self.array = []
        self.base = buffer.baseAddress
        self.count = buffer.count
    }

    /// Calls `body` with the values.
    @inline(__always)
    public func withBuffer<R, E: Error>(_ body: (UnsafeBufferPointer<T>) throws(E) -> R) throws(E) -> R {
        if let base { return try body(UnsafeBufferPointer(start: base, count: count)) }
        return try array.withUnsafeBufferPointer(body)
    }

    /// The value at `i`.
    @inline(__always)
    public subscript(i: Int) -> T { base.map { $0[i] } ?? array[i] }
}

/// Logged rows given as columns in memory (a DataFrame's or an Arrow batch's, through the C ABI),
/// read as `LogReader` reads the same rows from a CSV file: the same checks, the same context
/// values and the same row keys, so an evaluation gives the same report either way.
public struct LogArrays: Sendable {
    /// A context (or row-key) column: per row an index into `values` (its text, as a CSV file
    /// would hold it).
    public struct Coded: Sendable {
        /// Per row, the index of its value.
        public var codes: LogValues<Int32>
        /// The distinct values.
        public var values: [String]
        /// A column of `codes` into `values`.
        public init(codes: LogValues<Int32>, values: [String]) {
            self.codes = codes
            self.values = values
        }
        /// A column of `codes` into `values`.
        public init(codes: [Int32], values: [String]) { self.init(codes: LogValues(codes), values: values) }
    }

    /// An integer context (or row-key) column: per row a value whose text is its decimal form
    /// (what a CSV file written from it holds); a missing value is an empty field. Kept as
    /// integers: no text is made per row.
    public struct Integers: Sendable {
        /// Per row, the value.
        public var values: LogValues<Int64>
        /// Per row, non-zero where the value is missing (nil: none is).
        public var missing: LogValues<UInt8>?
        /// A column of integers, with the rows whose values are missing.
        public init(values: LogValues<Int64>, missing: LogValues<UInt8>? = nil) {
            self.values = values
            self.missing = missing
        }
        /// A column of integers, with the rows whose values are missing.
        public init(values: [Int64], missing: [Bool]? = nil) {
            self.init(values: LogValues(values), missing: missing.map { LogValues($0.map { $0 ? 1 : 0 }) })
        }
    }

    /// A context or row-key column: coded text, or integers.
    public enum Column: Sendable {
        /// Codes into distinct texts.
        case coded(Coded)
        /// Integers (their decimal text).
        case integers(Integers)

        /// Rows.
        public var count: Int {
            switch self {
            case .coded(let c): c.codes.count
            case .integers(let i): i.values.count
            }
        }
    }

    /// The name errors give the rows; without a row-key column, row keys hash its last path
    /// component and the row number, as `LogReader` does for a file of that name.
    public var source: String
    /// Column names, for errors.
    public var columns: LogColumns
    /// Item ids (non-negative).
    public var items: LogValues<Int64>
    /// Positions as logged (the top one is `columns.positionBase`).
    public var positions: LogValues<Int64>
    /// Rewards (finite).
    public var rewards: LogValues<Double>
    /// Logged propensities in (0, 1], when the log has them.
    public var propensities: LogValues<Double>?
    /// The context columns, in `columns.context`'s order.
    public var contexts: [Column] = []
    /// The row-key column (`columns.rowKey`), when there is one.
    public var rowKeys: Column?
    /// A slate log's slate column (`columns.slate`; rows of one slate consecutive), set by
    /// `setSlates`.
    public private(set) var slates: Column?
    /// A slate log's probability columns by role (`columns.slateProbabilities`), set by
    /// `setSlates`.
    public private(set) var slateProbabilities: [SlateProbability: LogValues<Double>] = [:]

    /// Rows.
    public var count: Int { items.count }

    /// Checks the columns' lengths and values.
    /// - Throws: `.malformedFile` naming the source, the row (1-based) and the column.
    public init(
        source: String, columns: LogColumns, items: [Int64], positions: [Int64], rewards: [Double],
        propensities: [Double]?, contexts: [Column] = [], rowKeys: Column? = nil
    ) throws(RecOPEError) {
        try self.init(
            source: source, columns: columns, items: LogValues(items), positions: LogValues(positions),
            rewards: LogValues(rewards), propensities: propensities.map { LogValues($0) }, contexts: contexts,
            rowKeys: rowKeys)
    }

    /// Checks the columns' lengths and values (read in place when borrowed).
    /// - Throws: `.malformedFile` naming the source, the row (1-based) and the column.
    public init(
        source: String, columns: LogColumns, items: LogValues<Int64>, positions: LogValues<Int64>,
        rewards: LogValues<Double>, propensities: LogValues<Double>?, contexts: [Column] = [], rowKeys: Column? = nil
    ) throws(RecOPEError) {
        let n = items.count
        func bad(_ row: Int, _ column: String, _ what: String) -> RecOPEError {
            .malformedFile(file: source, line: nil, message: "row \(row + 1): column '\(column)': \(what)")
        }
        guard n > 0 else { throw .malformedFile(file: source, line: nil, message: "the log has no rows") }
        guard positions.count == n, rewards.count == n, propensities.map({ $0.count == n }) ?? true,
            contexts.allSatisfy({ $0.count == n }), rowKeys.map({ $0.count == n }) ?? true
        else { throw .malformedFile(file: source, line: nil, message: "the columns have different lengths") }
        guard contexts.count == columns.context.count else {
            throw .invalidParameter("\(columns.context.count) context columns named, \(contexts.count) given")
        }
        guard (rowKeys != nil) == (columns.rowKey != nil) else {
            throw .invalidParameter("a row-key column is named without its values, or given without a name")
        }
        let base = Int64(columns.positionBase)
        if let r = items.withBuffer({ $0.firstIndex { !($0 >= 0 && $0 <= Int64(Int32.max)) } }) {
            throw bad(r, columns.item, "'\(items[r])' is not a non-negative integer item id")
        }
        if let r = positions.withBuffer({ $0.firstIndex { !($0 >= base && $0 - base <= Int64(Int32.max)) } }) {
            throw bad(r, columns.position, "'\(positions[r])' is not a position (the top position is \(base))")
        }
        if let r = rewards.withBuffer({ $0.firstIndex { !$0.isFinite } }) {
            throw bad(r, columns.reward, "'\(rewards[r])' is not a finite number")
        }
        if let p = propensities, let r = p.withBuffer({ $0.firstIndex { !($0.isFinite && $0 > 0 && $0 <= 1) } }) {
            throw bad(r, columns.propensity ?? "propensity", "propensity '\(p[r])' must be a number in (0, 1]")
        }
        let coded = contexts + (rowKeys.map { [$0] } ?? [])
        for (f, column) in coded.enumerated() {
            let name = f < columns.context.count ? columns.context[f] : (columns.rowKey ?? "row key")
            switch column {
            case .coded(let c):
                let limit = c.values.count
                if let r = c.codes.withBuffer({ $0.firstIndex { $0 < 0 || Int($0) >= limit } }) {
                    throw bad(r, name, "value index \(c.codes[r]) is outside the column's \(limit) values")
                }
            case .integers(let i):
                if let m = i.missing, m.count != n {
                    throw bad(0, name, "\(m.count) missing-value flags for \(n) rows")
                }
            }
        }
        (self.source, self.columns, self.items, self.positions) = (source, columns, items, positions)
        (self.rewards, self.propensities, self.contexts, self.rowKeys) = (rewards, propensities, contexts, rowKeys)
    }

    /// Makes the rows a slate log: the slate column and the probability columns
    /// `columns.slateProbabilities` names, each checked as the CSV reader checks them (a target's
    /// probability in [0, 1], a logging one in (0, 1]).
    /// - Throws: `.invalidParameter` without a slate column in `columns`, or for a probability
    ///   column given or missing against `columns`; `.malformedFile` naming the row and column
    ///   of a bad value or length.
    public mutating func setSlates(
        _ slates: Column, probabilities: [SlateProbability: LogValues<Double>]
    ) throws(RecOPEError) {
        guard let name = columns.slate else {
            throw .invalidParameter("slate columns given for a log whose column mapping names no slate column")
        }
        let n = count
        guard slates.count == n else {
            throw .malformedFile(
                file: source, line: nil, message: "column '\(name)': \(slates.count) values for \(n) rows")
        }
        if case .integers(let i) = slates, let m = i.missing, m.count != n {
            throw .malformedFile(
                file: source, line: nil, message: "column '\(name)': \(m.count) missing-value flags for \(n) rows")
        }
        if case .coded(let c) = slates {
            let limit = c.values.count
            if let r = c.codes.withBuffer({ $0.firstIndex { $0 < 0 || Int($0) >= limit } }) {
                throw .malformedFile(
                    file: source, line: nil,
                    message:
                        "row \(r + 1): column '\(name)': value index \(c.codes[r]) is outside the column's \(limit) values"
                )
            }
        }
        let named = Set(columns.slateProbabilities.keys)
        guard Set(probabilities.keys) == named else {
            let missing = named.subtracting(probabilities.keys).map(\.rawValue).sorted()
            let extra = Set(probabilities.keys).subtracting(named).map(\.rawValue).sorted()
            throw .invalidParameter(
                "slate probability columns: "
                    + (missing.isEmpty ? "" : "missing \(missing.joined(separator: ", "))")
                    + (extra.isEmpty
                        ? ""
                        : "\(missing.isEmpty ? "" : "; ")not in the column mapping: \(extra.joined(separator: ", "))"))
        }
        for (role, values) in probabilities.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let column = columns.slateProbabilities[role]!
            guard values.count == n else {
                throw .malformedFile(
                    file: source, line: nil, message: "column '\(column)': \(values.count) values for \(n) rows")
            }
            let low = role.isTarget ? 0.0 : Double.leastNonzeroMagnitude
            if let r = values.withBuffer({ $0.firstIndex { !($0 >= low && $0 <= 1) } }) {
                throw .malformedFile(
                    file: source, line: nil,
                    message:
                        "row \(r + 1): column '\(column)': \(role.rawValue) '\(values[r])' must be a number in \(role.isTarget ? "[0, 1]" : "(0, 1]")"
                )
            }
        }
        self.slates = slates
        slateProbabilities = probabilities
    }

    /// The deepest position + 1 (0-based positions).
    public var depth: Int {
        Int((positions.withBuffer { $0.max() } ?? Int64(columns.positionBase)) - Int64(columns.positionBase)) + 1
    }

    /// The rows as chunks of at most `maxRows` (what `LogReader.next` gives for the same file).
    public func chunks(maxRows: Int = 65536) -> [LogChunk] {
        var out = [LogChunk]()
        forEachChunk(maxRows: maxRows) { out.append($0) }
        return out
    }

    /// Calls `body` with each chunk of at most `maxRows` rows in turn (what `LogReader.next`
    /// gives for the same file): one chunk is in memory at a time.
    public func forEachChunk<E: Error>(maxRows: Int = 65536, _ body: (LogChunk) throws(E) -> Void) throws(E) {
        let sourceKey = RowHash.key(bytes: (source.split(separator: "/").last.map(String.init) ?? source).utf8)
        var keyHashes: [UInt64]?
        if case .coded(let k) = rowKeys { keyHashes = k.values.map { RowHash.key(bytes: $0.utf8) } }
        var slateHashes: [UInt64]?
        if case .coded(let s) = slates { slateHashes = s.values.map { RowHash.key(bytes: $0.utf8) } }
        var start = 0
        while start < count {
            let end = min(start + maxRows, count)
            var c = chunk(start..<end, sourceKey: sourceKey, keyHashes: keyHashes)
            if let slates {
                // A slate's key hashes its text, as the CSV reader's does.
                let rows = start..<end
                c.slates = Self.keys(slates, rows, hashes: slateHashes)
                for (role, v) in slateProbabilities { c.slateProbabilities[role] = v.withBuffer { Array($0[rows]) } }
            }
            try body(c)
            start = end
        }
    }

    /// The keys of a coded or integer column's rows: the hash of each value's text (an empty
    /// field's for a missing integer); `hashes` are the coded values' hashes.
    static func keys(_ column: Column, _ rows: Range<Int>, hashes: [UInt64]?) -> [UInt64] {
        switch column {
        case .coded(let k):
            let h = hashes!
            return k.codes.withBuffer { b in rows.map { h[Int(b[$0])] } }
        case .integers(let k):
            return k.values.withBuffer { v in
                rows.map { r in
                    k.missing.map { $0[r] != 0 } == true
                        ? RowHash.key(bytes: EmptyCollection()) : Self.decimalKey(v[r])
                }
            }
        }
    }

    func chunk(_ rows: Range<Int>, sourceKey: UInt64, keyHashes: [UInt64]?) -> LogChunk {
        let base = Int64(columns.positionBase)
        var c = LogChunk(source: source)
        c.items = items.withBuffer { b in rows.map { Int32(b[$0]) } }
        c.positions = positions.withBuffer { b in rows.map { Int32(b[$0] - base) } }
        c.rewards = rewards.withBuffer { Array($0[rows]) }
        c.propensities = propensities.map { p in p.withBuffer { Array($0[rows]) } }
        c.rowKeyed = rowKeys != nil
        if let rowKeys {
            c.rowKeys = Self.keys(rowKeys, rows, hashes: keyHashes)
        } else {
            c.rowKeys = rows.map { LogReader.defaultKey(sourceKey: sourceKey, row: $0 + 1) }
        }
        // A chunk's context table holds the values its rows use, in order of first use (as the
        // CSV reader interns them).
        for (f, ctx) in contexts.enumerated() {
            var ids = [Int32]()
            ids.reserveCapacity(rows.count)
            var values = [String]()
            switch ctx {
            case .coded(let coded):
                var remap = [Int32: Int32]()
                coded.codes.withBuffer { b in
                    for r in rows {
                        let code = b[r]
                        if let id = remap[code] {
                            ids.append(id)
                        } else {
                            let id = Int32(values.count)
                            remap[code] = id
                            values.append(coded.values[Int(code)])
                            ids.append(id)
                        }
                    }
                }
            case .integers(let ints):
                var remap = [Int64: Int32]()
                var missingID: Int32?
                for r in rows {
                    if let m = ints.missing, m[r] != 0 {
                        if missingID == nil {
                            missingID = Int32(values.count)
                            values.append("")
                        }
                        ids.append(missingID!)
                    } else if let id = remap[ints.values[r]] {
                        ids.append(id)
                    } else {
                        let v = ints.values[r]
                        let id = Int32(values.count)
                        remap[v] = id
                        values.append(String(v))
                        ids.append(id)
                    }
                }
            }
            c.contexts.append(.init(name: columns.context[f], ids: ids, values: values))
        }
        return c
    }

    /// The row key of an integer: the hash of its decimal text, made without a `String`.
    @inline(__always)
    static func decimalKey(_ value: Int64) -> UInt64 {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: a sign and 19 digits fit
        return withUnsafeMutableBytes(of: &digits) { buf in
            var i = buf.count
            var m = value.magnitude
            repeat {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: 48 &+ m % 10)
                m /= 10
            } while m != 0
            if value < 0 {
                i -= 1
                buf[i] = 45  // "-"
            }
            return RowHash.key(bytes: UnsafeRawBufferPointer(rebasing: buf[i...]))
        }
    }
}
