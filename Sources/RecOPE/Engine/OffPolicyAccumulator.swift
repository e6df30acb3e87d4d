import RecCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Worker accumulators and their result slots, shared by the threads of `addBlocks` (each
/// worker touches only its own accumulator, each block only its own slot).
struct SharedBuffers: @unchecked Sendable {
    let workers: UnsafeMutablePointer<OffPolicyAccumulator>
    let sums: UnsafeMutablePointer<Result<OffPolicyState, RecOPEError>?>
    let chunk: LogChunk
}

/// Reads rows, chunk by chunk, into the sums of one pass of an offline evaluation.
///
/// Memory does not grow with rows: the accumulator keeps only the state's sums and per-key
/// constants (pointNCIS normalisers, DM terms) cached per (policy state, logging state, position).
/// Two accumulators of the same pass merge through their states (`OffPolicyState.merge`).
public struct OffPolicyAccumulator {
    /// The sums so far (write them with `finishedState()`).
    public internal(set) var state: OffPolicyState
    /// The plan; its targets may grow (`appendTargetMarginals`) while rows stream in.
    public internal(set) var evaluator: OffPolicyEvaluator
    /// The estimators and the sums they need per pass.
    let plan: EstimatorPlan
    let caps: [Double]
    let tau: Double
    let replicates: Int
    /// Click-rate model (all rows) and the cross-fitted ones (fold f predicted by fold 1 − f).
    let q: [Double]
    let crossQ: [[Double]]
    /// Per key (policy, target state, logging state, position): [pointNCIS normaliser per cap,
    /// DM term, unsupported mass].
    var keyCache: [KeyCode: [Double]] = [:]
    /// Per key: per embedding dimension, the target's then the logging policy's probability of each
    /// category at the key's position (MIPS).
    var embeddingCache: [KeyCode: [[Double]]] = [:]
    var logisticContext: LogisticRows?
    var scratch: Scratch
    /// The rows added so far, identified (the shard this accumulator reads).
    var shard = ShardIdentity()
    /// The state this pass started from (no sums of this pass): each block's sums start here.
    let base: OffPolicyState
    /// Accumulators that sum blocks (one per thread), made on first use.
    var workers: [OffPolicyAccumulator] = []
    /// A worker's logistic-model sums (gradient and Hessian) over every block it summed in this
    /// pass. They are exact fixed-point sums (`ExactSum`: integer additions, in any order the
    /// same bits), so they are kept per worker and added to the state once, in `finishedState`,
    /// instead of a dense Hessian (P²/2 sums) copied and merged for every block.
    var newtonCarry: NewtonSums?
    /// A worker's Newton tallies by feature combination (0/1 designs), added to its carry in
    /// `finishedState`.
    var newtonTally: NewtonTally?
    /// Whether this accumulator is a worker (its Newton sums go to `newtonCarry`).
    var isWorker = false
    /// The DM term of the logistic pass by (policy, target state, position, row logit's bits):
    /// rows that share a position and context share it, and it is a sum over every item (one
    /// `exp` each), so it is computed once per key (the same arithmetic: the same bits).
    var dmCache: [DMKey: Double] = [:]

    struct DMKey: Hashable {
        let policy: Int32, state: Int32, position: Int32
        let logit: UInt64
    }
    /// Keys kept at most (a log whose every row has its own context stops caching there).
    static let dmCacheLimit = 1 << 20

    /// Rows per block. A chunk's rows are summed block by block, each block from zero, and the
    /// blocks' sums are added to the state in block order: the sums, to the last bit, do not
    /// depend on how many threads summed the blocks.
    public static let blockRows = 16384

    struct KeyCode: Hashable {
        let policy: Int32, target: Int32, logging: Int32, position: Int32
    }

    /// Buffers reused across rows.
    struct Scratch {
        var x: [Double]
        var fixed: [Int64]
        var weights: [UInt8]
    }

    init(evaluator: OffPolicyEvaluator, state: OffPolicyState) throws(RecOPEError) {
        self.evaluator = evaluator
        self.state = state
        self.base = state
        plan = state.plan
        caps = state.settings.caps
        tau = state.settings.switchThreshold
        replicates = state.settings.bootstrap
        let fitted = state.pass != .ratios && plan.needs(.clickModel)
        q = fitted ? state.clickRates(fold: nil) : []
        crossQ = fitted ? [state.clickRates(fold: 1), state.clickRates(fold: 0)] : []
        let width = max(plan.maxWidth, 8)
        scratch = Scratch(
            x: [Double](repeating: 0, count: width * Self.weightBlock), fixed: [Int64](repeating: 0, count: width),
            weights: [UInt8](repeating: 0, count: replicates))
        if let n = state.newton {
            logisticContext = LogisticRows(design: n.design, theta: n.theta, features: evaluator.usableItemFeatures)
        }
    }

    /// Adds a target state to policy `policy` (for example the marginals of a new history) and
    /// returns its index, for the chunks' `targetStates`.
    /// - Precondition: the marginals have the evaluator's shape.
    public mutating func appendTargetMarginals(policy: Int, _ m: RankMarginals) -> Int32 {
        precondition(
            m.items == evaluator.items && m.k == evaluator.depth,
            "appendTargetMarginals: \(m.items)×\(m.k) marginals, the evaluation's are \(evaluator.items)×\(evaluator.depth)"
        )
        evaluator.targets[policy].marginals.append(m)
        return Int32(evaluator.targets[policy].marginals.count - 1)
    }

    /// The pass this accumulator reads.
    public var pass: EvaluationPass { state.pass }

    /// Adds a chunk of rows.
    /// - Throws: `.malformedFile` naming the source and line of a row whose item or position the
    ///   policies do not know, whose logging probability is 0, whose state index is out of range,
    ///   or whose weighted reward is outside the bootstrap's exact range.
    public mutating func add(_ chunk: LogChunk) throws(RecOPEError) {
        try validate(chunk)
        if chunk.count > 0 {
            if shard.rows > 0 && shard.keyed != chunk.rowKeyed {
                throw .invalidParameter(
                    "\(chunk.source): rows with and without a row-key column in one shard (bootstrap weights would mix)"
                )
            }
            shard.keyed = chunk.rowKeyed  // the rows are added to `shard` block by block
        }
        if !chunk.source.isEmpty, !state.sources.contains(chunk.source) { state.sources.append(chunk.source) }
        guard chunk.count > 0, state.pass != .done else { return }
        try addBlocks(chunk)
    }

    /// The pass's sums of `c`'s rows, added to `state` (a worker's).
    mutating func addSums(_ c: LogChunk) throws(RecOPEError) {
        switch state.pass {
        case .ratios: try addRatios(c)
        case .rewardModels: try addRewardModels(c)
        case .newton: addNewton(c)
        case .logistic: try addLogistic(c)
        case .done: break
        }
    }

    /// The sums of block `range` of `c` alone (a worker: its state starts from `base`).
    /// The block's rows are identified here too (`ShardIdentity` sums are associative).
    mutating func blockSums(_ c: LogChunk, _ range: Range<Int>) -> Result<OffPolicyState, RecOPEError> {
        state = base
        let rows = range == 0..<c.count ? c : c.rows(range)
        do throws(RecOPEError) {
            try addSums(rows)
        } catch { return .failure(error) }
        // Flushed in place and handed over (no copy of the sums): the next block starts from
        // `base` again.
        Self.flush(&state)
        var s = state
        state = base
        // The block's Newton sums are in the worker's carry; the state's are the start's zeros.
        if newtonCarry != nil { s.newton = nil }
        var identity = ShardIdentity()
        identity.add(rows)
        s.shards = [identity]
        s.sources = []
        return .success(s)
    }

    /// Sums `c` block by block (`blockRows`) on up to `settings.parallelism` threads, and adds
    /// the blocks' sums to the state in block order.
    mutating func addBlocks(_ c: LogChunk) throws(RecOPEError) {
        let n = c.count
        let blocks = (n + Self.blockRows - 1) / Self.blockRows
        let threads = max(1, min(evaluator.settings.parallelism.resolvedCount, blocks))
        while workers.count < threads {
            // Each worker's own copy of the start state: threads summing side by side share no
            // array buffer, so no reference count bounces between their cores.
            let own = workers.isEmpty ? base : try OffPolicyState.decode(try base.encoded(), file: "worker")
            var w = try OffPolicyAccumulator(evaluator: evaluator, state: own)
            w.isWorker = true
            workers.append(w)
        }
        // Targets may have grown (appendTargetMarginals) since the workers were made.
        for w in workers.indices { workers[w].evaluator = evaluator }
        let range = { (b: Int) in (b * Self.blockRows)..<min(n, (b + 1) * Self.blockRows) }
        var sums = [Result<OffPolicyState, RecOPEError>?](repeating: nil, count: blocks)
        if threads == 1 {
            for b in 0..<blocks { sums[b] = workers[0].blockSums(c, range(b)) }
        } else {
            let next = Atomic<Int>(0)
            workers.withUnsafeMutableBufferPointer { ws in
                sums.withUnsafeMutableBufferPointer { out in
                    let shared = SharedBuffers(workers: ws.baseAddress!, sums: out.baseAddress!, chunk: c)
                    Threading.perWorker(threads) { w in
                        // Each worker sums the blocks it takes; results go to the block's slot.
                        while true {
                            let b = next.add(1, ordering: .relaxed).oldValue
                            if b >= blocks { break }
                            shared.sums[b] = shared.workers[w].blockSums(shared.chunk, range(b))
                        }
                    }
                }
            }
        }
        for b in 0..<blocks {
            switch sums[b]! {
            case .success(var s):
                shard.fingerprint &+= s.shards[0].fingerprint
                shard.rows += s.shards[0].rows
                s.shards = []
                state.addCurrentPass(s)
            case .failure(let e): throw e
            }
        }
    }

    /// The state with every pending sum flushed (what a shard writes).
    public func finishedState() -> OffPolicyState {
        var s = state
        s.shards = [shard]
        Self.flush(&s)
        for w in workers {
            guard var n = w.newtonCarry else { continue }
            w.newtonTally?.addSums(into: &n)
            s.newton?.addSums(n)
        }
        return s
    }

    /// Moves every pending sum of `s` into its totals.
    static func flush(_ s: inout OffPolicyState) {
        for p in s.policies.indices {
            for i in s.policies[p].passes.indices { s.policies[p].passes[i]?.flush() }
        }
    }

    func validate(_ c: LogChunk) throws(RecOPEError) {
        let n = c.count
        guard c.positions.count == n, c.rewards.count == n, c.rowKeys.count == n,
            c.propensities.map({ $0.count == n }) ?? true,
            c.targetStates.isEmpty || c.targetStates.count == evaluator.targets.count
        else {
            throw .invalidParameter("\(c.source): a chunk's columns have different lengths")
        }
        guard c.propensities != nil || evaluator.logging != nil else {
            throw .invalidParameter("\(c.source): the log has no propensities; give the logging policy")
        }
        let N = evaluator.items
        let K = evaluator.depth
        for j in 0..<n {
            guard Int(c.items[j]) < N, c.items[j] >= 0 else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j], message: "item \(c.items[j]); the policies rank items 0..<\(N)")
            }
            guard Int(c.positions[j]) < K, c.positions[j] >= 0 else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j],
                    message: "position \(Int(c.positions[j]) + 1); the evaluation covers positions 1...\(K) (raise --k)"
                )
            }
            guard c.rewards[j].isFinite, ExactSum.fits(c.rewards[j]) else {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j],
                    message: "reward \(c.rewards[j]) is outside the range RecKit sums exactly (|r| < 4.6e18)")
            }
        }
        for (p, states) in c.targetStates.enumerated() {
            guard let states else { continue }
            let m = evaluator.targets[p].marginals.count
            if let j = states.firstIndex(where: { $0 < 0 || Int($0) >= m }) {
                throw .malformedFile(
                    file: c.source, line: c.lines?[j],
                    message: "\(evaluator.targets[p].name): target state \(states[j]) of \(m)")
            }
        }
        if let ls = c.loggingStates, let l = evaluator.logging,
            let j = ls.firstIndex(where: { $0 < 0 || Int($0) >= l.count })
        {
            throw .malformedFile(file: c.source, line: c.lines?[j], message: "logging state \(ls[j]) of \(l.count)")
        }
    }

    /// The logging probability of row j (logged propensity, else the logging marginals).
    @inline(__always)
    func loggingProbability(_ c: LogChunk, _ j: Int) throws(RecOPEError) -> Double {
        let pa =
            c.propensities?[j]
            ?? evaluator.logging![Int(c.loggingStates?[j] ?? 0)].denominator(
                item: Int(c.items[j]), rank: Int(c.positions[j]))
        guard pa > 0 else {
            throw .malformedFile(
                file: c.source, line: c.lines?[j],
                message:
                    "the logging policy gives item \(c.items[j]) at position \(c.positions[j] + 1) probability 0, yet it was logged"
            )
        }
        return pa
    }

    /// The importance weight of row j for policy p.
    @inline(__always)
    func weight(_ c: LogChunk, _ j: Int, policy p: Int, pa: Double) -> Double {
        let ts = Int(c.targetStates.isEmpty ? 0 : c.targetStates[p]?[j] ?? 0)
        return evaluator.targets[p].marginals[ts].probability(item: Int(c.items[j]), rank: Int(c.positions[j])) / pa
    }

    func rangeError(_ c: LogChunk, _ j: Int) -> RecOPEError {
        .malformedFile(
            file: c.source, line: c.lines?[j],
            message:
                "a weighted reward is outside the Poisson bootstrap's exact range (|w·r| < \(Int(ReplicateSums.limit))); use --bootstrap 0 for normal intervals"
        )
    }
}
