import Dispatch
import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Trains a `SequentialRecommender` on transitions, one batch at a time.
///
/// Each batch is computed in `settings.batchParts` parts added in a fixed order (see
/// `gradients`), so the parameters do not depend on the threads, nor on the processes of a
/// `ProcessGroup` sharing the batch.
///
/// Per step (RL algorithms): a coin flip picks the network to train (main) and the one that
/// gives targets (target); main encodes the states with dropout; main, in eval mode, picks the
/// next action `a* = argmax Q_main(s′, ·)` over the whole catalog; the target network gives one
/// column `Q_t(s′, a*)`; the TD loss `½(r + γ(1 − done) Q_t(s′, a*) − Q(s, a))²` (TRFL's
/// double Q-learning) touches one Q-head column per sample. SNQN/SA2C add K negatives n with
/// reward 0 and next state s: `½(γ Q_t(s, argmax Q_main(s, ·)) − Q(s, n))²`.
public final class Trainer {
    /// The model it trains.
    public let model: SequentialRecommender
    /// Batch size, learning rates, seeds and the rest.
    public let settings: TrainingSettings
    /// The algorithm's rules (Q head, negatives, weighted supervised loss, second optimiser).
    let objective: any AlgorithmObjective
    /// The supervised head's loss (`settings.objective`), made on the first step from its data
    /// (a popularity sampler counts the training targets).
    var supervisedLoss: (any SupervisedLoss)?
    /// Steps of the whole run (SAC/SA2C's warm-up is a share of them).
    public let totalSteps: Int
    /// Steps taken.
    public private(set) var step = 0
    var optimizers: [any Optimizer]
    var optimizers2: [any Optimizer]
    /// Networks for the parts of a batch beyond the first (values shared during a step).
    var replicas = [[QNetwork]]()

    /// The processes this one trains with (nil: alone). Each takes its slice of every batch.
    public let group: ProcessGroup?
    /// Gradient bytes this process sent to the group.
    public private(set) var traffic = GradientTraffic()
    /// Set to a `StepProfile()` to time each step's phases (nil: not timed).
    public var profile: StepProfile? = nil

    /// A trainer for `model`; with `group`, one rank of a data-parallel run (each rank computes its
    /// part of every batch, the gradients are summed across ranks in a fixed order).
    public init(model: SequentialRecommender, settings: TrainingSettings, totalSteps: Int, group: ProcessGroup? = nil) {
        self.model = model
        self.settings = settings
        self.totalSteps = totalSteps
        self.group = group
        objective = model.config.algorithm.objective
        // A sampled objective fills the supervised head's gradient on the rows it touched only.
        if settings.objective.isSampled { for n in model.networks { n.ceHead.setSparseGradients(true) } }
        optimizers = model.networks.map { settings.optimizer.make($0.parameters, learningRate: settings.learningRate) }
        optimizers2 =
            objective.hasSecondOptimizer
            ? model.networks.map { settings.optimizer.make($0.parameters, learningRate: settings.learningRate2) } : []
        let lazy = settings.objective.isSampled || !settings.denseEmbeddingUpdates
        for case let o as Adam in optimizers + optimizers2 { o.lazySparseRows = lazy }
    }

    /// Steps before SAC and SA2C weight the CE loss.
    public var warmup: Int { settings.warmup(totalSteps: totalSteps) }
    var inSecondPhase: Bool { objective.weightsSupervisedLoss && step >= warmup }

    /// One step on the transitions `batch` (indices into `data`). Returns the losses.
    /// - Throws: `.diverged` when a loss is not finite (the parameters are left as they were).
    @discardableResult
    public func train(_ data: Transitions, batch: [Int]) throws(RecRLError) -> StepLosses {
        let (losses, p) = try gradients(data, batch: batch)
        let t0 = DispatchTime.now().uptimeNanoseconds
        (inSecondPhase && objective.hasSecondOptimizer ? optimizers2[p] : optimizers[p]).step(parallelism: .automatic)
        if profile != nil {
            profile!.adam += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            profile!.steps += 1
        }
        step += 1
        return losses
    }

    /// The losses and gradients of one step (into the trained network's parameters), without
    /// the optimiser step; returns the index of the network that was trained.
    ///
    /// The batch is computed as `settings.batchParts` parts (part i: samples i·B/P ..< (i+1)·B/P),
    /// each with single-threaded kernels on a replica of the network (threads run parts side by
    /// side), and the parts' gradients and losses are added in a fixed pairwise order:
    /// ((p₀ + p₁) + (p₂ + p₃)) + …. Every random draw depends on the seed, the step and a
    /// sample's index in `batch` only (the coin flip on the step; the negatives and dropout
    /// masks of sample i on (step, i)). So the result depends on the parts, never on the threads;
    /// and with a `group` of R processes (R divides P; rank r computes parts r·P/R ..< (r+1)·P/R
    /// and the group sums the processes' totals), R processes take the step one process takes,
    /// bit for bit when R and P/R are powers of two.
    public func gradients(_ data: Transitions, batch: [Int]) throws(RecRLError) -> (StepLosses, Int) {
        // The coin flip depends on (seed, step) only, so a resumed run repeats it.
        var coin = Xoshiro256(seed: (settings.seed ^ 0xC01F) &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
        let p = objective.usesQ ? Int(coin.next() >> 63) : 0
        let P = settings.batchParts
        let R = group?.size ?? 1
        let rank = group?.rank ?? 0
        guard P >= 1 && P % R == 0 else {
            throw .invalidParameter("the batch parts (\(P)) must be a positive multiple of the processes (\(R))")
        }
        let parts = (rank * P / R)..<((rank + 1) * P / R)
        if supervisedLoss == nil {
            supervisedLoss = settings.objective.makeLoss(
                items: model.config.items, data: data, shared: settings.sharedNegatives)
        }
        let nets = partNetworks(count: parts.count, trained: p)
        let results = runParts(data, batch: batch, parts: parts, of: P, networks: nets, trained: p)
        defer { for k in 1..<max(1, nets.count) { for n in nets[k] { n.releaseValues() } } }
        var partLosses = [StepLosses]()
        var qRows = Set<Int>()
        var partTimes = StepProfile()
        for r in results {
            switch r! {
            case .failure(let e): throw e
            case .success(let (l, rows, t)):
                partLosses.append(l)
                qRows.formUnion(rows)
                partTimes = partTimes + t
            }
        }
        let combineStart = DispatchTime.now().uptimeNanoseconds
        // Fixed pairwise order over the parts, for the losses and the gradients alike.
        var losses = pairwiseSum(partLosses) { StepLosses(ce: $0.ce + $1.ce, q: $0.q + $1.q) } ?? StepLosses()
        var width = 1
        while width < nets.count {
            for k in Swift.stride(from: 0, to: nets.count - width, by: 2 * width) {
                nets[k][p].accumulateGradients(from: nets[k + width][p])
            }
            width *= 2
        }
        let reduceStart = DispatchTime.now().uptimeNanoseconds
        let main = model.networks[p]
        if let group {
            var l = [losses.ce, losses.q]
            try l.withUnsafeMutableBufferPointer { b throws(RecRLError) in try group.allReduceSum(b) }
            losses = StepLosses(ce: l[0], q: l[1])
        }
        guard losses.ce.isFinite && losses.q.isFinite else {
            main.zeroGrad()
            throw .diverged(step: step, message: "loss is not finite (CE \(losses.ce), Q \(losses.q))", checkpoint: nil)
        }
        if let group { try reduce(main, qRows: qRows, across: group) }
        if profile != nil {
            let end = DispatchTime.now().uptimeNanoseconds
            profile = profile! + partTimes
            profile!.combine += Double(reduceStart - combineStart) / 1e9
            profile!.reduce += Double(end - reduceStart) / 1e9
        }
        return (losses, p)
    }

    /// Runs this process's `parts` (of `P`) side by side on the worker threads, each with
    /// single-threaded kernels on its own network set; part k's result in slot k.
    func runParts(
        _ data: Transitions, batch: [Int], parts: Range<Int>, of P: Int, networks nets: [[QNetwork]], trained p: Int
    ) -> [Result<(StepLosses, [Int], StepProfile), RecRLError>?] {
        let usesQ = objective.usesQ
        let B = batch.count
        // In-batch negatives: every part needs the whole batch's targets.
        let batchTargets = settings.objective.usesBatchTargets ? batch.map { data.action($0) } : []
        var results = [Result<(StepLosses, [Int], StepProfile), RecRLError>?](repeating: nil, count: parts.count)
        let W = min(Threading.count, parts.count)
        results.withUnsafeMutableBufferPointer { out in
            let box = UncheckedResults(out.baseAddress!)
            Threading.perWorker(W) { w in
                Threading.withSequentialKernels {
                    for k in Swift.stride(from: w, to: parts.count, by: W) {
                        let i = parts.lowerBound + k
                        let range = (i * B / P)..<((i + 1) * B / P)
                        let main = nets[k][p]
                        let target = nets[k][usesQ ? 1 - p : p]
                        guard !range.isEmpty else {
                            box.pointer[k] = .success((StepLosses(), [], StepProfile()))
                            continue
                        }
                        do throws(RecRLError) {
                            let r = try self.partStep(
                                data, batch: Array(batch[range]), first: range.lowerBound, total: B, main: main,
                                target: target, batchTargets: batchTargets)
                            box.pointer[k] = .success(r)
                        } catch { box.pointer[k] = .failure(error) }
                    }
                }
            }
        }
        return results
    }

    /// Sums the trained network's gradients over the group: the item embedding's touched rows
    /// and (lean columns) the Q head's touched rows sparsely, the rest densely.
    func reduce(_ main: QNetwork, qRows: Set<Int>, across group: ProcessGroup) throws(RecRLError) {
        var sparse = [GradientReducer.Sparse]()
        let e = main.encoder.itemEmbedding.table
        if let rows = e.touchedRows {
            sparse.append(.init(parameter: e, rows: rows.sorted()))
        }
        for p in main.ceHead.parameters {
            if let rows = p.touchedRows { sparse.append(.init(parameter: p, rows: rows.sorted())) }
        }
        if let qh = main.qHead, settings.leanColumns {
            sparse.append(.init(parameter: qh.weight, rows: qRows.sorted()))
        }
        try GradientReducer.reduce(main.parameters, sparse: sparse, group: group, traffic: &traffic)
        traffic.steps += 1
    }

    /// The networks of this process's parts: part 0 the model's own, the others replicas that
    /// share its values for this step.
    func partNetworks(count: Int, trained p: Int) -> [[QNetwork]] {
        while replicas.count < count - 1 {
            let set = model.networks.map { _ in QNetwork(model.config, seed: 0, dataParallel: false) }
            if settings.objective.isSampled { for n in set { n.ceHead.setSparseGradients(true) } }
            replicas.append(set)
        }
        // Only the trained network gets gradients (the other only gives targets).
        model.networks[p].zeroGrad()
        let used = replicas.prefix(max(0, count - 1))
        for set in used {
            for (k, (r, n)) in zip(set, model.networks).enumerated() { r.share(n, clearGradients: k == p) }
        }
        return [model.networks] + used
    }

    /// One part of a step: `batch` holds samples `first ..< first + batch.count` of a batch of
    /// `total`. Accumulates the gradients into `main` and returns the part's losses (sums over
    /// its samples / total) and the Q-head rows it touched (0-based).
    func partStep(
        _ data: Transitions, batch: [Int], first: Int, total: Int, main: QNetwork, target: QNetwork,
        batchTargets: [Int] = []
    )
        throws(RecRLError)
        -> (StepLosses, [Int], StepProfile)
    {
        var times = StepProfile()
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { clock = now }
            return Double(now - clock) / 1e9
        }
        let B = batch.count
        let d = model.config.dim
        let states = batch.map { data.state($0) }
        let actions = batch.map { data.action($0) }
        let dropoutSeed = (settings.dropoutSeed ?? settings.seed) &+ UInt64(step) &* 0x9E37
        let fwd = try main.encode(states, training: true, seed: dropoutSeed, firstSample: first, split: false)
        let S = fwd.states
        times.encoderForward = lap()
        var losses = StepLosses()
        var dS = Matrix(rows: B, cols: d)
        var ceWeights: [Float]? = nil
        var qRows = [Int]()
        if objective.usesQ, let qh = main.qHead, let tq = target.qHead {
            let (y, negs, yNeg) = try qTargets(
                data, batch: batch, states: states, actions: actions, first: first, main: main, target: target,
                heads: (qh, tq))
            // Q(s, ·) on the needed columns: the action, then the negatives.
            let cols = (0..<B).map { [actions[$0]] + negs[$0] }
            qRows = Array(Set(cols.joined())).sorted().map { $0 - 1 }
            let q = settings.leanColumns ? qh.logits(states: S, columns: cols) : fullColumns(qh, S, cols)
            let (qloss, dq) = qLoss(q, y: y, yNegative: yNeg, total: total)
            losses.q = qloss
            dS =
                settings.leanColumns
                ? qh.backward(states: S, columns: cols, dLogits: dq) : fullBackward(qh, S, cols, dq)
            if inSecondPhase { ceWeights = objective.supervisedWeights(q, settings: settings) }
        }
        times.qPasses = lap()
        let supervised = try supervisedLoss!.loss(
            head: main.ceHead, states: S, targets: actions, weights: ceWeights, normalizer: total,
            draw: NegativeDraw(seed: settings.seed, step: step, firstSample: first, batchTargets: batchTargets))
        times.headForward = supervised.seconds.forward
        times.headBackward = supervised.seconds.backward
        losses.ce = supervised.loss
        dS.withUnsafeMutableBufferPointer { a in
            supervised.dStates.withUnsafeBufferPointer { c in for i in a.indices { a[i] += c[i] } }
        }
        _ = lap()
        main.backward(fwd.cache, dS)
        times.encoderBackward = lap()
        return (losses, qRows, times)
    }

    /// The Q targets of a part (no gradient: the main network picks, the target values):
    /// y = r + γ·Q_target(s′, argmax Q_main(s′, ·)) for the actions, and with negatives, each
    /// sample's negative items and their target γ·Q_target(s, argmax Q_main(s, ·)) (reward 0,
    /// next state = state).
    func qTargets(
        _ data: Transitions, batch: [Int], states: [[Int]], actions: [Int], first: Int, main: QNetwork,
        target: QNetwork, heads: (main: CatalogHead, target: CatalogHead)
    ) throws(RecRLError) -> (y: [Float], negatives: [[Int]], yNegative: [Float]) {
        let B = batch.count
        let nextStates = batch.map { data.nextState($0) }
        let withNeg = objective.usesNegatives
        let evalSeqs = withNeg ? nextStates + states : nextStates
        let mainEval = try main.states(evalSeqs, split: false)
        let targetEval = try target.states(evalSeqs, split: false)
        let picks = try argmaxColumns(heads.main, mainEval)
        let tv = columnValues(heads.target, targetEval, picks)
        var y = [Float](repeating: 0, count: B)
        for b in 0..<B { y[b] = data.rewards[batch[b]] + (data.done[batch[b]] ? 0 : data.gamma * tv[b]) }
        var negs = [[Int]](repeating: [], count: B)
        var yNeg = [Float](repeating: 0, count: B)
        if withNeg {
            for b in 0..<B {
                negs[b] = negatives(sample: first + b, action: actions[b])
                yNeg[b] = data.gamma * tv[B + b]
            }
        }
        return (y, negs, yNeg)
    }

    /// `settings.negatives` items other than `action` (any item when the catalog has one), drawn
    /// from (seed, step, sample index) only, so the parts and processes draw what one process draws.
    func negatives(sample: Int, action: Int) -> [Int] {
        let N = model.config.items
        var negativeRNG = Xoshiro256(
            seed: (settings.seed ^ 0x4E6) &+ UInt64(step) &* 0xBF58_476D_1CE4_E5B9
                &+ UInt64(sample) &* 0x94D0_49BB_1331_11EB)
        var list = [Int]()
        while list.count < settings.negatives {
            let n = 1 + Int(negativeRNG.next() % UInt64(N))
            if n != action || N == 1 { list.append(n) }
        }
        return list
    }

    /// The weighted squared TD loss of a part (a sum over its samples / `total`) and its gradient
    /// with respect to the Q values `q` (per sample: the action's column, then the negatives').
    func qLoss(_ q: [[Float]], y: [Float], yNegative yNeg: [Float], total: Int) -> (Double, [[Float]]) {
        var dq = [[Float]]()
        dq.reserveCapacity(q.count)
        var qloss = 0.0
        let w = settings.qWeight
        let invB = 1 / Float(total)
        for b in 0..<q.count {
            var g = [Float](repeating: 0, count: q[b].count)
            let e = q[b][0] - y[b]
            qloss += 0.5 * Double(e * e)
            g[0] = w * e * invB
            for k in 1..<q[b].count {
                let en = q[b][k] - yNeg[b]
                qloss += 0.5 * Double(en * en)
                g[k] = w * en * invB
            }
            dq.append(g)
        }
        return (Double(w) * qloss / Double(total), dq)
    }

    /// argmax over the catalog of `S Wᵀ + b` per row (ties to the lower item id), as item ids.
    func argmaxColumns(_ head: CatalogHead, _ S: Matrix) throws(RecRLError) -> [Int] {
        if !settings.leanColumns {
            let z = allLogits(head, S)
            return (0..<S.rows).map { r in
                var best = 0
                for j in 1..<head.items where ranksAbove(z[r, j], Int32(j), z[r, best], Int32(best)) { best = j }
                return best + 1
            }
        }
        let scorer = CatalogScorer(items: head.weight.value, bias: head.bias.value.storage, arithmetic: .blas)
        do {
            let top = try scorer.topK(states: S, k: 1)
            return top.indices.map { Int($0) + 1 }
        } catch { throw .model("\(error)") }
    }

    /// `Q(S[b], items[b])` for one item per row.
    func columnValues(_ head: CatalogHead, _ S: Matrix, _ items: [Int]) -> [Float] {
        head.logits(states: S, columns: items.map { [$0] }).map { $0[0] }
    }

    func fullColumns(_ head: CatalogHead, _ S: Matrix, _ cols: [[Int]]) -> [[Float]] {
        let z = allLogits(head, S)
        return cols.enumerated().map { b, c in c.map { z[b, $0 - 1] } }
    }

    /// The naive backward: a dense B × N gradient of the logits, dW = Gᵀ S, db = Σ G, dS = G W.
    func fullBackward(_ head: CatalogHead, _ S: Matrix, _ cols: [[Int]], _ g: [[Float]]) -> Matrix {
        var G = Matrix(rows: S.rows, cols: head.items)
        for (b, c) in cols.enumerated() { for (k, id) in c.enumerated() { G[b, id - 1] += g[b][k] } }
        gemm(G, S, into: &head.weight.grad, transposeA: .transpose, beta: 1)
        head.bias.grad.withUnsafeMutableBufferPointer { gb in
            for b in 0..<S.rows { for j in 0..<head.items { gb[j] += G[b, j] } }
        }
        var dS = Matrix(rows: S.rows, cols: S.cols)
        gemm(G, head.weight.value, into: &dS)
        return dS
    }

    // MARK: Resume

    /// Optimiser states and counters, for a checkpoint.
    public func stateTensors() -> [String: Tensor] {
        var t = [String: Tensor]()
        for (k, o) in optimizers.enumerated() { t.merge(o.stateTensors(prefix: "\(o.statePrefix)\(k)")) { a, _ in a } }
        for (k, o) in optimizers2.enumerated() {
            t.merge(o.stateTensors(prefix: "\(o.statePrefix)2_\(k)")) { a, _ in a }
        }
        return t
    }

    /// Restores `stateTensors` and the step counter.
    public func restore(_ t: [String: Tensor], step: Int, file: String) throws(RecRLError) {
        do {
            for (k, o) in optimizers.enumerated() { try o.loadState(t, prefix: "\(o.statePrefix)\(k)", file: file) }
            for (k, o) in optimizers2.enumerated() {
                try o.loadState(t, prefix: "\(o.statePrefix)2_\(k)", file: file)
            }
        } catch { throw .model("\(error)") }
        self.step = step
    }
}

/// Sums `values` pairwise in a fixed order: ((v₀ + v₁) + (v₂ + v₃)) + …; nil when empty.
func pairwiseSum<T>(_ values: [T], _ add: (T, T) -> T) -> T? {
    guard !values.isEmpty else { return nil }
    var level = values
    while level.count > 1 {
        level = stride(from: 0, to: level.count, by: 2).map {
            $0 + 1 < level.count ? add(level[$0], level[$0 + 1]) : level[$0]
        }
    }
    return level[0]
}

/// A pointer shared by workers that write disjoint elements.
struct UncheckedResults<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
