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
/// place. `touchedRows` marks the rows a sparse gradient filled (embeddings), so an optimiser
/// or a zeroing pass can visit only those.
public final class Parameter {
    /// The checkpoint name (PyTorch state-dict style, e.g. `encoder.blocks.0.attn.q.weight`).
    public let name: String
    /// The values (a 1 × n matrix for a vector).
    public var value: Matrix
    /// The gradient, the shape of `value`; backward passes add into it.
    public var grad: Matrix
    /// Rows with a non-zero gradient when the gradient is sparse; nil for dense gradients. A
    /// vector's rows are its elements (`rowLength` 1): a sampled head's bias.
    public var touchedRows: Set<Int>?
    /// Whether the parameter is a vector (a bias, a LayerNorm gain): held as a 1 × n matrix,
    /// written to checkpoints as a 1-D tensor of shape [n], as PyTorch's state dicts hold it.
    public let isVector: Bool

    /// - Precondition: a vector parameter has one row.
    public init(name: String, value: Matrix, sparse: Bool = false, vector: Bool = false) {
        precondition(!vector || value.rows == 1, "Parameter \(name): a vector parameter has one row, got \(value.rows)")
        self.name = name
        self.value = value
        grad = Matrix(rows: value.rows, cols: value.cols)
        touchedRows = sparse ? [] : nil
        isVector = vector
    }

    /// Values per row of a sparse gradient: a matrix's row, or one element of a vector.
    public var rowLength: Int { isVector ? 1 : value.cols }
    /// Rows of a sparse gradient in all (a vector's elements).
    public var rowCount: Int { isVector ? value.cols : value.rows }

    /// The shape checkpoints hold: [n] for a vector, [rows, cols] otherwise.
    public var checkpointShape: [Int] { isVector ? [value.cols] : [value.rows, value.cols] }

    /// The parameter's values as a checkpoint tensor (shape `checkpointShape`).
    public var tensor: Tensor { Tensor(shape: checkpointShape, values: value.storage) }

    /// Whether a checkpoint tensor of `shape` holds this parameter: `checkpointShape`, or
    /// [1, n] for a vector (checkpoints written before vectors were 1-D).
    public func accepts(shape: [Int]) -> Bool {
        shape == checkpointShape || shape == [value.rows, value.cols]
    }

    /// Adds `other`'s gradient into this one: over `other`'s touched rows when it is sparse (they
    /// join this one's), element by element otherwise. Replicas of a model that computed parts of
    /// a batch are added this way.
    public func accumulateGradient(from other: Parameter) {
        let c = other.rowLength
        if let rows = other.touchedRows {
            grad.withUnsafeMutableBufferPointer { g in
                other.grad.withUnsafeBufferPointer { t in
                    for row in rows.sorted() { for j in 0..<c { g[row * c + j] += t[row * c + j] } }
                }
            }
            touchedRows?.formUnion(rows)
        } else {
            grad.withUnsafeMutableBufferPointer { g in
                other.grad.withUnsafeBufferPointer { t in
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
        if let rows = touchedRows {
            let c = rowLength
            grad.withUnsafeMutableBufferPointer { g in for r in rows { for j in 0..<c { g[r * c + j] = 0 } } }
            touchedRows = []
        } else if grad.rows == value.rows && grad.cols == value.cols {
            // In place: a fresh allocation of a large tensor costs a page fault per 4 KB page on
            // its first write (the catalog head's gradient: 6,250 a step at N = 100k, d = 64).
            // From 4 MB the zeros are streamed (no read of each line before it is written; the
            // next pass reads the gradient from memory anyway): at N = 100k, d = 64, 1.4–1.7 ms
            // on 2 threads instead of 2.6–2.9. Smaller gradients stay in the caches for the next
            // backward.
            grad.withUnsafeMutableBufferPointer { g in
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
        } else {
            grad = Matrix(rows: value.rows, cols: value.cols)
        }
    }
}
