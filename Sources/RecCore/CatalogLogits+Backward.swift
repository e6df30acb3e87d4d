extension CatalogLogits {
    /// The states' gradient of a block in the state-major layout:
    /// `dSᵀ[k·ld + r] += Σ_j W[(j₀+j)·d + k] · P[j·ld + r]` over the items j₀ + j of the block, for
    /// every dimension k < d and the first `states` columns r (rounded up to a vector on the SIMD
    /// path; the others of `dSᵀ` are not touched).
    ///
    /// `P` is the block's gradient with respect to its logits in the item-major layout of
    /// `transposed` (`items.count` × ld). The SIMD kernel is `transposed`'s register tile with the
    /// reduction over the block's items: 4 dimensions of an item's weights (adjacent floats)
    /// broadcast, 3 vectors of its row of P loaded, 12 accumulators; the strip of P (items ×
    /// 3 vectors) stays in L1 while the dimensions pass over it; states past the last whole strip
    /// go one vector at a time with 8 dimensions. The items go in chunks of `reductionItems`: each
    /// element sums a chunk's terms in item order with fused multiply-adds (from 0), then adds that
    /// sum to `dSᵀ`, chunk after chunk. Without AVX2 and FMA: one sgemm.
    /// - Precondition: `ld == leadingDimension(states:)` for some state count, `states <= ld`.
    public static func accumulateStatesGradient(
        weights: UnsafePointer<Float>, items: Range<Int>, dimension d: Int, gradient p: UnsafePointer<Float>,
        ld: Int, states: Int, into dST: UnsafeMutablePointer<Float>
    ) {
        precondition(
            states >= 0 && states <= ld, "CatalogLogits.accumulateStatesGradient: \(states) states for ld \(ld)")
        guard !items.isEmpty && states > 0 && d > 0 else { return }
        guard simdAvailable else {
            BLAS.sgemm(
                .transpose, .none, m: d, n: states, k: items.count, alpha: 1, a: weights + items.lowerBound * d,
                lda: d, b: p, ldb: ld, beta: 1, c: dST, ldc: ld, parallelism: .sequential)
            return
        }
        precondition(
            ld % vectorStates == 0,
            "CatalogLogits.accumulateStatesGradient: ld \(ld) is not a multiple of \(vectorStates)")
        let columns = (states + vectorStates - 1) / vectorStates * vectorStates
        let kernel = StatesGradientKernel(
            weights: weights + items.lowerBound * d, count: items.count, d: d, p: p, ld: ld, columns: columns,
            out: dST)
        if PackedCatalog.buildLanes == 16 {
            kernel.run(SIMD16<Float>.self)
        } else {
            kernel.run(SIMD8<Float>.self)
        }
    }

    /// Items per reduction chunk of `accumulateStatesGradient`: the chunk's strip of P (64 rows of
    /// 3 vectors, 8 KB with AVX2) and its weights (16 KB at d = 64) stay in L1 together; with the
    /// block's 256 items the strip alone filled L1 and the kernel ran 20% slower than sgemm.
    public static let reductionItems = 64

    /// One block's operands of `accumulateStatesGradient`: the block's weights (`count` × d),
    /// its P (`count` × ld) and dSᵀ (d × ld).
    struct StatesGradientKernel {
        let weights: UnsafePointer<Float>
        let count: Int
        let d: Int
        let p: UnsafePointer<Float>
        let ld: Int
        /// Columns computed (a multiple of the vector).
        let columns: Int
        let out: UnsafeMutablePointer<Float>

        @inline(__always)
        func run<V: KernelVector>(_ v: V.Type) {
            let w = V.scalarCount
            let fullStrips = columns / (3 * w) * (3 * w)
            var c0 = 0
            while c0 < count {
                let c1 = Swift.min(count, c0 + reductionItems)
                var r0 = 0
                while r0 < fullStrips {
                    var k0 = 0
                    while k0 < d {
                        strip(V.self, dims: k0, states: r0, items: c0..<c1)
                        k0 += 4
                    }
                    r0 += 3 * w
                }
                while r0 < columns {
                    var k0 = 0
                    while k0 < d {
                        vector(V.self, dims: k0, states: r0, items: c0..<c1)
                        k0 += 8
                    }
                    r0 += w
                }
                c0 = c1
            }
        }

        /// Dimension `k`, or the last one past the end (computed, not stored).
        @inline(__always)
        func dim(_ k: Int) -> Int { Swift.min(k, d - 1) }

        /// Adds `a` to one vector of dSᵀ's row k from column r.
        @inline(__always)
        func add<V: KernelVector>(_ a: V, row k: Int, at r: Int) {
            let o = out + k * ld + r
            ScoringKernels.store(ScoringKernels.load(o) + a, o)
        }

        /// Adds the three vectors of `a` to dSᵀ's row k from column r.
        @inline(__always)
        func add<V: KernelVector>(_ a: (V, V, V), row k: Int, at r: Int) {
            let w = V.scalarCount
            add(a.0, row: k, at: r)
            add(a.1, row: k, at: r + w)
            add(a.2, row: k, at: r + 2 * w)
        }

        /// Dimensions k0…k0+3 × states r0 ..< r0 + 3·lanes.
        @inline(__always)
        func strip<V: KernelVector>(_: V.Type, dims k0: Int, states r0: Int, items c: Range<Int>) {
            let w = V.scalarCount
            let (e0, e1, e2, e3) = (dim(k0), dim(k0 + 1), dim(k0 + 2), dim(k0 + 3))
            var a0 = (V(), V(), V())
            var a1 = (V(), V(), V())
            var a2 = (V(), V(), V())
            var a3 = (V(), V(), V())
            var pw = weights + c.lowerBound * d
            var pp = p + c.lowerBound * ld + r0
            for _ in c {
                let x0: V = ScoringKernels.load(pp)
                let x1: V = ScoringKernels.load(pp + w)
                let x2: V = ScoringKernels.load(pp + 2 * w)
                let b0 = V(repeating: pw[e0])
                let b1 = V(repeating: pw[e1])
                a0 = (a0.0.addingProduct(b0, x0), a0.1.addingProduct(b0, x1), a0.2.addingProduct(b0, x2))
                a1 = (a1.0.addingProduct(b1, x0), a1.1.addingProduct(b1, x1), a1.2.addingProduct(b1, x2))
                let b2 = V(repeating: pw[e2])
                let b3 = V(repeating: pw[e3])
                a2 = (a2.0.addingProduct(b2, x0), a2.1.addingProduct(b2, x1), a2.2.addingProduct(b2, x2))
                a3 = (a3.0.addingProduct(b3, x0), a3.1.addingProduct(b3, x1), a3.2.addingProduct(b3, x2))
                pw += d
                pp += ld
            }
            add(a0, row: k0, at: r0)
            if k0 + 1 < d { add(a1, row: k0 + 1, at: r0) }
            if k0 + 2 < d { add(a2, row: k0 + 2, at: r0) }
            if k0 + 3 < d { add(a3, row: k0 + 3, at: r0) }
        }

        /// Dimensions k0…k0+7 × one vector of states from r0 (the states past the last whole
        /// strip): 8 accumulators.
        @inline(__always)
        func vector<V: KernelVector>(_: V.Type, dims k0: Int, states r0: Int, items c: Range<Int>) {
            let e = (dim(k0), dim(k0 + 1), dim(k0 + 2), dim(k0 + 3))
            let f = (dim(k0 + 4), dim(k0 + 5), dim(k0 + 6), dim(k0 + 7))
            var a = (V(), V(), V(), V())
            var b = (V(), V(), V(), V())
            var pw = weights + c.lowerBound * d
            var pp = p + c.lowerBound * ld + r0
            for _ in c {
                let x: V = ScoringKernels.load(pp)
                a.0 = a.0.addingProduct(V(repeating: pw[e.0]), x)
                a.1 = a.1.addingProduct(V(repeating: pw[e.1]), x)
                a.2 = a.2.addingProduct(V(repeating: pw[e.2]), x)
                a.3 = a.3.addingProduct(V(repeating: pw[e.3]), x)
                b.0 = b.0.addingProduct(V(repeating: pw[f.0]), x)
                b.1 = b.1.addingProduct(V(repeating: pw[f.1]), x)
                b.2 = b.2.addingProduct(V(repeating: pw[f.2]), x)
                b.3 = b.3.addingProduct(V(repeating: pw[f.3]), x)
                pw += d
                pp += ld
            }
            add(a.0, row: k0, at: r0)
            if k0 + 1 < d { add(a.1, row: k0 + 1, at: r0) }
            if k0 + 2 < d { add(a.2, row: k0 + 2, at: r0) }
            if k0 + 3 < d { add(a.3, row: k0 + 3, at: r0) }
            if k0 + 4 < d { add(b.0, row: k0 + 4, at: r0) }
            if k0 + 5 < d { add(b.1, row: k0 + 5, at: r0) }
            if k0 + 6 < d { add(b.2, row: k0 + 6, at: r0) }
            if k0 + 7 < d { add(b.3, row: k0 + 7, at: r0) }
        }
    }
}
