import Synchronization

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
