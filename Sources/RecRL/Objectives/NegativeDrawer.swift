import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Draws a sampled objective's negatives: K items other than the target per transition, with
/// replacement, from a stream seeded by (run seed, step, the transition's index in the batch)
/// only, so a part, a thread or an MPI rank draws what one process draws.
struct NegativeDrawer: Sendable {
    let items: Int
    /// Alias table over items 0..<N (nil: uniform).
    let alias: AliasTable?
    /// Per item, log of its draw probability q_i (nil: uniform).
    let logProbability: [Double]?
    /// In-batch and mixed samplers: each item's frequency among the training targets.
    let targetFrequency: [Double]?
    /// The sampler.
    let sampler: NegativeSampler

    init(_ sampler: NegativeSampler, items: Int, data: Transitions) {
        self.items = items
        self.sampler = sampler
        targetFrequency = sampler.usesBatch ? Self.frequencies(items: items, data: data) : nil
        switch sampler {
        case .uniform, .inBatch, .mixed:
            alias = nil
            logProbability = nil
        case .popularity(let a):
            var counts = [Double](repeating: 0, count: items)
            for j in 0..<data.count {
                let i = data.action(j) - 1
                if i >= 0 && i < items { counts[i] += 1 }
            }
            let w = counts.map { $0 > 0 ? pow($0, a) : 0 }
            let total = w.reduce(0, +)
            if total > 0 {
                alias = AliasTable(weights: w)
                logProbability = w.map { log($0 / total) }
            } else {
                alias = nil
                logProbability = nil
            }
        }
    }

    /// Each item's share of the training targets.
    static func frequencies(items: Int, data: Transitions) -> [Double] {
        var counts = [Double](repeating: 0, count: items)
        for j in 0..<data.count {
            let i = data.action(j) - 1
            if i >= 0 && i < items { counts[i] += 1 }
        }
        let total = max(1, counts.reduce(0, +))
        return counts.map { $0 / total }
    }

    /// The negatives of transition `sample` (its index in the batch) at `step`, none equal to
    /// `target` (item ids 1...N).
    func draw(count: Int, target: Int, seed: UInt64, step: Int, sample: Int) -> [Int] {
        var g = Xoshiro256(
            seed: (seed ^ 0x5A3D_1E0B) &+ UInt64(step) &* 0xD6E8_FEB8_6659_FD93 &+ UInt64(sample)
                &* 0xA076_1D64_78BD_642F)
        var out = [Int]()
        out.reserveCapacity(count)
        var tries = 0
        while out.count < count {
            let i: Int
            if let alias { i = alias.sample(&g) } else { i = Int(g.next() % UInt64(items)) }
            tries += 1
            // The target is redrawn (a popularity sampler whose only item is the target gives up
            // after many tries and takes another item uniformly).
            if i + 1 != target || items == 1 {
                out.append(i + 1)
            } else if tries > 64 * count {
                out.append(1 + (target % items))
            }
        }
        return out
    }

    /// The negatives every transition of the batch at `step` shares (drawn from the seed and the
    /// step only; a negative may be a transition's target: the loss leaves it out there).
    func drawShared(count: Int, seed: UInt64, step: Int) -> [Int] {
        var g = Xoshiro256(seed: (seed ^ 0x3C6E_F372_FE94_F82B) &+ UInt64(step) &* 0xD6E8_FEB8_6659_FD93)
        return (0..<count).map { _ in 1 + (alias.map { $0.sample(&g) } ?? Int(g.next() % UInt64(items))) }
    }

    /// Per item, log(K·q_i): the sampled softmax's correction (nil for uniform: it cancels).
    func logQ(negatives k: Int) -> [Float]? {
        logProbability.map { lp in lp.map { Float($0 + log(Double(k))) } }
    }

    /// In-batch and mixed samplers: log of an item's expected count in a batch of `batch`
    /// targets (plus `k` uniform draws for mixed), B·q_i (+ K/N).
    func batchCorrection(batch: Int, negatives k: Int) -> ((Int) -> Float)? {
        guard let f = targetFrequency else { return nil }
        let uniform = sampler == .mixed ? Double(k) / Double(items) : 0
        let b = Double(batch)
        return { i in Float(log(b * f[i] + uniform)) }
    }
}

/// Walker's alias method: O(1) draws from a discrete distribution (Vose's construction).
struct AliasTable: Sendable {
    let probability: [Double]
    let alias: [Int32]

    init(weights: [Double]) {
        let n = weights.count
        let total = weights.reduce(0, +)
        var p = weights.map { $0 * Double(n) / total }
        var a = [Int32](repeating: 0, count: n)
        var small = [Int]()
        var large = [Int]()
        for i in 0..<n { if p[i] < 1 { small.append(i) } else { large.append(i) } }
        while let s = small.popLast(), let l = large.last {
            a[s] = Int32(l)
            p[l] = p[l] + p[s] - 1
            if p[l] < 1 {
                large.removeLast()
                small.append(l)
            }
        }
        for i in large { p[i] = 1 }
        for i in small { p[i] = 1 }
        probability = p
        alias = a
    }

    /// One draw.
    func sample(_ g: inout Xoshiro256) -> Int {
        let n = probability.count
        let i = Int(g.next() % UInt64(n))
        let u = Double(g.next() >> 11) * 0x1p-53
        return u < probability[i] ? i : Int(alias[i])
    }
}
