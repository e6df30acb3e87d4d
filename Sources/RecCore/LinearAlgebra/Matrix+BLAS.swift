internal import CBLAS

/// Whether an operand of a BLAS call is used as stored or transposed.
public enum Transpose: Sendable, Equatable {
    /// Use the operand as stored.
    case none
    /// Use the operand's transpose.
    case transpose

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Thin wrappers over OpenBLAS's single-precision BLAS, with every mode explicit in the signature.
///
/// Pointer-level entry points take Swift pointers (no C types) with explicit leading dimensions
/// for kernels that work on sub-blocks of larger buffers; `Matrix` entry points check shapes and
/// forward to them. Every call first sets OpenBLAS's thread count to what `parallelism` resolves to.
public enum BLAS {
    /// `C ← alpha · op(A) · op(B) + beta · C` on row-major buffers.
    ///
    /// `op(A)` is m×k, `op(B)` is k×n, `C` is m×n with leading dimension `ldc`.
    /// `beta = 0` replaces C (its old contents may be garbage, even NaN); `beta = 1` accumulates.
    /// - Complexity: 2·m·n·k FLOPs.
    /// - Precondition: leading dimensions are at least the stored row lengths.
    public static func sgemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int,
        parallelism: Parallelism = .automatic
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "BLAS.sgemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(
            lda >= max(1, transA == .none ? k : m), "BLAS.sgemm: lda \(lda) too small for op(A) \(m)×\(k) (\(transA))")
        precondition(
            ldb >= max(1, transB == .none ? n : k), "BLAS.sgemm: ldb \(ldb) too small for op(B) \(k)×\(n) (\(transB))")
        precondition(ldc >= max(1, n), "BLAS.sgemm: ldc \(ldc) too small for C \(m)×\(n)")
        if m == 0 || n == 0 { return }
        Threading.setBLASThreads(parallelism.resolvedCount)
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y ← alpha · op(A) · x + beta · y` for a row-major `A` of `rows`×`cols`.
    /// - Complexity: 2·rows·cols FLOPs.
    public static func sgemv(
        _ trans: Transpose, rows: Int, cols: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, incx: Int = 1,
        beta: Float, y: UnsafeMutablePointer<Float>, incy: Int = 1,
        parallelism: Parallelism = .automatic
    ) {
        precondition(rows >= 0 && cols >= 0, "BLAS.sgemv: negative size \(rows)×\(cols)")
        precondition(lda >= max(1, cols), "BLAS.sgemv: lda \(lda) smaller than cols \(cols)")
        if rows == 0 || cols == 0 { return }
        Threading.setBLASThreads(parallelism.resolvedCount)
        cblas_sgemv(
            CblasRowMajor, trans.cblas, Int32(rows), Int32(cols), alpha, a, Int32(lda),
            x, Int32(incx), beta, y, Int32(incy))
    }

    /// `y ← alpha · x + y`.
    public static func saxpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        if count == 0 { return }
        Threading.setBLASThreads(1)
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    /// `x · y`.
    public static func sdot(count: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>) -> Float {
        if count == 0 { return 0 }
        Threading.setBLASThreads(1)
        return cblas_sdot(Int32(count), x, 1, y, 1)
    }
}

// MARK: - Matrix entry points

/// `C ← alpha · op(A) · op(B) + beta · C`.
///
/// - Parameters:
///   - a: A; `op(A)` must be m×k.
///   - b: B; `op(B)` must be k×n.
///   - c: m×n, replaced when `beta == 0`, accumulated into otherwise.
///   - transA: whether `op(A)` is A or Aᵀ.
///   - transB: whether `op(B)` is B or Bᵀ.
///   - alpha: the product's factor.
///   - beta: C's factor (0: C's old values are not read, NaN included).
///   - parallelism: threads OpenBLAS may use for this call.
/// - Complexity: 2·m·n·k FLOPs.
/// - Precondition: inner dimensions agree and `c` is m×n; the message names all three shapes.
public func gemm(
    _ a: Matrix, _ b: Matrix, into c: inout Matrix,
    transposeA transA: Transpose = .none, transposeB transB: Transpose = .none,
    alpha: Float = 1, beta: Float = 0, parallelism: Parallelism = .automatic
) {
    let (m, ka) = transA == .none ? (a.rows, a.cols) : (a.cols, a.rows)
    let (kb, n) = transB == .none ? (b.rows, b.cols) : (b.cols, b.rows)
    precondition(
        ka == kb,
        "gemm: op(A) is \(m)×\(ka) (A \(a.shapeDescription), \(transA)) but op(B) is \(kb)×\(n) (B \(b.shapeDescription), \(transB))"
    )
    precondition(
        c.rows == m && c.cols == n,
        "gemm: C is \(c.shapeDescription), expected \(m)×\(n) for op(A) \(m)×\(ka) · op(B) \(kb)×\(n)")
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                BLAS.sgemm(
                    transA, transB, m: m, n: n, k: ka, alpha: alpha,
                    a: pa.baseAddress ?? emptyFloatPointer, lda: max(1, a.cols), b: pb.baseAddress ?? emptyFloatPointer,
                    ldb: max(1, b.cols),
                    beta: beta, c: pc.baseAddress ?? emptyMutableFloatPointer, ldc: max(1, n), parallelism: parallelism)
            }
        }
    }
}

/// `op(A) · op(B)` as a new matrix.
/// - Precondition: inner dimensions agree.
public func matmul(
    _ a: Matrix, _ b: Matrix, transposeA transA: Transpose = .none,
    transposeB transB: Transpose = .none, parallelism: Parallelism = .automatic
) -> Matrix {
    let m = transA == .none ? a.rows : a.cols
    let n = transB == .none ? b.cols : b.rows
    let ka = transA == .none ? a.cols : a.rows
    if ka == 0 { return Matrix(rows: m, cols: n) }
    // β = 0 overwrites C, so its memory needs no zero fill.
    var c = Matrix(rows: m, cols: n, unsafeUninitialized: { _ in })
    gemm(a, b, into: &c, transposeA: transA, transposeB: transB, parallelism: parallelism)
    return c
}

/// `y ← alpha · op(A) · x + beta · y`.
/// - Precondition: `x.count` equals op(A)'s columns and `y.count` its rows.
public func gemv(
    _ a: Matrix, _ x: [Float], into y: inout [Float], transpose trans: Transpose = .none,
    alpha: Float = 1, beta: Float = 0, parallelism: Parallelism = .automatic
) {
    let (m, n) = trans == .none ? (a.rows, a.cols) : (a.cols, a.rows)
    precondition(
        x.count == n, "gemv: op(A) is \(m)×\(n) (A \(a.shapeDescription), \(trans)) but x has \(x.count) elements")
    precondition(
        y.count == m, "gemv: op(A) is \(m)×\(n) (A \(a.shapeDescription), \(trans)) but y has \(y.count) elements")
    a.withUnsafeBufferPointer { pa in
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                BLAS.sgemv(
                    trans, rows: a.rows, cols: a.cols, alpha: alpha, a: pa.baseAddress ?? emptyFloatPointer,
                    lda: max(1, a.cols),
                    x: px.baseAddress ?? emptyFloatPointer, beta: beta, y: py.baseAddress ?? emptyMutableFloatPointer,
                    parallelism: parallelism)
            }
        }
    }
}

/// A valid, never-dereferenced address for empty operands (BLAS reads nothing when a size is 0).
nonisolated(unsafe) private let emptyStorage = UnsafeMutablePointer<Float>.allocate(capacity: 1)
private var emptyMutableFloatPointer: UnsafeMutablePointer<Float> { emptyStorage }
private var emptyFloatPointer: UnsafePointer<Float> { UnsafePointer(emptyStorage) }
