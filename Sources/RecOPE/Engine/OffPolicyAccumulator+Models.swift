import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The logistic model's coefficients laid out for rows: item logits, and per context column a
/// map from value to coefficient.
struct LogisticRows {
    let design: LogisticDesign
    let theta: [Double]
    let itemLogit: [Double]
    let levelIndex: [[String: Int]]
    let categoryOffsets: [Int]
    let numericOffset: Int

    init(design: LogisticDesign, theta: [Double], features: ItemFeatures?) {
        self.design = design
        categoryOffsets = design.itemCategoryOffsets
        numericOffset = design.numericOffset
        self.theta = theta
        itemLogit = design.itemLogits(theta: theta, features: features)
        levelIndex = design.levels.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1, $0) }) }
    }

    /// Per design column, the chunk's per-row coefficient index (−1: value not in the design).
    func columnCoefficients(_ c: LogChunk) -> [[Int32]] {
        let offsets = design.columnOffsets
        return design.columns.enumerated().map { f, name in
            guard let col = c.contexts.first(where: { $0.name == name }) else {
                return [Int32](repeating: -1, count: c.count)
            }
            let map = col.values.map { v in levelIndex[f][v].map { Int32(offsets[f] + $0) } ?? -1 }
            return col.ids.map { map[Int($0)] }
        }
    }

    /// The logit of row j without its item part: intercept, position and context terms.
    @inline(__always)
    func rowLogit(position k: Int, _ coefficients: [[Int32]], _ j: Int) -> Double {
        var eta = theta[0] + theta[1 + design.items + k]
        for col in coefficients where col[j] >= 0 { eta += theta[Int(col[j])] }
        return eta
    }

    /// The row's sparse features (index, value) for item a.
    func features(
        item a: Int, position k: Int, _ coefficients: [[Int32]], _ j: Int, itemFeatures: ItemFeatures?,
        into out: inout [(Int, Double)]
    ) {
        out.removeAll(keepingCapacity: true)
        out.append((0, 1))
        out.append((1 + a, 1))
        out.append((1 + design.items + k, 1))
        for col in coefficients where col[j] >= 0 { out.append((Int(col[j]), 1)) }
        if let f = itemFeatures, !design.itemCategories.isEmpty || design.itemNumeric > 0 {
            let co = categoryOffsets
            let no = numericOffset
            for (c, col) in f.categorical.enumerated() { out.append((co[c] + Int(col[a]), 1)) }
            for (c, col) in f.numeric.enumerated() { out.append((no + c, col[a])) }
        }
    }
}

extension OffPolicyAccumulator {
    /// Pass 2: DM, DR, SwitchDR with the click-rate model, unsupported mass, value-model pieces,
    /// and the logistic model's first Newton sums.
    mutating func addRewardModels(_ c: LogChunk) throws(RecOPEError) {
        let pa = try loggingProbabilities(c)
        let seed = state.settings.seed
        let K = evaluator.depth
        let C = caps.count
        let layout = plan.passes[SumPass.clickModel.rawValue]!
        // Per row: its cell and, per value-model grouping, its bucket's key.
        let cells = (0..<c.count).map { Int(c.items[$0]) * K + Int(c.positions[$0]) }
        let buckets = state.valueCuts.map { cuts in
            (0..<c.count).map { j -> String in
                let pred = crossQ[RowHash.fold(key: c.rowKeys[j], seed: seed)][cells[j]]
                return "\(cuts.reduce(0) { pred >= $1 ? $0 + 1 : $0 } + 1)"
            }
        }
        let q = cells.map { self.q[$0] }
        var inputs = [TermInputs]()
        for p in state.policies.indices {
            let slots = buckets.enumerated().map { g, keys in
                keys.map {
                    Int32(
                        state.policies[p].passes[SumPass.clickModel.rawValue]!.groups[g].slot(
                            $0, layout.grouped[g].block, replicates: replicates))
                }
            }
            let k = keyedConstants(c, policy: p)
            var t = TermInputs(w: weights(c, policy: p, pa: pa))
            t.dm = (0..<c.count).map { k.value($0, C) }
            t.unsupported = (0..<c.count).map { k.value($0, C + 1) }
            t.q = q
            t.slots = slots
            inputs.append(t)
        }
        try addTerms(c, .clickModel, inputs)
        if state.newton != nil { addNewton(c) }
    }
}

extension OffPolicyAccumulator {
    /// Newton passes: the log-likelihood's gradient and Hessian at the state's coefficients.
    mutating func addNewton(_ c: LogChunk) {
        guard let rowsModel = logisticContext, let current = state.newton else { return }
        // A worker adds to its carry (made once per pass from the start's zero sums); otherwise
        // `n` holds the only reference to the sums while rows are added (no copy on write).
        var n: NewtonSums
        if isWorker {
            n = newtonCarry ?? current
            newtonCarry = nil
        } else {
            n = current
            state.newton = nil
        }
        let coefficients = rowsModel.columnCoefficients(c)
        let features = evaluator.usableItemFeatures
        if newtonTally == nil {
            newtonTally = NewtonTally(
                design: n.design, features: features, categoryOffsets: rowsModel.categoryOffsets)
        }
        if newtonTally != nil {
            // 0/1 features in a dense table of combinations: rows counted, the counts turned into
            // the sums at the pass's end (a worker's, in `finishedState`) or now.
            newtonTally!.add(c, coefficients, into: &n)
            if !isWorker { newtonTally!.flush(into: &n) }
        } else {
            Self.addNewtonRows(c, coefficients, rowsModel, features, depth: evaluator.depth, &n)
        }
        if isWorker { newtonCarry = n } else { state.newton = n }
    }

    /// The Newton sums of `c`'s rows one by one (designs with numeric item features, or too many
    /// feature combinations for `NewtonTally`); `generic` takes every design through the loop
    /// for any feature values (the reference of the others).
    static func addNewtonRows(
        _ c: LogChunk, _ coefficients: [[Int32]], _ rowsModel: LogisticRows, _ features: ItemFeatures?,
        depth: Int, generic: Bool = false, _ n: inout NewtonSums
    ) {
        let P = n.design.parameters
        var x = [(Int, Double)]()
        // Rows in order of (item, first context value, position): the sums are exact integers (any
        // order gives the same bits), and in this order each row's Hessian cells lie near the
        // last row's (one Hessian row per item, the context's cells in order) instead of anywhere
        // in P²/2 cells, and rows with the same features are consecutive.
        let order = Self.newtonOrder(c, coefficients.first, parameters: P, depth: depth)
        if !generic && (features == nil || n.design.itemNumeric == 0) {
            // Every feature value is 1 unless items have numeric features.
            Self.addNewtonOnes(c, order, coefficients, rowsModel, features, &n)
        } else {
            let theta = n.theta
            n.gradient.withUnsafeMutableBufferPointer { gradient in
                n.hessian.withUnsafeMutableBufferPointer { hessian in
                    for j in order {
                        let j = Int(j)
                        let a = Int(c.items[j])
                        let k = Int(c.positions[j])
                        rowsModel.features(item: a, position: k, coefficients, j, itemFeatures: features, into: &x)
                        var eta = 0.0
                        for (i, v) in x { eta += theta[i] * v }
                        let p = 1 / (1 + exp(-eta))
                        let wgt = max(p * (1 - p), 1e-12)
                        let res = c.rewards[j] - p
                        for (ai, va) in x {
                            gradient[ai].add(res * va)
                            let rowStart: Int = ai * P - ai * (ai - 1) / 2 - ai
                            for (bi, vb) in x where bi >= ai {
                                let h: Double = wgt * va * vb
                                hessian[rowStart + bi].add(h)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The Newton sums of a chunk whose features are all 0/1 (`LogisticRows.features` without
    /// numeric item features), rows taken in `order`: the same cells and terms as row by row,
    /// through raw buffers. Each term is rounded to fixed point once: a row's Hessian terms are
    /// all its weight (wgt · 1 · 1) and its gradient terms its residual; rows with the same
    /// features (consecutive in `order`) share one logit, and their Hessian terms are added as
    /// one exact integer multiple.
    static func addNewtonOnes(
        _ c: LogChunk, _ order: [Int32], _ coefficients: [[Int32]], _ rowsModel: LogisticRows,
        _ features: ItemFeatures?, _ n: inout NewtonSums
    ) {
        let P = n.design.parameters
        let I = n.design.items
        let rows = c.count
        let columns = coefficients.count
        // The coefficient columns, flat: column f's row j at f * rows + j.
        var flat = [Int32](repeating: -1, count: max(columns * rows, 1))
        for (f, col) in coefficients.enumerated() {
            flat.withUnsafeMutableBufferPointer { o in
                col.withUnsafeBufferPointer {
                    o.baseAddress!.advanced(by: f * rows).update(from: $0.baseAddress!, count: rows)
                }
            }
        }
        // Item categories (their coefficient index per item), as in `features`.
        var categories = [[Int]]()
        if let f = features, !n.design.itemCategories.isEmpty {
            let co = rowsModel.categoryOffsets
            categories = f.categorical.enumerated().map { c, col in col.map { co[c] + Int($0) } }
        }
        let width = 3 + columns + categories.count
        let ix = UnsafeMutablePointer<Int>.allocate(capacity: width)
        defer { ix.deallocate() }
        n.theta.withUnsafeBufferPointer { theta in
            n.gradient.withUnsafeMutableBufferPointer { gradient in
                n.hessian.withUnsafeMutableBufferPointer { hessian in
                    flat.withUnsafeBufferPointer { flat in
                        c.items.withUnsafeBufferPointer { items in
                            c.positions.withUnsafeBufferPointer { positions in
                                c.rewards.withUnsafeBufferPointer { rewards in
                                    order.withUnsafeBufferPointer { order in
                                        var at = 0
                                        while at < rows {
                                            let j = Int(order[at])
                                            let a = Int(items[j])
                                            // The row's features in `features`' order (the logit's sum
                                            // order).
                                            var m = 3
                                            ix[0] = 0
                                            ix[1] = 1 + a
                                            ix[2] = 1 + I + Int(positions[j])
                                            for f in 0..<columns {
                                                let v = flat[f * rows + j]
                                                if v >= 0 {
                                                    ix[m] = Int(v)
                                                    m += 1
                                                }
                                            }
                                            for cat in categories {
                                                ix[m] = cat[a]
                                                m += 1
                                            }
                                            // The run of rows with the same features.
                                            var end = at + 1
                                            run: while end < rows {
                                                let i = Int(order[end])
                                                guard items[i] == items[j] && positions[i] == positions[j] else {
                                                    break
                                                }
                                                for f in 0..<columns where flat[f * rows + i] != flat[f * rows + j] {
                                                    break run
                                                }
                                                end += 1
                                            }
                                            var eta = 0.0
                                            for t in 0..<m { eta += theta[ix[t]] * 1 }
                                            let p = 1 / (1 + exp(-eta))
                                            let wgt = max(p * (1 - p), 1e-12)
                                            var res = ExactSum()
                                            for t in at..<end { res.add(rewards[Int(order[t])] - p) }
                                            var h = ExactSum()
                                            h.add(wgt)
                                            let term = h.total &* Int128(end - at)
                                            for t in 0..<m {
                                                let ai = ix[t]
                                                gradient[ai].add(res)
                                                let rowStart = ai &* P &- ai &* (ai &- 1) / 2 &- ai
                                                for u in 0..<m where ix[u] >= ai {
                                                    hessian[rowStart &+ ix[u]].total &+= term
                                                }
                                            }
                                            at = end
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The rows of `c` by item, within an item by the first context column's coefficient, then by
    /// position (three stable counting passes; file order where all are equal).
    static func newtonOrder(_ c: LogChunk, _ context: [Int32]?, parameters P: Int, depth K: Int) -> [Int32] {
        let n = c.count
        var order = [Int32](unsafeUninitializedCapacity: n) { b, count in
            for j in 0..<n { b[j] = Int32(j) }
            count = n
        }
        func countingSort(_ key: (Int) -> Int, buckets: Int) {
            var starts = [Int](repeating: 0, count: buckets + 1)
            for j in order { starts[key(Int(j)) + 1] += 1 }
            for b in 0..<buckets { starts[b + 1] += starts[b] }
            var out = [Int32](repeating: 0, count: n)
            for j in order {
                let b = key(Int(j))
                out[starts[b]] = j
                starts[b] += 1
            }
            order = out
        }
        countingSort({ Int(c.positions[$0]) }, buckets: max(K, (c.positions.max().map { Int($0) } ?? 0) + 1))
        if let context {
            countingSort({ Int(context[$0]) + 1 }, buckets: P + 1)  // -1 (no value) first
        }
        let items = (c.items.max().map { Int($0) } ?? 0) + 1
        countingSort({ Int(c.items[$0]) }, buckets: items)
        return order
    }

    /// Last pass: DM and DR with the fitted logistic model.
    mutating func addLogistic(_ c: LogChunk) throws(RecOPEError) {
        guard let m = logisticContext, plan.needs(.logistic) else { return }
        let coefficients = m.columnCoefficients(c)
        let N = evaluator.items
        let pa = try loggingProbabilities(c)
        // Per row: the logit without its item part, and the model's prediction of the logged item.
        var base = [Double](repeating: 0, count: c.count)
        var q = base
        for j in 0..<c.count {
            base[j] = m.rowLogit(position: Int(c.positions[j]), coefficients, j)
            let logitJ: Double = base[j] + m.itemLogit[Int(c.items[j])]
            q[j] = 1 / (1 + exp(-logitJ))
        }
        var inputs = [TermInputs]()
        for p in state.policies.indices {
            var t = TermInputs(w: weights(c, policy: p, pa: pa))
            t.q = q
            t.dm = [Double](repeating: 0, count: c.count)
            for j in 0..<c.count {
                let k = Int(c.positions[j])
                let ts = c.targetStates.isEmpty ? 0 : Int(c.targetStates[p]?[j] ?? 0)
                let key = DMKey(policy: Int32(p), state: Int32(ts), position: Int32(k), logit: base[j].bitPattern)
                if let cached = dmCache[key] {
                    t.dm[j] = cached
                    continue
                }
                let target = evaluator.targets[p].marginals[ts]
                var dm = 0.0
                for i in 0..<N {
                    let logit: Double = base[j] + m.itemLogit[i]
                    dm += target.probability(item: i, rank: k) / (1 + exp(-logit))
                }
                if dmCache.count < Self.dmCacheLimit { dmCache[key] = dm }
                t.dm[j] = dm
            }
            inputs.append(t)
        }
        try addTerms(c, .logistic, inputs)
    }
}
