import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension OffPolicyAccumulator {
    static let emptyScratch = Scratch(x: [], fixed: [], weights: [])

    /// Rows per block of Poisson weights (block × replicates bytes of scratch).
    static let weightBlock = 256

    /// Pass 1: reward-model counts, context levels, ratio sums, pieces by position and context,
    /// weight diagnostics.
    mutating func addRatios(_ c: LogChunk) throws(RecOPEError) {
        let K = evaluator.depth
        let seed = state.settings.seed
        for j in 0..<c.count {
            state.counts.add(
                fold: RowHash.fold(key: c.rowKeys[j], seed: seed), cell: Int(c.items[j]) * K + Int(c.positions[j]),
                reward: c.rewards[j])
            state.rewardSum.add(c.rewards[j])
        }
        state.rows += c.count
        if c.rowKeyed {
            for j in 0..<c.count {
                OffPolicyState.addToSketch(RowHash.mix(c.rowKeys[j] ^ 0x4B4D_56), &state.rowKeySketch)
            }
        }
        if state.settings.logisticRewardModel { countLevels(c) }
        if state.settings.balanced != nil { try addBalancedCells(c) }
        let pa = try loggingProbabilities(c)
        let layout = plan.passes[SumPass.ratios.rawValue]!
        var inputs = [TermInputs]()
        for p in state.policies.indices {
            var t = TermInputs(w: weights(c, policy: p, pa: pa))
            if evaluator.logging != nil { t.keyed = keyedConstants(c, policy: p) }
            if state.settings.embeddings != 0, evaluator.logging != nil,
                let e = evaluator.settings.itemEmbeddings
            {
                t.marginal = marginalWeights(c, policy: p, pa: pa, embeddings: e)
            }
            t.slots = pieceSlots(c, policy: p, layout)
            inputs.append(t)
        }
        try addTerms(c, .ratios, inputs, weights: true)
    }

    /// Balanced IPW's cells of chunk `c`, per policy.
    mutating func addBalancedCells(_ c: LogChunk) throws(RecOPEError) {
        let N = evaluator.items
        for p in state.policies.indices {
            let marginals = evaluator.targets[p].marginals
            if state.policies[p].weights.balanced == nil {
                state.policies[p].weights.balanced = BalancedCells(columns: c.contexts.map(\.name))
            }
            try state.policies[p].weights.balanced!.add(
                c, states: c.targetStates.isEmpty ? nil : c.targetStates[p], items: N
            ) { ts, k in (0..<N).map { marginals[ts].probability(item: $0, rank: k) } }
        }
    }

    /// Adds `pass`'s term sums of `c` (and, with `weights`, the weight diagnostics) for every
    /// policy, block by block, from each policy's inputs.
    mutating func addTerms(_ c: LogChunk, _ pass: SumPass, _ inputs: [TermInputs], weights: Bool = false)
        throws(RecOPEError)
    {
        let layout = plan.passes[pass.rawValue]!
        let settings = state.settings
        let B = replicates
        let tau = tau
        let pairs = settings.likelihood != nil && pass != .ratios
        try forEachBlock(c) { rows, p, sums, sc in
            if weights { sums.weights.add(rows, weights: inputs[p].w, rewards: c.rewards) }
            if pairs { Self.addDoublyRobustPairs(rows, c.rewards, inputs[p], &sums.passes[pass.rawValue]!) }
            return Self.addTermRows(
                c, rows, &sums.passes[pass.rawValue]!, layout, inputs[p], &sc, settings, tau: tau, replicates: B)
        }
    }

    /// Walks the chunk in blocks of `weightBlock` rows: draws each block's Poisson weights, then
    /// hands every policy's sums (moved out of the state, so updating them copies nothing) to
    /// `body`, which returns the first row outside the bootstrap's range, if any.
    mutating func forEachBlock(_ c: LogChunk, _ body: (Range<Int>, Int, inout PolicySums, inout Scratch) -> Int?)
        throws(RecOPEError)
    {
        var sc = Self.emptyScratch
        swap(&sc, &scratch)
        defer { swap(&sc, &scratch) }
        for lo in stride(from: 0, to: c.count, by: Self.weightBlock) {
            let rows = lo..<min(c.count, lo + Self.weightBlock)
            drawWeights(c, rows, into: &sc.weights)
            for p in state.policies.indices {
                var sums = Self.placeholder
                swap(&sums, &state.policies[p])
                let bad = body(rows, p, &sums, &sc)
                swap(&sums, &state.policies[p])
                if let j = bad { throw rangeError(c, j) }
            }
        }
    }

    /// The rows' (w, DR term) pairs, for DR's empirical-likelihood interval.
    static func addDoublyRobustPairs(_ rows: Range<Int>, _ r: [Double], _ x: TermInputs, _ sums: inout PassSums) {
        guard !rows.isEmpty else { return }
        if sums.likelihood == nil { sums.likelihood = WeightRewardCounts() }
        if sums.likelihoodModel == nil {
            let j = rows.lowerBound
            sums.likelihoodModel = ModelRange(dm: x.dm[j]...x.dm[j], prediction: x.q[j]...x.q[j])
        }
        for j in rows {
            sums.likelihood!.add(weight: x.w[j], reward: x.dm[j] + x.w[j] * (r[j] - x.q[j]))
            sums.likelihoodModel!.add(dm: x.dm[j], prediction: x.q[j])
        }
    }

    /// What stands in for a policy's sums while they are moved out of the state.
    static let placeholder = PolicySums(weights: WeightSums(caps: []), passes: [])

    /// One pass's term sums of rows `rows` for one policy, over all rows and per group; the first
    /// row outside the bootstrap's range, if any (rows from there on are added nowhere).
    static func addTermRows(
        _ c: LogChunk, _ rows: Range<Int>, _ sums: inout PassSums, _ layout: PassLayout, _ inputs: TermInputs,
        _ sc: inout Scratch, _ settings: StateSettings, tau: Double, replicates B: Int
    ) -> Int? {
        // The loops touch no shared array's reference count (threads sum blocks side by side:
        // retains of one buffer from two cores bounce its cache line): every array is read
        // through a pointer taken once per block.
        var end = rows.upperBound
        sc.x.withUnsafeMutableBufferPointer { x in
            sc.fixed.withUnsafeMutableBufferPointer { f in
                sc.weights.withUnsafeBufferPointer { wAll in
                    inputs.withRowSource(c, settings, tau: tau) { src in
                        // Each block's terms, term by term (one dispatch per term and block), row-major
                        // in `x`; then the rows, in order, into the sums.
                        let all = layout.all
                        let width = all.terms.count
                        for (i, t) in all.terms.enumerated() { src.fill(t, rows, into: x, column: i, width: width) }
                        for j in rows {
                            let o = (j - rows.lowerBound) * B
                            let row = UnsafeBufferPointer(rebasing: x[(j - rows.lowerBound) * width..<x.count])
                            let wb = UnsafeBufferPointer(rebasing: wAll[o..<o + B])
                            if !sums.all.add(row, all.block, weights: wb, fixed: f) {
                                end = j
                                break
                            }
                        }
                        // The groups, grouping by grouping: each group's sums take the rows in
                        // order.
                        for g in layout.grouped.indices {
                            guard g < inputs.slots.count, let slots = inputs.slots[g] else { continue }
                            let grouped = layout.grouped[g]
                            let width = grouped.terms.count
                            for (i, t) in grouped.terms.enumerated() {
                                src.fill(t, rows, into: x, column: i, width: width)
                            }
                            slots.withUnsafeBufferPointer { sp in
                                for j in rows.lowerBound..<end {
                                    let o = (j - rows.lowerBound) * B
                                    let row = UnsafeBufferPointer(rebasing: x[(j - rows.lowerBound) * width..<x.count])
                                    let wb = UnsafeBufferPointer(rebasing: wAll[o..<o + B])
                                    if !sums.groups[g].add(slot: Int(sp[j]), row, grouped.block, weights: wb, fixed: f)
                                    {
                                        end = j
                                        break
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return end < rows.upperBound ? end : nil
    }

    /// The logging probability of every row.
    func loggingProbabilities(_ c: LogChunk) throws(RecOPEError) -> [Double] {
        var out = [Double](repeating: 0, count: c.count)
        for j in 0..<c.count { out[j] = try loggingProbability(c, j) }
        return out
    }

    /// Policy p's importance weight of every row.
    func weights(_ c: LogChunk, policy p: Int, pa: [Double]) -> [Double] {
        let states = c.targetStates.isEmpty ? nil : c.targetStates[p]
        let marginals = evaluator.targets[p].marginals
        let K = evaluator.depth
        var out = [Double](repeating: 0, count: c.count)
        if states == nil {
            let probs = marginals[0].probabilities
            for j in 0..<c.count { out[j] = probs[Int(c.items[j]) * K + Int(c.positions[j])] / pa[j] }
        } else {
            for j in 0..<c.count { out[j] = weight(c, j, policy: p, pa: pa[j]) }
        }
        return out
    }

    /// Per-row key constants as a table and an index per row.
    struct KeyedConstants {
        /// The table's rows, one after another (`width` values each): no array per row to
        /// retain in the row loop.
        let flat: [Double]
        let width: Int
        let index: [Int32]

        init(table: [[Double]], index: [Int32]) {
            let w = table.first?.count ?? 0
            precondition(table.allSatisfy { $0.count == w }, "KeyedConstants: rows of different widths")
            width = w
            flat = table.flatMap { $0 }
            self.index = index
        }

        @inline(__always)
        func value(_ j: Int, _ i: Int) -> Double { flat[Int(index[j]) * width + i] }
    }

    /// The key constants of every row (one lookup per position when rows carry no states).
    mutating func keyedConstants(_ c: LogChunk, policy p: Int) -> KeyedConstants {
        let stateless = (c.targetStates.isEmpty || c.targetStates[p] == nil) && c.loggingStates == nil
        if stateless {
            var probe = c
            probe.positions = (0..<Int32(evaluator.depth)).map { $0 }
            let table = (0..<evaluator.depth).map { constants(probe, $0, policy: p) }
            return KeyedConstants(table: table, index: c.positions)
        }
        var table = [[Double]]()
        var seen = [KeyCode: Int32]()
        var index = [Int32](repeating: 0, count: c.count)
        for j in 0..<c.count {
            let ts = c.targetStates.isEmpty ? 0 : c.targetStates[p]?[j] ?? 0
            let ls = c.loggingStates?[j] ?? 0
            let code = KeyCode(policy: Int32(p), target: ts, logging: ls, position: c.positions[j])
            if let i = seen[code] {
                index[j] = i
            } else {
                index[j] = Int32(table.count)
                seen[code] = index[j]
                table.append(constants(c, j, policy: p))
            }
        }
        return KeyedConstants(table: table, index: index)
    }

    /// Poisson weights of rows `rows`, row-major (rows × replicates).
    func drawWeights(_ c: LogChunk, _ rows: Range<Int>, into w: inout [UInt8]) {
        let B = replicates
        guard B > 0 else { return }
        if w.count < rows.count * B { w = [UInt8](repeating: 0, count: Self.weightBlock * B) }
        let seed = state.settings.seed
        w.withUnsafeMutableBufferPointer { wb in
            RowHash.poissonThresholds.withUnsafeBufferPointer { t in
                for j in rows {
                    let o = (j - rows.lowerBound) * B
                    RowHash.poissonWeights(
                        base: RowHash.base(key: c.rowKeys[j], seed: seed, purpose: 0xB007),
                        into: UnsafeMutableBufferPointer(rebasing: wb[o..<o + B]), thresholds: t)
                }
            }
        }
    }

    /// MIPS's weight of every row: per embedding dimension d, the target's and the logging
    /// policy's probability of the logged item's category at the row's position, multiplied over
    /// d (from 1, in dimension order, as OBP does), the target's product over the logging's.
    mutating func marginalWeights(_ c: LogChunk, policy p: Int, pa: [Double], embeddings e: ItemFeatures) -> [Double] {
        let N = evaluator.items
        var out = [Double](repeating: 0, count: c.count)
        for j in 0..<c.count {
            let ts = c.targetStates.isEmpty ? 0 : c.targetStates[p]?[j] ?? 0
            let ls = c.loggingStates?[j] ?? 0
            let k = Int(c.positions[j])
            let code = KeyCode(policy: Int32(p), target: ts, logging: ls, position: c.positions[j])
            let table: [[Double]]
            if let t = embeddingCache[code] {
                table = t
            } else {
                let target = evaluator.targets[p].marginals[Int(ts)]
                let logging = evaluator.logging![Int(ls)]
                var t = [[Double]]()
                for col in e.categorical {
                    let cats = Int(col.max() ?? 0) + 1
                    var pt = [Double](repeating: 0, count: cats)
                    var pb = pt
                    for a in 0..<N {
                        pt[Int(col[a])] += target.probability(item: a, rank: k)
                        pb[Int(col[a])] += logging.probability(item: a, rank: k)
                    }
                    t += [pt, pb]
                }
                embeddingCache[code] = t
                table = t
            }
            let a = Int(c.items[j])
            var pe = 1.0
            var pb = 1.0
            for (d, col) in e.categorical.enumerated() {
                pe *= table[2 * d][Int(col[a])]
                pb *= table[2 * d + 1][Int(col[a])]
            }
            out[j] = pe / pb
        }
        return out
    }

    /// Per grouping of the ratio pass (position, context) of policy p, the slot of every row of
    /// the chunk (nil for a grouping whose column the chunk lacks; noted once).
    mutating func pieceSlots(_ c: LogChunk, policy p: Int, _ layout: PassLayout) -> [[Int32]?] {
        let B = replicates
        var out = [[Int32]?]()
        for (g, grouping) in layout.groupings.enumerated() {
            let block = layout.grouped[g].block
            switch grouping {
            case .position:
                let map = (0..<evaluator.depth).map {
                    Int32(state.policies[p].passes[0]!.groups[g].slot("\($0 + 1)", block, replicates: B))
                }
                out.append(c.positions.map { map[Int($0)] })
            case .contextFeature(let name):
                guard let col = c.contexts.first(where: { $0.name == name }) else {
                    let note = "pieceNCIS by '\(name.prefix(80))': the log has no such context column; skipped"
                    if !state.notes.contains(note) { state.notes.append(note) }
                    out.append(nil)
                    continue
                }
                let map = col.values.map {
                    Int32(state.policies[p].passes[0]!.groups[g].slot($0, block, replicates: B))
                }
                out.append(col.ids.map { map[Int($0)] })
            case .valueModel:
                out.append(nil)
            }
        }
        return out
    }

    /// Counts rows per context value (the logistic model's levels).
    mutating func countLevels(_ c: LogChunk) {
        for col in c.contexts {
            var n = [Int](repeating: 0, count: col.values.count)
            for id in col.ids { n[Int(id)] += 1 }
            for (v, k) in zip(col.values, n) where k > 0 {
                state.contextLevels[col.name, default: [:]][v, default: 0] += k
            }
        }
    }

    /// Per-key constants of row j for policy p: [pointNCIS normaliser per cap, DM term,
    /// unsupported mass], with Z(k) = Σ_a min(P_B(a at k), c·P_A(a at k)).
    mutating func constants(_ c: LogChunk, _ j: Int, policy p: Int) -> [Double] {
        let ts = c.targetStates.isEmpty ? 0 : c.targetStates[p]?[j] ?? 0
        let ls = c.loggingStates?[j] ?? 0
        let code = KeyCode(policy: Int32(p), target: ts, logging: ls, position: c.positions[j])
        if let v = keyCache[code] { return v }
        let target = evaluator.targets[p].marginals[Int(ts)]
        let k = Int(c.positions[j])
        let N = evaluator.items
        var v = [Double]()
        if let l = evaluator.logging?[Int(ls)] {
            for cap in caps {
                v.append(
                    (0..<N).reduce(0.0) {
                        $0 + min(target.probability(item: $1, rank: k), cap * l.probability(item: $1, rank: k))
                    })
            }
        } else {
            v += caps.map { _ in Double.nan }
        }
        if !q.isEmpty {
            let K = evaluator.depth
            var dm = 0.0
            var unsupported = 0.0
            for a in 0..<N {
                let pb = target.probability(item: a, rank: k)
                dm += pb * q[a * K + k]
                if state.counts.shows[0][a * K + k] + state.counts.shows[1][a * K + k] == 0 { unsupported += pb }
            }
            v += [dm, unsupported]
        }
        keyCache[code] = v
        return v
    }
}
