/// Top-k items of a whole catalog for a batch of states, the selection fused into the scoring:
/// `score(b, j) = state_b · item_j + bias_j`. Two kernels (`CatalogKernel`):
///
/// - **SIMD** (`.simd`, the default where RecCore was compiled with FMA and AVX2 or AVX-512): the
///   catalog is packed once, here, into panels of three vectors of items, dimension-major
///   (`packedBytes`: a second copy of the catalog, rounded up to whole panels). A register-tiled
///   micro-kernel scores 4 states × one panel (12 vector accumulators) with fused multiply-adds in
///   dimension order — exactly the canonical scores — and tests them against each state's heap
///   threshold on the registers; only states with a candidate reach the heaps. Panels are walked
///   in blocks of `blockItems` items (L2) and states in tiles of `tileStates` (L1).
///   `.simdBFloat16` stores the panels as bfloat16 (half the bytes a query reads) and rescores the
///   candidates exactly, so the result is the same.
/// - **BLAS** (`.blas`): the catalog is cut into blocks of `blockItems` items and the batch into
///   tiles of at most `tileStates` states; for each (block, tile) one `sgemm` writes a
///   `tile × block` score buffer that stays in cache, and each row's heap filters it with a
///   vectorised threshold test; canonical scores by rescoring a few more candidates than asked.
///
/// No B×N score matrix is ever allocated. With more than one thread the BLAS path splits the
/// catalog into contiguous ranges, one per worker (single-threaded BLAS inside), and the SIMD path
/// hands its blocks out to the workers one at a time (a worker the host slows does not hold the
/// other back); each worker keeps its own heaps, merged at the end. The result does not depend on the kernel, the thread count or the
/// blocking (canonical scores, and the order of `ranksAbove` is total).
public final class CatalogScorer: Sendable {
    /// The N×d item matrix.
    public let items: Matrix
    /// Optional per-item bias (N values).
    public let bias: [Float]?
    /// Items per block (default 1024).
    public let blockItems: Int
    /// States per GEMM tile (default 256).
    public let tileStates: Int
    /// The global id of this scorer's first item: a scorer over one shard of a larger catalog
    /// reports global ids `firstItem ..< firstItem + N` (0 for a whole catalog).
    public let firstItem: Int
    /// The size of the whole catalog the ids belong to (`firstItem + N` by default): exclusions
    /// are checked against it and those outside this shard are ignored.
    public let catalogSize: Int
    /// How the returned scores are computed (see `ScoreArithmetic`).
    public let arithmetic: ScoreArithmetic
    /// The kernel that scores: `.blas`, `.simd` or `.simdBFloat16` (never `.automatic`; a
    /// bfloat16 request on a catalog bfloat16 cannot hold is `.simd`).
    public let kernel: CatalogKernel
    /// The packed copy the SIMD kernel reads (nil for `.blas`).
    let packed: PackedCatalog?
    /// Bytes of the packed copy the SIMD kernels read, beyond `items` (0 for `.blas`): the
    /// catalog rounded up to whole panels, 4 bytes a value for `.simd`, 2 for `.simdBFloat16`.
    public var packedBytes: Int { packed?.bytes ?? 0 }
    /// `.canonical` only: the largest item norm and |bias| (the rounding bound of a score).
    let maxItemNorm: Float, maxAbsBias: Float

    /// Number of items N.
    public var itemCount: Int { items.rows }
    /// State dimension d.
    public var dimension: Int { items.cols }

    /// - Parameters:
    ///   - items: N×d, one row per item.
    ///   - bias: N values added to every state's scores, or nil.
    ///   - blockItems: catalog block size (tuned with `recbench score`).
    ///   - tileStates: states per GEMM call.
    ///   - firstItem: global id of the first row (sharded catalogs; see `TopKResult.merge`).
    ///   - catalogSize: size of the whole catalog (default `firstItem + N`).
    ///   - arithmetic: `.canonical` (default) returns scores that do not depend on the batch,
    ///     the shard, the blocking or the thread count; `.blas` returns BLAS's own (and scores
    ///     with `.blas`, whatever `kernel` says).
    ///   - kernel: see `CatalogKernel`; `.simd` and `.simdBFloat16` pack a copy of the catalog
    ///     here (`packedBytes`).
    /// - Precondition: `bias.count == N` when given; block and tile sizes are positive; the
    ///   shard lies inside the catalog, whose ids fit `Int32`.
    public convenience init(
        items: Matrix, bias: [Float]? = nil, blockItems: Int = 1024, tileStates: Int = 256,
        firstItem: Int = 0, catalogSize: Int? = nil, arithmetic: ScoreArithmetic = .canonical,
        kernel: CatalogKernel = .automatic
    ) {
        self.init(
            items: items, bias: bias, blockItems: blockItems, tileStates: tileStates, firstItem: firstItem,
            catalogSize: catalogSize, arithmetic: arithmetic, kernel: kernel, vectorLanes: PackedCatalog.buildLanes)
    }

    /// As the public initialiser, with the SIMD kernel's vector width chosen (16 or 8 floats):
    /// tests run the AVX2 kernel's layout on an AVX-512 host.
    @_spi(Testing)
    public init(
        items: Matrix, bias: [Float]?, blockItems: Int, tileStates: Int, firstItem: Int, catalogSize: Int?,
        arithmetic: ScoreArithmetic, kernel: CatalogKernel, vectorLanes: Int
    ) {
        precondition(
            vectorLanes == 8 || vectorLanes == 16, "CatalogScorer: vectorLanes must be 8 or 16, got \(vectorLanes)")
        BuildTarget.reportOnce()
        precondition(
            bias == nil || bias!.count == items.rows,
            "CatalogScorer: bias has \(bias!.count) values for \(items.rows) items (items \(items.shapeDescription))")
        precondition(
            items.cols >= 1, "CatalogScorer: items are \(items.shapeDescription); the dimension must be at least 1")
        precondition(
            blockItems >= 1 && tileStates >= 1,
            "CatalogScorer: blockItems \(blockItems) and tileStates \(tileStates) must be positive")
        let total = catalogSize ?? firstItem + items.rows
        precondition(
            firstItem >= 0 && firstItem + items.rows <= total && total <= Int(Int32.max),
            "CatalogScorer: items \(firstItem)..<\(firstItem + items.rows) must lie in a catalog of 0..<\(total) ≤ 2^31 − 1 ids"
        )
        self.items = items
        self.bias = bias
        self.blockItems = blockItems
        self.tileStates = tileStates
        self.firstItem = firstItem
        self.catalogSize = total
        self.arithmetic = arithmetic
        // The rounding bounds serve canonical rescoring (BLAS kernel) and the bfloat16 margins only.
        (maxItemNorm, maxAbsBias) = arithmetic == .canonical ? Self.bounds(items: items, bias: bias) : (0, 0)
        let chosen = Self.resolve(kernel, arithmetic: arithmetic, items: items)
        self.kernel = chosen
        switch chosen {
        case .simd: packed = PackedCatalog(items: items, bias: bias, element: .float32, lanes: vectorLanes)
        case .simdBFloat16: packed = PackedCatalog(items: items, bias: bias, element: .bfloat16, lanes: vectorLanes)
        case .blas, .automatic: packed = nil
        }
    }

    /// The kernel `kernel` stands for with these items (see `CatalogKernel`).
    static func resolve(_ kernel: CatalogKernel, arithmetic: ScoreArithmetic, items: Matrix) -> CatalogKernel {
        switch kernel.resolved(dimension: items.cols, arithmetic: arithmetic) {
        case .simdBFloat16: return PackedCatalog.fitsBFloat16(items) ? .simdBFloat16 : .simd
        case let other: return other
        }
    }

    /// The best `k` items for each state (row of `states`), best first, in the order of
    /// `ranksAbove` (ties to the lower item index; NaN scores last).
    ///
    /// - Parameters:
    ///   - states: B×d.
    ///   - k: items per state; `k > N` returns N items.
    ///   - excluding: per state, items to leave out (for example items already seen), as global
    ///     ids in `0..<catalogSize`; those outside this scorer's shard are ignored.
    ///   - parallelism: threads over catalog blocks.
    /// - Throws: `RecCoreError.invalidArgument` for `k < 1` or an exclusion set with the wrong
    ///   number of rows; `.itemOutOfRange` when it names an item outside the catalog.
    /// - Precondition: `states.cols == d` (the message names both shapes).
    /// - Complexity: 2·B·N·d FLOPs in GEMM plus O(B·N) vector compares (and, for canonical
    ///   scores, 2·B·2k·d more).
    public func topK(
        states: Matrix, k: Int, excluding: ExclusionSet? = nil,
        parallelism: Parallelism = .automatic
    ) throws(RecCoreError) -> TopKResult {
        precondition(
            states.cols == items.cols,
            "CatalogScorer.topK: states are \(states.shapeDescription) but items are \(items.shapeDescription); the state dimension must equal the item dimension"
        )
        try TopK.validate(k: k, rows: states.rows, catalogSize: catalogSize, excluding: excluding)
        let excluding = excluding.map {
            firstItem == 0 && catalogSize == itemCount ? $0 : $0.local(to: firstItem..<(firstItem + itemCount))
        }
        var result: TopKResult
        if let packed {
            result = simdTopK(packed, states: states, k: k, excluding: excluding, parallelism: parallelism)
        } else {
            switch arithmetic {
            case .blas: result = try localTopK(states: states, k: k, excluding: excluding, parallelism: parallelism)
            case .canonical:
                result = try canonicalTopK(states: states, k: k, excluding: excluding, parallelism: parallelism)
            }
        }
        if firstItem != 0 { result = result.offsettingItems(by: firstItem) }
        return result
    }

    /// `topK` in local ids (0..<N) with local exclusions, on the BLAS path: the catalog's item
    /// blocks split into contiguous ranges, one per worker; each worker scores a block for a tile
    /// of states (`BLASScan`) into its own heaps; the workers' heaps are merged at the end.
    func localTopK(states: Matrix, k: Int, excluding: ExclusionSet?, parallelism: Parallelism) throws(RecCoreError)
        -> TopKResult
    {
        let b = states.rows
        let n = itemCount
        let kk = min(k, n)
        if b == 0 || n == 0 { return TopKResult.empty(rows: b, k: kk) }
        let nBlocks = (n + blockItems - 1) / blockItems
        let workers = max(1, min(parallelism.resolvedCount, nBlocks))
        // Heaps: workers × B × kk.
        let heapS = UnsafeMutablePointer<Float>.allocate(capacity: workers * b * kk)
        let heapI = UnsafeMutablePointer<Int32>.allocate(capacity: workers * b * kk)
        var heapCounts = [Int](repeating: 0, count: workers * b)
        defer {
            heapS.deallocate()
            heapI.deallocate()
        }
        let biasCopy = bias
        states.withUnsafeBufferPointer { sp in
            items.withUnsafeBufferPointer { ip in
                (biasCopy ?? []).withUnsafeBufferPointer { bp in
                    heapCounts.withUnsafeMutableBufferPointer { hc in
                        let scan = BLASScan(
                            states: sp.baseAddress!, items: ip.baseAddress!,
                            bias: biasCopy == nil ? nil : bp.baseAddress, rows: b, itemCount: n, dimension: dimension,
                            k: kk, tile: min(tileStates, b), blockItems: blockItems, excluding: excluding,
                            // With one worker, BLAS itself may use the requested threads; with
                            // several, each worker calls single-threaded BLAS.
                            blas: workers > 1 ? .sequential : parallelism)
                        let ctx = UncheckedSendable((scan, hc.baseAddress!))
                        Threading.perWorker(workers) { w in
                            let (scan, hc) = ctx.value
                            var heaps = (0..<b).map { r in
                                let off = (w * b + r) * kk
                                return RowHeap(scores: heapS + off, items: heapI + off, k: kk)
                            }
                            scan.run(blocks: (w * nBlocks / workers)..<((w + 1) * nBlocks / workers), heaps: &heaps)
                            for r in 0..<b { hc[w * b + r] = heaps[r].count }
                        }
                    }
                }
            }
        }
        return Self.mergeWorkerHeaps(heapS, heapI, counts: heapCounts, workers: workers, rows: b, k: kk)
    }

    /// The best `k` items for one state.
    /// - Throws: as `topK(states:k:excluding:parallelism:)`.
    public func topK(
        state: [Float], k: Int, excluding: [Int]? = nil,
        parallelism: Parallelism = .automatic
    ) throws(RecCoreError) -> [(item: Int, score: Float)] {
        precondition(
            state.count == dimension,
            "CatalogScorer.topK: state has \(state.count) values but items are \(items.shapeDescription)")
        let r = try topK(
            states: Matrix(rows: 1, cols: state.count, elements: state), k: k,
            excluding: excluding.map { ExclusionSet([$0]) }, parallelism: parallelism)
        return zip(r.items(row: 0), r.scores(row: 0)).map { (Int($0.0), $0.1) }
    }
}

extension RowHeap {
    /// A view of an existing heap of `count` entries.
    @inlinable init(scores: UnsafeMutablePointer<Float>, items: UnsafeMutablePointer<Int32>, k: Int, count: Int) {
        self.init(scores: scores, items: items, k: k)
        self.count = count
    }
}
