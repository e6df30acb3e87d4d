import Foundation
import RecCore

extension OffPolicyAccumulator {
    static let emptyScratch = Scratch(x: [], fixed: [], weights: [])

    /// Pass 1: reward-model counts, context levels, ratio sums, pieces by position and context,
    /// weight diagnostics.
    mutating func addRatios(_ c: LogChunk) throws(RecOPEError) {
        let K = evaluator.depth, seed = state.settings.seed
        for j in 0..<c.count {
            state.counts.add(fold: RowHash.fold(key: c.rowKeys[j], seed: seed), cell: Int(c.items[j]) * K + Int(c.positions[j]), reward: c.rewards[j])
            state.rewardSum.add(c.rewards[j])
        }
        state.rows += c.count
        if state.settings.logisticRewardModel { countLevels(c) }
        let slots = (0..<state.policies.count).map { pieceSlots(c, policy: $0) }
        let ratio = BlockLayout.ratio(caps: caps.count), piece = BlockLayout.piece(caps: caps.count)
        var sc = Self.emptyScratch
        swap(&sc, &scratch)
        defer { swap(&sc, &scratch) }
        for j in 0..<c.count {
            let pa = try loggingProbability(c, j)
            drawWeights(c.rowKeys[j], into: &sc.weights)
            let r = c.rewards[j]
            for p in state.policies.indices {
                let w = weight(c, j, policy: p, pa: pa)
                let z = evaluator.logging == nil ? nil : constants(c, j, policy: p)
                state.policies[p].weights.add(weight: w, reward: r)
                sc.x[0] = 1
                sc.x[1] = w * r
                sc.x[2] = w
                for (ci, cap) in caps.enumerated() {
                    let wc = min(w, cap)
                    sc.x[3 + 3 * ci] = wc * r
                    sc.x[4 + 3 * ci] = wc
                    sc.x[5 + 3 * ci] = z.map { wc * r / $0[ci] } ?? 0
                }
                guard add(&state.policies[p].ratio, ratio, &sc) else { throw rangeError(c, j) }
                fillPiece(&sc, w: w, r: r)
                for (g, s) in slots[p].enumerated() {
                    guard let s else { continue }
                    let ok = sc.x.withUnsafeBufferPointer { x in
                        sc.weights.withUnsafeBufferPointer { wb in
                            sc.fixed.withUnsafeMutableBufferPointer { f in
                                state.policies[p].pieces[g].add(slot: Int(s[j]), x, piece, weights: wb, fixed: f)
                            }
                        }
                    }
                    guard ok else { throw rangeError(c, j) }
                }
            }
        }
    }

    /// Piece features [1, per cap (min(w,c)·r, min(w,c))] into the start of `sc.x`.
    @inline(__always)
    func fillPiece(_ sc: inout Scratch, w: Double, r: Double) {
        sc.x[0] = 1
        for (ci, cap) in caps.enumerated() {
            let wc = min(w, cap)
            sc.x[1 + 2 * ci] = wc * r
            sc.x[2 + 2 * ci] = wc
        }
    }

    /// Adds `sc.x` to a block; false if a feature is outside the bootstrap's range.
    @inline(__always)
    func add(_ block: inout SumBlock, _ layout: BlockLayout, _ sc: inout Scratch) -> Bool {
        sc.x.withUnsafeBufferPointer { x in
            sc.weights.withUnsafeBufferPointer { wb in
                sc.fixed.withUnsafeMutableBufferPointer { f in block.add(x, layout, weights: wb, fixed: f) }
            }
        }
    }

    @inline(__always)
    func drawWeights(_ key: UInt64, into w: inout [UInt8]) {
        guard replicates > 0 else { return }
        let base = RowHash.base(key: key, seed: state.settings.seed, purpose: 0xB007)
        w.withUnsafeMutableBufferPointer { wb in
            RowHash.poissonThresholds.withUnsafeBufferPointer { RowHash.poissonWeights(base: base, into: wb, thresholds: $0) }
        }
    }

    /// Per piece grouping (position, context) of policy p, the slot of every row of the chunk
    /// (nil for a grouping whose column the chunk lacks; noted once).
    mutating func pieceSlots(_ c: LogChunk, policy p: Int) -> [[Int32]?] {
        let groupings = state.settings.pieceGroupings.filter { !$0.isValueModel }
        let piece = BlockLayout.piece(caps: caps.count), B = replicates
        var out = [[Int32]?]()
        for (g, grouping) in groupings.enumerated() {
            switch grouping {
            case .position:
                let map = (0..<evaluator.depth).map { Int32(state.policies[p].pieces[g].slot("\($0 + 1)", piece, replicates: B)) }
                out.append(c.positions.map { map[Int($0)] })
            case .contextFeature(let name):
                guard let col = c.contexts.first(where: { $0.name == name }) else {
                    let note = "pieceNCIS by '\(name.prefix(80))': the log has no such context column; skipped"
                    if !state.notes.contains(note) { state.notes.append(note) }
                    out.append(nil)
                    continue
                }
                let map = col.values.map { Int32(state.policies[p].pieces[g].slot($0, piece, replicates: B)) }
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
            for (v, k) in zip(col.values, n) where k > 0 { state.contextLevels[col.name, default: [:]][v, default: 0] += k }
        }
    }

    /// Per-key constants of row j for policy p: [pointNCIS normaliser per cap, DM term,
    /// unsupported mass], with Z(k) = Σ_a min(P_B(a at k), c·P_A(a at k)).
    mutating func constants(_ c: LogChunk, _ j: Int, policy p: Int) -> [Double] {
        let ts = c.targetStates.isEmpty ? 0 : c.targetStates[p]?[j] ?? 0, ls = c.loggingStates?[j] ?? 0
        let code = KeyCode(policy: Int32(p), target: ts, logging: ls, position: c.positions[j])
        if let v = keyCache[code] { return v }
        let target = evaluator.targets[p].marginals[Int(ts)], k = Int(c.positions[j]), N = evaluator.items
        var v = [Double]()
        if let l = evaluator.logging?[Int(ls)] {
            for cap in caps { v.append((0..<N).reduce(0.0) { $0 + min(target.probability(item: $1, rank: k), cap * l.probability(item: $1, rank: k)) }) }
        } else {
            v += caps.map { _ in Double.nan }
        }
        if !q.isEmpty {
            let K = evaluator.depth
            var dm = 0.0, unsupported = 0.0
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
