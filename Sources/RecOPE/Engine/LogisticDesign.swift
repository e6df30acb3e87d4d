import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The one-hot design of the logistic reward model, fixed from the first pass's merged counts:
/// `logit P(click) = b + α_item + β_position + Σ_f γ_f[x_f] + item-feature terms`, with an L2
/// penalty λ = 1 on every weight but the intercept (Newton / IRLS; each iteration's gradient and
/// Hessian are sums over rows, so shards add them, as Spark MLlib's IRLS does).
public struct LogisticDesign: Sendable, Equatable, Codable {
    /// Items (item effects α).
    public var items: Int
    /// Positions (position effects β).
    public var depth: Int
    /// Context columns in the model and their values (sorted, so every shard numbers them alike).
    public var columns: [String]
    /// Per context column, its values (one effect each).
    public var levels: [[String]]
    /// Item-feature shape: categories per categorical column, numeric column count.
    public var itemCategories: [Int]
    /// Numeric item-feature columns.
    public var itemNumeric: Int
    /// The L2 penalty on every weight but the intercept.
    public var lambda: Double = 1

    /// Coefficient offsets: context columns, item categorical columns, item numeric columns.
    public var columnOffsets: [Int] {
        var o = [Int]()
        var p = 1 + items + depth
        for l in levels {
            o.append(p)
            p += l.count
        }
        return o
    }

    var itemCategoryOffsets: [Int] {
        var o = [Int]()
        var p = columnOffsets.last.map { $0 + levels.last!.count } ?? 1 + items + depth
        for c in itemCategories {
            o.append(p)
            p += c
        }
        return o
    }

    var numericOffset: Int {
        (itemCategoryOffsets.last.map { $0 + itemCategories.last! })
            ?? (columnOffsets.last.map { $0 + levels.last!.count } ?? 1 + items + depth)
    }

    /// Coefficients in all.
    public var parameters: Int { numericOffset + itemNumeric }

    /// Columns with more than this many values (ids, histories) are left out of the design.
    public static let maxLevels = 1000
    /// Models with more coefficients than this are not fitted (the dense solve is cubic).
    public static let maxParameters = 3000

    /// The design for merged context-value counts, or nil with the reason it cannot be fitted.
    static func make(
        items: Int, depth: Int, levels: [String: [String: Int]], itemCategories: [Int], itemNumeric: Int,
        notes: inout [String]
    ) -> LogisticDesign? {
        var cols = [String]()
        var lv = [[String]]()
        for name in levels.keys.sorted() {
            let values = levels[name]!.keys.sorted()
            if values.count > maxLevels {
                notes.append(
                    "context column '\(clipped(name))' has \(values.count) values; the logistic reward model leaves it out"
                )
                continue
            }
            cols.append(name)
            lv.append(values)
        }
        let d = LogisticDesign(
            items: items, depth: depth, columns: cols, levels: lv,
            itemCategories: itemCategories, itemNumeric: itemNumeric)
        if d.parameters > maxParameters {
            notes.append(
                "the logistic reward model would have \(d.parameters) coefficients (more than \(maxParameters)); skipped"
            )
            return nil
        }
        return d
    }

    /// Per item, the item part of the logit.
    func itemLogits(theta: [Double], features: ItemFeatures?) -> [Double] {
        let co = itemCategoryOffsets
        let no = numericOffset
        return (0..<items).map { a in
            var v = theta[1 + a]
            if let f = features, !itemCategories.isEmpty || itemNumeric > 0 {
                for (c, col) in f.categorical.enumerated() { v += theta[co[c] + Int(col[a])] }
                for (c, col) in f.numeric.enumerated() { v += theta[no + c] * col[a] }
            }
            return v
        }
    }

    /// The starting coefficients: the intercept at the logit of the mean reward.
    func start(meanReward mean: Double) -> [Double] {
        var t = [Double](repeating: 0, count: parameters)
        t[0] = log(max(mean, 1e-6) / max(1 - mean, 1e-6))
        return t
    }

    /// One Newton step from summed gradient and Hessian (penalty added here, once).
    /// - Returns: the new coefficients and the largest |step|, or nil if the Hessian is singular.
    func step(_ s: NewtonSums) -> (theta: [Double], size: Double)? {
        let P = parameters
        var h = [Double](repeating: 0, count: P * P)
        var g = s.gradient.map(\.value)
        var t = 0
        for a in 0..<P {
            for b in a..<P {
                h[a * P + b] = s.hessian[t].value
                t += 1
            }
        }
        for i in 1..<max(P, 1) {
            h[i * P + i] += lambda
            g[i] -= lambda * s.theta[i]
        }
        h[0] += 1e-8
        guard let step = LinearAlgebra.solveSymmetricPositiveDefinite(h, g, n: P) else { return nil }
        var theta = s.theta
        var size = 0.0
        for i in 0..<P {
            theta[i] += step[i]
            size = max(size, abs(step[i]))
        }
        return (theta, size)
    }
}
