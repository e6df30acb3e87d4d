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

/// A trainable tensor with its gradient. Layers own their parameters; optimisers update them in
/// place.
///
/// A *sparse* parameter (an embedding table, a sampled objective's catalog head) holds only the
/// gradient rows a backward pass touched, in a compact buffer (`gradientRows`, one slot a row
/// in the order of first touch): a step's gradient costs memory and work in the rows it
/// touched, not in the catalog. `grad` still reads as the dense matrix (built on demand, for
/// checks); assigning a dense matrix to a sparse parameter's `grad` touches every row.
public final class Parameter {
    /// The checkpoint name (PyTorch state-dict style, e.g. `encoder.blocks.0.attn.q.weight`).
    public let name: String
    /// The values (a 1 × n matrix for a vector).
    public var value: Matrix
    /// Whether the parameter is a vector (a bias, a LayerNorm gain): held as a 1 × n matrix,
    /// written to checkpoints as a 1-D tensor of shape [n], as PyTorch's state dicts hold it.
    public let isVector: Bool
    /// The shape of the value and the gradient (a replica may drop its shared values).
    public let shape: (rows: Int, cols: Int)
    /// A dense gradient (empty for a sparse parameter).
    var denseGrad: Matrix
    /// Whether the gradient is held by rows (see the type's description).
    public private(set) var isSparse: Bool
    /// A sparse gradient's slot + 1 for each row (0: not touched); empty for a dense one.
    var rowSlot: [Int32] = []
    /// A sparse gradient's touched rows, in the order they were first touched.
    public private(set) var gradientRows: [Int] = []
    /// Their gradients, `rowLength` values each, in `gradientRows`' order.
    var gradientValues: [Float] = []

    /// - Precondition: a vector parameter has one row.
    public init(name: String, value: Matrix, sparse: Bool = false, vector: Bool = false) {
        precondition(!vector || value.rows == 1, "Parameter \(name): a vector parameter has one row, got \(value.rows)")
        self.name = name
        self.value = value
        isVector = vector
        shape = (value.rows, value.cols)
        denseGrad = Matrix(rows: 0, cols: 0)
        isSparse = !sparse
        setSparse(sparse)
    }

    /// Values per row of a sparse gradient: a matrix's row, or one element of a vector.
    public var rowLength: Int { isVector ? 1 : shape.cols }
    /// Rows of a sparse gradient in all (a vector's elements).
    public var rowCount: Int { isVector ? shape.cols : shape.rows }

    /// Holds the gradient by rows (true) or densely (false); the gradient is cleared either way.
    public func setSparse(_ sparse: Bool) {
        precondition(!sparse || rowCount < Int(Int32.max), "Parameter \(name): too many rows for a sparse gradient")
        isSparse = sparse
        gradientRows = []
        gradientValues = []
        if sparse {
            rowSlot = [Int32](repeating: 0, count: rowCount)
            denseGrad = Matrix(rows: 0, cols: 0)
        } else {
            rowSlot = []
            denseGrad = Matrix(rows: shape.rows, cols: shape.cols)
        }
    }

    /// The gradient as a dense matrix, the shape of `value`; backward passes add into it. For a
    /// sparse parameter it is built from the touched rows when read (O(rows × cols): for checks
    /// and small tensors), and writing it (or through it) touches every row.
    public var grad: Matrix {
        get { isSparse ? denseGradient() : denseGrad }
        _modify {
            if isSparse {
                var m = denseGradient()
                yield &m
                assignEveryRow(m)
            } else {
                yield &denseGrad
            }
        }
        set {
            if isSparse { assignEveryRow(newValue) } else { denseGrad = newValue }
        }
    }

    /// Floats the gradient holds now: the touched rows' for a sparse gradient, every value's
    /// for a dense one.
    public var gradientStorageCount: Int { isSparse ? gradientValues.count : denseGrad.count }

    /// Rows with a gradient when the gradient is sparse (touched by a backward pass), nil for a
    /// dense gradient.
    public var touchedRows: Set<Int>? { isSparse ? Set(gradientRows) : nil }

    func denseGradient() -> Matrix {
        var m = Matrix(rows: shape.rows, cols: shape.cols)
        let c = rowLength
        m.withUnsafeMutableBufferPointer { g in
            gradientValues.withUnsafeBufferPointer { v in
                for (k, r) in gradientRows.enumerated() {
                    (g.baseAddress! + r * c).update(from: v.baseAddress! + k * c, count: c)
                }
            }
        }
        return m
    }

    func assignEveryRow(_ m: Matrix) {
        precondition(m.rows == shape.rows && m.cols == shape.cols, "Parameter \(name): a gradient of another shape")
        for r in gradientRows { rowSlot[r] = 0 }
        gradientRows = Array(0..<rowCount)
        for r in 0..<rowCount { rowSlot[r] = Int32(r + 1) }
        gradientValues = m.storage
    }

    /// Marks `row` of a sparse gradient touched (its gradient zero when new); returns its slot
    /// in `gradientRows`.
    @discardableResult
    public func touch(_ row: Int) -> Int {
        precondition(isSparse, "Parameter \(name): touch on a dense gradient")
        let s = rowSlot[row]
        if s != 0 { return Int(s) - 1 }
        gradientRows.append(row)
        rowSlot[row] = Int32(gradientRows.count)
        gradientValues.append(contentsOf: repeatElement(0, count: rowLength))
        return gradientRows.count - 1
    }

    /// Marks the rows touched, in order (see `touch`).
    public func touch(rows: some Sequence<Int>) { for r in rows { touch(r) } }

    /// Runs `body` with a function giving the gradient of a row (`rowLength` values) to add to:
    /// a slot of the compact buffer for a sparse gradient (the row must be touched), the row of
    /// the dense matrix otherwise.
    public func withGradientRows<R>(_ body: (_ row: (Int) -> UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let c = rowLength
        if isSparse {
            return try rowSlot.withUnsafeBufferPointer { slots in
                try gradientValues.withUnsafeMutableBufferPointer { v in
                    let base = v.baseAddress
                    return try body { r in
                        let s = Int(slots[r])
                        precondition(s > 0, "Parameter: gradient row \(r) not touched")
                        return base! + (s - 1) * c
                    }
                }
            }
        }
        return try denseGrad.withUnsafeMutableBufferPointer { g in
            let base = g.baseAddress
            return try body { r in base! + r * c }
        }
    }

    /// The gradient of `row` (`rowLength` values; zeros for an untouched row of a sparse one).
    public func gradientRow(_ row: Int) -> [Float] {
        let c = rowLength
        if isSparse {
            let s = Int(rowSlot[row])
            return s == 0 ? [Float](repeating: 0, count: c) : Array(gradientValues[((s - 1) * c)..<(s * c)])
        }
        return Array(denseGrad.storage[(row * c)..<((row + 1) * c)])
    }

    /// Replaces a sparse gradient by `rows` (distinct) with their values (`rowLength` each, in
    /// the rows' order).
    public func replaceGradient(rows: [Int], values: [Float]) {
        precondition(isSparse && values.count == rows.count * rowLength, "Parameter \(name): replaceGradient")
        for r in gradientRows { rowSlot[r] = 0 }
        gradientRows = rows
        for (k, r) in rows.enumerated() {
            precondition(rowSlot[r] == 0, "Parameter \(name): row \(r) twice")
            rowSlot[r] = Int32(k + 1)
        }
        gradientValues = values
    }

    /// The shape checkpoints hold: [n] for a vector, [rows, cols] otherwise.
    public var checkpointShape: [Int] { isVector ? [value.cols] : [value.rows, value.cols] }

    /// The parameter's values as a checkpoint tensor (shape `checkpointShape`).
    public var tensor: Tensor { Tensor(shape: checkpointShape, values: value.storage) }

    /// Whether a checkpoint tensor of `shape` holds this parameter: `checkpointShape`, or
    /// [1, n] for a vector (checkpoints written before vectors were 1-D).
    public func accepts(shape: [Int]) -> Bool {
        shape == checkpointShape || shape == [value.rows, value.cols]
    }

    /// Adds `other`'s gradient into this one: over `other`'s touched rows in row order when it is
    /// sparse (they join this one's), element by element otherwise. Replicas of a model that
    /// computed parts of a batch are added this way.
    public func accumulateGradient(from other: Parameter) {
        let c = other.rowLength
        if other.isSparse {
            let order = other.gradientRows.indices.sorted { other.gradientRows[$0] < other.gradientRows[$1] }
            if isSparse { for k in order { touch(other.gradientRows[k]) } }
            withGradientRows { row in
                other.gradientValues.withUnsafeBufferPointer { t in
                    for k in order {
                        let g = row(other.gradientRows[k])
                        for j in 0..<c { g[j] += t[k * c + j] }
                    }
                }
            }
        } else {
            precondition(!isSparse, "Parameter \(name): a dense gradient added to a sparse one")
            denseGrad.withUnsafeMutableBufferPointer { g in
                other.denseGrad.withUnsafeBufferPointer { t in
                    let (gp, tp) = (g.baseAddress!, t.baseAddress!)
                    Self.inChunks(g.count) { r in for i in r { gp[i] += tp[i] } }
                }
            }
        }
    }

    /// Runs `body` over ranges covering `0..<count`: chunks of 2¹⁸ elements on the automatic
    /// threads when the tensor is large (the element-wise passes over a catalog's gradient are
    /// bound by memory bandwidth, which two cores share better than one uses), one range
    /// otherwise. Element-wise work only: the result does not depend on the threads.
    static func inChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        let chunk = 1 << 18
        guard count >= 4 * chunk else { return body(0..<count) }
        Threading.parallelFor(chunks: (count + chunk - 1) / chunk, parallelism: .automatic) { c in
            body((c * chunk)..<min(count, (c + 1) * chunk))
        }
    }

    /// Values from which `zeroGrad` streams its zeros past the caches (4 MB of floats).
    static let streamingClearMinimum = 1 << 20

    /// Clears the gradient (only the touched rows of a sparse one).
    public func zeroGrad() {
        if isSparse {
            for r in gradientRows { rowSlot[r] = 0 }
            gradientRows.removeAll(keepingCapacity: true)
            gradientValues.removeAll(keepingCapacity: true)
        } else {
            // In place: a fresh allocation of a large tensor costs a page fault per 4 KB page on
            // its first write (the catalog head's gradient: 6,250 a step at N = 100k, d = 64).
            // From 4 MB the zeros are streamed (no read of each line before it is written; the
            // next pass reads the gradient from memory anyway): at N = 100k, d = 64, 1.4–1.7 ms
            // on 2 threads instead of 2.6–2.9. Smaller gradients stay in the caches for the next
            // backward.
            denseGrad.withUnsafeMutableBufferPointer { g in
                guard let gp = g.baseAddress else { return }
                let streaming = g.count >= Self.streamingClearMinimum
                Self.inChunks(g.count) { r in
                    if streaming {
                        Kernels.streamZero(gp + r.lowerBound, count: r.count)
                        Kernels.storeFence()
                    } else {
                        (gp + r.lowerBound).update(repeating: 0, count: r.count)
                    }
                }
            }
        }
    }
}
