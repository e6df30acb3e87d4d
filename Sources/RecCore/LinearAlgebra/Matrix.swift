/// A dense row-major matrix of `Float` with value semantics (copy-on-write storage).
///
/// Element `(r, c)` lives at `storage[r * cols + c]`. Shapes are checked with preconditions
/// that name both shapes: a shape mismatch is a programmer error, not a data error.
public struct Matrix: Sendable, Equatable, CustomStringConvertible {
    /// Number of rows.
    public let rows: Int
    /// Number of columns (the row stride).
    public let cols: Int
    /// Row-major elements, `rows * cols` of them.
    public var storage: [Float] { _storage }
    @usableFromInline internal var _storage: [Float]

    /// The shape as `(rows, cols)`.
    public var shape: (rows: Int, cols: Int) { (rows, cols) }
    /// `"rows×cols"`, used in precondition messages.
    public var shapeDescription: String { "\(rows)×\(cols)" }
    /// Number of elements.
    public var count: Int { rows * cols }

    /// A matrix with every element set to `value`.
    /// - Precondition: `rows >= 0`, `cols >= 0`.
    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "Matrix: negative shape \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self._storage = [Float](repeating: value, count: rows * cols)
    }

    /// A matrix whose elements `initializer` writes (every one of them: the memory starts
    /// uninitialised). For kernels that overwrite their output, this skips the zero fill.
    @inlinable
    public init(rows: Int, cols: Int, unsafeUninitialized initializer: (UnsafeMutableBufferPointer<Float>) -> Void) {
        precondition(rows >= 0 && cols >= 0, "Matrix: negative shape \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self._storage = [Float](unsafeUninitializedCapacity: rows * cols) { buf, count in
            initializer(buf)
            count = rows * cols
        }
    }

    /// A matrix over row-major `elements`.
    /// - Precondition: `elements.count == rows * cols`.
    public init(rows: Int, cols: Int, elements: [Float]) {
        precondition(rows >= 0 && cols >= 0, "Matrix: negative shape \(rows)×\(cols)")
        precondition(
            elements.count == rows * cols,
            "Matrix: \(elements.count) elements do not fill a \(rows)×\(cols) matrix (\(rows * cols) needed)")
        self.rows = rows
        self.cols = cols
        self._storage = elements
    }

    /// A matrix from an array of equally long rows.
    /// - Precondition: every row has the same length.
    public init(_ rowArrays: [[Float]]) {
        let r = rowArrays.count
        let c = rowArrays.first?.count ?? 0
        var s = [Float]()
        s.reserveCapacity(r * c)
        for (i, row) in rowArrays.enumerated() {
            precondition(row.count == c, "Matrix: row \(i) has \(row.count) elements, row 0 has \(c)")
            s.append(contentsOf: row)
        }
        self.init(rows: r, cols: c, elements: s)
    }

    /// A matrix filled by `body(row, col)`.
    public init(rows: Int, cols: Int, _ body: (Int, Int) -> Float) {
        precondition(rows >= 0 && cols >= 0, "Matrix: negative shape \(rows)×\(cols)")
        var s = [Float]()
        s.reserveCapacity(rows * cols)
        for r in 0..<rows { for c in 0..<cols { s.append(body(r, c)) } }
        self.init(rows: rows, cols: cols, elements: s)
    }

    /// The zero matrix.
    public static func zeros(_ rows: Int, _ cols: Int) -> Matrix { Matrix(rows: rows, cols: cols) }

    /// The distributions `Matrix.random` can draw from.
    public enum Distribution: Sendable, Equatable {
        /// Uniform on `[low, high)`.
        case uniform(low: Float, high: Float)
        /// Normal with the given mean and standard deviation.
        case normal(mean: Float, std: Float)
    }

    /// A matrix of seeded random values; the same seed gives the same matrix whatever the
    /// thread count.
    public static func random(
        _ rows: Int, _ cols: Int, seed: UInt64,
        distribution: Distribution = .normal(mean: 0, std: 1),
        parallelism: Parallelism = .automatic
    ) -> Matrix {
        var m = Matrix(rows: rows, cols: cols)
        let stream = RandomStream(seed: seed)
        m._storage.withUnsafeMutableBufferPointer { buf in
            switch distribution {
            case .uniform(let lo, let hi):
                stream.fillUniform(buf, low: lo, high: hi, parallelism: parallelism)
            case .normal(let mu, let sd):
                stream.fillNormal(buf, mean: mu, std: sd, parallelism: parallelism)
            }
        }
        return m
    }

    /// Element `(r, c)`.
    @inlinable
    public subscript(r: Int, c: Int) -> Float {
        get {
            precondition(r >= 0 && r < rows && c >= 0 && c < cols, "Matrix: index (\(r), \(c)) outside \(rows)×\(cols)")
            return storage[r * cols + c]
        }
        set {
            precondition(r >= 0 && r < rows && c >= 0 && c < cols, "Matrix: index (\(r), \(c)) outside \(rows)×\(cols)")
            _storage[r * cols + c] = newValue
        }
    }

    /// Row `r` as a slice of the storage (no copy until mutated).
    public func row(_ r: Int) -> ArraySlice<Float> {
        precondition(r >= 0 && r < rows, "Matrix: row \(r) outside \(rows)×\(cols)")
        return storage[(r * cols)..<((r + 1) * cols)]
    }

    /// Replaces row `r`: one copy when `values` is contiguous (an array, an array slice, a
    /// `row(_:)`), element by element otherwise.
    /// - Precondition: `values.count == cols`.
    public mutating func setRow(_ r: Int, _ values: some Collection<Float>) {
        precondition(r >= 0 && r < rows, "Matrix: row \(r) outside \(rows)×\(cols)")
        precondition(values.count == cols, "Matrix: row of \(values.count) elements into a \(rows)×\(cols) matrix")
        let start = r * cols
        // The element loop below runs at about 80 ns an element through the collection's
        // iterator: assembling a data-parallel forward's 256 × 64 states took 1.4 ms that way.
        let copied: Void? = values.withContiguousStorageIfAvailable { src in
            guard let from = src.baseAddress, !src.isEmpty else { return }
            _storage.withUnsafeMutableBufferPointer { dst in
                (dst.baseAddress! + start).update(from: from, count: src.count)
            }
        }
        if copied != nil { return }
        var i = start
        for v in values {
            _storage[i] = v
            i += 1
        }
    }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= rows,
            "Matrix: rows \(range) outside \(rows)×\(cols)")
        return Matrix(
            rows: range.count, cols: cols,
            elements: Array(storage[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// The transpose.
    /// - Complexity: O(rows × cols).
    public func transposed() -> Matrix {
        var t = Matrix(rows: cols, cols: rows)
        storage.withUnsafeBufferPointer { src in
            t._storage.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
            }
        }
        return t
    }

    /// Calls `body` with the row-major elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the mutable row-major elements.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try _storage.withUnsafeMutableBufferPointer(body)
    }

    public var description: String {
        var s = "Matrix(\(rows)×\(cols))"
        let rmax = min(rows, 6)
        let cmax = min(cols, 8)
        for r in 0..<rmax {
            s += "\n  ["
            s += (0..<cmax).map { String(storage[r * cols + $0]) }.joined(separator: ", ")
            s += cols > cmax ? ", …]" : "]"
        }
        if rows > rmax { s += "\n  …" }
        return s
    }
}
