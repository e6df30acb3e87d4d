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

/// Per-item features (the OBD `item_context.csv` layout: one row per item id, numeric and
/// categorical columns). Numeric columns are standardised; categorical ones get dense ids.
public struct ItemFeatures: Sendable {
    /// Per numeric column, the standardised value of each item.
    public let numeric: [[Double]]
    /// Per categorical column, the category id of each item.
    public let categorical: [[Int32]]
    /// Names of the numeric columns.
    public let numericNames: [String]
    /// Names of the categorical columns.
    public let categoricalNames: [String]
    /// Item ids at most (exclusive): the catalogs RecKit's policies rank.
    public static let maxItems = 10_000_000

    /// Items described.
    public var itemCount: Int { numeric.first?.count ?? categorical.first?.count ?? 0 }

    /// Loads a CSV with a header and an item id column; other columns (except an unnamed index
    /// column) are numeric when every value parses as a number, categorical otherwise.
    /// - Throws: `RecOPEError` naming the file and line of a missing or repeated item id.
    public static func load(csv path: String, idColumn: String = "item_id") throws(RecOPEError) -> ItemFeatures {
        let reader: CSVReader
        do { reader = try CSVReader(path: path) } catch { throw opeError(error) }
        func next() throws(RecOPEError) -> Bool {
            do { return try reader.next() } catch { throw opeError(error) }
        }
        guard try next() else { throw .malformedFile(file: path, line: nil, message: "the file is empty") }
        let names = (0..<reader.count).map { reader.string($0).trimmingWhitespace() }
        guard let idCol = names.firstIndex(of: idColumn) else {
            throw .malformedFile(file: path, line: 1, message: "missing column '\(clipped(idColumn))'")
        }
        let cols = names.indices.filter { $0 != idCol && !names[$0].isEmpty }
        var rows = [Int: [String]]()
        while try next() {
            guard reader.count == names.count else {
                throw .malformedFile(
                    file: path, line: reader.line, message: "\(reader.count) fields, the header has \(names.count)")
            }
            guard let id = reader.int(idCol), id >= 0 else {
                throw .malformedFile(
                    file: path, line: reader.line, message: "column '\(clipped(idColumn))': not an item id")
            }
            // Ids must cover 0..<n: one beyond any table RecKit reads is wrong (and Int.max + 1
            // would trap when the count is taken).
            guard id < Self.maxItems else {
                throw .malformedFile(
                    file: path, line: reader.line,
                    message: "column '\(clipped(idColumn))': item id \(id) is out of range (0..<\(Self.maxItems))")
            }
            guard rows[id] == nil else {
                throw .malformedFile(file: path, line: reader.line, message: "item \(id) appears twice")
            }
            rows[id] = cols.map { reader.string($0) }
        }
        let n = (rows.keys.max() ?? -1) + 1
        guard n > 0, rows.count == n else {
            throw .malformedFile(file: path, line: nil, message: "item ids must cover 0..<\(n) without gaps")
        }
        var numeric = [[Double]]()
        var categorical = [[Int32]]()
        var nn = [String]()
        var cn = [String]()
        for (ci, c) in cols.enumerated() {
            let values = (0..<n).map { rows[$0]![ci] }
            let parsed = values.map { Double($0) }
            if parsed.allSatisfy({ $0 != nil && $0!.isFinite }) {
                let v = parsed.map { $0! }
                let mean = v.reduce(0, +) / Double(n)
                let sd = max((v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)).squareRoot(), 1e-12)
                numeric.append(v.map { ($0 - mean) / sd })
                nn.append(names[c])
            } else {
                var ids = [String: Int32]()
                categorical.append(
                    values.map { v in
                        if let e = ids[v] { return e }
                        let id = Int32(ids.count)
                        ids[v] = id
                        return id
                    })
                cn.append(names[c])
            }
        }
        return ItemFeatures(numeric: numeric, categorical: categorical, numericNames: nn, categoricalNames: cn)
    }
}
