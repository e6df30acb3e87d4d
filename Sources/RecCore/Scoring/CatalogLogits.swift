/// Logits of a catalog head in the item-major ("transposed") layout a training step's softmax
/// cross-entropy uses: `zt[j·ld + r] = Σ_k W[(j₀+j)·d + k] · Sᵀ[k·ld + r] + b[j₀+j]` for the items
/// j₀ + j of a block and every state r (a column of `Sᵀ`).
///
/// The SIMD kernel is the scoring kernel's 4 × 3-vector register tile with the roles swapped:
/// 4 items' weights are broadcast and 3 vectors of states are loaded per dimension, so the
/// catalog needs no packing (W changes every step). Chunks of 32 items (8 KB of weights at
/// d = 64) stay in L1 while the strips of 3 vectors of states pass over them, and each strip of
/// `Sᵀ` stays in L1 while the chunk's tiles read it; states beyond the last whole strip go one
/// vector at a time (8 × 1 tiles), so `ld` needs rounding only to a vector. Each logit is the
/// fused multiply-add chain over the dimensions in order, then `+ bias` (as `CatalogKernel.simd`
/// scores). Without AVX2 and FMA in the build, one sgemm per block computes the same values (up
/// to rounding).
public enum CatalogLogits {
    /// Whether this build runs the SIMD kernel (compiled for AVX2 and FMA); otherwise sgemm.
    public static var simdAvailable: Bool { BuildTarget.compiled.isSuperset(of: [.avx2, .fma]) }

    /// States per vector of the SIMD kernel (8 with AVX2, 16 with AVX-512): `ld` must be a
    /// multiple of it when the SIMD kernel runs, and `Sᵀ`'s padding columns must be readable
    /// (their logits are written but meaningless).
    public static var vectorStates: Int { PackedCatalog.buildLanes }

    /// The leading dimension for `states` states: a multiple of `vectorStates` with the SIMD
    /// kernel, `states` otherwise. A row of a multiple of 128 bytes gets one more vector: the
    /// kernel reads a column strip of `Sᵀ` (one row per dimension), and rows a power of two
    /// apart would all fall in a few of L1's sets (at B = 128 the strip missed L1 on every row).
    public static func leadingDimension(states: Int) -> Int {
        guard simdAvailable else { return max(1, states) }
        let s = vectorStates
        let ld = max(s, (states + s - 1) / s * s)
        return ld % 32 == 0 ? ld + s : ld
    }

    /// Writes the logits of items `items` (rows of `weights`, `d` floats each) for the first
    /// `states` columns of `statesT` (d × ld, row-major; default: all `ld`) into `zt`
    /// (`items.count` × ld, row-major). Columns from `states` rounded up to a vector
    /// (`vectorStates`; to `states` itself on the sgemm path) to `ld` are not written.
    /// - Precondition: `ld == leadingDimension(states:)` for some state count, `states <= ld`.
    public static func transposed(
        weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, items: Range<Int>, dimension d: Int,
        statesT: UnsafePointer<Float>, ld: Int, states: Int? = nil, into zt: UnsafeMutablePointer<Float>
    ) {
        let B = states ?? ld
        precondition(B >= 0 && B <= ld, "CatalogLogits.transposed: \(B) states for ld \(ld)")
        guard !items.isEmpty && B > 0 else { return }
        guard simdAvailable else {
            for j in items.indices { (zt + (j - items.lowerBound) * ld).initialize(repeating: bias[j], count: B) }
            BLAS.sgemm(
                .none, .none, m: items.count, n: B, k: d, alpha: 1, a: weights + items.lowerBound * d, lda: d,
                b: statesT, ldb: ld, beta: 1, c: zt, ldc: ld, parallelism: .sequential)
            return
        }
        precondition(ld % vectorStates == 0, "CatalogLogits.transposed: ld \(ld) is not a multiple of \(vectorStates)")
        let columns = (B + vectorStates - 1) / vectorStates * vectorStates
        let kernel = Kernel(
            weights: weights, bias: bias, items: items, d: d, statesT: statesT, ld: ld, columns: columns, zt: zt)
        if PackedCatalog.buildLanes == 16 {
            kernel.run(SIMD16<Float>.self)
        } else {
            kernel.run(SIMD8<Float>.self)
        }
    }

    /// Items whose weights one pass over the states' strips reuses from L1 (a multiple of 4).
    static let chunkItems = 32

    /// One block's operands.
    struct Kernel {
        let weights: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
        let items: Range<Int>
        let d: Int
        let statesT: UnsafePointer<Float>
        let ld: Int
        /// Columns computed (a multiple of the vector).
        let columns: Int
        let zt: UnsafeMutablePointer<Float>

        @inline(__always)
        func run<V: KernelVector>(_ v: V.Type) {
            let w = V.scalarCount
            let fullStrips = columns / (3 * w) * (3 * w)
            var c0 = items.lowerBound
            while c0 < items.upperBound {
                let c1 = Swift.min(items.upperBound, c0 + chunkItems)
                var r0 = 0
                while r0 < fullStrips {
                    var j = c0
                    while j < c1 {
                        strip(V.self, items: j, states: r0)
                        j += 4
                    }
                    r0 += 3 * w
                }
                while r0 < columns {
                    var j = c0
                    while j < c1 {
                        vector(V.self, items: j, states: r0)
                        j += 8
                    }
                    r0 += w
                }
                c0 = c1
            }
        }

        /// The rows of items j…j+3, the last item repeated past the block's end (not stored).
        @inline(__always)
        func rows(_ j: Int) -> (Int, Int, Int, Int) {
            let last = items.upperBound - 1
            return (j, Swift.min(j + 1, last), Swift.min(j + 2, last), Swift.min(j + 3, last))
        }

        /// Items j…j+3 × states r0 ..< r0 + 3·lanes: the 4 × 3-vector register tile.
        @inline(__always)
        func strip<V: KernelVector>(_: V.Type, items j: Int, states r0: Int) {
            let w = V.scalarCount
            let (j0, j1, j2, j3) = rows(j)
            var a = Tile4<V>(rows: weights + j0 * d, weights + j1 * d, weights + j2 * d, weights + j3 * d)
            var p = statesT + r0
            for k in 0..<d {
                a.step(k, ScoringKernels.load(p), ScoringKernels.load(p + w), ScoringKernels.load(p + 2 * w))
                p += ld
            }
            let out = zt + (j - items.lowerBound) * ld + r0
            let n = items.upperBound - j
            store(a.a00, a.a01, a.a02, bias: bias[j0], out)
            if n > 1 { store(a.a10, a.a11, a.a12, bias: bias[j1], out + ld) }
            if n > 2 { store(a.a20, a.a21, a.a22, bias: bias[j2], out + 2 * ld) }
            if n > 3 { store(a.a30, a.a31, a.a32, bias: bias[j3], out + 3 * ld) }
        }

        /// Items j…j+7 × one vector of states from r0 (the states past the last whole strip):
        /// 8 accumulators, enough to hide the FMA latency (4 were not: this tail took 19% of the
        /// kernel's time for 6% of its work at B = 128).
        @inline(__always)
        func vector<V: KernelVector>(_: V.Type, items j: Int, states r0: Int) {
            let (j0, j1, j2, j3) = rows(j)
            let (j4, j5, j6, j7) = rows(Swift.min(j + 4, items.upperBound - 1))
            let w = (weights + j0 * d, weights + j1 * d, weights + j2 * d, weights + j3 * d)
            let u = (weights + j4 * d, weights + j5 * d, weights + j6 * d, weights + j7 * d)
            var a = (V(), V(), V(), V())
            var b = (V(), V(), V(), V())
            var p = statesT + r0
            for k in 0..<d {
                let x: V = ScoringKernels.load(p)
                a.0 = a.0.addingProduct(V(repeating: w.0[k]), x)
                a.1 = a.1.addingProduct(V(repeating: w.1[k]), x)
                a.2 = a.2.addingProduct(V(repeating: w.2[k]), x)
                a.3 = a.3.addingProduct(V(repeating: w.3[k]), x)
                b.0 = b.0.addingProduct(V(repeating: u.0[k]), x)
                b.1 = b.1.addingProduct(V(repeating: u.1[k]), x)
                b.2 = b.2.addingProduct(V(repeating: u.2[k]), x)
                b.3 = b.3.addingProduct(V(repeating: u.3[k]), x)
                p += ld
            }
            let out = zt + (j - items.lowerBound) * ld + r0
            let n = items.upperBound - j
            ScoringKernels.store(a.0 + V(repeating: bias[j0]), out)
            if n > 1 { ScoringKernels.store(a.1 + V(repeating: bias[j1]), out + ld) }
            if n > 2 { ScoringKernels.store(a.2 + V(repeating: bias[j2]), out + 2 * ld) }
            if n > 3 { ScoringKernels.store(a.3 + V(repeating: bias[j3]), out + 3 * ld) }
            if n > 4 { ScoringKernels.store(b.0 + V(repeating: bias[j4]), out + 4 * ld) }
            if n > 5 { ScoringKernels.store(b.1 + V(repeating: bias[j5]), out + 5 * ld) }
            if n > 6 { ScoringKernels.store(b.2 + V(repeating: bias[j6]), out + 6 * ld) }
            if n > 7 { ScoringKernels.store(b.3 + V(repeating: bias[j7]), out + 7 * ld) }
        }

        @inline(__always)
        func store<V: KernelVector>(_ a0: V, _ a1: V, _ a2: V, bias: Float, _ out: UnsafeMutablePointer<Float>) {
            let w = V.scalarCount
            let b = V(repeating: bias)
            ScoringKernels.store(a0 + b, out)
            ScoringKernels.store(a1 + b, out + w)
            ScoringKernels.store(a2 + b, out + 2 * w)
        }
    }
}

extension Tile4 {
    /// Broadcast rows at four arbitrary addresses (the transposed logits' 4 items).
    @inline(__always)
    init(
        rows r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>,
        _ r3: UnsafePointer<Float>
    ) {
        s0 = r0
        s1 = r1
        s2 = r2
        s3 = r3
    }
}
