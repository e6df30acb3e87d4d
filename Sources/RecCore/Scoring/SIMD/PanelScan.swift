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
    /// Exact or approximate, with the approximate mode's margins and candidate lists.
    let mode: ScanMode
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
        guard case .approximate(let margins, let candidates) = mode else {
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
            if heaps[r].count < k || v >= heaps[r].s[0] - margin { candidates[r].append(v, id) }
        }
        let full = heaps[r].count == k
        thresholds[r] = full ? heaps[r].s[0] - margin : .nan
        if full && candidates[r].scores.count > candidates[r].capacity { candidates[r].prune(below: thresholds[r]) }
    }
}
