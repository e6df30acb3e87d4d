/// How `CatalogScorer` computes the scores it returns.
public enum ScoreArithmetic: Sendable, Equatable {
    /// Every returned score is the *canonical* one: the dot product accumulated in index order
    /// with fused multiply-adds, `fma(s[d−1], x[d−1], … fma(s[1], x[1], s[0]·x[0]))`, plus the
    /// bias. It does not depend on the batch, the shard of the catalog, the blocking or the
    /// thread count (BLAS kernels round differently for different shapes), so a catalog scored
    /// in shards and merged gives exactly the single run's top-k, on any host.
    case canonical
    /// The scores as BLAS computes them (they may differ in the last bits between shapes).
    case blas
}

extension CatalogScorer {
    /// The canonical score of one state and one item row.
    @inline(__always)
    static func canonicalScore(_ s: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ d: Int, bias: Float?) -> Float {
        var acc: Float = 0
        for j in 0..<d { acc = acc.addingProduct(s[j], x[j]) }
        return bias.map { acc + $0 } ?? acc
    }

    static func bounds(items: Matrix, bias: [Float]?) -> (Float, Float) {
        var maxNorm: Float = 0
        items.withUnsafeBufferPointer { p in
            for r in 0..<items.rows {
                var ss: Float = 0
                for j in 0..<items.cols {
                    let v = p[r * items.cols + j]
                    ss += v * v
                }
                maxNorm = max(maxNorm, ss.squareRoot())  // NaN rows do not raise it
            }
        }
        let maxBias = (bias ?? []).reduce(Float(0)) { max($0, abs($1)) }
        return (maxNorm, maxBias)
    }

    /// Canonical top-k: BLAS picks a few more candidates than asked (`k + max(8, k)`), and they
    /// are rescored canonically. With E a bound on |BLAS score − canonical score| (from
    /// |Σ sⱼxⱼ + b − computed| ≤ e = γ_{d+1}(‖s‖‖x‖ + |b|) for any summation order, γ_n =
    /// nu/(1 − nu), so E = 2e), an item outside the candidates has a BLAS score at most the worst
    /// candidate's, w; when w < τ − 2E (τ the k-th best BLAS score) it cannot reach the canonical
    /// top-k, because k candidates are canonically at least τ − E > w + E. Rows where that does not hold (near-ties
    /// at the boundary, overflow, NaN) are scored canonically in full.
    func canonicalTopK(states: Matrix, k: Int, excluding: ExclusionSet?, parallelism: Parallelism) throws(RecCoreError)
        -> TopKResult
    {
        let b = states.rows
        let n = itemCount
        let d = dimension
        let kk = min(k, n)
        let wide = min(n, kk + max(8, kk))
        let blas = try localTopK(states: states, k: wide, excluding: excluding, parallelism: parallelism)
        let u = Float(0x1p-24)
        let m = Float(d + 1)
        let gamma = m * u / (1 - m * u)
        var out = TopKRows(rows: b, k: kk)
        states.withUnsafeBufferPointer { sp in
            items.withUnsafeBufferPointer { ip in
                let s0 = sp.baseAddress!
                let x0 = ip.baseAddress!
                let cs = UnsafeMutablePointer<Float>.allocate(capacity: max(wide, 1))
                let ci = UnsafeMutablePointer<Int32>.allocate(capacity: max(wide, 1))
                defer {
                    cs.deallocate()
                    ci.deallocate()
                }
                for r in 0..<b {
                    let srow = s0 + r * d
                    var norm: Float = 0
                    for j in 0..<d { norm += srow[j] * srow[j] }
                    // Each score is within e of the exact value (1% slack covers the rounding of
                    // the norms themselves), so BLAS and canonical scores differ by at most 2e.
                    let e = 1.01 * gamma * (norm.squareRoot() * maxItemNorm + maxAbsBias)
                    let cnt = blas.counts[r]
                    let g = blas.scores(row: r)
                    let ids = blas.items(row: r)
                    // Every item is a candidate when the wide heap was not filled.
                    var complete = cnt < wide
                    if !complete, cnt >= kk, let w = g.last {
                        let tau = g[g.startIndex + kk - 1]
                        complete = tau.isFinite && w.isFinite && e.isFinite && abs(g.first!) < 1e30 && w < tau - 4 * e
                    }
                    var heap = RowHeap(scores: cs, items: ci, k: kk)
                    if complete {
                        for (id, _) in zip(ids, g) {
                            heap.offer(Self.canonicalScore(srow, x0 + Int(id) * d, d, bias: bias?[Int(id)]), id)
                        }
                    } else {
                        canonicalScan(srow, items: x0, skipping: excluding?.items(row: r) ?? [], into: &heap)
                    }
                    out.drain(&heap, row: r)
                }
            }
        }
        return out.result
    }
}
