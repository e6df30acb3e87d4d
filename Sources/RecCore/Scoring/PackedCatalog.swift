/// Which kernel a `CatalogScorer` scores with.
public enum CatalogKernel: String, NamedChoice, CustomStringConvertible {
    /// `.simd` when RecCore was compiled with FMA and AVX2 (or AVX-512) and the dimension is at
    /// most `CatalogKernel.simdMaxDimension`; `.blas` otherwise, and always for
    /// `ScoreArithmetic.blas`.
    case automatic
    /// OpenBLAS `sgemm` on the row-major items, a score tile at a time, selection on the tile;
    /// canonical scores by rescoring a few more candidates than asked.
    case blas
    /// RecKit's register-tiled SIMD micro-kernel on a copy of the catalog packed once at init
    /// (panels of 3 vectors of items, dimension-major), the top-k threshold test on the registers.
    /// Its scores are the canonical ones themselves (fused multiply-adds in dimension order).
    case simd
    /// The same kernel on a bfloat16 copy of the catalog (half the bytes a query reads); the
    /// candidates that can reach the top-k under a proven error bound are rescored exactly from
    /// the Float32 items, so the result equals `.simd`'s. Catalogs with values at or above 2¹²⁷
    /// in magnitude, infinities or NaN are scored with `.simd` instead (`CatalogScorer.kernel`
    /// says which ran).
    case simdBFloat16

    /// The largest dimension for which `.automatic` picks the SIMD kernel (measured with
    /// `recbench score --kernel`, README "Catalog scoring"): above it a panel no longer fits
    /// the L1 cache and OpenBLAS's blocked GEMM wins.
    public static let simdMaxDimension = 256

    public var description: String { rawValue }

    /// The kernel this choice stands for in this build for catalogs of `dimension` (`.automatic`
    /// resolved; the others as they are — a bfloat16 catalog that cannot hold the items still
    /// becomes `.simd` when the scorer is built).
    public func resolved(dimension: Int, arithmetic: ScoreArithmetic = .canonical) -> CatalogKernel {
        if arithmetic == .blas { return .blas }
        guard self == .automatic else { return self }
        let fast = BuildTarget.compiled.isSuperset(of: [.avx2, .fma])
        return fast && dimension <= Self.simdMaxDimension ? .simd : .blas
    }
}

/// The catalog as the SIMD kernel reads it: panels of `width` consecutive items (three vectors
/// of `lanes` floats), each panel dimension-major — `width` values of dimension 0, then of
/// dimension 1, and so on — so that the kernel's loads are consecutive. The last panel is padded
/// with zero items (never offered). Float32 panels hold `d` rows; bfloat16 panels hold ⌈d/2⌉
/// rows of 32-bit words, dimension 2q in the low half and 2q + 1 in the high half.
final class PackedCatalog: @unchecked Sendable {
    enum Element: Sendable { case float32, bfloat16 }
    let element: Element
    /// Floats per vector (16 when compiled for AVX-512, else 8).
    let lanes: Int
    /// Items per panel: 3 vectors.
    let width: Int
    let items: Int, dimension: Int, panels: Int
    /// Rows of a panel: `d` (Float32) or ⌈d/2⌉ (bfloat16 pairs).
    let panelRows: Int
    /// Float32: `panels × d × width` floats; bfloat16: `panels × ⌈d/2⌉ × width` 32-bit words.
    let words: UnsafeMutablePointer<UInt32>
    /// `panels × width` biases (0 where there is none, and in the padding), or nil.
    let bias: UnsafeMutablePointer<Float>?

    /// Bytes held by the packed copy (values and biases).
    var bytes: Int { (panels * panelRows * width + (bias == nil ? 0 : panels * width)) * 4 }

    var floats: UnsafePointer<Float> { UnsafeRawPointer(words).assumingMemoryBound(to: Float.self) }

    /// The vector width the kernel uses in this build: 16 floats with AVX-512, else 8.
    static var buildLanes: Int { BuildTarget.compiled.contains(.avx512f) ? 16 : 8 }

    init(items: Matrix, bias: [Float]?, element: Element, lanes: Int = PackedCatalog.buildLanes) {
        self.element = element
        self.lanes = lanes
        width = 3 * lanes
        self.items = items.rows
        dimension = items.cols
        panels = (items.rows + width - 1) / width
        panelRows = element == .float32 ? items.cols : (items.cols + 1) / 2
        let count = max(1, panels * panelRows * width)
        words = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        words.initialize(repeating: 0, count: count)
        if let bias {
            let b = UnsafeMutablePointer<Float>.allocate(capacity: max(1, panels * width))
            b.initialize(repeating: 0, count: max(1, panels * width))
            for j in bias.indices { b[j] = bias[j] }
            self.bias = b
        } else {
            self.bias = nil
        }
        items.withUnsafeBufferPointer { pack($0.baseAddress!) }
    }

    deinit {
        words.deallocate()
        bias?.deallocate()
    }

    private func pack(_ x: UnsafePointer<Float>) {
        let d = dimension
        let w = width
        for j in 0..<items {
            let p = j / w
            let lane = j % w
            let row = x + j * d
            switch element {
            case .float32:
                let out = UnsafeMutableRawPointer(words).assumingMemoryBound(to: Float.self) + p * d * w + lane
                for k in 0..<d { out[k * w] = row[k] }
            case .bfloat16:
                let out = words + p * panelRows * w + lane
                for q in 0..<panelRows {
                    let lo = UInt32(BFloat16.bits(row[2 * q]))
                    let hi = 2 * q + 1 < d ? UInt32(BFloat16.bits(row[2 * q + 1])) : 0
                    out[q * w] = lo | hi << 16
                }
            }
        }
    }

    /// True when every value can be stored in bfloat16 with the relative error bound: finite and
    /// below 2¹²⁷ in magnitude.
    static func fitsBFloat16(_ items: Matrix) -> Bool {
        items.withUnsafeBufferPointer { p in p.allSatisfy { $0.isFinite && abs($0) < 0x1p127 } }
    }
}

/// bfloat16: the top 16 bits of a Float (8 exponent bits, 7 stored mantissa bits).
public enum BFloat16 {
    /// `x` rounded to bfloat16 (to nearest, ties to even), as its 16 bits. For finite `x` below
    /// 2¹²⁷ in magnitude the result is finite and within 2⁻⁸·|x| (normal `x`) or 2⁻¹³⁴ (subnormal).
    @inlinable @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }

    /// The Float a bfloat16 stands for (exact).
    @inlinable @inline(__always)
    public static func float(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}
