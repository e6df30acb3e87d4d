@_spi(Testing) import RecCore
import Testing
import _RecTestSupport

/// The SIMD scoring kernels (`CatalogKernel.simd`, `.simdBFloat16`) against a naive reference:
/// every item's canonical score (fused multiply-adds in dimension order, then the bias), sorted
/// by `ranksAbove`. Exact equality — items, order and score bits — for both vector widths
/// (16 floats: the AVX-512 layout; 8: AVX2's), any thread count, with biases and exclusions.
@Suite struct SIMDScoringTests {
    static func canonical(_ s: ArraySlice<Float>, _ x: ArraySlice<Float>, bias: Float?) -> Float {
        var acc: Float = 0
        for (a, b) in zip(s, x) { acc = acc.addingProduct(a, b) }
        return bias.map { acc + $0 } ?? acc
    }

    static func naive(states: Matrix, items: Matrix, bias: [Float]?, k: Int, excluding: [[Int]]? = nil) -> [[(
        Int32, Float
    )]] {
        (0..<states.rows).map { r in
            let skip = Set(excluding?[r] ?? [])
            var all = [(Int32, Float)]()
            for j in 0..<items.rows where !skip.contains(j) {
                all.append((Int32(j), canonical(states.row(r), items.row(j), bias: bias?[j])))
            }
            all.sort { ranksAbove($0.1, $0.0, $1.1, $1.0) }
            return Array(all.prefix(k))
        }
    }

    static func scorer(
        _ items: Matrix, bias: [Float]?, kernel: CatalogKernel, lanes: Int, block: Int = 1024, tile: Int = 256
    ) -> CatalogScorer {
        CatalogScorer(
            items: items, bias: bias, blockItems: block, tileStates: tile, firstItem: 0, catalogSize: nil,
            arithmetic: .canonical, kernel: kernel, vectorLanes: lanes)
    }

    func expectEqual(_ got: TopKResult, _ ref: [[(Int32, Float)]], _ note: String) {
        for r in ref.indices {
            let items = Array(got.items(row: r))
            let scores = Array(got.scores(row: r))
            #expect(items == ref[r].map(\.0), "\(note): row \(r) items")
            #expect(scores.map(\.bitPattern) == ref[r].map(\.1.bitPattern), "\(note): row \(r) score bits")
        }
    }

    static let shapes: [(b: Int, n: Int, d: Int, k: Int)] = [
        (1, 1, 1, 1), (1, 1000, 64, 10), (2, 47, 3, 5), (3, 48, 17, 48), (4, 49, 8, 60), (5, 777, 16, 7),
        (9, 2000, 33, 25), (37, 3001, 64, 10), (8, 500, 2, 1), (6, 100, 130, 100),
    ]

    @Test(arguments: [CatalogKernel.simd, .simdBFloat16], [16, 8])
    func matchesNaiveReference(kernel: CatalogKernel, lanes: Int) throws {
        for (i, shape) in Self.shapes.enumerated() {
            let items = Matrix.random(shape.n, shape.d, seed: UInt64(100 + i))
            let states = Matrix.random(shape.b, shape.d, seed: UInt64(200 + i))
            let bias = randomFloats(shape.n, seed: UInt64(300 + i))
            for useBias in [false, true] {
                let scorer = Self.scorer(
                    items, bias: useBias ? bias : nil, kernel: kernel, lanes: lanes, block: 100 + 50 * i,
                    tile: 4 + 4 * i)
                #expect(scorer.kernel == kernel)
                let ref = Self.naive(states: states, items: items, bias: useBias ? bias : nil, k: shape.k)
                for threads in [1, 2, 3] {
                    let got = try scorer.topK(states: states, k: shape.k, parallelism: .threads(threads))
                    expectEqual(got, ref, "\(kernel) lanes=\(lanes) \(shape) bias=\(useBias) threads=\(threads)")
                }
            }
        }
    }

    @Test(arguments: [CatalogKernel.simd, .simdBFloat16], [16, 8])
    func exclusionsAcrossPanels(kernel: CatalogKernel, lanes: Int) throws {
        let n = 1000
        let d = 12
        let items = Matrix.random(n, d, seed: 5)
        let states = Matrix.random(6, d, seed: 6)
        let first = Self.naive(states: states, items: items, bias: nil, k: 30)
        // Each row's own top 20, panel borders, the first and last items; one row excludes all but 3.
        var ex = (0..<6).map { r in first[r].prefix(20).map { Int($0.0) } + [0, 23, 24, 47, 48, 95, 96, 999] }
        ex[4] = Array(3..<n)
        // One chunk of panels, and chunks of a few panels handed out to up to 3 workers (each
        // worker's exclusion cursors skip the chunks the others took).
        for block in [1024, 100] {
            let scorer = Self.scorer(items, bias: nil, kernel: kernel, lanes: lanes, block: block)
            for threads in [1, 2, 3] {
                let got = try scorer.topK(
                    states: states, k: 30, excluding: ExclusionSet(ex), parallelism: .threads(threads))
                expectEqual(
                    got, Self.naive(states: states, items: items, bias: nil, k: 30, excluding: ex),
                    "\(kernel) lanes=\(lanes) block=\(block) threads=\(threads)")
                #expect(got.counts[4] == 3)
            }
        }
    }

    /// One state: the Float32 path scores 4 panels at a time (`tile1x4`) and offers them after
    /// all four, under the threshold from before the first; the bfloat16 path prefetches ahead.
    /// Exact ties (duplicate rows), exclusions at panel borders and inside a group of 4, blocks
    /// of panels not a multiple of 4, a partial last panel, catalogs just under, at and over 4
    /// panels, odd dimensions: the reference's items and score bits.
    @Test(arguments: [CatalogKernel.simd, .simdBFloat16], [16, 8])
    func singleStateGroupsOfPanels(kernel: CatalogKernel, lanes: Int) throws {
        // Catalogs around 4 panels for both widths (24 and 48 items a panel), and a long one.
        for (n, d) in [(95, 8), (96, 1), (97, 16), (191, 13), (192, 64), (193, 3), (1007, 64), (1007, 13)] {
            let base = Matrix.random(n, d, seed: UInt64(40 + d))
            // Every 5th row a copy of row 2: equal scores, ranked by id.
            let items = Matrix((0..<n).map { j in Array(base.row(j % 5 == 0 ? 2 : j)) })
            let states = Matrix.random(1, d, seed: UInt64(50 + d))
            let bias = randomFloats(n, seed: UInt64(60 + d))
            for useBias in [false, true] {
                let b = useBias ? bias : nil
                let top = Self.naive(states: states, items: items, bias: b, k: 40)[0].map { Int($0.0) }
                let exclusions: [[[Int]]?] = [
                    nil, [Array(top.prefix(15)) + [0, 23, 24, 47, 48, 50, 95, 96, 1006].filter { $0 < n }],
                    [Array(top.dropFirst(1))],
                ]
                for ex in exclusions {
                    for block in [1024, 100, 240] {
                        let scorer = Self.scorer(items, bias: b, kernel: kernel, lanes: lanes, block: block)
                        for k in [1, 10, 50] {
                            let ref = Self.naive(states: states, items: items, bias: b, k: k, excluding: ex)
                            for threads in [1, 2, 3] {
                                let got = try scorer.topK(
                                    states: states, k: k, excluding: ex.map { ExclusionSet($0) },
                                    parallelism: .threads(threads))
                                expectEqual(
                                    got, ref,
                                    "\(kernel) lanes=\(lanes) d=\(d) bias=\(useBias) excluded=\(ex?.first?.count ?? 0) block=\(block) k=\(k) threads=\(threads)"
                                )
                            }
                        }
                    }
                }
            }
        }
    }

    /// Scores equal or within bfloat16's rounding of each other: the approximate pass cannot tell
    /// them apart, the exact rescoring must (ties to the lower id).
    @Test(arguments: [16, 8])
    func bfloat16NearTies(lanes: Int) throws {
        let d = 16
        let n = 3000
        let base = randomFloats(d, seed: 1)
        var rows = [[Float]]()
        for j in 0..<n {
            // Copies of one row moved in the 10th–20th bit of the mantissa, and exact duplicates.
            var r = base
            r[j % d] = Float(bitPattern: r[j % d].bitPattern &+ UInt32((j * 7919) % 4096))
            rows.append(j % 5 == 0 ? base : r)
        }
        let items = Matrix(rows)
        let states = Matrix(rows: 5, cols: d, elements: (0..<5).flatMap { i in base.map { $0 * Float(i + 1) } })
        for k in [1, 10, 300] {
            let simd = try Self.scorer(items, bias: nil, kernel: .simd, lanes: lanes).topK(states: states, k: k)
            let bf = try Self.scorer(items, bias: nil, kernel: .simdBFloat16, lanes: lanes).topK(
                states: states, k: k, parallelism: .threads(2))
            #expect(bf == simd, "k=\(k) lanes=\(lanes)")
            expectEqual(bf, Self.naive(states: states, items: items, bias: nil, k: k), "near ties k=\(k)")
        }
    }

    /// Values bfloat16 cannot hold within its bound fall back to Float32 panels; states whose
    /// scores could overflow, or hold NaN, are scored exactly in full; both match the reference.
    @Test func bfloat16Refusals() throws {
        var items = Matrix.random(200, 8, seed: 3)
        items[7, 2] = 3e38
        #expect(Self.scorer(items, bias: nil, kernel: .simdBFloat16, lanes: 16).kernel == .simd)
        items[7, 2] = .infinity
        #expect(Self.scorer(items, bias: nil, kernel: .simdBFloat16, lanes: 16).kernel == .simd)
        // Subnormal and huge-but-storable items, a state that overflows and one with a NaN.
        var odd = Matrix.random(300, 8, seed: 4)
        for j in 0..<8 {
            odd[11, j] = 0x1p-133
            odd[12, j] = 1e30
        }
        var states = Matrix.random(4, 8, seed: 5)
        states[1, 0] = 1e20
        states[2, 3] = .nan
        let scorer = Self.scorer(odd, bias: nil, kernel: .simdBFloat16, lanes: 16)
        #expect(scorer.kernel == .simdBFloat16)
        let got = try scorer.topK(states: states, k: 12, parallelism: .threads(2))
        expectEqual(got, Self.naive(states: states, items: odd, bias: nil, k: 12), "refusals")
    }

    /// The SIMD kernel's scores are the canonical ones, so it agrees with the BLAS kernel's
    /// canonical path bit for bit, NaN and infinite scores included.
    @Test func agreesWithBLASKernel() throws {
        var items = Matrix.random(1500, 24, seed: 8)
        items[3, 0] = .nan
        var bias = randomFloats(1500, seed: 9)
        bias[70] = .infinity
        bias[71] = -.infinity
        var states = Matrix.random(19, 24, seed: 10)
        states[5, 7] = .nan  // every score of row 5 is NaN
        states[6, 0] = 1e30  // row 6 overflows to ±inf
        let blas = CatalogScorer(items: items, bias: bias, kernel: .blas)
        for lanes in [8, 16] {
            let simd = Self.scorer(items, bias: bias, kernel: .simd, lanes: lanes)
            for k in [1, 17, 1500] {
                let a = try simd.topK(states: states, k: k, parallelism: .threads(2))
                let b = try blas.topK(states: states, k: k)
                // Bit patterns: the NaN scores (item 3's) compare unequal as Floats.
                #expect(a.indices == b.indices && a.counts == b.counts, "k=\(k) lanes=\(lanes)")
                #expect(a.scores.map(\.bitPattern) == b.scores.map(\.bitPattern), "k=\(k) lanes=\(lanes)")
            }
        }
        #expect(blas.packedBytes == 0)
    }

    @Test func automaticChoice() {
        let fast = BuildTarget.compiled.isSuperset(of: [.avx2, .fma])
        #expect(CatalogKernel.automatic.resolved(dimension: 64) == (fast ? .simd : .blas))
        #expect(CatalogKernel.automatic.resolved(dimension: CatalogKernel.simdMaxDimension + 1) == .blas)
        #expect(CatalogKernel.simd.resolved(dimension: 64, arithmetic: .blas) == .blas)
        #expect(CatalogKernel.simdBFloat16.resolved(dimension: 1000) == .simdBFloat16)
        let items = Matrix.random(10, 4, seed: 1)
        #expect(CatalogScorer(items: items).kernel == (fast ? .simd : .blas))
        #expect(CatalogScorer(items: items, arithmetic: .blas, kernel: .simd).kernel == .blas)
        #expect(CatalogScorer(items: items, arithmetic: .blas).packedBytes == 0)
    }

    @Test func bfloat16RoundingAndMemory() {
        // Round to nearest, ties to even, and the stated relative bound.
        #expect(BFloat16.bits(1) == 0x3F80)
        #expect(BFloat16.float(BFloat16.bits(Float(bitPattern: 0x3F80_8000))) == 1)  // tie to even (down)
        #expect(BFloat16.bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie to even (up)
        for x in randomFloats(10_000, seed: 11, scale: 1e3) {
            let y = BFloat16.float(BFloat16.bits(x))
            #expect(abs(y - x) <= 0x1p-8 * abs(x))
        }
        let items = Matrix.random(100, 10, seed: 1)
        // 100 items in panels of 48 (3 × 16 lanes): 3 panels.
        #expect(Self.scorer(items, bias: nil, kernel: .simd, lanes: 16).packedBytes == 3 * 48 * 10 * 4)
        #expect(Self.scorer(items, bias: nil, kernel: .simdBFloat16, lanes: 16).packedBytes == 3 * 48 * 5 * 4)
        #expect(
            Self.scorer(items, bias: [Float](repeating: 1, count: 100), kernel: .simd, lanes: 8).packedBytes
                == (5 * 24 * 10 + 5 * 24) * 4)
    }
}
