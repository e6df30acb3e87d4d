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
        var mode = ScanMode.exact
        if let mp {
            let lists = UnsafeMutablePointer<CandidateList>.allocate(capacity: b)
            lists.initialize(repeating: CandidateList(), count: b)
            mode = .approximate(margins: mp, candidates: lists)
        }
        scan = PanelScan(
            catalog: packed, states: states, rows: b, paddedRows: paddedRows, k: k,
            tileRows: tileRows, blockPanels: blockPanels, heaps: heaps, thresholds: thresholds,
            mode: mode,
            exclusions: excluding, cursors: cursors,
            out: UnsafeMutablePointer<Float>.allocate(capacity: 4 * packed.width + 16))
    }

    func finish() {
        let b = rows
        for r in 0..<b { heapCounts[slot * b + r] = scan.heaps[r].count }
        if case .approximate(_, let lists) = scan.mode {
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
