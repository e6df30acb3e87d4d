import Synchronization

/// The top-k candidates one row of the bfloat16 path keeps: every item whose approximate score
/// may still reach the exact top-k (at least the row's k-th best approximate score so far minus
/// the row's margin), pruned when the list grows.
struct CandidateList {
    var scores: [Float] = []
    var items: [Int32] = []
    var capacity = 64

    mutating func append(_ score: Float, _ item: Int32) {
        scores.append(score)
        items.append(item)
    }

    /// Keeps the entries at or above `floor`; doubles the capacity when more than half remain.
    mutating func prune(below floor: Float) {
        var kept = 0
        for i in scores.indices where scores[i] >= floor {
            scores[kept] = scores[i]
            items[kept] = items[i]
            kept += 1
        }
        scores.removeLast(scores.count - kept)
        items.removeLast(items.count - kept)
        if kept > capacity / 2 { capacity *= 2 }
    }
}

/// One worker's pass of the SIMD kernel over a range of panels, for every state.
///
/// Exact mode (Float32 panels): each row's heap receives the canonical scores of the rows the
/// kernel flags; `thresholds[r]` is the heap's root once it is full (NaN before, which forces
/// the row through). Approximate mode (bfloat16 panels): the heaps hold approximate scores,
/// `thresholds[r]` is the root minus the row's margin, and every item offered at or above it is
/// kept in the row's candidate list for exact rescoring.
struct PanelScan {
    let catalog: PackedCatalog
    /// `paddedRows × d`, row-major.
    let states: UnsafePointer<Float>
    let rows: Int, paddedRows: Int, k: Int
    /// States per L1 tile (a multiple of 4) and panels per L2 block.
    let tileRows: Int, blockPanels: Int
    let heaps: UnsafeMutablePointer<RowHeap>
    let thresholds: UnsafeMutablePointer<Float>
    /// Approximate mode: twice the row's error bound (not finite: the row is scored exactly
    /// elsewhere and skipped here).
    let margins: UnsafePointer<Float>?
    let candidates: UnsafeMutablePointer<CandidateList>?
    let exclusions: ExclusionSet?
    /// Per row, the index in `exclusions.items` of its next excluded item.
    let cursors: UnsafeMutablePointer<Int>
    /// 4 rows × panel width of scores from the kernel (and 16 floats of slack).
    let out: UnsafeMutablePointer<Float>

    func run(panels: Range<Int>) {
        let oneState = paddedRows == 1
        if catalog.lanes == 16 {
            if oneState {
                runOneState(SIMD16<Float>.self, SIMD16<UInt32>.self, panels: panels)
            } else {
                run(SIMD16<Float>.self, SIMD16<UInt32>.self, panels: panels)
            }
        } else if oneState {
            runOneState(SIMD8<Float>.self, SIMD8<UInt32>.self, panels: panels)
        } else {
            run(SIMD8<Float>.self, SIMD8<UInt32>.self, panels: panels)
        }
    }

    @inline(__always)
    private func run<V: KernelVector, U: SIMD>(_ v: V.Type, _ u: U.Type, panels: Range<Int>)
    where V.Scalar == Float, U.Scalar == UInt32 {
        let width = catalog.width
        seekCursors(rows: 0..<rows, firstItem: panels.lowerBound * width)
        // Blocks of panels sized for L2, tiles of states for L1: each block is read from memory
        // once and each panel from L2 once per tile.
        var pb = panels.lowerBound
        while pb < panels.upperBound {
            let pe = min(panels.upperBound, pb + blockPanels)
            var t0 = 0
            while t0 < paddedRows {
                let t1 = min(paddedRows, t0 + tileRows)
                for p in pb..<pe {
                    let j0 = p * width
                    let valid = min(width, catalog.items - j0)
                    let partial: UInt32 = valid < width ? 0xF : 0
                    let bias = catalog.bias.map { UnsafePointer($0 + j0) }
                    var g = t0
                    while g < t1 {
                        var bits = tile(v, u, panel: p, group: g, bias: bias) | partial | forced(g, upTo: j0 + valid)
                        while bits != 0 {
                            let i = bits.trailingZeroBitCount
                            bits &= bits - 1
                            if g + i < rows { offer(row: g + i, scores: out + i * width, firstItem: j0, count: valid) }
                        }
                        g += paddedRows == 1 ? 1 : 4
                    }
                }
                t0 = t1
            }
            pb = pe
        }
    }

    /// One state, in each block of panels: Float32 panels 4 at a time (`quadPanels`), bfloat16
    /// panels one at a time with the rows two panels ahead prefetched (the catalog is read once,
    /// front to back, and the hardware's prefetcher alone left the kernel waiting on memory:
    /// 35–43% slower on 1 thread, 15–28% on 2, at N = 100,000 and d = 64; for `tile1x4` the
    /// same prefetches cost 9–14%); the last partial panel through `run`. Apart from `run` so
    /// that the many-state loop's code stays as it was (with these paths inside it, B = 256 read
    /// 1–6% slower on 1 thread in alternating runs).
    @inline(__always)
    private func runOneState<V: KernelVector, U: SIMD>(_ v: V.Type, _ u: U.Type, panels: Range<Int>)
    where V.Scalar == Float, U.Scalar == UInt32 {
        let width = catalog.width
        let d = catalog.dimension
        let panelWords = catalog.panelRows * width
        var pb = panels.lowerBound
        while pb < panels.upperBound {
            let pe = min(panels.upperBound, pb + blockPanels)
            seekCursors(rows: 0..<1, firstItem: pb * width)
            var p = pb
            switch catalog.element {
            case .float32:
                while p + 4 <= pe && (p + 4) * width <= catalog.items {
                    var bits = quadPanels(v, from: p)
                    while bits != 0 {
                        let i = bits.trailingZeroBitCount
                        bits &= bits - 1
                        offer(row: 0, scores: out + i * width, firstItem: (p + i) * width, count: width)
                    }
                    p += 4
                }
            case .bfloat16:
                while p < pe && (p + 1) * width <= catalog.items {
                    let j0 = p * width
                    let bits = ScoringKernels.tile1(
                        v, u, bf16: catalog.words + p * panelWords, state: states, d: d,
                        bias: catalog.bias.map { UnsafePointer($0 + j0) }, threshold: thresholds[0], out: out,
                        prefetch: 2 * panelWords)
                    if bits | forced(0, upTo: j0 + width) != 0 {
                        offer(row: 0, scores: out, firstItem: j0, count: width)
                    }
                    p += 1
                }
            }
            if p < pe { run(v, u, panels: p..<pe) }
            pb = pe
        }
    }

    /// One state on Float32 panels: the 4 full panels from `p` at once
    /// (`ScoringKernels.tile1x4`), and the bits of those to offer (a lane at or above the
    /// threshold, or forced). Not for bfloat16 panels (interleaving 2 or 4 of them measured 4–19%
    /// slower: their unpacking needs the registers; they prefetch instead). The threshold is the
    /// one before the first panel's offers: a later panel may be offered under a threshold that
    /// has since risen, and `offer` tests its lanes against the current one.
    @inline(__always)
    private func quadPanels<V: KernelVector>(_ v: V.Type, from p: Int) -> UInt32 {
        let width = catalog.width
        let d = catalog.dimension
        let j0 = p * width
        var bits = ScoringKernels.tile1x4(
            v, panels: catalog.floats + p * d * width, stride: d * width, state: states, d: d,
            bias: catalog.bias.map { UnsafePointer($0 + j0) }, threshold: thresholds[0], out: out)
        // Any panel while the heap fills, and the panel holding the row's next excluded item and
        // those after it, go through whatever their scores (`forced`).
        for i in 0..<4 where forced(0, upTo: j0 + (i + 1) * width) != 0 { bits |= 1 << UInt32(i) }
        return bits
    }

    /// The kernel for this catalog's element type and the batch's shape on panel `p` and the
    /// states from row `g`.
    @inline(__always)
    private func tile<V: KernelVector, U: SIMD>(
        _ v: V.Type, _ u: U.Type, panel p: Int, group g: Int,
        bias: UnsafePointer<Float>?
    ) -> UInt32 where U.Scalar == UInt32 {
        let d = catalog.dimension
        let width = catalog.width
        let s = states + g * d
        switch (catalog.element, paddedRows) {
        case (.float32, 1):
            return ScoringKernels.tile1(
                v, panel: catalog.floats + p * d * width, state: s, d: d, bias: bias,
                threshold: thresholds[0], out: out)
        case (.float32, _):
            return ScoringKernels.tile4(
                v, panel: catalog.floats + p * d * width, states: s, d: d, bias: bias,
                thresholds: thresholds + g, out: out)
        case (.bfloat16, 1):
            return ScoringKernels.tile1(
                v, u, bf16: catalog.words + p * catalog.panelRows * width, state: s, d: d,
                bias: bias, threshold: thresholds[0], out: out, prefetch: 0)
        case (.bfloat16, _):
            return ScoringKernels.tile4(
                v, u, bf16: catalog.words + p * catalog.panelRows * width, states: s, d: d,
                bias: bias, thresholds: thresholds + g, out: out)
        }
    }

    /// Rows of the group at `g` that must be offered whatever their scores: thresholds that are
    /// NaN (heap not full) and rows with an excluded item before `end`.
    @inline(__always)
    private func forced(_ g: Int, upTo end: Int) -> UInt32 {
        var bits: UInt32 = 0
        let count = paddedRows == 1 ? 1 : 4
        for i in 0..<count {
            let t = thresholds[g + i]
            if t != t { bits |= 1 << i }
            if let ex = exclusions, g + i < rows, cursors[g + i] < ex.offsets[g + i + 1], ex.items[cursors[g + i]] < end
            {
                bits |= 1 << i
            }
        }
        return bits
    }

    /// Points each row's exclusion cursor at its first excluded item at or after `firstItem`
    /// (binary search in the row's sorted list: a worker's chunks need not be adjacent).
    private func seekCursors(rows range: Range<Int>, firstItem: Int) {
        guard let ex = exclusions else { return }
        for r in range {
            var lo = ex.offsets[r]
            var hi = ex.offsets[r + 1]
            while lo < hi {
                let mid = (lo + hi) / 2
                if ex.items[mid] < firstItem { lo = mid + 1 } else { hi = mid }
            }
            cursors[r] = lo
        }
    }

    /// The excluded items of row `r` before `end`, advancing its cursor past them.
    private func excluded(row r: Int, before end: Int) -> ArraySlice<Int> {
        guard let ex = exclusions else { return [] }
        let start = cursors[r]
        var c = start
        while c < ex.offsets[r + 1] && ex.items[c] < end { c += 1 }
        cursors[r] = c
        return ex.items[start..<c]
    }

    /// Bit j set when `scores[j] >= t`, for j < `count` (≤ 64; reads whole vectors of 16, so
    /// up to 15 floats past `count` must be readable).
    @inline(__always)
    static func lanes(_ scores: UnsafePointer<Float>, count: Int, atLeast t: Float) -> UInt64 {
        typealias V = SIMD16<Float>
        let weights = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
        let tv = V(repeating: t)
        var bits: UInt64 = 0
        var i = 0
        while i < count {
            let m = VectorMath.load(scores + i) .>= tv
            bits |= UInt64(SIMD16<UInt32>(repeating: 0).replacing(with: weights, where: m).wrappedSum()) << UInt64(i)
            i += 16
        }
        return count == 64 ? bits : bits & ((1 << UInt64(count)) - 1)
    }

    private func offer(row r: Int, scores: UnsafeMutablePointer<Float>, firstItem j0: Int, count: Int) {
        let skip = excluded(row: r, before: j0 + count)
        guard let margins else {
            let t = thresholds[r]
            if skip.isEmpty && t == t {
                // Only the lanes at or above the threshold can enter (usually one or none).
                var lanes = Self.lanes(scores, count: count, atLeast: t)
                while lanes != 0 {
                    let j = lanes.trailingZeroBitCount
                    lanes &= lanes - 1
                    heaps[r].offer(scores[j], Int32(truncatingIfNeeded: j0 + j))
                }
            } else if skip.isEmpty {
                heaps[r].scan(scores, bias: nil, count: count, firstItem: j0)
            } else {
                heaps[r].scan(scores, bias: nil, count: count, firstItem: j0, skipping: skip)
            }
            thresholds[r] = heaps[r].filterIsExact ? heaps[r].s[0] : .nan
            return
        }
        let margin = margins[r]
        guard margin.isFinite else { return }
        var next = skip.startIndex
        for j in 0..<count {
            if next < skip.endIndex && skip[next] == j0 + j {
                next += 1
                continue
            }
            let v = scores[j]
            let id = Int32(truncatingIfNeeded: j0 + j)
            if heaps[r].count == k && v < heaps[r].s[0] - margin { continue }
            heaps[r].offer(v, id)
            if heaps[r].count < k || v >= heaps[r].s[0] - margin { candidates![r].append(v, id) }
        }
        let full = heaps[r].count == k
        thresholds[r] = full ? heaps[r].s[0] - margin : .nan
        if full && candidates![r].scores.count > candidates![r].capacity { candidates![r].prune(below: thresholds[r]) }
    }
}

/// The rows of a `TopKResult` filled one heap at a time.
struct TopKRows {
    let k: Int
    var scores: [Float], items: [Int32], counts: [Int]

    init(rows: Int, k: Int) {
        self.k = k
        scores = [Float](repeating: .nan, count: rows * k)
        items = [Int32](repeating: -1, count: rows * k)
        counts = [Int](repeating: 0, count: rows)
    }

    /// Row `r` from `heap`, best first (empties the heap).
    mutating func drain(_ heap: inout RowHeap, row r: Int) {
        counts[r] = heap.count
        scores.withUnsafeMutableBufferPointer { os in
            items.withUnsafeMutableBufferPointer { oi in
                heap.drainSorted(into: os.baseAddress! + r * k, oi.baseAddress! + r * k)
            }
        }
    }

    var result: TopKResult { TopKResult(rows: counts.count, k: k, counts: counts, indices: items, scores: scores) }
}

extension CatalogScorer {
    /// Top-k in local ids with the SIMD kernel (`CatalogKernel.simd` or `.simdBFloat16`).
    func simdTopK(
        _ packed: PackedCatalog, states: Matrix, k: Int, excluding: ExclusionSet?,
        parallelism: Parallelism
    ) -> TopKResult {
        let b = states.rows
        let n = itemCount
        let d = dimension
        let kk = min(k, n)
        if b == 0 || n == 0 { return TopKResult.empty(rows: b, k: kk) }
        let paddedRows = b == 1 ? 1 : (b + 3) / 4 * 4
        let padded = states.withUnsafeBufferPointer { s in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows * d)
            p.initialize(repeating: 0, count: paddedRows * d)
            p.update(from: s.baseAddress!, count: b * d)
            return p
        }
        defer { padded.deallocate() }
        let approximate = packed.element == .bfloat16
        let margins = approximate ? bfloat16Margins(padded, rows: b) : nil
        let tileRows = max(4, tileStates / 4 * 4)
        let blockPanels = max(1, blockItems / packed.width)
        let chunks = (packed.panels + blockPanels - 1) / blockPanels
        let workers = max(1, min(parallelism.resolvedCount, chunks))
        let heapS = UnsafeMutablePointer<Float>.allocate(capacity: workers * b * kk)
        let heapI = UnsafeMutablePointer<Int32>.allocate(capacity: workers * b * kk)
        var heapCounts = [Int](repeating: 0, count: workers * b)
        var candidates = [[CandidateList]](repeating: [], count: workers)
        defer {
            heapS.deallocate()
            heapI.deallocate()
        }
        heapCounts.withUnsafeMutableBufferPointer { hc in
            candidates.withUnsafeMutableBufferPointer { cand in
                (margins ?? []).withUnsafeBufferPointer { mp in
                    let ctx = UncheckedSendable(
                        (hc.baseAddress!, cand.baseAddress!, approximate ? mp.baseAddress : nil, UnsafePointer(padded)))
                    // Chunks of one L2 block of panels, handed out dynamically (a worker slowed by
                    // the host does not hold the other back); each worker keeps its own heaps, so
                    // the merged top-k does not depend on which worker scored which chunk.
                    let slots = Atomic<Int>(0)
                    Threading.parallelFor(
                        chunks: chunks, parallelism: .threads(workers),
                        scratch: { () -> ScanWorker in
                            let (hc, cand, mp, states) = ctx.value
                            let w = slots.add(1, ordering: .relaxed).oldValue
                            return ScanWorker(
                                slot: w, packed: packed, states: states, rows: b, paddedRows: paddedRows, k: kk,
                                tileRows: tileRows, blockPanels: blockPanels, heapScores: heapS, heapItems: heapI,
                                margins: mp, excluding: excluding, heapCounts: hc, candidates: cand)
                        },
                        release: { $0.finish() },
                        body: { c, worker in
                            worker.scan.run(panels: (c * blockPanels)..<min(packed.panels, (c + 1) * blockPanels))
                        })
                }
            }
        }
        if let margins {
            return rescoreCandidates(candidates, margins: margins, states: states, k: kk, excluding: excluding)
        }
        return Self.mergeWorkerHeaps(heapS, heapI, counts: heapCounts, workers: workers, rows: b, k: kk)
    }

    /// Per row, twice the bound E on |approximate − canonical| score of the bfloat16 path:
    /// E = 1.01·((2⁻⁸ + 2γ(1 + 2⁻⁸))·‖s‖·max‖x‖ + 2γ·max|b|) + d·max|s|·2⁻¹³³ (γ = γ_{d+1}: the
    /// rounding of any summation order; 2⁻⁸ the relative rounding of bfloat16; the last term
    /// covers subnormal items). Not finite (including when a score could overflow): the row is
    /// scored exactly in full.
    func bfloat16Margins(_ states: UnsafePointer<Float>, rows b: Int) -> [Float] {
        let d = dimension
        let u = Float(0x1p-24)
        let m = Float(d + 1)
        let gamma = m * u / (1 - m * u)
        let rel: Float = 0x1p-8
        return (0..<b).map { r in
            var norm: Float = 0
            var largest: Float = 0
            for j in 0..<d {
                let v = states[r * d + j]
                norm += v * v
                largest = max(largest, abs(v))
            }
            let size = norm.squareRoot() * maxItemNorm
            guard size.isFinite, largest.isFinite, size + maxAbsBias < 0x1p100 else { return .infinity }
            let e =
                1.01 * ((rel + 2 * gamma * (1 + rel)) * size + 2 * gamma * maxAbsBias) + Float(d) * largest * 0x1p-133
            return 2 * e
        }
    }

    /// The exact top-k of each row from the workers' candidate lists: the k-th best approximate
    /// score τ over all of them, the candidates at or above τ − margin rescored canonically.
    /// Rows whose margin is not finite are scored canonically over the whole catalog.
    func rescoreCandidates(
        _ lists: [[CandidateList]], margins: [Float], states: Matrix, k: Int,
        excluding: ExclusionSet?
    ) -> TopKResult {
        let b = states.rows
        let d = dimension
        var out = TopKRows(rows: b, k: k)
        let hs = UnsafeMutablePointer<Float>.allocate(capacity: k)
        let hi = UnsafeMutablePointer<Int32>.allocate(capacity: k)
        defer {
            hs.deallocate()
            hi.deallocate()
        }
        states.withUnsafeBufferPointer { sp in
            items.withUnsafeBufferPointer { ip in
                for r in 0..<b {
                    let srow = sp.baseAddress! + r * d
                    var heap = RowHeap(scores: hs, items: hi, k: k)
                    if margins[r].isFinite {
                        let approx = lists.flatMap { $0[r].scores }
                        let ids = lists.flatMap { $0[r].items }
                        let tau = approx.count < k ? -Float.infinity : approx.sorted(by: >)[k - 1]
                        for (a, id) in zip(approx, ids) where a >= tau - margins[r] {
                            heap.offer(
                                Self.canonicalScore(srow, ip.baseAddress! + Int(id) * d, d, bias: bias?[Int(id)]), id)
                        }
                    } else {
                        canonicalScan(
                            srow, items: ip.baseAddress!, skipping: excluding?.items(row: r) ?? [], into: &heap)
                    }
                    out.drain(&heap, row: r)
                }
            }
        }
        return out.result
    }

    /// Offers every item's canonical score for one state, skipping `excluded` (sorted local ids).
    func canonicalScan(
        _ srow: UnsafePointer<Float>, items x: UnsafePointer<Float>, skipping excluded: ArraySlice<Int>,
        into heap: inout RowHeap
    ) {
        let d = dimension
        var next = excluded.startIndex
        for j in 0..<itemCount {
            if next < excluded.endIndex && excluded[next] == j {
                next += 1
                continue
            }
            heap.offer(Self.canonicalScore(srow, x + j * d, d, bias: bias?[j]), Int32(j))
        }
    }

    /// The best `k` of each row over the workers' heaps (`workers × rows × k` entries).
    static func mergeWorkerHeaps(
        _ heapS: UnsafeMutablePointer<Float>, _ heapI: UnsafeMutablePointer<Int32>, counts heapCounts: [Int],
        workers: Int, rows b: Int, k kk: Int
    ) -> TopKResult {
        var out = TopKRows(rows: b, k: kk)
        let ms = UnsafeMutablePointer<Float>.allocate(capacity: kk)
        let mi = UnsafeMutablePointer<Int32>.allocate(capacity: kk)
        defer {
            ms.deallocate()
            mi.deallocate()
        }
        for r in 0..<b {
            if workers == 1 {
                var h = RowHeap(scores: heapS + r * kk, items: heapI + r * kk, k: kk, count: heapCounts[r])
                out.drain(&h, row: r)
                continue
            }
            var h = RowHeap(scores: ms, items: mi, k: kk)
            for w in 0..<workers {
                let off = (w * b + r) * kk
                for j in 0..<heapCounts[w * b + r] { h.offer(heapS[off + j], heapI[off + j]) }
            }
            out.drain(&h, row: r)
        }
        return out.result
    }
}

/// One worker of `CatalogScorer.simdTopK`: its heaps (in slot `slot` of the shared heap storage),
/// thresholds, exclusion cursors, tile buffer and (approximate mode) candidate lists, and the
/// `PanelScan` over them. `finish()` records the heap counts and candidates and frees the rest.
struct ScanWorker {
    let slot: Int
    let rows: Int
    let scan: PanelScan
    let heapCounts: UnsafeMutablePointer<Int>
    let candidates: UnsafeMutablePointer<[CandidateList]>

    init(
        slot w: Int, packed: PackedCatalog, states: UnsafePointer<Float>, rows b: Int, paddedRows: Int, k: Int,
        tileRows: Int, blockPanels: Int, heapScores: UnsafeMutablePointer<Float>,
        heapItems: UnsafeMutablePointer<Int32>, margins mp: UnsafePointer<Float>?, excluding: ExclusionSet?,
        heapCounts: UnsafeMutablePointer<Int>, candidates: UnsafeMutablePointer<[CandidateList]>
    ) {
        slot = w
        rows = b
        self.heapCounts = heapCounts
        self.candidates = candidates
        let approximate = mp != nil
        let heaps = UnsafeMutablePointer<RowHeap>.allocate(capacity: b)
        let thresholds = UnsafeMutablePointer<Float>.allocate(capacity: paddedRows)
        let cursors = UnsafeMutablePointer<Int>.allocate(capacity: b)
        for r in 0..<b {
            let off = (w * b + r) * k
            (heaps + r).initialize(to: RowHeap(scores: heapScores + off, items: heapItems + off, k: k))
        }
        for r in 0..<paddedRows {
            // Padded rows never pass; rows scored exactly elsewhere neither.
            thresholds[r] = r >= b || (mp.map { !$0[r].isFinite } ?? false) ? .infinity : .nan
        }
        let lists = UnsafeMutablePointer<CandidateList>.allocate(capacity: approximate ? b : 0)
        if approximate { lists.initialize(repeating: CandidateList(), count: b) }
        scan = PanelScan(
            catalog: packed, states: states, rows: b, paddedRows: paddedRows, k: k,
            tileRows: tileRows, blockPanels: blockPanels, heaps: heaps, thresholds: thresholds,
            margins: mp, candidates: approximate ? lists : nil,
            exclusions: excluding, cursors: cursors,
            out: UnsafeMutablePointer<Float>.allocate(capacity: 4 * packed.width + 16))
    }

    func finish() {
        let b = rows
        for r in 0..<b { heapCounts[slot * b + r] = scan.heaps[r].count }
        if let lists = scan.candidates {
            candidates[slot] = Array(UnsafeBufferPointer(start: lists, count: b))
            lists.deinitialize(count: b)
            lists.deallocate()
        }
        scan.heaps.deinitialize(count: b)
        scan.heaps.deallocate()
        scan.thresholds.deallocate()
        scan.cursors.deallocate()
        scan.out.deallocate()
    }
}
