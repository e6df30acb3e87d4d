import Foundation
import RecCore

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
            guard let col = c.contexts.first(where: { $0.name == name }) else { return [Int32](repeating: -1, count: c.count) }
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
    func features(item a: Int, position k: Int, _ coefficients: [[Int32]], _ j: Int, itemFeatures: ItemFeatures?,
                  into out: inout [(Int, Double)]) {
        out.removeAll(keepingCapacity: true)
        out.append((0, 1))
        out.append((1 + a, 1))
        out.append((1 + design.items + k, 1))
        for col in coefficients where col[j] >= 0 { out.append((Int(col[j]), 1)) }
        if let f = itemFeatures, !design.itemCategories.isEmpty || design.itemNumeric > 0 {
            let co = categoryOffsets, no = numericOffset
            for (c, col) in f.categorical.enumerated() { out.append((co[c] + Int(col[a]), 1)) }
            for (c, col) in f.numeric.enumerated() { out.append((no + c, col[a])) }
        }
    }
}

extension OffPolicyAccumulator {
    /// Pass 2: DM, DR, SwitchDR with the click-rate model, unsupported mass, value-model pieces,
    /// and the logistic model's first Newton sums.
    mutating func addRewardModels(_ c: LogChunk) throws(RecOPEError) {
        let K = evaluator.depth, C = caps.count, seed = state.settings.seed
        let model = OffPolicyState.modelLayout(), piece = BlockLayout.piece(caps: C)
        var sc = Self.emptyScratch
        swap(&sc, &scratch)
        defer { swap(&sc, &scratch) }
        for j in 0..<c.count {
            let pa = try loggingProbability(c, j)
            drawWeights(c.rowKeys[j], into: &sc.weights)
            let r = c.rewards[j], cell = Int(c.items[j]) * K + Int(c.positions[j])
            let fold = RowHash.fold(key: c.rowKeys[j], seed: seed)
            for p in state.policies.indices {
                let w = weight(c, j, policy: p, pa: pa)
                let kc = constants(c, j, policy: p)
                let dm = kc[C], correction = w * (r - q[cell])
                sc.x[0] = 1
                sc.x[1] = dm
                sc.x[2] = dm + correction
                sc.x[3] = dm + (w <= tau ? correction : 0)
                sc.x[4] = kc[C + 1]
                guard add(&state.policies[p].model!, model, &sc) else { throw rangeError(c, j) }
                fillPiece(&sc, w: w, r: r)
                for (g, cuts) in state.valueCuts.enumerated() {
                    let pred = crossQ[fold][cell]
                    let bucket = cuts.reduce(0) { pred >= $1 ? $0 + 1 : $0 }
                    let s = state.policies[p].valuePieces[g].slot("\(bucket + 1)", piece, replicates: replicates)
                    let ok = sc.x.withUnsafeBufferPointer { x in
                        sc.weights.withUnsafeBufferPointer { wb in
                            sc.fixed.withUnsafeMutableBufferPointer { f in state.policies[p].valuePieces[g].add(slot: s, x, piece, weights: wb, fixed: f) }
                        }
                    }
                    guard ok else { throw rangeError(c, j) }
                }
            }
        }
        if state.newton != nil { addNewton(c) }
    }

    /// Newton passes: the log-likelihood's gradient and Hessian at the state's coefficients.
    mutating func addNewton(_ c: LogChunk) {
        guard let rowsModel = logisticContext, var n = state.newton else { return }
        let coefficients = rowsModel.columnCoefficients(c), P = n.design.parameters
        let features = evaluator.usableItemFeatures
        var x = [(Int, Double)]()
        for j in 0..<c.count {
            let a = Int(c.items[j]), k = Int(c.positions[j])
            rowsModel.features(item: a, position: k, coefficients, j, itemFeatures: features, into: &x)
            var eta = 0.0
            for (i, v) in x { eta += n.theta[i] * v }
            let p = 1 / (1 + exp(-eta))
            let wgt = max(p * (1 - p), 1e-12), res = c.rewards[j] - p
            for (ai, va) in x {
                n.gradient[ai].add(res * va)
                let rowStart: Int = ai * P - ai * (ai - 1) / 2 - ai
                for (bi, vb) in x where bi >= ai {
                    let h: Double = wgt * va * vb
                    n.hessian[rowStart + bi].add(h)
                }
            }
        }
        state.newton = n
    }

    /// Last pass: DM and DR with the fitted logistic model.
    mutating func addLogistic(_ c: LogChunk) throws(RecOPEError) {
        guard let m = logisticContext else { return }
        let coefficients = m.columnCoefficients(c), N = evaluator.items
        let layout = OffPolicyState.logisticLayout()
        var sc = Self.emptyScratch
        swap(&sc, &scratch)
        defer { swap(&sc, &scratch) }
        for j in 0..<c.count {
            let pa = try loggingProbability(c, j)
            drawWeights(c.rowKeys[j], into: &sc.weights)
            let a = Int(c.items[j]), k = Int(c.positions[j]), r = c.rewards[j]
            let base = m.rowLogit(position: k, coefficients, j)
            let logitJ: Double = base + m.itemLogit[a]
            let qj = 1 / (1 + exp(-logitJ))
            for p in state.policies.indices {
                let w = weight(c, j, policy: p, pa: pa)
                let ts = c.targetStates.isEmpty ? 0 : Int(c.targetStates[p]?[j] ?? 0)
                let target = evaluator.targets[p].marginals[ts]
                var dm = 0.0
                for i in 0..<N {
                    let logit: Double = base + m.itemLogit[i]
                    dm += target.probability(item: i, rank: k) / (1 + exp(-logit))
                }
                sc.x[0] = 1
                sc.x[1] = dm
                sc.x[2] = dm + w * (r - qj)
                guard add(&state.policies[p].logistic!, layout, &sc) else { throw rangeError(c, j) }
            }
        }
    }
}
