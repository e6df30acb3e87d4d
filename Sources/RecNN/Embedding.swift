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

/// An embedding table with a padding id (its row is zero and never updated) and a sparse
/// gradient over the rows a batch used.
public final class Embedding: Module {
    /// The table, vocabulary × dimension (`NAME.weight`; sparse gradient rows).
    public let table: Parameter
    /// The row that is padding: zero and never updated (nil for none).
    public let paddingIndex: Int?
    /// Rows of the table.
    public var vocabulary: Int { table.value.rows }
    /// Columns of the table.
    public var dimension: Int { table.value.cols }
    /// The table.
    public var parameters: [Parameter] { [table] }

    /// An embedding table, initialised as `initialization` says (seeded), the padding row zero.
    public init(
        name: String, vocabulary: Int, dimension: Int, paddingIndex: Int?,
        initialization: Initialization = .pytorchDefault, seed: UInt64
    ) {
        let std: Float
        switch initialization {
        case .pytorchDefault: std = 1
        case .normal(let s): std = s
        case .xavierUniform(let s): std = s
        }
        var m = Matrix.random(vocabulary, dimension, seed: seed, distribution: .normal(mean: 0, std: std))
        if let p = paddingIndex { m.setRow(p, [Float](repeating: 0, count: dimension)) }
        table = Parameter(name: name + ".weight", value: m, sparse: true)
        self.paddingIndex = paddingIndex
    }

    /// Rows of the table for `ids` (one output row per id).
    /// - Throws: `.itemOutOfRange` naming the id and its position.
    public func forward(_ ids: [Int]) throws(RecNNError) -> Matrix {
        let d = dimension
        let n = vocabulary
        for (pos, id) in ids.enumerated() where id < 0 || id >= n {
            throw .itemOutOfRange(id: id, position: pos, vocabulary: n)
        }
        return Matrix(
            rows: ids.count, cols: d,
            unsafeUninitialized: { o in
                table.value.withUnsafeBufferPointer { t in
                    for (r, id) in ids.enumerated() {
                        (o.baseAddress! + r * d).update(from: t.baseAddress! + id * d, count: d)
                    }
                }
            })
    }

    /// Accumulates dy rows into the used rows' gradient (the padding row is skipped), in the
    /// order of `ids`.
    public func backward(_ ids: [Int], _ dy: Matrix) {
        let d = dimension
        for id in ids where id != paddingIndex { table.touch(id) }
        table.withGradientRows { row in
            dy.withUnsafeBufferPointer { dp in
                for (r, id) in ids.enumerated() where id != paddingIndex {
                    Kernels.addRow(dp.baseAddress! + r * d, into: row(id), count: d)
                }
            }
        }
    }
}
