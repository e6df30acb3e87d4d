import Foundation
import RecCore
import RecIO

/// Per-item features (the OBD `item_context.csv` layout: one row per item id, numeric and
/// categorical columns). Numeric columns are standardised; categorical ones get dense ids.
public struct ItemFeatures: Sendable {
    /// Per numeric column, the standardised value of each item.
    public let numeric: [[Double]]
    /// Per categorical column, the category id of each item.
    public let categorical: [[Int32]]
    public let numericNames: [String]
    public let categoricalNames: [String]
    public var itemCount: Int { numeric.first?.count ?? categorical.first?.count ?? 0 }

    /// Loads a CSV with a header and an item id column; other columns (except an unnamed index
    /// column) are numeric when every value parses as a number, categorical otherwise.
    /// - Throws: `RecOPEError` naming the file and line of a missing or repeated item id.
    public static func load(csv path: String, idColumn: String = "item_id") throws(RecOPEError) -> ItemFeatures {
        let reader: CSVReader
        do { reader = try CSVReader(path: path) } catch { throw .cannotOpen(file: path, reason: "\(error)") }
        func next() throws(RecOPEError) -> Bool {
            do { return try reader.next() } catch { throw .malformedFile(file: path, line: reader.line, message: "\(error)") }
        }
        guard try next() else { throw .malformedFile(file: path, line: nil, message: "the file is empty") }
        let names = (0..<reader.count).map { reader.string($0).trimmingCharacters(in: .whitespaces) }
        guard let idCol = names.firstIndex(of: idColumn) else { throw .malformedFile(file: path, line: 1, message: "missing column '\(idColumn)'") }
        let cols = names.indices.filter { $0 != idCol && !names[$0].isEmpty }
        var rows = [Int: [String]]()
        while try next() {
            guard reader.count == names.count else { throw .malformedFile(file: path, line: reader.line, message: "\(reader.count) fields, the header has \(names.count)") }
            guard let id = reader.int(idCol), id >= 0 else { throw .malformedFile(file: path, line: reader.line, message: "column '\(idColumn)': not an item id") }
            guard rows[id] == nil else { throw .malformedFile(file: path, line: reader.line, message: "item \(id) appears twice") }
            rows[id] = cols.map { reader.string($0) }
        }
        let n = (rows.keys.max() ?? -1) + 1
        guard n > 0, rows.count == n else { throw .malformedFile(file: path, line: nil, message: "item ids must cover 0..<\(n) without gaps") }
        var numeric = [[Double]](), categorical = [[Int32]](), nn = [String](), cn = [String]()
        for (ci, c) in cols.enumerated() {
            let values = (0..<n).map { rows[$0]![ci] }
            let parsed = values.map { Double($0) }
            if parsed.allSatisfy({ $0 != nil && $0!.isFinite }) {
                let v = parsed.map { $0! }
                let mean = v.reduce(0, +) / Double(n)
                let sd = max((v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)).squareRoot(), 1e-12)
                numeric.append(v.map { ($0 - mean) / sd }); nn.append(names[c])
            } else {
                var ids = [String: Int32]()
                categorical.append(values.map { v in
                    if let e = ids[v] { return e }
                    let id = Int32(ids.count); ids[v] = id; return id
                })
                cn.append(names[c])
            }
        }
        return ItemFeatures(numeric: numeric, categorical: categorical, numericNames: nn, categoricalNames: cn)
    }
}

/// A logistic-regression click model on one-hot features: the item, the position and each
/// context column's category, `logit P(click) = b + α_item + β_position + Σ_f γ_f[x_f]`, with an L2
/// penalty λ on every weight but the intercept. Fitted by Newton's method (IRLS) with a Cholesky
/// solve (LAPACKE) of the penalised Hessian.
struct LogisticRewardModel {
    let N: Int, K: Int
    let featureOffsets: [Int]
    let theta: [Double]
    /// The item part of the logit, per item.
    let itemLogit: [Double]

    /// Fits on rows (item, position, context categories per column, click); item features, when
    /// given, add one-hot item categories and numeric item columns shared across items.
    static func fit(items: [Int], positions: [Int], features: [[Int32]], rewards: [Double], N: Int, K: Int,
                    itemFeatures: ItemFeatures? = nil, lambda: Double = 1, maxIterations: Int = 25) -> LogisticRewardModel? {
        let n = items.count
        var offsets = [Int]()
        var P = 1 + N + K
        for f in features { offsets.append(P); P += Int(f.max() ?? 0) + 1 }
        let itemF = (itemFeatures?.itemCount ?? 0) >= N ? itemFeatures : nil
        var itemCatOffsets = [Int]()
        for f in itemF?.categorical ?? [] { itemCatOffsets.append(P); P += Int(f.max() ?? 0) + 1 }
        let numericOffset = P
        P += itemF?.numeric.count ?? 0
        // Sparse row: (index, value) pairs.
        func row(_ j: Int, _ a: Int, _ out: inout [(Int, Double)]) {
            out.removeAll(keepingCapacity: true)
            out.append((0, 1)); out.append((1 + a, 1)); out.append((1 + N + positions[j], 1))
            for (f, col) in features.enumerated() { out.append((offsets[f] + Int(col[j]), 1)) }
            if let itf = itemF {
                for (f, col) in itf.categorical.enumerated() { out.append((itemCatOffsets[f] + Int(col[a]), 1)) }
                for (f, col) in itf.numeric.enumerated() { out.append((numericOffset + f, col[a])) }
            }
        }
        var theta = [Double](repeating: 0, count: P)
        let mean = rewards.reduce(0, +) / Double(max(n, 1))
        theta[0] = log(max(mean, 1e-6) / max(1 - mean, 1e-6))
        var x = [(Int, Double)]()
        for _ in 0..<maxIterations {
            var h = [Double](repeating: 0, count: P * P)
            var g = [Double](repeating: 0, count: P)
            for i in 1..<P { h[i * P + i] = lambda; g[i] = -lambda * theta[i] }
            h[0] = 1e-8
            for j in 0..<n {
                row(j, items[j], &x)
                var eta = 0.0
                for (i, v) in x { eta += theta[i] * v }
                let p = 1 / (1 + exp(-eta))
                let wgt = max(p * (1 - p), 1e-12), res = rewards[j] - p
                for (a, va) in x {
                    g[a] += res * va
                    for (b, vb) in x {
                        if b > a { h[a * P + b] += wgt * va * vb } else if b == a { h[a * P + a] += wgt * va * va }
                    }
                }
            }
            guard let step = LinearAlgebra.solveSymmetricPositiveDefinite(h, g, n: P) else { return nil }
            var biggest = 0.0
            for i in 0..<P { theta[i] += step[i]; biggest = max(biggest, abs(step[i])) }
            if biggest < 1e-9 { break }
        }
        var itemLogit = [Double](repeating: 0, count: N)
        for a in 0..<N {
            var v = theta[1 + a]
            if let itf = itemF {
                for (f, col) in itf.categorical.enumerated() { v += theta[itemCatOffsets[f] + Int(col[a])] }
                for (f, col) in itf.numeric.enumerated() { v += theta[numericOffset + f] * col[a] }
            }
            itemLogit[a] = v
        }
        return LogisticRewardModel(N: N, K: K, featureOffsets: offsets, theta: theta, itemLogit: itemLogit)
    }

    /// The part of the logit shared by every item for a row: intercept, position and context.
    func rowLogit(position k: Int, row j: Int, features: [[Int32]]) -> Double {
        var eta = theta[0] + theta[1 + N + k]
        for (f, col) in features.enumerated() { eta += theta[featureOffsets[f] + Int(col[j])] }
        return eta
    }

    func probability(item a: Int, rowLogit: Double) -> Double { 1 / (1 + exp(-(rowLogit + itemLogit[a]))) }
}
